import type { MissiveFailure } from './types.ts'

/**
 * Whether a failure proves Missive did not act on the request, so repeating it cannot send a
 * second SMS: a 429 (refused before acting), no connection at all, our own pacing, or a 4xx that
 * rejects the request. Everything else may have been acted on: a 5xx (a proxy's 503 can come after
 * Missive sent the draft), a connection dropped once the request was written, a timeout, or a 2xx
 * we could not read. Missive has no idempotency key, so those are settled by evidence, never
 * repeated blindly.
 */
export function provedNotActedOn(failure: MissiveFailure): boolean {
  switch (failure.kind) {
    case 'connect':
    case 'paced':
      return true
    case 'http':
      return failure.status >= 400 && failure.status < 500
    case 'network':
    case 'timeout':
    case 'invalid-response':
      return false
  }
}
