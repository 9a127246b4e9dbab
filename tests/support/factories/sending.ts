import type { Db } from '../../../src/shared/db/client.ts'
import {
  FIRST_MESSAGES_QUEUE,
  type QueuedMessageInput,
  type QueueName,
  SECOND_MESSAGES_QUEUE,
  sendMessage,
} from '../../../src/shared/queue/index.ts'

// Row builders for the sender: authors, broadcasts, campaigns, queue payloads shaped as the SQL
// producers write them (upstream-database.md §8), and readers for what the sender leaves behind.

export const PHONE = '+1234567890'

export interface AuthorInput {
  unsubscribed?: boolean
  exclude?: boolean | null
  addedViaFileUpload?: boolean
}

export async function createAuthor(db: Db, phone: string, input: AuthorInput = {}): Promise<string> {
  await db`
    INSERT INTO public.authors (phone_number, unsubscribed, exclude, added_via_file_upload)
    VALUES (${phone}, ${input.unsubscribed ?? false}, ${input.exclude === undefined ? false : input.exclude},
            ${input.addedViaFileUpload ?? false})
    ON CONFLICT (phone_number) DO UPDATE
    SET unsubscribed = EXCLUDED.unsubscribed, exclude = EXCLUDED.exclude, added_via_file_upload = EXCLUDED.added_via_file_upload`
  return phone
}

export async function createSegment(db: Db, name = 'Everyone'): Promise<number> {
  const [row] = await db<{ id: number }[]>`
    INSERT INTO public.audience_segments (query, description, name)
    VALUES ('SELECT phone_number FROM public.authors', ${name}, ${name})
    RETURNING id`
  return row!.id
}

export interface BroadcastInput {
  firstMessage?: string
  secondMessage?: string
  delay?: number
}

/** A broadcast that has run (not editable), linked to one segment, as upstream's test setup A. */
export async function createBroadcast(
  db: Db,
  input: BroadcastInput = {},
): Promise<{ broadcastId: number; segmentId: number }> {
  const segmentId = await createSegment(db)
  const [row] = await db<{ id: number }[]>`
    INSERT INTO public.broadcasts (run_at, delay, editable, no_users, first_message, second_message)
    VALUES (now(), ${input.delay ?? 600}, false, 100, ${input.firstMessage ?? 'Test first message'},
            ${input.secondMessage ?? 'Test second message'})
    RETURNING id`
  await db`INSERT INTO public.broadcasts_segments (broadcast_id, segment_id, ratio) VALUES (${
    row!.id
  }, ${segmentId}, 100)`
  return { broadcastId: row!.id, segmentId }
}

export interface CampaignInput {
  firstMessage?: string
  secondMessage?: string | null
  delay?: number
  status?: string
  labelIds?: string[]
  segments?: unknown
}

export async function createCampaign(db: Db, input: CampaignInput = {}): Promise<number> {
  const [row] = await db<{ id: number }[]>`
    INSERT INTO public.campaigns (title, first_message, second_message, delay, run_at, processed, status, label_ids, segments)
    VALUES (NULL, ${input.firstMessage ?? 'Test campaign first message'},
            ${input.secondMessage === undefined ? 'Test campaign second message' : input.secondMessage},
            ${input.delay ?? 300}, now(), true, ${input.status ?? 'sending'}, ${input.labelIds ?? []},
            ${input.segments === undefined ? null : db.json(input.segments as never)})
    RETURNING id`
  return row!.id
}

export function broadcastPayload(
  ids: { broadcastId: number; segmentId: number },
  overrides: Partial<QueuedMessageInput> = {},
): QueuedMessageInput {
  return {
    recipient_phone_number: PHONE,
    broadcast_id: ids.broadcastId,
    segment_id: ids.segmentId,
    first_message: 'Test first message',
    second_message: 'Test second message',
    delay: 600,
    ...overrides,
  }
}

export function campaignPayload(campaignId: number, overrides: Partial<QueuedMessageInput> = {}): QueuedMessageInput {
  return {
    recipient_phone_number: PHONE,
    campaign_id: campaignId,
    first_message: 'Test campaign first message',
    second_message: 'Test campaign second message',
    title: null,
    delay: 300,
    label_ids: [],
    campaign_segments: null,
    conversation_id: null,
    created_at: Math.floor(Date.now() / 1000),
    ...overrides,
  }
}

export async function enqueue(
  db: Db,
  payload: unknown,
  options: { queue?: QueueName; delay?: number } = {},
): Promise<number> {
  return await sendMessage(db, options.queue ?? FIRST_MESSAGES_QUEUE, payload, options.delay ?? 0)
}

export interface QueueRowView {
  msg_id: number
  read_ct: number
  vt: Date
  message: Record<string, any>
}

export async function queueRows(db: Db, queue: QueueName = FIRST_MESSAGES_QUEUE): Promise<QueueRowView[]> {
  const rows = await db<QueueRowView[]>`SELECT msg_id::integer, read_ct, vt, message FROM ${
    db(`pgmq.q_${queue}`)
  } ORDER BY msg_id`
  return [...rows]
}

export async function archiveRows(db: Db, queue: QueueName = FIRST_MESSAGES_QUEUE): Promise<QueueRowView[]> {
  const rows = await db<QueueRowView[]>`SELECT msg_id::integer, read_ct, vt, message FROM ${
    db(`pgmq.a_${queue}`)
  } ORDER BY msg_id`
  return [...rows]
}

/** Makes every queued message visible now (a backoff or deferral has "elapsed"). */
export async function makeVisible(db: Db, queue: QueueName = FIRST_MESSAGES_QUEUE): Promise<void> {
  await db`UPDATE ${db(`pgmq.q_${queue}`)} SET vt = clock_timestamp() - interval '1 second'`
}

export interface LedgerView {
  id: number
  broadcast_id: number | null
  campaign_id: number | null
  recipient_phone_number: string
  is_second: boolean
  state: string
  queue_name: string
  queue_msg_id: number | null
  attempts: number
  missive_id: string | null
  missive_conversation_id: string | null
  message_status_id: number | null
  last_http_status: number | null
  detail: string | null
}

export async function ledgerRows(db: Db): Promise<LedgerView[]> {
  const rows = await db<LedgerView[]>`
    SELECT id::integer, broadcast_id::integer, campaign_id, recipient_phone_number, is_second, state, queue_name,
           queue_msg_id::integer, attempts, missive_id::text, missive_conversation_id::text, message_status_id,
           last_http_status, detail
    FROM public.message_sends ORDER BY id`
  return [...rows]
}

export interface StatusView {
  id: number
  recipient_phone_number: string
  message: string
  is_second: boolean
  broadcast_id: number | null
  campaign_id: number | null
  missive_id: string
  missive_conversation_id: string
  audience_segment_id: number | null
  second_message_queue_id: number | null
}

export async function statusRows(db: Db): Promise<StatusView[]> {
  const rows = await db<StatusView[]>`
    SELECT id, recipient_phone_number, message, is_second, broadcast_id::integer, campaign_id, missive_id::text,
           missive_conversation_id::text, audience_segment_id::integer, second_message_queue_id::integer
    FROM public.message_statuses ORDER BY id`
  return [...rows]
}

export { FIRST_MESSAGES_QUEUE, SECOND_MESSAGES_QUEUE }
