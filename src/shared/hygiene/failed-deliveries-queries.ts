import type { Db } from '../db/client.ts'
import type { EpisodeQuery } from './episode-queries.ts'
import { failedDelivery } from './failure-rule.ts'

/**
 * Only numbers whose latest failure was sent in the last 7 days are looked at. The job runs every
 * day, so an older episode was already handled (or skipped for a reason that still holds) on the
 * day it happened; 7 days rather than 1 so that days the job did not run (an outage, a missing
 * closing label) are caught up. Without the window each call read every failure ever recorded
 * (5 % of the statuses: 100 000 rows after five years), so its cost grew with the history.
 */
export const FAILED_DELIVERIES_WINDOW_DAYS = 7

/**
 * handle-failed-deliveries candidates: phones whose three latest broadcast or campaign messages
 * (by status row id) all failed (see failure-rule.ts) and who never answered, that is
 * - no conversation of those three messages carries the reply label (MISSIVE_REPLY_LABEL_ID, exact
 *   id, not archived), as upstream, and
 * - no text from that phone reached us (twilio_messages.from_field) since the first of the three
 *   was sent: someone who writes to us has a working number, whatever Twilio said.
 * Authors with `exclude` NULL count as not excluded (upstream's `exclude = false` skipped them
 * forever). The conversation is that of the latest message. The latest of the three was sent in
 * the last FAILED_DELIVERIES_WINDOW_DAYS.
 */
export function failedDeliveryEpisodes(replyLabelId: string, now: Date): EpisodeQuery {
  return (db: Db) =>
    db`
    SELECT e.phone, e.conversation_id, e.message_status_ids, e.last_message_status_id
    FROM (
      SELECT f.phone,
             (array_agg(l.missive_conversation_id ORDER BY l.id DESC))[1] AS conversation_id,
             array_agg(l.id ORDER BY l.id DESC) AS message_status_ids,
             max(l.id) AS last_message_status_id,
             array_agg(DISTINCT l.missive_conversation_id) AS conversation_ids,
             min(l.created_at) AS first_sent_at
      FROM (
        SELECT DISTINCT ms.recipient_phone_number AS phone FROM public.message_statuses ms
        WHERE ${failedDelivery(db)}
          AND ms.created_at >= ${now}::timestamptz - make_interval(days => ${FAILED_DELIVERIES_WINDOW_DAYS})
      ) f
      CROSS JOIN LATERAL (
        SELECT ms.id, ms.missive_conversation_id, ms.created_at, ${failedDelivery(db)} AS failed
        FROM public.message_statuses ms
        WHERE ms.recipient_phone_number = f.phone AND (ms.broadcast_id IS NOT NULL OR ms.campaign_id IS NOT NULL)
        ORDER BY ms.id DESC
        LIMIT 3
      ) l
      GROUP BY f.phone
      HAVING count(*) = 3 AND bool_and(l.failed)
        AND max(l.created_at) >= ${now}::timestamptz - make_interval(days => ${FAILED_DELIVERIES_WINDOW_DAYS})
    ) e
    JOIN public.authors a ON a.phone_number = e.phone
    WHERE a.exclude IS NOT TRUE
      AND NOT EXISTS (
        SELECT 1 FROM public.conversations_labels cl
        WHERE cl.conversation_id = ANY (e.conversation_ids) AND cl.label_id::text = ${replyLabelId} AND NOT cl.is_archived)
      AND NOT EXISTS (
        SELECT 1 FROM public.twilio_messages tm WHERE tm.from_field = e.phone AND tm.delivered_at >= e.first_sent_at)`
}

/** In the transaction that records the post: upstream's two effects, per post instead of per 5. */
export async function excludeUndeliverable(db: Db, phone: string, conversationId: string, now: Date): Promise<void> {
  await db`UPDATE public.message_statuses SET closed = true, updated_at = ${now} WHERE missive_conversation_id = ${conversationId}`
  await db`UPDATE public.authors SET exclude = true, updated_at = ${now} WHERE phone_number = ${phone}`
}
