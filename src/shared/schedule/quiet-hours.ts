import { formatInTimeZone } from 'date-fns-tz'
import type { Config, QuietWindow } from '../config/env.ts'
import { addCalendarDays, wallTimeToInstant } from './weekly.ts'

// Quiet hours (issue 14 part 3): no marketing text before 08:00 or after 21:00 on the audience's
// wall clock (US rules and common decency). The window is `QUIET_HOURS` read in
// `BROADCAST_TIME_ZONE`; `off` disables it. Two questions are answered here, DST-correctly (the
// wall clock is read with date-fns-tz, wall times are turned into instants as the weekly schedule
// does): "is this instant quiet?" and "when may we send next?". The sender asks at claim time
// (sending/claim.ts); the scheduling routes ask before accepting a run time.

export interface QuietHours extends QuietWindow {
  timeZone: string
}

/** A follow-up that quiet hours would push more than this after its first message is skipped. */
export const FOLLOW_UP_MAX_LATENESS_MS = 12 * 60 * 60 * 1000

export function quietHoursFrom(config: Pick<Config, 'QUIET_HOURS' | 'BROADCAST_TIME_ZONE'>): QuietHours | null {
  return config.QUIET_HOURS ? { ...config.QUIET_HOURS, timeZone: config.BROADCAST_TIME_ZONE } : null
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5))

/** Whether the window crosses midnight (21:00-08:00) or lies inside one day (12:00-13:00). */
const crossesMidnight = (rule: QuietHours) => minutesOf(rule.start) > minutesOf(rule.end)

function wallClock(rule: QuietHours, instant: Date): { date: string; minute: number } {
  const [date, time] = formatInTimeZone(instant, rule.timeZone, "yyyy-MM-dd'T'HH:mm").split('T')
  return { date, minute: minutesOf(time) }
}

/** Is `instant` inside quiet hours? Minute precision: 20:59:59 is not, 21:00:00 is. */
export function isQuiet(rule: QuietHours | null, instant: Date): boolean {
  if (!rule) return false
  const { minute } = wallClock(rule, instant)
  const start = minutesOf(rule.start)
  const end = minutesOf(rule.end)
  return crossesMidnight(rule) ? minute >= start || minute < end : minute >= start && minute < end
}

/** The first instant at or after `instant` that is not quiet (`instant` itself when it is not). */
export function nextAllowed(rule: QuietHours | null, instant: Date): Date {
  if (!rule || !isQuiet(rule, instant)) return instant
  const { date, minute } = wallClock(rule, instant)
  // Inside a window that crossed midnight, before midnight: it ends tomorrow morning.
  const endDate = crossesMidnight(rule) && minute >= minutesOf(rule.start) ? addCalendarDays(date, 1) : date
  const end = wallTimeToInstant(endDate, rule.end, rule.timeZone)
  // A window end inside a DST gap reads as the standard-time instant; never answer the past.
  return end.getTime() > instant.getTime() ? end : new Date(instant.getTime() + 60_000)
}

/** The first quiet instant in [from, to], or null when the whole span is allowed. */
export function firstQuietIn(rule: QuietHours | null, from: Date, to: Date): Date | null {
  if (!rule || to.getTime() < from.getTime()) return null
  if (isQuiet(rule, from)) return from
  const { date } = wallClock(rule, from)
  let start = wallTimeToInstant(date, rule.start, rule.timeZone)
  if (start.getTime() <= from.getTime()) start = wallTimeToInstant(addCalendarDays(date, 1), rule.start, rule.timeZone)
  return start.getTime() <= to.getTime() ? start : null
}

/** `21:00–08:00 America/Detroit`, for messages. */
export function describeQuietHours(rule: QuietHours): string {
  return `${rule.start}–${rule.end} ${rule.timeZone}`
}

/** `Wed, Dec 2, 2026, 08:00 EST (America/Detroit)`: the audience's wall clock, for people. */
export function formatLocal(rule: Pick<QuietHours, 'timeZone'>, instant: Date): string {
  return `${formatInTimeZone(instant, rule.timeZone, 'EEE, MMM d, yyyy, HH:mm zzz')} (${rule.timeZone})`
}

export type QuietVerdict =
  | { kind: 'send' }
  /** Inside quiet hours: stays queued until `until`. */
  | { kind: 'hold'; until: Date }
  /** A follow-up that quiet hours would push more than 12 h after its first message. */
  | { kind: 'skip'; reason: string }

export interface FollowUpTiming {
  /** When the first message went out (on the sender's clock). */
  firstSentAt: Date
  delaySeconds: number
}

/**
 * What quiet hours say about sending a broadcast or campaign text now. A follow-up that quiet
 * hours held (its delay ended inside them, or it was still waiting when they began) goes out when
 * they end, unless that is more than 12 h after its first message: then it is skipped for good (a
 * late follow-up to yesterday's question confuses people). The decision depends only on the first
 * send, the delay and the window, not on how fast the morning's backlog drains, so a follow-up
 * held until 08:00 is not dropped because the queue took until 08:20 to reach it.
 */
export function quietVerdict(rule: QuietHours | null, now: Date, followUp?: FollowUpTiming): QuietVerdict {
  if (!rule) return { kind: 'send' }
  if (followUp) {
    const due = new Date(followUp.firstSentAt.getTime() + followUp.delaySeconds * 1000)
    const held = firstQuietIn(rule, due, now)
    if (held) {
      const opens = nextAllowed(rule, held)
      if (opens.getTime() - followUp.firstSentAt.getTime() > FOLLOW_UP_MAX_LATENESS_MS) {
        return {
          kind: 'skip',
          reason: `quiet hours: the follow-up would go out at ${formatLocal(rule, opens)}, more than 12 h after ` +
            `its first message (${formatLocal(rule, followUp.firstSentAt)}); skipped, not sent late`,
        }
      }
    }
  }
  return isQuiet(rule, now) ? { kind: 'hold', until: nextAllowed(rule, now) } : { kind: 'send' }
}
