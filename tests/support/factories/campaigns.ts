import { randomUUID } from 'node:crypto'
import type { Db } from '../../../src/shared/db/client.ts'

// Row builders for the campaign concern, with upstream's factory defaults (upstream-functions.md
// §7.0): a campaign runs in a day, has no title or follow-up, delay 600, and — unless segments are
// given — includes a fresh label.

export const DAY_MS = 24 * 3600_000
export const seconds = (date: Date) => Math.floor(date.getTime() / 1000)

export interface AuthorOptions {
  unsubscribed?: boolean
  exclude?: boolean | null
  addedViaFileUpload?: boolean
}

export async function createAuthor(db: Db, phone: string, options: AuthorOptions = {}): Promise<string> {
  await db`
    INSERT INTO public.authors (phone_number, unsubscribed, exclude, added_via_file_upload)
    VALUES (${phone}, ${options.unsubscribed ?? false}, ${options.exclude === undefined ? false : options.exclude},
            ${options.addedViaFileUpload ?? false})
    ON CONFLICT (phone_number) DO NOTHING`
  return phone
}

export interface Label {
  id: string
  name: string
}

let labelCounter = 0
export async function createLabel(
  db: Db,
  input: { id?: string; name?: string; createdAt?: Date } = {},
): Promise<Label> {
  labelCounter++
  const id = input.id ?? randomUUID()
  const name = input.name ?? `Label ${labelCounter.toString(36).padStart(3, '0')}`
  await db`
    INSERT INTO public.labels (id, name, name_with_parent_names, created_at)
    VALUES (${id}, ${name}, ${name}, ${input.createdAt ?? new Date(Date.now() + labelCounter)})`
  return { id, name }
}

export async function createConversation(db: Db, id: string = randomUUID()): Promise<string> {
  await db`
    INSERT INTO public.conversations (id, web_url, app_url) VALUES (${id}, 'https://test.com', 'https://test.com')
    ON CONFLICT (id) DO NOTHING`
  return id
}

export async function labelConversation(
  db: Db,
  conversationId: string,
  labelId: string,
  options: { archived?: boolean; createdAt?: Date } = {},
): Promise<void> {
  await db`
    INSERT INTO public.conversations_labels (conversation_id, label_id, is_archived, created_at)
    VALUES (${conversationId}, ${labelId}, ${options.archived ?? false}, ${options.createdAt ?? db`now()`})`
}

export async function addConversationAuthor(
  db: Db,
  conversationId: string,
  phone: string,
  createdAt?: Date,
): Promise<void> {
  await db`
    INSERT INTO public.conversations_authors (conversation_id, author_phone_number, created_at)
    VALUES (${conversationId}, ${phone}, ${createdAt ?? db`now()`})`
}

/** A conversation with one author carrying one label: the phone matches that label as a segment. */
export async function labelPhone(
  db: Db,
  labelId: string,
  phone: string,
  options: { archived?: boolean; labelledAt?: Date; conversationId?: string } = {},
): Promise<string> {
  const conversationId = await createConversation(db, options.conversationId)
  await labelConversation(db, conversationId, labelId, { archived: options.archived, createdAt: options.labelledAt })
  await addConversationAuthor(db, conversationId, phone)
  return conversationId
}

export interface CampaignInput {
  id?: number
  title?: string | null
  firstMessage?: string
  secondMessage?: string | null
  runAt?: Date
  segments?: unknown
  processed?: boolean
  status?: string
  labelIds?: string[]
  delay?: number
  recipientCount?: number
  recipientFileUrl?: string | null
}

export async function createCampaign(db: Db, input: CampaignInput = {}): Promise<number> {
  const segments = input.segments !== undefined ? input.segments : { included: [{ id: (await createLabel(db)).id }] }
  const [row] = await db`
    INSERT INTO public.campaigns (id, title, first_message, second_message, run_at, segments, processed, status, label_ids,
                                  delay, recipient_count, recipient_file_url)
    VALUES (${input.id ?? db`DEFAULT`}, ${input.title ?? null}, ${input.firstMessage ?? 'First message'},
            ${input.secondMessage ?? null}, ${input.runAt ?? new Date(Date.now() + DAY_MS)},
            ${segments === null ? null : db.json(segments as any)}, ${input.processed ?? false},
            ${input.status ?? (input.processed ? 'sent' : 'scheduled')}, ARRAY(SELECT jsonb_array_elements_text(${
    db.json(input.labelIds ?? [])
  }::jsonb)),
            ${input.delay ?? 600}, ${input.recipientCount ?? 0}, ${input.recipientFileUrl ?? null})
    RETURNING id`
  return row.id
}

export async function campaignRow(db: Db, id: number) {
  const [row] = await db`SELECT * FROM public.campaigns WHERE id = ${id}`
  return row
}

export async function latestCampaign(db: Db) {
  const [row] = await db`SELECT * FROM public.campaigns ORDER BY id DESC LIMIT 1`
  return row
}

export async function campaignCount(db: Db): Promise<number> {
  const [row] = await db`SELECT count(*)::integer AS count FROM public.campaigns`
  return row.count
}

export async function createCampaignMessageStatus(
  db: Db,
  input: { campaignId: number; phone: string; isSecond?: boolean; twilioSentStatus?: string; twilioId?: string | null },
): Promise<number> {
  const [row] = await db`
    INSERT INTO public.message_statuses (recipient_phone_number, missive_id, missive_conversation_id, is_second, message,
                                         campaign_id, twilio_sent_status, twilio_id)
    VALUES (${input.phone}, ${randomUUID()}, ${randomUUID()}, ${input.isSecond ?? false}, 'message',
            ${input.campaignId}, ${input.twilioSentStatus ?? 'delivered'}, ${
    input.twilioId === undefined ? `SM${randomUUID().replace(/-/g, '')}` : input.twilioId
  })
    RETURNING id`
  return row.id
}

export async function createTwilioReply(
  db: Db,
  input: { from: string; to: string; campaignId: number },
): Promise<void> {
  await db`
    INSERT INTO public.twilio_messages (preview, delivered_at, "references", from_field, to_field, is_reply, reply_to_campaign)
    VALUES ('Message preview', now(), '{}', ${input.from}, ${input.to}, true, ${input.campaignId})`
}

export async function createMessageSend(
  db: Db,
  input: { campaignId: number; phone: string; state: string; isSecond?: boolean; detail?: string },
): Promise<void> {
  await db`
    INSERT INTO public.message_sends (campaign_id, recipient_phone_number, is_second, state, queue_name, detail)
    VALUES (${input.campaignId}, ${input.phone}, ${input.isSecond ?? false}, ${input.state},
            ${input.isSecond ? 'broadcast_second_messages' : 'broadcast_first_messages'}, ${input.detail ?? null})`
}

export async function ledger(db: Db, campaignId: number) {
  return await db<Array<{ phone: string; state: string; detail: string | null; is_second: boolean }>>`
    SELECT recipient_phone_number AS phone, state, detail, is_second FROM public.message_sends
    WHERE campaign_id = ${campaignId} ORDER BY recipient_phone_number, is_second`
}

export interface QueuedMessage {
  msgId: number
  message: Record<string, any>
}

export async function queuedFirstMessages(db: Db, campaignId?: number): Promise<QueuedMessage[]> {
  const rows = await db`
    SELECT msg_id, message FROM pgmq.q_broadcast_first_messages
    WHERE ${campaignId === undefined} OR message->>'campaign_id' = ${String(campaignId ?? '')}
    ORDER BY msg_id`
  return rows.map((row) => ({ msgId: Number(row.msg_id), message: row.message }))
}

/** Moves a queued first message to the archive, as the sender's dead-lettering does. */
export async function archiveFirstMessage(db: Db, msgId: number): Promise<void> {
  await db`SELECT pgmq.archive('broadcast_first_messages', ${msgId}::bigint)`
}

export async function fileRecipients(db: Db, campaignId: number): Promise<string[]> {
  const rows =
    await db`SELECT phone_number FROM public.campaign_file_recipients WHERE campaign_id = ${campaignId} ORDER BY id`
  return rows.map((row) => row.phone_number)
}
