import type { Sql } from '../db/client.ts'
import { notFound } from '../http/errors.ts'
import type { QuietHours } from '../schedule/quiet-hours.ts'
import { type QuietHoursStatus, quietHoursStatus } from '../schedule/quiet-status.ts'
import { type CampaignStatus, findCampaign } from './queries.ts'

export interface PhaseCounts {
  /** Waiting in the queue (a failed send that was re-queued counts here again). */
  queued: number
  /** Claimed by the sender, Missive call in flight. */
  sending: number
  sent: number
  /** Gave up after 3 attempts; retry-failed re-queues these. */
  failed: number
  /** The call may have gone out (crash or timeout mid-call); never re-sent blindly. */
  unknown: number
  /** Deliberately not sent: unsubscribed, excluded, excluded label, invalid number, cancelled. */
  skipped: number
  /** Of `queued`: due now but held for quiet hours (0 outside them); they go out when they end. */
  heldForQuietHours: number
}

export interface CampaignProgress extends PhaseCounts {
  id: number
  status: CampaignStatus
  statusDetail: string | null
  /** Recipients of the first message; before the run, the estimate. */
  total: number
  /** First messages Twilio reports delivered (reconciled), a subset of `sent`. */
  delivered: number
  /** First messages Twilio reports failed or undelivered, a subset of `sent`. */
  undelivered: number
  /** Share of `total` that is settled (not queued or in flight), 0–100. */
  percent: number
  followUps: PhaseCounts
  /** Whether quiet hours hold texts right now, and until when (issue 14). */
  quietHours: QuietHoursStatus
}

/**
 * GET /campaigns/:id/progress/, from the sender's ledger (message_sends), the queues and the
 * reconciled message_statuses. Each recipient and phase counts once: a ledger row wins, except a
 * `failed` row whose message was re-queued, which counts as queued.
 */
export async function campaignProgress(
  sql: Sql,
  id: number,
  quiet: { rule: QuietHours | null; now: Date } = { rule: null, now: new Date() },
): Promise<CampaignProgress> {
  // The read is also where a finished campaign is seen to be finished (sending → sent / failed).
  await sql`SELECT public.refresh_campaign_statuses(${id})`
  const campaign = await findCampaign(sql, id)
  if (!campaign) throw notFound('Campaign not found')

  const phases = await sql<Array<{ is_second: boolean; state: string; count: number }>>`
    WITH ledger AS (
      SELECT recipient_phone_number AS phone, is_second, state FROM public.message_sends WHERE campaign_id = ${id}
    ),
    queued AS (
      SELECT DISTINCT q.message->>'recipient_phone_number' AS phone, false AS is_second
      FROM pgmq.q_broadcast_first_messages q WHERE q.message->>'campaign_id' = ${String(id)}
      UNION
      SELECT DISTINCT q.message->>'recipient_phone_number', true
      FROM pgmq.q_broadcast_second_messages q WHERE q.message->>'campaign_id' = ${String(id)}
    )
    SELECT coalesce(l.is_second, q.is_second) AS is_second,
           CASE WHEN q.phone IS NOT NULL AND (l.state IS NULL OR l.state = 'failed') THEN 'queued' ELSE l.state END AS state,
           count(*)::integer AS count
    FROM ledger l
    FULL JOIN queued q ON q.phone = l.phone AND q.is_second = l.is_second
    GROUP BY 1, 2`
  // An `unknown` send the Twilio reconcile found at Twilio is `sent` with no message_statuses row
  // (no Missive ids); its Twilio status is on the ledger row (migration 20250601000700).
  const [twilio] = await sql`
    WITH reconciled AS (
      SELECT recipient_phone_number AS phone, twilio_id, twilio_sent_status AS status
      FROM public.message_statuses WHERE campaign_id = ${id} AND NOT is_second
      UNION ALL
      SELECT recipient_phone_number, twilio_id, twilio_status
      FROM public.message_sends
      WHERE campaign_id = ${id} AND NOT is_second AND state = 'sent' AND message_status_id IS NULL AND twilio_id IS NOT NULL
    )
    SELECT count(DISTINCT phone) FILTER (WHERE twilio_id IS NOT NULL AND status = 'delivered')::integer AS delivered,
           count(DISTINCT phone) FILTER (WHERE status IN ('failed', 'undelivered'))::integer AS undelivered
    FROM reconciled`

  const quietHours = quietHoursStatus(quiet.rule, quiet.now)
  // Held = queued and due: only the quiet hours keep them from the sender (a paused campaign's
  // parked messages are not due, a deferred or retrying one comes back later anyway).
  const held = !quietHours.active ? [] : await sql<Array<{ is_second: boolean; count: number }>>`
    SELECT is_second, count(DISTINCT phone)::integer AS count FROM (
      SELECT q.message->>'recipient_phone_number' AS phone, false AS is_second
      FROM pgmq.q_broadcast_first_messages q
      WHERE q.message->>'campaign_id' = ${String(id)} AND q.vt <= clock_timestamp()
      UNION ALL
      SELECT q.message->>'recipient_phone_number', true
      FROM pgmq.q_broadcast_second_messages q
      WHERE q.message->>'campaign_id' = ${String(id)} AND q.vt <= clock_timestamp()
    ) due
    GROUP BY is_second`
  const heldFor = (isSecond: boolean) => held.find((row) => row.is_second === isSecond)?.count ?? 0
  const first = { ...counts(phases.filter((row) => !row.is_second)), heldForQuietHours: heldFor(false) }
  const followUps = { ...counts(phases.filter((row) => row.is_second)), heldForQuietHours: heldFor(true) }
  // Each recipient once: `heldForQuietHours` is a part of `queued`, not a state of its own.
  const { heldForQuietHours: _held, ...states } = first
  const tracked = Object.values(states).reduce((sum, value) => sum + value, 0)
  const total = campaign.processed ? tracked : Math.max(tracked, campaign.recipientCount)
  const settled = total - first.queued - first.sending
  return {
    id,
    status: campaign.status,
    statusDetail: campaign.statusDetail,
    total,
    ...first,
    delivered: twilio.delivered,
    undelivered: twilio.undelivered,
    // Nothing is settled before the run, whatever the estimate.
    percent: !campaign.processed ? 0 : total === 0 ? 100 : Math.floor((100 * settled) / total),
    followUps,
    quietHours,
  }
}

function counts(rows: Array<{ state: string; count: number }>): Omit<PhaseCounts, 'heldForQuietHours'> {
  const result: Omit<PhaseCounts, 'heldForQuietHours'> = {
    queued: 0,
    sending: 0,
    sent: 0,
    failed: 0,
    unknown: 0,
    skipped: 0,
  }
  for (const row of rows) if (row.state in result) result[row.state as keyof typeof result] += row.count
  return result
}
