import type { Db } from '../db/client.ts'
import { unclaimedSms } from './page-queries.ts'
import { ownerColumn, type TargetRef } from './target.ts'

export interface PassCoverage {
  startedAt: Date
  windowStart: Date
  /** The earlier of the first page's request time and the window's end. */
  coversUntil: Date
}

/** Written with the first page of a pass: what the whole pass will have seen once it completes. */
export async function recordPassCoverage(db: Db, ref: TargetRef, coverage: PassCoverage): Promise<void> {
  await db`
    INSERT INTO public.twilio_reconcile_passes (target_kind, target_id, started_at, window_start, covers_until)
    VALUES (${ref.kind}, ${ref.id}, ${coverage.startedAt}, ${coverage.windowStart}, ${coverage.coversUntil})
    ON CONFLICT (target_kind, target_id) DO UPDATE
    SET started_at = EXCLUDED.started_at, window_start = EXCLUDED.window_start, covers_until = EXCLUDED.covers_until`
}

export interface UnknownResolution {
  /** `unknown` → `sent`: an SMS of the pass to that recipient that nothing else claims. */
  resolvedSent: number
  /** Always 0 here: see settle-unknown.ts, which the pass runs afterwards. */
  resolvedNotSent: number
  /** Still `unknown` after the evidence of the pass. */
  remaining: number
  /** Rows settled by an earlier pass whose Twilio status this pass refreshed. */
  refreshed: number
}

/**
 * Settles the target's `unknown` ledger rows at the end of a complete pass, after pairStaged and
 * before the staged messages are cleared (same transaction). DESIGN.md: an unknown outcome is
 * "never re-sent blindly; the Twilio reconcile fills in what really happened".
 */
export async function resolveUnknownSends(db: Db, ref: TargetRef, now: Date): Promise<UnknownResolution> {
  const owner = db(ownerColumn(ref.kind))

  // Ledger rows settled by an earlier pass keep following their SMS (sent → delivered, …).
  const refreshed = await db`
    UPDATE public.message_sends r SET
      twilio_status = public.merge_twilio_status(r.twilio_status, r.twilio_id, s.status),
      twilio_sent_at = COALESCE(s.date_sent, r.twilio_sent_at),
      updated_at = ${now}
    FROM public.twilio_reconcile_messages s
    WHERE s.target_kind = ${ref.kind} AND s.target_id = ${ref.id} AND r.twilio_id = s.sid
      AND (r.twilio_status IS DISTINCT FROM public.merge_twilio_status(r.twilio_status, r.twilio_id, s.status)
           OR r.twilio_sent_at IS DISTINCT FROM COALESCE(s.date_sent, r.twilio_sent_at))
    RETURNING r.id`

  // Evidence: the pass's SMSs that no row of any broadcast, campaign or phase claims
  // (message_statuses, pairStaged has just paired what it could; or the ledger) AND whose body is the
  // text this send carried (public.message_send_text: its queued payload, after link shortening).
  // Among equal texts for one recipient, the earlier SMS goes to the first phase. Without the body
  // rule a staff reply or another campaign's SMS to that number "proved" a send that never happened.
  const [confirmed] = await db<{ count: number }[]>`
    WITH evidence AS (${unclaimedSms(db, ref)}),
    unknown AS (
      SELECT r.id, r.recipient_phone_number, public.sms_text_key(public.message_send_text(r.id)) AS text_key,
             row_number() OVER (PARTITION BY r.recipient_phone_number, public.sms_text_key(public.message_send_text(r.id))
                                ORDER BY r.is_second, r.created_at, r.id) AS rn
      FROM public.message_sends r
      WHERE r.${owner} = ${ref.id} AND r.state = 'unknown'
        AND r.recipient_phone_number IN (SELECT to_phone FROM evidence)
    ),
    confirmed AS (
      UPDATE public.message_sends r SET
        state = 'sent',
        twilio_id = e.sid,
        twilio_status = e.status,
        twilio_sent_at = e.date_sent,
        resolved_at = ${now},
        updated_at = ${now},
        detail = format('confirmed by Twilio reconcile (%s, %s)', e.sid, e.status)
      FROM unknown u
      JOIN evidence e ON e.to_phone = u.recipient_phone_number AND e.text_key = u.text_key AND e.rn = u.rn
      WHERE r.id = u.id AND r.state = 'unknown'
      RETURNING r.id
    )
    SELECT count(*)::int AS count FROM confirmed`

  // Never declared lost here: this pass lists `DateSent>`, which omits an SMS Twilio holds but has
  // not sent yet (queued / accepted / scheduled), so "not in the pass" is no proof. Only a lookup of
  // the number that lists not-yet-sent messages may prove it (settle-unknown.ts), which the
  // reconcile function runs for this target right after the pass.

  const [{ remaining }] = await db<{ remaining: number }[]>`
    SELECT count(*)::int AS remaining FROM public.message_sends WHERE ${owner} = ${ref.id} AND state = 'unknown'`

  return {
    resolvedSent: confirmed!.count,
    resolvedNotSent: 0,
    remaining,
    refreshed: refreshed.length,
  }
}
