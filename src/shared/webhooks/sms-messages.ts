import type { Db } from '../db/client.ts'
import { syncConversation } from './conversation-sync.ts'
import { syncLabels } from './labels.ts'
import { fromEpoch, type MessageEvent, type MessagePayload, phoneOf } from './payload.ts'
import type { UserFacts } from './users.ts'

// incoming_/outgoing_{twilio,sms}_message (spec §2.11.4 handleTwilioMessage): the SMS is mirrored
// into twilio_messages with the conversation, its people and its labels.

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface StoredSms {
  /** False when the message was already stored (a redelivery): its side effects already happened. */
  inserted: boolean
  from: string
  to: string
  deliveredAt: Date
  text: string
}

/**
 * Stores the SMS. ON CONFLICT DO NOTHING: upstream's plain INSERT failed on a redelivered message
 * after a 500, so the retry never reached the reply or STOP handling (spec §8.4 #21).
 */
export async function ingestSms(db: Db, event: MessageEvent, outgoing: boolean, now: Date): Promise<StoredSms> {
  const { message, conversation } = event
  const from = phoneOf(message.from_field)
  const to = phoneOf(message.to_fields[0]!)
  const senderId = outgoing ? missiveUserId(message) : null
  const extraUsers: UserFacts[] = senderId ? [{ id: senderId }] : []

  await syncConversation(db, conversation, {
    extraAuthors: [
      { phone: from, name: message.from_field.name ?? null },
      { phone: to, name: message.to_fields[0]!.name ?? null },
    ],
    extraUsers,
  })

  const deliveredAt = fromEpoch(message.delivered_at ?? message.created_at ?? now.getTime() / 1000)
  const text = message.preview ?? message.body ?? ''
  const inserted = await db`
    INSERT INTO public.twilio_messages
      (id, preview, type, delivered_at, updated_at, created_at, "references", from_field, to_field, sender_id)
    VALUES (
      ${message.id}, ${text}, ${message.type ?? null}, ${deliveredAt},
      ${message.updated_at != null ? fromEpoch(message.updated_at) : null},
      ${message.created_at != null ? fromEpoch(message.created_at) : deliveredAt},
      ${message.references ?? []}::text[], ${from}, ${to}, ${senderId}
    )
    ON CONFLICT (id) DO NOTHING
    RETURNING id`

  await syncLabels(db, conversation.id, conversation.shared_labels)
  return { inserted: inserted.length > 0, from, to, deliveredAt, text }
}

/**
 * The Missive user who sent an outgoing SMS. Only a UUID can be a users id: the reference's own
 * fixture carries `sender-user-id-123`, which would have failed the whole insert upstream.
 */
function missiveUserId(message: MessagePayload): string | null {
  const id = message.author?.id
  return id && GUID.test(id) ? id : null
}
