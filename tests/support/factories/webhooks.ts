import { randomUUID } from 'node:crypto'
import type { Hono } from 'hono'
import type { Db } from '../../../src/shared/db/client.ts'
import { signWebhookBody } from '../../../src/shared/http/webhook-signature.ts'
import { exampleEnv } from '../app.ts'

// Builders for the webhook tests: signed Missive deliveries and the rows a reply is matched with
// (upstream's factories, upstream-functions.md §7.0).

export interface DeliveryOptions {
  /** `user-actions` (Missive's URL), `user-action`, `admin-action?action=…`. */
  path?: string
  /** Overrides the signature header; null sends none. */
  signature?: string | null
}

export interface Delivery {
  status: number
  body: Record<string, unknown>
}

/** POSTs a body as Missive does: the exact bytes, signed with HMAC_SECRET in `X-Hook-Signature`. */
export async function deliver(app: Hono, payload: unknown, options: DeliveryOptions = {}): Promise<Delivery> {
  const raw = typeof payload === 'string' ? payload : JSON.stringify(payload)
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  const signature = options.signature === undefined
    ? await signWebhookBody(exampleEnv.HMAC_SECRET, raw)
    : options.signature
  if (signature !== null) headers['x-hook-signature'] = signature
  const [name, query] = (options.path ?? 'user-actions').split('?')
  const response = await app.request(`/${name}/${query ? `?${query}` : ''}`, {
    method: 'POST',
    headers,
    body: raw,
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : {} }
}

export async function createBroadcastRow(db: Db): Promise<number> {
  const [row] = await db<{ id: number }[]>`
    INSERT INTO public.broadcasts (first_message, second_message, no_users, delay, editable, run_at)
    VALUES ('First message', 'Second message', 10, 600, false, now()) RETURNING id`
  return Number(row!.id)
}

export interface MessageStatusInput {
  recipient: string
  broadcastId?: number
  campaignId?: number
  createdAt?: Date
  secondMessageQueueId?: number | null
  missiveId?: string
  isSecond?: boolean
  twilioId?: string | null
}

/**
 * A sent first (or second) message, like upstream's createBroadcastMessageStatus: creates the
 * author, and a broadcast when neither a broadcast nor a campaign is given.
 */
export async function createMessageStatus(
  db: Db,
  input: MessageStatusInput,
): Promise<{ id: number; broadcastId: number | null; missiveId: string }> {
  await db`INSERT INTO public.authors (phone_number, name) VALUES (${input.recipient}, ${input.recipient}) ON CONFLICT DO NOTHING`
  const broadcastId = input.campaignId ? null : (input.broadcastId ?? (await createBroadcastRow(db)))
  const missiveId = input.missiveId ?? randomUUID()
  const [row] = await db<{ id: number }[]>`
    INSERT INTO public.message_statuses
      (recipient_phone_number, missive_id, missive_conversation_id, broadcast_id, campaign_id, is_second, message,
       second_message_queue_id, created_at, twilio_id, twilio_sent_status)
    VALUES (${input.recipient}, ${missiveId}, ${randomUUID()}, ${broadcastId}, ${input.campaignId ?? null},
            ${input.isSecond ?? false}, ${input.isSecond ? 'Second message' : 'First message'},
            ${input.secondMessageQueueId ?? null}, ${input.createdAt ?? new Date()}, ${
    input.twilioId ?? null
  }, 'delivered')
    RETURNING id`
  return { id: row!.id, broadcastId, missiveId }
}

export async function createCampaignRow(db: Db): Promise<number> {
  const [row] = await db<{ id: number }[]>`
    INSERT INTO public.campaigns (title, first_message, run_at, processed)
    VALUES ('Campaign', 'Hello', now(), true) RETURNING id`
  return row!.id
}

/** A follow-up waiting in broadcast_second_messages for this phone (the payload the sender writes). */
export async function enqueueSecondMessage(
  db: Db,
  phone: string,
  broadcastId: number | null = null,
  delaySeconds = 600,
): Promise<number> {
  const payload = {
    recipient_phone_number: phone,
    broadcast_id: broadcastId,
    first_message: 'First message',
    second_message: 'Second message',
    delay: delaySeconds,
  }
  const [row] = await db<{ msg_id: string }[]>`
    SELECT pgmq.send('broadcast_second_messages'::text, ${db.json(payload)}::jsonb, ${delaySeconds}::integer) AS msg_id`
  return Number(row!.msg_id)
}

export async function pendingSecondMessages(db: Db): Promise<number[]> {
  const rows = await db<{ msg_id: string }[]>`SELECT msg_id FROM pgmq.q_broadcast_second_messages ORDER BY msg_id`
  return rows.map((row) => Number(row.msg_id))
}

export async function createAuthorRow(db: Db, phone: string, options: { unsubscribed?: boolean } = {}): Promise<void> {
  await db`
    INSERT INTO public.authors (phone_number, name, unsubscribed) VALUES (${phone}, ${phone}, ${
    options.unsubscribed ?? false
  })
    ON CONFLICT (phone_number) DO UPDATE SET unsubscribed = EXCLUDED.unsubscribed`
}

export async function createUserRow(
  db: Db,
  overrides: { id?: string; name?: string; email?: string } = {},
): Promise<string> {
  const id = overrides.id ?? randomUUID()
  await db`
    INSERT INTO public.users (id, name, email) VALUES (${id}, ${overrides.name ?? `Test User ${id.slice(0, 8)}`},
      ${overrides.email ?? `test-${id.slice(0, 8)}@example.com`})`
  return id
}

export async function authorOf(db: Db, phone: string): Promise<{ unsubscribed: boolean } | undefined> {
  const [row] = await db<
    { unsubscribed: boolean }[]
  >`SELECT unsubscribed FROM public.authors WHERE phone_number = ${phone}`
  return row
}

/** Row counts of every table the webhooks write, to compare before/after a delivery. */
export async function webhookTableCounts(db: Db): Promise<Record<string, number>> {
  const tables = [
    'invoke_history',
    'errors',
    'rules',
    'organizations',
    'teams',
    'users',
    'user_history',
    'authors',
    'labels',
    'conversations',
    'conversations_labels',
    'conversations_authors',
    'conversations_users',
    'conversations_assignees',
    'conversation_history',
    'conversations_assignees_history',
    'comments',
    'comments_mentions',
    'tasks_assignees',
    'twilio_messages',
    'unsubscribed_messages',
    'webhook_deliveries',
    'webhook_posts',
  ]
  const counts: Record<string, number> = {}
  for (const table of tables) {
    const [row] = await db.unsafe(`SELECT count(*)::int AS n FROM public.${table}`)
    counts[table] = row!.n as number
  }
  return counts
}
