import type { Db } from '../db/client.ts'
import { ownerColumn, type TargetRef } from './target.ts'

/**
 * An `unknown` send younger than this (at the end of the pass, and before the pass's first Twilio
 * request) may still be on its way through Missive and Twilio's queue: it is never declared lost.
 */
export const UNKNOWN_SETTLE_MS = 60 * 60_000

/**
 * A send claimed this soon after the window start may carry a Twilio `date_sent` just before it if
 * the clocks disagree, and then fall outside the pass's `DateSent>` filter. Such rows are only ever
 * resolved by evidence, never declared lost.
 */
export const WINDOW_START_MARGIN_MS = 10_000

export const NOT_SENT_DETAIL = 'not found at Twilio after reconcile; safe to retry'

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
  /** `unknown` → `failed`: Twilio never saw it; retry-failed may re-queue it. */
  resolvedNotSent: number
  /** Still `unknown` (too recent, outside what the pass covered, or Missive acknowledged it). */
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

  // Evidence: the pass's SMSs that no message_statuses row (pairStaged has just paired what it
  // could) and no ledger row claims. For one recipient they are matched in time order with the
  // unknown rows in phase order, as pairStaged does: the earlier SMS goes to the first phase. An
  // SMS that is not really this send's (an editor's reply from the same number) can only make us
  // believe it went out, which at worst leaves a message unsent; never the reverse.
  const [confirmed] = await db<{ count: number }[]>`
    WITH evidence AS (
      SELECT s.sid, s.to_phone, s.status, s.date_sent,
             row_number() OVER (PARTITION BY s.to_phone ORDER BY s.date_sent NULLS LAST, s.sid) AS rn
      FROM public.twilio_reconcile_messages s
      WHERE s.target_kind = ${ref.kind} AND s.target_id = ${ref.id}
        AND NOT EXISTS (SELECT 1 FROM public.message_statuses t WHERE t.twilio_id = s.sid)
        AND NOT EXISTS (SELECT 1 FROM public.message_sends r WHERE r.twilio_id = s.sid)
    ),
    unknown AS (
      SELECT r.id, r.recipient_phone_number,
             row_number() OVER (PARTITION BY r.recipient_phone_number ORDER BY r.is_second, r.created_at, r.id) AS rn
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
      JOIN evidence e ON e.to_phone = u.recipient_phone_number AND e.rn = u.rn
      WHERE r.id = u.id AND r.state = 'unknown'
      RETURNING r.id
    )
    SELECT count(*)::int AS count FROM confirmed`

  // No evidence left for these (the pairing above took every SMS their recipient has). Declared
  // lost only when the pass saw every SMS this send could have become: its claim came after the
  // window start (created_at ≤ every claim), and its last attempt (≤ updated_at) was at least
  // UNKNOWN_SETTLE_MS before both the pass's first request and now. A row Missive acknowledged
  // (2xx: accepted without ids, or accepted and the recording failed) has been taken by Missive, so
  // it stays unknown: re-sending it could text the person twice if Missive delivers it late.
  const [notSent] = await db<{ count: number }[]>`
    WITH pass AS (
      SELECT window_start, covers_until FROM public.twilio_reconcile_passes
      WHERE target_kind = ${ref.kind} AND target_id = ${ref.id}
    ),
    lost AS (
      UPDATE public.message_sends r SET
        state = 'failed',
        resolved_at = ${now},
        updated_at = ${now},
        detail = ${NOT_SENT_DETAIL}
      FROM pass p
      WHERE r.${owner} = ${ref.id} AND r.state = 'unknown'
        AND r.created_at >= p.window_start + ${WINDOW_START_MARGIN_MS} * interval '1 millisecond'
        AND r.updated_at <= p.covers_until - ${UNKNOWN_SETTLE_MS} * interval '1 millisecond'
        AND r.updated_at <= ${now}::timestamptz - ${UNKNOWN_SETTLE_MS} * interval '1 millisecond'
        AND (r.last_http_status IS NULL OR r.last_http_status NOT BETWEEN 200 AND 299)
      RETURNING r.id
    )
    SELECT count(*)::int AS count FROM lost`

  const [{ remaining }] = await db<{ remaining: number }[]>`
    SELECT count(*)::int AS remaining FROM public.message_sends WHERE ${owner} = ${ref.id} AND state = 'unknown'`

  return {
    resolvedSent: confirmed!.count,
    resolvedNotSent: notSent!.count,
    remaining,
    refreshed: refreshed.length,
  }
}
