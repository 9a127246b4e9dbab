import type { Db } from '../db/client.ts'
import type { QueuedMessage } from '../queue/index.ts'

// Checked when a message is claimed and again right before the Missive call: an opt-out, an
// exclusion or a campaign pause/cancel that lands between enqueue and send must be honoured
// (upstream only filtered at enqueue time, and personalized campaigns not even then).

export type Verdict =
  | { kind: 'send' }
  /** Deliberately not sent; recorded in the ledger as `skipped` with the reason. */
  | { kind: 'skip'; reason: string }
  /** Not now: the message comes back after `seconds`, and no attempt is counted. */
  | { kind: 'defer'; seconds: number; reason: string }
  /** Its broadcast or campaign no longer exists: no ledger row can be written; dead-lettered. */
  | { kind: 'orphan'; reason: string }

/**
 * A paused campaign's message is parked: invisible until resume or cancel makes it visible again
 * (unpark_campaign_messages, migration 20261130110200, which treats anything over 50 years ahead as
 * parked). Re-checked every minute instead, a large paused campaign was re-read ahead of everything
 * queued after it. This catches a message a drain read just before the pause committed.
 */
export const PARKED_SECONDS = 100 * 365 * 24 * 3600

interface Facts {
  author_exists: boolean
  unsubscribed: boolean | null
  exclude: boolean | null
  added_via_file_upload: boolean | null
  broadcast_exists: boolean
  campaign_exists: boolean
  campaign_status: string | null
}

export async function checkEligibility(db: Db, message: QueuedMessage, isSecond: boolean): Promise<Verdict> {
  const [facts] = await db<Facts[]>`
    SELECT a.phone_number IS NOT NULL AS author_exists, a.unsubscribed, a.exclude, a.added_via_file_upload,
           b.id IS NOT NULL AS broadcast_exists, c.id IS NOT NULL AS campaign_exists, c.status AS campaign_status
    FROM (SELECT 1) AS one
    LEFT JOIN public.authors a ON a.phone_number = ${message.recipient_phone_number}
    LEFT JOIN public.broadcasts b ON b.id = ${message.broadcast_id}::bigint
    LEFT JOIN public.campaigns c ON c.id = ${message.campaign_id}::integer`
  return judge(facts!, message, isSecond)
}

function judge(facts: Facts, message: QueuedMessage, isSecond: boolean): Verdict {
  if (message.broadcast_id !== null && !facts.broadcast_exists) {
    return { kind: 'orphan', reason: `broadcast ${message.broadcast_id} no longer exists` }
  }
  if (message.campaign_id !== null) {
    if (!facts.campaign_exists) return { kind: 'orphan', reason: `campaign ${message.campaign_id} no longer exists` }
    if (facts.campaign_status === 'cancelled') return { kind: 'skip', reason: 'campaign cancelled' }
    if (facts.campaign_status === 'paused') {
      return { kind: 'defer', seconds: PARKED_SECONDS, reason: 'campaign paused (parked until resumed)' }
    }
  }
  if (facts.author_exists) {
    if (facts.unsubscribed) return { kind: 'skip', reason: 'recipient unsubscribed' }
    // The eligibility rule of every producer: `exclude = false`, so a NULL exclude is not eligible.
    if (facts.exclude !== false) return { kind: 'skip', reason: 'recipient excluded' }
    // DESIGN.md: file-upload-only authors never receive a broadcast (campaigns may target them).
    if (message.broadcast_id !== null && facts.added_via_file_upload) {
      return { kind: 'skip', reason: 'recipient only known from a campaign file upload' }
    }
  }
  // A personalized campaign may text a number we have never seen; the author row is created when
  // the send is recorded.
  if (isSecond && !message.second_message?.trim()) return { kind: 'skip', reason: 'no second message text' }
  return { kind: 'send' }
}
