import type { Db } from '../db/client.ts'
import type { EpisodeQuery } from './episode-queries.ts'
import { failedDelivery } from './failure-rule.ts'

/** Upstream's window: broadcasts run in the last 7 days. */
const WINDOW_DAYS = 7

/**
 * archive-double-failures candidates: phones whose two latest messages of the broadcasts run in
 * the last 7 days both failed (see failure-rule.ts). Upstream required exactly two such messages,
 * so three failures in a week were never archived; here it is the two latest.
 * Skipped: conversations (of the latest message) that already carry the archive label or the
 * "undeliverable" closing label (exact ids, active, from conversations_labels; upstream matched
 * `archive`/`undeliverable` as substrings of the label names), and conversations that
 * handle-failed-deliveries has closed according to our own ledger (its label may not be mirrored
 * yet when the label webhook is late or never comes).
 */
export function doubleFailureEpisodes(skipLabelIds: string[], now: Date): EpisodeQuery {
  return (db: Db) => {
    const since = db`${now}::timestamptz - make_interval(days => ${WINDOW_DAYS})`
    return db`
      SELECT e.phone, e.conversation_id, e.message_status_ids, e.last_message_status_id
      FROM (
        SELECT f.phone,
               (array_agg(l.missive_conversation_id ORDER BY l.id DESC))[1] AS conversation_id,
               array_agg(l.id ORDER BY l.id DESC) AS message_status_ids,
               max(l.id) AS last_message_status_id
        FROM (
          SELECT DISTINCT ms.recipient_phone_number AS phone
          FROM public.message_statuses ms JOIN public.broadcasts b ON b.id = ms.broadcast_id
          WHERE ${failedDelivery(db)} AND b.editable = false AND b.run_at > ${since}
        ) f
        CROSS JOIN LATERAL (
          SELECT ms.id, ms.missive_conversation_id, ${failedDelivery(db)} AS failed
          FROM public.message_statuses ms JOIN public.broadcasts b ON b.id = ms.broadcast_id
          WHERE ms.recipient_phone_number = f.phone AND b.editable = false AND b.run_at > ${since}
          ORDER BY ms.id DESC
          LIMIT 2
        ) l
        GROUP BY f.phone
        HAVING count(*) = 2 AND bool_and(l.failed)
      ) e
      WHERE NOT EXISTS (
          SELECT 1 FROM public.conversations_labels cl
          WHERE cl.conversation_id = e.conversation_id AND NOT cl.is_archived AND cl.label_id::text = ANY (${skipLabelIds}::text[]))
        AND NOT EXISTS (
          SELECT 1 FROM public.delivery_hygiene_actions d
          WHERE d.job = 'handle-failed-deliveries' AND d.outcome = 'posted' AND d.missive_conversation_id = e.conversation_id)`
  }
}
