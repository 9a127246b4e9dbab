// How the sender retries (DESIGN.md "Sending guarantees").

/** The queue lease of a claimed message (upstream's visibility timeout): longer than a drain plus a Missive timeout. */
export const CLAIM_VISIBILITY_SECONDS = 180

/** A definite failure on the 3rd attempt archives the message (429s are not attempts). */
export const MAX_ATTEMPTS = 3

/**
 * Waits after the 1st and 2nd definite failure. Short enough to get through a blip, long enough
 * that a Missive outage of a couple of minutes does not dead-letter a whole campaign.
 */
export const RETRY_BACKOFF_SECONDS = [30, 120] as const

export function backoffSeconds(attempts: number): number {
  return RETRY_BACKOFF_SECONDS[Math.min(attempts, RETRY_BACKOFF_SECONDS.length) - 1] ?? RETRY_BACKOFF_SECONDS[0]
}

/** A 429 without Retry-After (or X-RateLimit-Reset). */
export const DEFAULT_RATE_LIMIT_RETRY_SECONDS = 5

/** A worker that finds nothing visible waits this long at most for a message about to become visible (a 429 deferral). */
export const SOON_VISIBLE_MS = 10_000

/** Tries of the post-send transaction before the send is left to be dead-lettered as unknown. */
export const RECORD_ATTEMPTS = 3
