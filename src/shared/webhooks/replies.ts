import type { Db } from '../db/client.ts'
import { classifyReply, type ReplyIntent } from '../opt-out/keywords.ts'
import { removePendingSecondMessages, resubscribeAuthor, unsubscribeAuthor } from '../opt-out/subscription.ts'
import { SECOND_MESSAGES_QUEUE } from '../queue/names.ts'
import { type ConfirmationPost, queueConfirmationPost } from './confirmation-posts.ts'

// What an incoming SMS means for our sends (spec §2.11.4 handleBroadcastReply / handleResubscribe),
// run in the same transaction as the message insert, and only when that insert stored the message:
// the message row and its consequences commit together, so a redelivery either finds both (and
// does nothing) or neither (and does everything). Upstream ran them after the insert had committed,
// so a failure in between lost the STOP for good (spec §8.4 #21).

/** A reply counts for the latest broadcast or campaign SMS sent to the number within this window. */
export const REPLY_WINDOW_HOURS = 36

export interface RecentSend {
  id: number
  broadcastId: number | null
  campaignId: number | null
  secondMessageQueueId: string | null
}

export interface ReplyOutcome {
  intent: ReplyIntent
  repliedTo: RecentSend | null
  /** Follow-ups removed from broadcast_second_messages. */
  followUpsRemoved: number
  resubscribed: boolean
  /** A confirmation note was queued in webhook_posts (to post after commit). */
  postQueued: boolean
}

export interface IncomingSms {
  messageId: string
  conversationId: string
  /** The sender's phone, `username || id` (upstream used `id` here only, spec §8.4 #29). */
  from: string
  deliveredAt: Date
  text: string
}

export function confirmationKeys(messageId: string): string[] {
  return [`unsubscribed:${messageId}`, `resubscribed:${messageId}`]
}

export async function handleIncomingSms(db: Db, sms: IncomingSms): Promise<ReplyOutcome> {
  const intent = classifyReply(sms.text)
  // Any reply cancels the pending follow-up of what it answers; a reply is counted as one unless
  // it opts out (upstream #92 keeps opt-outs out of the reply statistics).
  const { repliedTo, cancelled } = await answerRecentSend(db, sms, { markAsReply: intent !== 'opt-out' })
  let followUpsRemoved = cancelled ? 1 : 0

  if (intent === 'opt-out') {
    await unsubscribeAuthor(db, sms.from)
    followUpsRemoved += await removePendingSecondMessages(db, sms.from)
    await db`
      INSERT INTO public.unsubscribed_messages (broadcast_id, twilio_message_id, reply_to)
      VALUES (${repliedTo?.broadcastId ?? null}, ${sms.messageId}, ${repliedTo?.id ?? null})`
    await queueConfirmationPost(db, unsubscribedPost(sms))
    return { intent, repliedTo, followUpsRemoved, resubscribed: false, postQueued: true }
  }

  let resubscribed = false
  if (intent === 'opt-in') {
    resubscribed = await resubscribeAuthor(db, sms.from)
    if (resubscribed) await queueConfirmationPost(db, resubscribedPost(sms))
  }
  return { intent, repliedTo, followUpsRemoved, resubscribed, postQueued: resubscribed }
}

/**
 * One statement: the latest message_statuses row for the number created in the 36 h before the
 * reply, the deletion of its pending follow-up from broadcast_second_messages (a no-op when it
 * was already sent or removed), and the reply marking of the stored SMS.
 */
async function answerRecentSend(
  db: Db,
  sms: IncomingSms,
  options: { markAsReply: boolean },
): Promise<{ repliedTo: RecentSend | null; cancelled: boolean }> {
  const since = new Date(sms.deliveredAt.getTime() - REPLY_WINDOW_HOURS * 3_600_000)
  const [row] = await db<
    {
      id: number
      broadcast_id: string | null
      campaign_id: number | null
      second_message_queue_id: string | null
      cancelled: boolean
    }[]
  >`
    WITH sent AS (
      SELECT id, broadcast_id, campaign_id, second_message_queue_id
      FROM public.message_statuses
      WHERE recipient_phone_number = ${sms.from} AND created_at > ${since} AND created_at < ${sms.deliveredAt}
      ORDER BY id DESC
      LIMIT 1
    ),
    cancelled AS (
      SELECT pgmq.delete(${SECOND_MESSAGES_QUEUE}::text, second_message_queue_id) AS deleted
      FROM sent WHERE second_message_queue_id IS NOT NULL
    ),
    marked AS (
      UPDATE public.twilio_messages t
      SET is_reply = true, reply_to_broadcast = sent.broadcast_id, reply_to_campaign = sent.campaign_id
      FROM sent
      WHERE t.id = ${sms.messageId} AND ${options.markAsReply}::boolean
      RETURNING t.id
    )
    SELECT sent.*, coalesce((SELECT bool_or(deleted) FROM cancelled), false) AS cancelled,
           (SELECT count(*) FROM marked) AS marked
    FROM sent`
  if (!row) return { repliedTo: null, cancelled: false }
  return {
    repliedTo: {
      id: row.id,
      broadcastId: row.broadcast_id === null ? null : Number(row.broadcast_id),
      campaignId: row.campaign_id,
      secondMessageQueueId: row.second_message_queue_id,
    },
    cancelled: row.cancelled,
  }
}

function unsubscribedPost(sms: IncomingSms): ConfirmationPost {
  return {
    key: `unsubscribed:${sms.messageId}`,
    conversationId: sms.conversationId,
    text: `This phone number ${sms.from} has now been unsubscribed`,
  }
}

function resubscribedPost(sms: IncomingSms): ConfirmationPost {
  return {
    key: `resubscribed:${sms.messageId}`,
    conversationId: sms.conversationId,
    text: `This phone number ${sms.from} has now been resubscribed`,
  }
}
