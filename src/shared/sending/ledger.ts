import type { Db } from '../db/client.ts'
import type { QueueName } from '../queue/index.ts'

// Queries on public.message_sends, the at-most-once ledger (contract: migration
// 20250601000150). One row per (broadcast or campaign, recipient, phase).
//   `failed` with attempts < 3 and its queue message alive = a definite failure waiting for retry;
//   `failed` whose queue message was archived = gave up. Nothing was sent in either case, so a
//   `failed` row is the only state a new claim may take over.

export type LedgerState = 'sending' | 'sent' | 'failed' | 'unknown' | 'skipped'

export interface SendKey {
  broadcastId: number | null
  campaignId: number | null
  phone: string
  isSecond: boolean
}

export interface LedgerEntry {
  id: number
  state: LedgerState
  queueName: string
  queueMsgId: number | null
  attempts: number
  missiveConversationId: string | null
}

interface LedgerRow {
  id: string
  state: LedgerState
  queue_name: string
  queue_msg_id: string | null
  attempts: number
  missive_conversation_id: string | null
}

const toEntry = (row: LedgerRow): LedgerEntry => ({
  id: Number(row.id),
  state: row.state,
  queueName: row.queue_name,
  queueMsgId: row.queue_msg_id === null ? null : Number(row.queue_msg_id),
  attempts: row.attempts,
  missiveConversationId: row.missive_conversation_id,
})

export async function findLedgerEntry(db: Db, key: SendKey): Promise<LedgerEntry | null> {
  const [row] = await db<LedgerRow[]>`
    SELECT id, state, queue_name, queue_msg_id, attempts, missive_conversation_id
    FROM public.message_sends
    WHERE COALESCE(broadcast_id, 0) = ${key.broadcastId ?? 0} AND COALESCE(campaign_id, 0) = ${key.campaignId ?? 0}
      AND recipient_phone_number = ${key.phone} AND is_second = ${key.isSecond}`
  return row ? toEntry(row) : null
}

export interface Claim {
  ledgerId: number
  attempts: number
  /** False when the claim took over a `failed` row (then a 429 puts that row back, not deletes it). */
  created: boolean
}

/**
 * The compare-and-set that makes a send at most once: commits `sending` for this key, either as a
 * new row or by taking over a `failed` one (nothing was sent). Any other state means another
 * message (or an earlier attempt of this one) owns the key, and null is returned. The unique
 * index serialises two drains claiming the same key: the loser waits for the winner's commit and
 * then finds `sending`. A claim by a different queue message (e.g. a campaign's "retry failed"
 * re-queue) starts a fresh count of attempts.
 */
export async function claimForSending(
  db: Db,
  key: SendKey,
  queue: QueueName,
  msgId: number,
  text: string,
): Promise<Claim | null> {
  // `sent_text` is the rendered text (placeholders filled for this recipient), committed with the
  // claim: if the outcome turns out unknown, the reconcile matches Twilio's body against it.
  const [row] = await db<{ id: string; attempts: number; created: boolean }[]>`
    INSERT INTO public.message_sends AS s
      (broadcast_id, campaign_id, recipient_phone_number, is_second, state, queue_name, queue_msg_id, sent_text)
    VALUES (${key.broadcastId}, ${key.campaignId}, ${key.phone}, ${key.isSecond}, 'sending', ${queue}, ${msgId}, ${text})
    ON CONFLICT ((COALESCE(broadcast_id, 0)), (COALESCE(campaign_id, 0)), recipient_phone_number, is_second)
    DO UPDATE SET
      state = 'sending',
      attempts = CASE WHEN s.queue_name = EXCLUDED.queue_name AND s.queue_msg_id = EXCLUDED.queue_msg_id
                      THEN s.attempts ELSE 0 END,
      queue_name = EXCLUDED.queue_name,
      queue_msg_id = EXCLUDED.queue_msg_id,
      sent_text = EXCLUDED.sent_text,
      updated_at = now()
    WHERE s.state = 'failed'
    RETURNING s.id, s.attempts, (s.xmax = 0) AS created`
  return row ? { ledgerId: Number(row.id), attempts: row.attempts, created: row.created } : null
}

/**
 * Records a deliberate non-send. Like a claim it only writes a new row or a `failed` one, so it
 * never overwrites a send in flight or done; false means another message owns the key.
 */
export async function recordSkip(
  db: Db,
  key: SendKey,
  queue: QueueName,
  msgId: number,
  reason: string,
): Promise<boolean> {
  const rows = await db`
    INSERT INTO public.message_sends AS s
      (broadcast_id, campaign_id, recipient_phone_number, is_second, state, queue_name, queue_msg_id, detail)
    VALUES (${key.broadcastId}, ${key.campaignId}, ${key.phone}, ${key.isSecond}, 'skipped', ${queue}, ${msgId}, ${reason})
    ON CONFLICT ((COALESCE(broadcast_id, 0)), (COALESCE(campaign_id, 0)), recipient_phone_number, is_second)
    DO UPDATE SET state = 'skipped', detail = EXCLUDED.detail, queue_name = EXCLUDED.queue_name,
                  queue_msg_id = EXCLUDED.queue_msg_id, updated_at = now()
    WHERE s.state = 'failed'
    RETURNING s.id`
  return rows.length > 0
}

/** Missive refused with 429: nothing was sent and the attempt does not count, so undo the claim. */
export async function undoClaim(db: Db, claim: Claim, status: number, detail: string): Promise<void> {
  if (claim.created) {
    await db`DELETE FROM public.message_sends WHERE id = ${claim.ledgerId} AND state = 'sending'`
    return
  }
  await db`
    UPDATE public.message_sends
    SET state = 'failed', last_http_status = ${status}, detail = ${detail}, updated_at = now()
    WHERE id = ${claim.ledgerId} AND state = 'sending'`
}

/** A definite failure (nothing sent): counts one attempt; returns the new count. */
export async function recordFailedAttempt(db: Db, ledgerId: number, status: number, error: string): Promise<number> {
  const [row] = await db<{ attempts: number }[]>`
    UPDATE public.message_sends
    SET state = 'failed', attempts = attempts + 1, last_http_status = ${status}, detail = ${error}, updated_at = now()
    WHERE id = ${ledgerId}
    RETURNING attempts`
  return row!.attempts
}

export async function setLedgerDetail(db: Db, ledgerId: number, detail: string): Promise<void> {
  await db`UPDATE public.message_sends SET detail = ${detail}, updated_at = now() WHERE id = ${ledgerId}`
}

/**
 * Missive may or may not have sent it: never retried blindly; the Twilio reconcile tells. Only a
 * `sending` row: a completion that did commit (its answer lost) keeps its `sent`.
 */
export async function markUnknown(db: Db, ledgerId: number, status: number | null, detail: string): Promise<void> {
  await db`
    UPDATE public.message_sends
    SET state = 'unknown', last_http_status = COALESCE(${status}::integer, last_http_status), detail = ${detail}, updated_at = now()
    WHERE id = ${ledgerId} AND state = 'sending'`
}

/** The first phase's Missive conversation, for checking a follow-up's labels when the payload has none. */
export async function firstPhaseConversation(db: Db, key: SendKey): Promise<string | null> {
  const entry = await findLedgerEntry(db, { ...key, isSecond: false })
  return entry?.missiveConversationId ?? null
}
