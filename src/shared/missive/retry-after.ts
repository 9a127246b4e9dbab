/**
 * Seconds until Missive wants to hear from us again. `Retry-After` may be delta-seconds or an
 * HTTP date; on a 429 without it, Missive's documented `X-RateLimit-Reset` (epoch seconds) still
 * tells the sender how long to park the message instead of burning a retry.
 */
export function parseRetryAfter(headers: Headers, status: number, nowMs: number = Date.now()): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim()
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.ceil(Number(retryAfter))
    const at = Date.parse(retryAfter)
    if (!Number.isNaN(at)) return Math.max(0, Math.ceil((at - nowMs) / 1000))
  }
  if (status !== 429) return undefined
  const reset = headers.get('x-ratelimit-reset')?.trim()
  if (reset && /^\d+$/.test(reset)) return Math.max(0, Math.ceil(Number(reset) - nowMs / 1000))
  return undefined
}
