import type { Db, TransactionSql } from '../db/client.ts'
import { ownerColumn, type TargetRef } from './target.ts'
import type { TwilioStatus } from './twilio-statuses.ts'

export interface PageMessage {
  sid: string
  to: string
  status: TwilioStatus
  dateSent: Date | null
  /** What Twilio says was sent: an SMS without a SID is paired only with a row whose text this is. */
  body: string
}

const ownerTable = (ref: TargetRef) => (ref.kind === 'broadcast' ? 'broadcasts' : 'campaigns')

/** Forgets the messages a previous, unfinished pass staged, so a fresh pass starts clean. */
export async function clearStaged(db: Db, ref: TargetRef): Promise<void> {
  await db`DELETE FROM public.twilio_reconcile_messages WHERE target_kind = ${ref.kind} AND target_id = ${ref.id}`
}

/** The page token a page was fetched with, and the one Twilio gave for the next page (null = last). */
export interface Cursor {
  from: string | null
  to: string | null
}

/**
 * One statement per page, atomic on its own:
 * - moves the pass's page token from `cursor.from` to `cursor.to` as a compare-and-set, so when two
 *   invocations overlap (a slow minute) only the first applies the page; the other gets null;
 * - rows already carrying a message's SID (from the Missive outgoing webhook, a status callback or
 *   an earlier pass) take its status at once, never moving a final status back (merge_twilio_status);
 * - the other messages are staged for the pairing at the end of the pass (pairStaged).
 */
export async function applyPage(
  db: Db,
  ref: TargetRef,
  cursor: Cursor,
  messages: PageMessage[],
  now: Date,
): Promise<{ bySid: number; staged: number } | null> {
  const rows = messages.map((m) => ({
    sid: m.sid,
    to_phone: m.to,
    status: m.status,
    date_sent: m.dateSent,
    body: m.body,
  }))
  const [counts] = await db<{ advanced: boolean; by_sid: number; staged: number }[]>`
    WITH advanced AS (
      UPDATE ${db('public.' + ownerTable(ref))} SET twilio_paging = ${cursor.to}::text
      WHERE id = ${ref.id} AND twilio_paging IS NOT DISTINCT FROM ${cursor.from}::text
      RETURNING id
    ),
    page AS (
      SELECT DISTINCT ON (m.sid) m.sid, m.to_phone, m.status, m.date_sent, m.body
      FROM jsonb_to_recordset(${
    db.json(rows)
  }) AS m(sid text, to_phone text, status public.twilio_status, date_sent timestamptz, body text)
      WHERE EXISTS (SELECT 1 FROM advanced)
    ),
    by_sid AS (
      UPDATE public.message_statuses ms SET
        twilio_sent_status = public.merge_twilio_status(ms.twilio_sent_status, ms.twilio_id, p.status),
        twilio_sent_at = COALESCE(p.date_sent, ms.twilio_sent_at),
        updated_at = ${now}
      FROM page p
      WHERE ms.twilio_id = p.sid
      RETURNING ms.twilio_id
    ),
    staged AS (
      INSERT INTO public.twilio_reconcile_messages (target_kind, target_id, sid, to_phone, status, date_sent, body, staged_at)
      SELECT ${ref.kind}, ${ref.id}, p.sid, p.to_phone, p.status, p.date_sent, p.body, ${now}
      FROM page p
      WHERE NOT EXISTS (SELECT 1 FROM by_sid b WHERE b.twilio_id = p.sid)
      ON CONFLICT (target_kind, target_id, sid)
        DO UPDATE SET to_phone = EXCLUDED.to_phone, status = EXCLUDED.status, date_sent = EXCLUDED.date_sent,
                      body = EXCLUDED.body, staged_at = EXCLUDED.staged_at
      RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM advanced) AS advanced,
           (SELECT count(DISTINCT twilio_id)::int FROM by_sid) AS by_sid,
           (SELECT count(*)::int FROM staged) AS staged`
  return counts!.advanced ? { bySid: counts!.by_sid, staged: counts!.staged } : null
}

/**
 * End of a pass: pairs each recipient's un-reconciled rows of this broadcast/campaign (twilio_id
 * IS NULL) with that recipient's staged SMSs. An SMS qualifies only when no row of ANY broadcast,
 * campaign or phase claims its SID (message_statuses or the ledger) and its body is the text the
 * row sent (message_statuses.message, i.e. after link shortening; whitespace-insensitive,
 * public.sms_text_key). Among equal texts, the row written first takes the SMS sent first.
 * Pairing by recipient and time order alone took any SMS from the broadcast number — another
 * campaign's, a test send's, a staff reply — so a row could carry another message's status.
 * Upstream gave every message the recipient's latest row, newest first.
 * In a transaction (its work table lives until the commit).
 */
/**
 * The pass's SMSs that no row claims (message_statuses, or the ledger: an SMS an earlier pass
 * showed to be an unknown send's, unknown-sends.ts, is not another row's), numbered per recipient
 * and text in the order they were sent. A query fragment: pairStaged and resolveUnknownSends each
 * read it at their own moment.
 */
export function unclaimedSms(db: Db, ref: TargetRef) {
  return db`
    SELECT s.sid, s.to_phone, s.status, s.date_sent, public.sms_text_key(s.body) AS text_key,
           row_number() OVER (PARTITION BY s.to_phone, public.sms_text_key(s.body)
                              ORDER BY s.date_sent NULLS LAST, s.sid) AS rn
    FROM public.twilio_reconcile_messages s
    WHERE s.target_kind = ${ref.kind} AND s.target_id = ${ref.id}
      AND NOT EXISTS (SELECT 1 FROM public.message_statuses t WHERE t.twilio_id = s.sid)
      AND NOT EXISTS (SELECT 1 FROM public.message_sends r WHERE r.twilio_id = s.sid)`
}

export async function pairStaged(
  db: TransactionSql,
  ref: TargetRef,
  now: Date,
): Promise<{ paired: number; unpairedMessages: number; openRows: number }> {
  // The staging table is filled and emptied within a pass, so its statistics are usually stale
  // (often "empty"); with them the planner picks a nested loop that re-runs the row numbering per
  // message: 30 s instead of 0.2 s for 10 000 messages. A sampled ANALYZE costs milliseconds.
  await db`ANALYZE public.twilio_reconcile_messages`
  // The SMSs nobody claims, numbered, in a temporary table with its own statistics. As a CTE the
  // planner estimated it at 1 row whatever it held: "no row claims this SID" is an anti-join on
  // message_statuses.twilio_id, which it assumes true for almost every SID once the table holds more
  // SIDs than the pass (any database after a few broadcasts), and it then joined the 5 000 open rows
  // to the 5 000 messages in a nested loop, 25 million comparisons (29 s on five years of history,
  // bench/history.ts). Counted exactly, the join is a hash join (2 s, most of it the UPDATE).
  await db`DROP TABLE IF EXISTS pg_temp.reconcile_leftover`
  await db`
    CREATE TEMPORARY TABLE reconcile_leftover ON COMMIT DROP AS ${unclaimedSms(db, ref)}`
  await db`ANALYZE pg_temp.reconcile_leftover`
  const [counts] = await db<{ paired: number; staged: number; open_rows: number }[]>`
    WITH open_rows AS (
      SELECT ms.id, ms.recipient_phone_number, public.sms_text_key(ms.message) AS text_key,
             row_number() OVER (PARTITION BY ms.recipient_phone_number, public.sms_text_key(ms.message)
                                ORDER BY ms.created_at, ms.is_second, ms.id) AS rn
      FROM public.message_statuses ms
      WHERE ms.${db(ownerColumn(ref.kind))} = ${ref.id} AND ms.twilio_id IS NULL
        AND ms.recipient_phone_number IN (SELECT to_phone FROM pg_temp.reconcile_leftover)
    ),
    paired AS (
      UPDATE public.message_statuses ms SET
        twilio_id = l.sid,
        twilio_sent_status = l.status,
        twilio_sent_at = l.date_sent,
        updated_at = ${now}
      FROM open_rows o
      JOIN pg_temp.reconcile_leftover l ON l.to_phone = o.recipient_phone_number AND l.text_key = o.text_key AND l.rn = o.rn
      WHERE ms.id = o.id AND ms.twilio_id IS NULL
      RETURNING ms.id
    )
    SELECT (SELECT count(*)::int FROM paired) AS paired,
           (SELECT count(*)::int FROM pg_temp.reconcile_leftover) AS staged,
           (SELECT count(*)::int FROM public.message_statuses
            WHERE ${db(ownerColumn(ref.kind))} = ${ref.id} AND twilio_id IS NULL) AS open_rows`
  await db`DROP TABLE pg_temp.reconcile_leftover`
  return {
    paired: counts.paired,
    unpairedMessages: counts.staged - counts.paired,
    openRows: counts.open_rows - counts.paired,
  }
}

/** Removes the pass's per-minute job and its 3-hour stopper (either may already be gone). */
export async function stopJobs(db: Db, ref: TargetRef): Promise<void> {
  await db`SELECT public.stop_twilio_reconcile(${ref.kind}, ${ref.id})`
}
