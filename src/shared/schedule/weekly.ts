import { formatInTimeZone } from 'date-fns-tz'

// The weekly broadcast schedule: one optional Detroit wall-clock time per weekday
// (`broadcast_settings`). The database decides when a slot is due (check_and_trigger_broadcast);
// this module answers "when is the next one" for the sidebar and for send-now's 90-minute rule,
// converting exactly as PostgreSQL's `timestamp AT TIME ZONE 'America/Detroit'` does so both
// sides name the same instant.

export const SCHEDULE_TIME_ZONE = 'America/Detroit'

/**
 * How late a due broadcast may still be triggered, and how old a `run_at_utc` `make` accepts.
 * Keep in step with `grace` in check_and_trigger_broadcast (migration 20250601000300).
 */
export const BROADCAST_GRACE_MINUTES = 30

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const
export type Weekday = (typeof WEEKDAYS)[number]

/** `HH:MM` (Detroit wall time) or null per weekday. */
export type WeeklySchedule = Record<Weekday, string | null>

const MINUTE = 60_000
const HOUR = 60 * MINUTE

/** `2025-03-09` + n calendar days (pure date arithmetic, no time zone involved). */
export function addCalendarDays(isoDate: string, days: number): string {
  const [year, month, day] = isoDate.split('-').map(Number)
  return new Date(Date.UTC(year, month - 1, day + days)).toISOString().slice(0, 10)
}

export function weekdayOf(isoDate: string): Weekday {
  const [year, month, day] = isoDate.split('-').map(Number)
  const sundayFirst = new Date(Date.UTC(year, month - 1, day)).getUTCDay()
  return WEEKDAYS[(sundayFirst + 6) % 7]
}

/** UTC offset (ms) of `timeZone` at an instant: the wall clock there minus UTC. */
function offsetAt(timeZone: string, instant: number): number {
  const wall = formatInTimeZone(new Date(instant), timeZone, "yyyy-MM-dd'T'HH:mm:ss'Z'")
  return Date.parse(wall) - Math.floor(instant / 1000) * 1000
}

/**
 * The instant of a Detroit wall time. Around DST changes this matches PostgreSQL (and so the
 * trigger): a time skipped in spring is read with the standard-time offset (02:30 → 03:30 EDT), a
 * time repeated in autumn is the later, standard-time one. Upstream added days in UTC after
 * converting, which was an hour off across a change.
 */
export function wallTimeToInstant(isoDate: string, time: string, timeZone = SCHEDULE_TIME_ZONE): Date {
  const [hours, minutes] = time.split(':').map(Number)
  const [year, month, day] = isoDate.split('-').map(Number)
  const wall = Date.UTC(year, month - 1, day, hours, minutes)
  const before = offsetAt(timeZone, wall - 12 * HOUR)
  const after = offsetAt(timeZone, wall + 12 * HOUR)
  const valid = [...new Set([before, after])]
    .map((offset) => wall - offset)
    .filter((instant) => offsetAt(timeZone, instant) === wall - instant)
  if (valid.length === 0) return new Date(wall - before)
  return new Date(Math.max(...valid))
}

/**
 * The next weekly slot at or after the current minute (a slot in the current minute is still
 * "upcoming": it is being triggered). Looks 7 days ahead, so when the only scheduled day is today
 * and its time has passed the answer is next week (upstream returned null).
 */
export function nextWeeklyRun(schedule: WeeklySchedule, now: Date): Date | null {
  const currentMinute = Math.floor(now.getTime() / MINUTE) * MINUTE
  const today = formatInTimeZone(now, SCHEDULE_TIME_ZONE, 'yyyy-MM-dd')
  for (let offset = 0; offset <= 7; offset++) {
    const date = addCalendarDays(today, offset)
    const time = schedule[weekdayOf(date)]
    if (!time) continue
    const at = wallTimeToInstant(date, time)
    if (at.getTime() >= currentMinute) return at
  }
  return null
}

/**
 * When the upcoming broadcast will go out: its pinned `run_at` while that is ahead or still due
 * within the grace period; otherwise (none, or stale) the weekly schedule, as the trigger does.
 */
export function effectiveNextRun(pinnedRunAt: Date | null, schedule: WeeklySchedule | null, now: Date): Date | null {
  if (pinnedRunAt && pinnedRunAt.getTime() >= now.getTime() - BROADCAST_GRACE_MINUTES * MINUTE) return pinnedRunAt
  return schedule ? nextWeeklyRun(schedule, now) : null
}

/** Minutes from `now` to `at`, fractional and signed (upstream's DateUtils.diffInMinutes). */
export function minutesUntil(at: Date, now: Date): number {
  return (at.getTime() - now.getTime()) / MINUTE
}
