import type { Logger } from '../log/logger.ts'

/**
 * What became of one claimed queue message:
 * - sent: Missive accepted it and it is recorded;
 * - retrying: a definite failure (attempt 1 or 2), back in the queue after a backoff;
 * - failed: the 3rd definite failure: archived, ledger `failed` with the last status and error;
 * - unknown: Missive may have sent it (timeout, unreadable answer, crash mid-call): archived,
 *   ledger `unknown`, never re-sent blindly;
 * - skipped: deliberately not sent (ledger `skipped` with the reason);
 * - deferred: put back without counting an attempt (429, paused campaign, no rate slot in time);
 * - duplicate: another queue message owns this recipient and phase (sent, in flight, skipped…);
 * - invalid: unreadable payload or vanished broadcast/campaign: archived;
 * - held: inside quiet hours: left in the queue, visible, no attempt counted, no ledger row.
 */
export type OutcomeStatus =
  | 'sent'
  | 'retrying'
  | 'failed'
  | 'unknown'
  | 'skipped'
  | 'deferred'
  | 'duplicate'
  | 'invalid'
  | 'held'

export interface Outcome {
  status: OutcomeStatus
  detail?: string
  httpStatus?: number
  /** Seconds until the message is visible again (deferred, retrying). */
  retryInSeconds?: number
  /** Stop the whole drain after this message (no rate slot before the drain ends). */
  stopDrain?: boolean
}

const levels: Record<OutcomeStatus, 'info' | 'warn' | 'error'> = {
  sent: 'info',
  retrying: 'warn',
  failed: 'error',
  unknown: 'error',
  skipped: 'info',
  deferred: 'info',
  duplicate: 'warn',
  invalid: 'error',
  held: 'info',
}

const messages: Record<OutcomeStatus, string> = {
  sent: 'message sent',
  retrying: 'send failed; will retry',
  failed: 'send failed 3 times; archived',
  unknown: 'outcome unknown; archived, not re-sent',
  skipped: 'message skipped',
  deferred: 'message deferred',
  duplicate: 'duplicate queue message removed',
  invalid: 'unusable queue message archived',
  held: 'held for quiet hours',
}

/** One line per outcome; `log` carries queue, msg_id, broadcast/campaign id, phase and masked phone. */
export function logOutcome(log: Logger, outcome: Outcome): void {
  log[levels[outcome.status]](messages[outcome.status], {
    status: outcome.status,
    ...(outcome.detail ? { detail: outcome.detail } : {}),
    ...(outcome.httpStatus !== undefined ? { httpStatus: outcome.httpStatus } : {}),
    ...(outcome.retryInSeconds !== undefined ? { retryInSeconds: outcome.retryInSeconds } : {}),
  })
}
