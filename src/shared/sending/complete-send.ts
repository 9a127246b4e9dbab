import type { Sql } from '../db/client.ts'
import { takeEarlyOutgoing } from '../webhooks/outgoing-status.ts'
import {
  deleteMessage,
  type QueuedMessage,
  type QueueName,
  SECOND_MESSAGES_QUEUE,
  secondMessageDelaySeconds,
  sendMessage,
} from '../queue/index.ts'

export interface SentDraft {
  queue: QueueName
  msgId: number
  /** The payload as read from the queue; a follow-up is enqueued with exactly this object. */
  rawMessage: unknown
  message: QueuedMessage
  isSecond: boolean
  text: string
  ledgerId: number
  draftId: string
  conversationId: string
  /** When Missive accepted the draft, on the sender's clock: the follow-up carries it (quiet hours). */
  sentAt: Date
}

export interface Recorded {
  messageStatusId: number
  secondMessageQueueId: number | null
  /** Missive's outgoing webhook came first: `attached` its SID, or `lookup` (ask Missive now). */
  earlyWebhook: 'none' | 'attached' | 'lookup'
}

/**
 * Everything that follows a draft Missive accepted, in ONE transaction (upstream ran these as
 * separate statements, some in parallel, so a failure left an SMS sent with no status row, no
 * follow-up, or a message that went out again 180 s later):
 *   the author row (personalized campaigns text unknown numbers, and upstream lost their status
 *   row on the authors FK), the follow-up in broadcast_second_messages (its msg_id goes into
 *   message_statuses.second_message_queue_id, which a reply uses to cancel it), the status row,
 *   the ledger `sent`, and the queue message's deletion.
 */
export async function recordSentDraft(sql: Sql, sent: SentDraft): Promise<Recorded> {
  const { message } = sent
  return await sql.begin(async (tx) => {
    await tx`
      INSERT INTO public.authors (phone_number) VALUES (${message.recipient_phone_number})
      ON CONFLICT (phone_number) DO NOTHING`

    let secondMessageQueueId: number | null = null
    if (!sent.isSecond && message.second_message?.trim()) {
      secondMessageQueueId = await sendMessage(
        tx,
        SECOND_MESSAGES_QUEUE,
        // The first payload plus when it went out, which quiet hours' 12 h rule for follow-ups needs.
        { ...(sent.rawMessage as Record<string, unknown>), first_sent_at: sent.sentAt.toISOString() },
        secondMessageDelaySeconds(message),
      )
    }

    // A segment deleted since the enqueue must not cost the status row (audience_segment_id has an FK).
    const [status] = await tx<{ id: number }[]>`
      INSERT INTO public.message_statuses
        (recipient_phone_number, message, is_second, broadcast_id, campaign_id, missive_id,
         missive_conversation_id, audience_segment_id, second_message_queue_id)
      VALUES (${message.recipient_phone_number}, ${sent.text}, ${sent.isSecond}, ${message.broadcast_id},
              ${message.campaign_id}, ${sent.draftId}, ${sent.conversationId},
              (SELECT id FROM public.audience_segments WHERE id = ${message.segment_id}::bigint),
              ${secondMessageQueueId})
      RETURNING id`

    await tx`
      UPDATE public.message_sends
      SET state = 'sent', missive_id = ${sent.draftId}, missive_conversation_id = ${sent.conversationId},
          message_status_id = ${status!.id}, detail = NULL, updated_at = now()
      WHERE id = ${sent.ledgerId}`

    // Missive's outgoing-SMS webhook may have overtaken this recording; its SID was kept for us.
    const earlyWebhook = await takeEarlyOutgoing(tx, sent.draftId, status!.id)

    // False when a reply (webhook) or a dead-lettering drain removed it meanwhile: nothing to do.
    await deleteMessage(tx, sent.queue, sent.msgId)
    return { messageStatusId: status!.id, secondMessageQueueId, earlyWebhook }
  })
}
