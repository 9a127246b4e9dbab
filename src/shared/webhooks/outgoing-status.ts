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

export type OutgoingStatusOutcome = 'not-ours' | 'already-known' | 'unavailable' | 'no-sid-yet' | 'recorded'

export async function recordOutgoingStatus(deps: Deps, missiveMessageId: string): Promise<OutgoingStatusOutcome> {
  const [row] = await deps.sql<{ id: number; twilio_id: string | null }[]>`
    SELECT id, twilio_id FROM public.message_statuses WHERE missive_id = ${missiveMessageId}`
  if (!row) return 'not-ours'
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
