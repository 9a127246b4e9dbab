import type { TransactionSql } from '../db/client.ts'
import { maskPhone } from '../log/logger.ts'
import {
  queuedMessageSchema,
  type QueueName,
  SECOND_MESSAGES_QUEUE,
  secondMessageDelaySeconds,
  sendMessage,
} from '../queue/index.ts'
import type { Deps } from '../runtime/deps.ts'
import { type TwilioMessage, TwilioRequestError } from '../twilio/index.ts'
import type { TargetRef } from './target.ts'
import { storableStatus } from './twilio-statuses.ts'

// Settles ledger `unknown` sends within minutes (issue 9 #5), by what Twilio lists for the
// recipient's number since the claim. Run every minute while such sends wait (cron
// `settle-unknown-sends` → POST /reconcile-twilio-status/settle-unknown, migration 20261130110300),
// and for one broadcast/campaign right after its reconcile pass.
//
// Why a cron job and not the drain: the drain ends (and unschedules itself) once its queue is
// empty, which is exactly when the last sends of a batch may still be `unknown`; a send is
// `unknown` because Missive or Twilio has not answered yet, so it can only be settled minutes
// later; and a Twilio lookup per row would eat into the drain's Missive pacing. The per-minute job
// is a plain SQL check when nothing waits.
//
// The lookup lists the number's messages from the broadcast number WITHOUT a date filter: Twilio's
// `DateSent` filters omit what it holds but has not sent yet (queued / accepted / scheduled, no
// DateSent), and such a message can still be delivered (#7). Evidence (#6) is a message created
// since the claim whose body is the text this send carried and whose SID no other row (any
// broadcast, campaign or phase) claims.

/** Missive hands a draft to Twilio within seconds; before this, "not at Twilio" means nothing. */
export const LOOKUP_AFTER_MS = 2 * 60_000
/**
 * Declared never sent only when Twilio lists nothing (sent or not) this long after the last
 * attempt, and Missive never answered 2xx: a request Missive acted on becomes a Twilio message in
 * seconds, and one Twilio holds is listed from the moment it exists.
 */
export const NOT_SENT_AFTER_MS = 10 * 60_000
/** Re-looked-up every minute during its first hour, hourly after that. */
export const RECHECK_YOUNG_MS = 60_000
export const RECHECK_OLD_MS = 60 * 60_000
export const YOUNG_MS = 60 * 60_000
/** Twilio and our clock may disagree: messages created this long before the claim still count. */
export const CLOCK_MARGIN_MS = 60_000
/**
 * A follow-up is queued for a send confirmed late only while it is still timely: no later than its
 * `delay` after the first SMS plus this grace. Beyond that it would arrive out of context.
 */
export const FOLLOW_UP_GRACE_MS = 30 * 60_000
/**
 * A first message proven not sent is re-queued only while its claim is this recent (a broadcast is
 * time-bound); a follow-up only within FOLLOW_UP_GRACE_MS of its claim.
 */
export const RETRY_WITHIN_MS = 2 * 60 * 60_000
/** Lookups per invocation (one Twilio request each, usually). */
export const SETTLE_BATCH = 50

export const NOT_SENT_DETAIL = 'not found at Twilio (lookup of the number, not-yet-sent messages included)'

export interface SettleSummary {
  checked: number
  resolvedSent: number
  resolvedNotSent: number
  requeued: number
  followUpsQueued: number
  lookupErrors: number
}

interface Candidate {
  id: number
  phone: string
  is_second: boolean
  broadcast_id: number | null
  campaign_id: number | null
  queue_name: QueueName
  created_at: Date
  updated_at: Date
  last_http_status: number | null
  text: string | null
  payload: unknown
}

const textKey = (text: string | null | undefined) => (text ?? '').trim().replace(/\s+/g, ' ')

export async function settleUnknownSends(
  deps: Deps,
  options: { target?: TargetRef; limit?: number } = {},
): Promise<SettleSummary> {
  const now = deps.now()
  const { sql } = deps
  const owner = options.target
    ? sql`AND ${sql(options.target.kind === 'broadcast' ? 'broadcast_id' : 'campaign_id')} = ${options.target.id}`
    : sql``
  const candidates = await sql<Candidate[]>`
    SELECT s.id::integer, s.recipient_phone_number AS phone, s.is_second, s.broadcast_id::integer, s.campaign_id,
           s.queue_name, s.created_at, s.updated_at, s.last_http_status, public.message_send_text(s.id) AS text,
           ${archivedPayload(sql)} AS payload
    FROM public.message_sends s
    WHERE s.state = 'unknown' ${owner}
      AND s.updated_at <= ${new Date(now.getTime() - LOOKUP_AFTER_MS)}
      AND (s.settle_checked_at IS NULL OR s.settle_checked_at <= CASE
             WHEN s.updated_at > ${new Date(now.getTime() - YOUNG_MS)} THEN ${new Date(
    now.getTime() - RECHECK_YOUNG_MS,
  )}::timestamptz
             ELSE ${new Date(now.getTime() - RECHECK_OLD_MS)}::timestamptz END)
    ORDER BY s.settle_checked_at NULLS FIRST, s.updated_at
    LIMIT ${options.limit ?? SETTLE_BATCH}`

  const summary: SettleSummary = {
    checked: 0,
    resolvedSent: 0,
    resolvedNotSent: 0,
    requeued: 0,
    followUpsQueued: 0,
    lookupErrors: 0,
  }
  for (const row of candidates) {
    const log = deps.log.child({
      ledgerId: row.id,
      broadcastId: row.broadcast_id ?? undefined,
      campaignId: row.campaign_id ?? undefined,
      phase: row.is_second ? 'second' : 'first',
      phone: maskPhone(row.phone),
    })
    let listing: { messages: TwilioMessage[]; complete: boolean }
    try {
      listing = await deps.twilio.listMessagesTo({
        to: row.phone,
        from: deps.config.BROADCAST_SOURCE_PHONE_NUMBER,
        createdSince: new Date(row.created_at.getTime() - CLOCK_MARGIN_MS),
      })
    } catch (error) {
      if (!(error instanceof TwilioRequestError)) throw error
      summary.lookupErrors++
      log.warn('Twilio lookup of an unknown send failed; retried next minute', { error: error.message })
      continue
    }
    summary.checked++
    const outcome = await sql.begin((tx) => settleOne(tx, row, listing, now))
    if (outcome.kind === 'sent') {
      summary.resolvedSent++
      if (outcome.followUp !== null) summary.followUpsQueued++
      log.info('unknown send went out (Twilio lookup)', { sid: outcome.sid, detail: outcome.detail })
    } else if (outcome.kind === 'not-sent') {
      summary.resolvedNotSent++
      if (outcome.requeued !== null) summary.requeued++
      log.warn('unknown send never reached Twilio', { detail: outcome.detail })
    }
  }
  return summary
}

/** The payload the send was claimed from (an unknown send is archived with it), or null. */
function archivedPayload(sql: Deps['sql']) {
  return sql`coalesce(
    (SELECT a.message FROM pgmq.a_broadcast_first_messages a
     WHERE s.queue_name = 'broadcast_first_messages' AND a.msg_id = s.queue_msg_id),
    (SELECT a.message FROM pgmq.a_broadcast_second_messages a
     WHERE s.queue_name = 'broadcast_second_messages' AND a.msg_id = s.queue_msg_id))`
}

type Outcome =
  | { kind: 'sent'; sid: string; detail: string; followUp: number | null }
  | { kind: 'not-sent'; detail: string; requeued: number | null }
  | { kind: 'open' }

async function settleOne(
  tx: TransactionSql,
  row: Candidate,
  listing: { messages: TwilioMessage[]; complete: boolean },
  now: Date,
): Promise<Outcome> {
  // Re-read under a lock: a reconcile pass or another invocation may have settled it meanwhile.
  const [current] = await tx<{ state: string }[]>`
    SELECT state FROM public.message_sends WHERE id = ${row.id} FOR UPDATE`
  if (current?.state !== 'unknown') return { kind: 'open' }

  const sids = listing.messages.map((m) => m.sid)
  const claimed = new Set(
    (await tx<{ sid: string }[]>`
      SELECT twilio_id AS sid FROM public.message_statuses WHERE twilio_id = ANY(${sids}::text[])
      UNION SELECT twilio_id FROM public.message_sends WHERE twilio_id = ANY(${sids}::text[])`).map((r) => r.sid),
  )
  const wanted = textKey(row.text)
  const evidence = listing.messages
    .filter((m) => !claimed.has(m.sid) && wanted !== '' && textKey(m.body) === wanted)
    .sort((a, b) => instant(a, row) - instant(b, row))[0]

  if (evidence) {
    const { status } = storableStatus(evidence.status)
    let detail = `confirmed by Twilio lookup (${evidence.sid}, ${evidence.status})`
    let followUp: number | null = null
    if (!row.is_second) {
      const queued = await queueLateFollowUp(tx, row, new Date(instant(evidence, row)), now)
      followUp = queued.msgId
      detail += `; ${queued.detail}`
    }
    await tx`
      UPDATE public.message_sends SET
        state = 'sent', twilio_id = ${evidence.sid}, twilio_status = ${status}::public.twilio_status,
        twilio_sent_at = ${evidence.dateSent}, resolved_at = ${now}, updated_at = ${now},
        settle_checked_at = ${now}, detail = ${detail}
      WHERE id = ${row.id}`
    return { kind: 'sent', sid: evidence.sid, detail, followUp }
  }

  const acknowledged = row.last_http_status !== null && row.last_http_status >= 200 && row.last_http_status < 300
  const settled = row.updated_at.getTime() <= now.getTime() - NOT_SENT_AFTER_MS
  if (!listing.complete || !settled || acknowledged) {
    await tx`UPDATE public.message_sends SET settle_checked_at = ${now} WHERE id = ${row.id}`
    return { kind: 'open' }
  }

  const retry = await requeueNotSent(tx, row, now)
  const detail = `${NOT_SENT_DETAIL}; ${retry.detail}`
  await tx`
    UPDATE public.message_sends SET
      state = 'failed', resolved_at = ${now}, updated_at = ${now}, settle_checked_at = ${now}, detail = ${detail}
    WHERE id = ${row.id}`
  return { kind: 'not-sent', detail, requeued: retry.msgId }
}

/** When the SMS went out, as best known: Twilio's DateSent, else its creation, else our claim. */
function instant(message: TwilioMessage, row: Candidate): number {
  return (message.dateSent ?? message.dateCreated ?? row.created_at).getTime()
}

/**
 * The follow-up a completed send would have queued, for a first message confirmed late: only when
 * it has text, is still timely (delay + FOLLOW_UP_GRACE_MS after the first SMS), the person has not
 * replied or opted out since, and no follow-up exists already. The sender re-checks eligibility.
 */
async function queueLateFollowUp(
  tx: TransactionSql,
  row: Candidate,
  sentAt: Date,
  now: Date,
): Promise<{ msgId: number | null; detail: string }> {
  const payload = await payloadOf(tx, row)
  if (!payload) return { msgId: null, detail: 'no follow-up: its payload is gone' }
  const parsed = queuedMessageSchema.safeParse(payload)
  if (!parsed.success || !parsed.data.second_message?.trim()) return { msgId: null, detail: 'no follow-up text' }
  const dueAt = sentAt.getTime() + secondMessageDelaySeconds(parsed.data) * 1000
  if (now.getTime() > dueAt + FOLLOW_UP_GRACE_MS) {
    return { msgId: null, detail: `follow-up not queued: due ${new Date(dueAt).toISOString()}, too late` }
  }
  const [blocker] = await tx<{ reason: string }[]>`
    SELECT 'replied' AS reason FROM public.twilio_messages
    WHERE from_field = ${row.phone} AND delivered_at >= ${sentAt}
    UNION ALL
    SELECT 'unsubscribed' FROM public.authors WHERE phone_number = ${row.phone} AND unsubscribed
    UNION ALL
    SELECT 'already claimed' FROM public.message_sends
    WHERE recipient_phone_number = ${row.phone} AND is_second
      AND broadcast_id IS NOT DISTINCT FROM ${row.broadcast_id}::bigint
      AND campaign_id IS NOT DISTINCT FROM ${row.campaign_id}::integer
    UNION ALL
    SELECT 'already queued' FROM pgmq.q_broadcast_second_messages q
    WHERE q.message->>'recipient_phone_number' = ${row.phone}
      AND q.message->>'broadcast_id' IS NOT DISTINCT FROM ${row.broadcast_id?.toString() ?? null}::text
      AND q.message->>'campaign_id' IS NOT DISTINCT FROM ${row.campaign_id?.toString() ?? null}::text
    LIMIT 1`
  if (blocker) return { msgId: null, detail: `follow-up not queued: ${blocker.reason}` }
  const delaySeconds = Math.max(0, Math.ceil((dueAt - now.getTime()) / 1000))
  // When the first SMS really went out: quiet hours' 12 h rule for follow-ups counts from it.
  const followUp = { ...(payload as Record<string, unknown>), first_sent_at: sentAt.toISOString() }
  const msgId = await sendMessage(tx, SECOND_MESSAGES_QUEUE, followUp, delaySeconds)
  return { msgId, detail: `follow-up queued as ${msgId} (in ${delaySeconds} s)` }
}

/**
 * A send proven never handed to Twilio goes back to its queue while still recent; the sender's
 * claim takes the `failed` row over. A follow-up is not re-queued once the person has replied.
 */
async function requeueNotSent(
  tx: TransactionSql,
  row: Candidate,
  now: Date,
): Promise<{ msgId: number | null; detail: string }> {
  // A follow-up was claimed when it was due: re-sent only within the same grace as a late one.
  const within = row.is_second ? FOLLOW_UP_GRACE_MS : RETRY_WITHIN_MS
  if (row.created_at.getTime() < now.getTime() - within) {
    return { msgId: null, detail: 'too old to re-send automatically; safe to retry' }
  }
  const payload = await payloadOf(tx, row)
  if (!payload) return { msgId: null, detail: 'its payload is gone; safe to retry' }
  if (row.is_second) {
    const [replied] = await tx`
      SELECT 1 FROM public.twilio_messages t
      WHERE t.from_field = ${row.phone}
        AND t.delivered_at >= coalesce(
          (SELECT min(f.created_at) FROM public.message_sends f
           WHERE f.recipient_phone_number = ${row.phone} AND NOT f.is_second
             AND f.broadcast_id IS NOT DISTINCT FROM ${row.broadcast_id}::bigint
             AND f.campaign_id IS NOT DISTINCT FROM ${row.campaign_id}::integer),
          ${row.created_at}::timestamptz - interval '1 day')
      LIMIT 1`
    if (replied) return { msgId: null, detail: 'not re-sent: the person replied' }
  }
  const msgId = await sendMessage(tx, row.queue_name, payload, 0)
  return { msgId, detail: `re-queued as ${msgId}` }
}

/** The archived payload, else one rebuilt from the broadcast or campaign (same keys as producers). */
async function payloadOf(tx: TransactionSql, row: Candidate): Promise<unknown> {
  if (row.payload) return row.payload
  const [rebuilt] = await tx<{ payload: unknown }[]>`
    SELECT jsonb_build_object('recipient_phone_number', ${row.phone}::text, 'broadcast_id', b.id,
                              'first_message', b.first_message, 'second_message', b.second_message, 'delay', b.delay) AS payload
    FROM public.broadcasts b WHERE b.id = ${row.broadcast_id}::bigint
    UNION ALL
    SELECT jsonb_build_object('recipient_phone_number', ${row.phone}::text, 'campaign_id', c.id, 'title', c.title,
                              'first_message', c.first_message, 'second_message', c.second_message, 'delay', c.delay,
                              'label_ids', to_jsonb(c.label_ids), 'campaign_segments', c.segments)
    FROM public.campaigns c WHERE c.id = ${row.campaign_id}::integer`
  return rebuilt?.payload ?? null
}
