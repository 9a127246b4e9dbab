import { describeQuietHours, formatLocal, isQuiet, nextAllowed, type QuietHours } from './quiet-hours.ts'

/**
 * What the progress endpoints say about quiet hours (issue 14 part 3), beside the counts of
 * messages `heldForQuietHours`: whether the window is in force now and when sending resumes.
 */
export interface QuietHoursStatus {
  /** True while broadcast and campaign texts are held. */
  active: boolean
  /** `21:00–08:00 America/Detroit`, or null when QUIET_HOURS=off. */
  window: string | null
  /** While active: when sending resumes (ISO 8601, UTC). */
  resumesAt: string | null
  /** The same on the audience's wall clock. */
  resumesAtLocal: string | null
  /** `held for quiet hours until …` while active, else null. */
  status: string | null
}

export function quietHoursStatus(rule: QuietHours | null, now: Date): QuietHoursStatus {
  if (!rule || !isQuiet(rule, now)) {
    return {
      active: false,
      window: rule ? describeQuietHours(rule) : null,
      resumesAt: null,
      resumesAtLocal: null,
      status: null,
    }
  }
  const resumes = nextAllowed(rule, now)
  return {
    active: true,
    window: describeQuietHours(rule),
    resumesAt: resumes.toISOString(),
    resumesAtLocal: formatLocal(rule, resumes),
    status: `held for quiet hours until ${formatLocal(rule, resumes)}`,
  }
}
