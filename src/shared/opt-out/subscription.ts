import type { Db } from '../db/client.ts'
import { lockRecipientForOptOut } from './recipient-lock.ts'
import { SECOND_MESSAGES_QUEUE } from '../queue/names.ts'

// Subscription changes shared by the text opt-out (user-action) and the admin command
// (admin-action). They run inside the caller's transaction, so the change and its record commit
// together or not at all.

/**
 * Marks the number unsubscribed. A number we have never stored gets its authors row now, already
 * unsubscribed, so a later first contact cannot make it eligible again (upstream's UPDATE silently
 * did nothing for an unknown number).
 */
export async function unsubscribeAuthor(db: Db, phone: string): Promise<void> {
  // Serialised with the sender's claim of a send to this number (sending/claim.ts): once this
  // commits, no claim for the number can follow; a claim already committed is out of reach.
  await lockRecipientForOptOut(db, phone)
  await db`
    INSERT INTO public.authors (phone_number, name, unsubscribed)
    VALUES (${phone}, ${phone}, true)
    ON CONFLICT (phone_number) DO UPDATE SET unsubscribed = true, updated_at = now()
    WHERE authors.unsubscribed IS DISTINCT FROM true`
}

/** Resubscribes the number; true only when it was unsubscribed (so a confirmation is worth posting). */
export async function resubscribeAuthor(db: Db, phone: string): Promise<boolean> {
  const rows = await db`
    UPDATE public.authors SET unsubscribed = false, updated_at = now()
    WHERE phone_number = ${phone} AND unsubscribed
    RETURNING phone_number`
  return rows.length > 0
}

/**
 * Deletes every follow-up still waiting for this number in `broadcast_second_messages`: those whose
 * payload names the number (so one whose msg_id is not yet on its status row goes too) and those
 * its message_statuses rows point at (upstream's way). The sender also re-checks
 * `authors.unsubscribed` before each send; this keeps the queue honest. Returns how many went.
 */
export async function removePendingSecondMessages(db: Db, phone: string): Promise<number> {
  const rows = await db<{ deleted: boolean }[]>`
    SELECT pgmq.delete(${SECOND_MESSAGES_QUEUE}::text, pending.msg_id) AS deleted
    FROM (
      SELECT q.msg_id FROM pgmq.q_broadcast_second_messages q
      WHERE q.message ->> 'recipient_phone_number' = ${phone}
      UNION
      SELECT q.msg_id FROM public.message_statuses ms
      JOIN pgmq.q_broadcast_second_messages q ON q.msg_id = ms.second_message_queue_id
      WHERE ms.recipient_phone_number = ${phone}
    ) AS pending`
  return rows.filter((row) => row.deleted).length
}

/** Deletes one follow-up by its pgmq msg_id; deleting one already sent or gone is a no-op. */
export async function removeSecondMessage(db: Db, msgId: number | string): Promise<boolean> {
  const [row] = await db<{ deleted: boolean }[]>`
    SELECT pgmq.delete(${SECOND_MESSAGES_QUEUE}::text, ${msgId}::bigint) AS deleted`
  return row?.deleted ?? false
}
