import type { Db } from '../db/client.ts'
import type { Deps } from '../runtime/deps.ts'

// When one of our broadcast/campaign SMS goes out, Missive's outgoing-SMS webhook names the Missive
// message; Missive's copy of it carries the Twilio SID (`external_id`). Recording the SID early lets
// the status callback and the reconcile match the row by SID (spec §2.11.4 handleBroadcastOutgoing).
// The status written here is provisional: "delivered" only means Missive handed it to Twilio.
//
// Differences from upstream, on purpose:
//   - a row that already has a Twilio SID (status callback, reconcile) is left alone: Twilio's word
//     is better than Missive's;
//   - no SID at Missive yet writes nothing: upstream wrote `undelivered`, a failure nobody reported
//     (Missive may simply not have handed the SMS to Twilio yet) that the sidebar's delivery figures
//     showed until the reconcile corrected it;
//   - no random 0–1 s sleep: the Missive client has a timeout, and a failure is only logged.

//   - a webhook that finds no row is kept (outgoing_sms_early, with the SID it carries) rather than
//     dropped: it may have overtaken the recording of our own send, which attaches it on commit
//     (takeEarlyOutgoing below). Upstream dropped it, and the row waited for the reconcile.

export type OutgoingStatusOutcome = 'kept-until-sent' | 'already-known' | 'unavailable' | 'no-sid-yet' | 'recorded'

/** What the webhook carried besides the message id. */
export interface CarriedSid {
  externalId: string | null
  deliveredAt: Date | null
}

/** How long a webhook that matched no send is kept for one that may still be recorded. */
const KEEP_EARLY = '1 day'

export async function recordOutgoingStatus(
  deps: Deps,
  missiveMessageId: string,
  carried: CarriedSid = { externalId: null, deliveredAt: null },
): Promise<OutgoingStatusOutcome> {
  const row = await deps.sql.begin(async (tx) => {
    await lockOutgoing(tx, missiveMessageId)
    const [found] = await tx<{ id: number; twilio_id: string | null }[]>`
      SELECT id, twilio_id FROM public.message_statuses WHERE missive_id = ${missiveMessageId}`
    if (found) return found
    await tx`DELETE FROM public.outgoing_sms_early WHERE received_at < now() - ${KEEP_EARLY}::interval`
    await tx`
      INSERT INTO public.outgoing_sms_early (missive_message_id, twilio_id, delivered_at)
      VALUES (${missiveMessageId}, ${carried.externalId}, ${carried.deliveredAt})
      ON CONFLICT (missive_message_id) DO UPDATE
      SET twilio_id = coalesce(EXCLUDED.twilio_id, outgoing_sms_early.twilio_id),
          delivered_at = coalesce(EXCLUDED.delivered_at, outgoing_sms_early.delivered_at)`
    return null
  })
  if (!row) return 'kept-until-sent'
  if (row.twilio_id) return 'already-known'

  const log = deps.log.child({ messageStatusId: row.id, missiveMessageId })
  const message = await deps.missive.getMessage(missiveMessageId)
  if (!message.ok) {
    log.warn('Could not read the sent message from Missive; the reconcile will fill its status', {
      error: message.error,
    })
    return 'unavailable'
  }
  if (!message.externalId) {
    log.info('Missive has no Twilio SID for the message yet; left for the reconcile')
    return 'no-sid-yet'
  }
  const sentAt = message.deliveredAt != null ? new Date(message.deliveredAt * 1000) : null
  await deps.sql`
    UPDATE public.message_statuses
    SET twilio_id = ${message.externalId},
        twilio_sent_status = ${sentAt ? 'delivered' : 'sent'}::public.twilio_status,
        twilio_sent_at = ${sentAt},
        updated_at = now()
    WHERE id = ${row.id} AND twilio_id IS NULL`
  return 'recorded'
}

/**
 * The webhook and the send's completion each take this lock before looking for the other, so they
 * cannot miss each other: whichever comes second sees what the first committed.
 */
async function lockOutgoing(db: Db, missiveMessageId: string): Promise<void> {
  await db`SELECT pg_advisory_xact_lock(hashtext('txt_outlier.outgoing_sms'), hashtext(${missiveMessageId}))`
}

/**
 * Called inside the transaction that records a sent draft (after its status row is written): an
 * outgoing webhook kept for this draft is attached now. `lookup` = it carried no SID: ask Missive
 * (recordOutgoingStatus) once the transaction has committed.
 */
export async function takeEarlyOutgoing(
  tx: Db,
  missiveMessageId: string,
  messageStatusId: number,
): Promise<'none' | 'attached' | 'lookup'> {
  await lockOutgoing(tx, missiveMessageId)
  const [early] = await tx<{ twilio_id: string | null; delivered_at: Date | null }[]>`
    DELETE FROM public.outgoing_sms_early WHERE missive_message_id = ${missiveMessageId}
    RETURNING twilio_id, delivered_at`
  if (!early) return 'none'
  if (!early.twilio_id) return 'lookup'
  // The same provisional reading as from Missive's copy: a delivery time means handed to Twilio.
  await tx`
    UPDATE public.message_statuses
    SET twilio_id = ${early.twilio_id},
        twilio_sent_status = ${early.delivered_at ? 'delivered' : 'sent'}::public.twilio_status,
        twilio_sent_at = ${early.delivered_at},
        updated_at = now()
    WHERE id = ${messageStatusId} AND twilio_id IS NULL`
  return 'attached'
}
