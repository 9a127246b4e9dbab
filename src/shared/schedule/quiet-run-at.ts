import { formatInTimeZone } from 'date-fns-tz'
import { describeQuietHours, formatLocal, isQuiet, nextAllowed, type QuietHours } from './quiet-hours.ts'
import {
  addCalendarDays,
  SCHEDULE_TIME_ZONE,
  wallTimeToInstant,
  type Weekday,
  weekdayOf,
  WEEKDAYS,
  type WeeklySchedule,
} from './weekly.ts'

// Scheduling inside quiet hours is refused with the next allowed time (issue 14 part 3), so the
// editor picks a real send time instead of learning the next morning that the texts waited. The
// refusal is a 400 in each route's existing error shape, with these additional keys.

export interface QuietRefusal {
  /** One sentence naming the window and the next allowed time (ISO and the audience's wall clock). */
  message: string
  quietHours: string
  /** ISO 8601, UTC. */
  nextAllowedAt: string
  /** Unix seconds, as `runAt` is sent. */
  nextAllowedRunAt: number
  /** The audience's wall clock, e.g. `Wed, Dec 2, 2026, 08:00 EST (America/Detroit)`. */
  nextAllowedAtLocal: string
}

/** Null when `runAt` may be scheduled; otherwise why not and when instead. */
export function quietRunAtRefusal(rule: QuietHours | null, runAt: Date, what = 'Run time'): QuietRefusal | null {
  if (!rule || !isQuiet(rule, runAt)) return null
  const next = nextAllowed(rule, runAt)
  const local = formatLocal(rule, next)
  return {
    message: `${what} ${formatLocal(rule, runAt)} falls inside quiet hours (${describeQuietHours(rule)}); ` +
      `the next allowed time is ${next.toISOString()} (${local})`,
    quietHours: describeQuietHours(rule),
    nextAllowedAt: next.toISOString(),
    nextAllowedRunAt: Math.floor(next.getTime() / 1000),
    nextAllowedAtLocal: local,
  }
}

/** The refusal's keys other than `message`, for a route that words its own message. */
export function refusalExtra(refusal: QuietRefusal): Omit<QuietRefusal, 'message'> {
  const { message: _message, ...extra } = refusal
  return extra
}

/**
 * The weekly schedule's times inside quiet hours (each day's next occurrence, so a window in
 * another zone than the schedule's is judged on the right date), with the wall time to use instead.
 */
export function quietWeeklyRefusals(
  rule: QuietHours | null,
  schedule: Partial<WeeklySchedule>,
  now: Date,
): Array<{ day: Weekday; time: string; nextAllowedTime: string; refusal: QuietRefusal }> {
  if (!rule) return []
  const today = formatInTimeZone(now, SCHEDULE_TIME_ZONE, 'yyyy-MM-dd')
  const found = []
  for (const day of WEEKDAYS) {
    const time = schedule[day]
    if (!time) continue
    const offset = (WEEKDAYS.indexOf(day) - WEEKDAYS.indexOf(weekdayOf(today)) + 7) % 7
    const at = wallTimeToInstant(addCalendarDays(today, offset), time.padStart(5, '0'))
    const refusal = quietRunAtRefusal(rule, at, `${day} ${time}`)
    if (!refusal) continue
    const nextAllowedTime = formatInTimeZone(new Date(refusal.nextAllowedAt), SCHEDULE_TIME_ZONE, 'HH:mm')
    found.push({ day, time, nextAllowedTime, refusal })
  }
  return found
}
