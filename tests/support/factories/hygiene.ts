import { randomUUID } from 'node:crypto'
import type { Db } from '../../../src/shared/db/client.ts'

// Row builders for the failure jobs (handle-failed-deliveries, archive-double-failures): authors,
// sent broadcasts and campaigns, their message_statuses rows as the reconcile leaves them, labels
// on conversations, incoming texts, and the closing-label template.

let counter = 0
/** A fresh E.164 number in the fictional 555 range, unique within the test process. */
export function hygienePhone(): string {
  counter++
  return `+1248555${String(counter % 10000).padStart(4, '0')}`
}

export async function author(
  db: Db,
  input: { phone?: string; exclude?: boolean | null; unsubscribed?: boolean } = {},
): Promise<string> {
  const phone = input.phone ?? hygienePhone()
  await db`
    INSERT INTO public.authors (phone_number, exclude, unsubscribed)
    VALUES (${phone}, ${input.exclude === undefined ? false : input.exclude}, ${input.unsubscribed ?? false})`
  return phone
}

/** A broadcast that has run (editable = false). */
export async function sentBroadcast(db: Db, runAt: Date): Promise<number> {
  const [row] = await db<{ id: number }[]>`
    INSERT INTO public.broadcasts (first_message, second_message, editable, run_at)
    VALUES ('Hello from Outlier', 'Reply to learn more', false, ${runAt}) RETURNING id`
  return row!.id
}

export async function sentCampaign(db: Db, runAt: Date): Promise<number> {
  const [row] = await db<{ id: number }[]>`
    INSERT INTO public.campaigns (title, first_message, run_at, processed)
    VALUES ('Campaign', 'Campaign text', ${runAt}, true) RETURNING id`
  return row!.id
}

/** A mirrored Missive conversation (the row conversations_labels points at). */
export async function conversation(db: Db, id: string = randomUUID()): Promise<string> {
  await db`
    INSERT INTO public.conversations (id, web_url, app_url) VALUES (${id}, ${`https://mail.missiveapp.com/#inbox/conversations/${id}`}, ${`missive://mail.missiveapp.com/#inbox/conversations/${id}`})
    ON CONFLICT (id) DO NOTHING`
  return id
}

export type Delivery =
  | 'failed'
  | 'undelivered'
  | 'delivered'
  | 'sent'
  | 'delivery_unknown'
  | 'unreconciled-undelivered'
  | 'unreconciled'

export interface StatusInput {
  phone: string
  conversationId: string
  broadcastId?: number
  campaignId?: number
  /**
   * How the row looks after reconcile: a Twilio status with a Twilio SID; `unreconciled` keeps the
   * column default (`delivered`, no SID); `unreconciled-undelivered` is the outgoing webhook's
   * provisional guess (`undelivered`, no SID).
   */
  delivery: Delivery
  isSecond?: boolean
  createdAt?: Date
}

/** One message_statuses row; returns its id (rows are ordered by id, as the jobs rank them). */
export async function statusRow(db: Db, input: StatusInput): Promise<number> {
  const reconciled = input.delivery !== 'unreconciled' && input.delivery !== 'unreconciled-undelivered'
  const status = input.delivery === 'unreconciled'
    ? 'delivered'
    : input.delivery === 'unreconciled-undelivered'
    ? 'undelivered'
    : input.delivery
  const [row] = await db<{ id: number }[]>`
    INSERT INTO public.message_statuses
      (recipient_phone_number, missive_id, missive_conversation_id, broadcast_id, campaign_id, is_second,
       twilio_sent_status, twilio_id, message, created_at)
    VALUES (${input.phone}, ${randomUUID()}, ${input.conversationId}, ${input.broadcastId ?? null}, ${
    input.campaignId ?? null
  },
            ${input.isSecond ?? false}, ${status}::public.twilio_status,
            ${reconciled ? `SM${randomUUID().replaceAll('-', '')}` : null}, 'Hello from Outlier', ${
    input.createdAt ?? new Date()
  })
    RETURNING id`
  return row!.id
}

/** Rows for one phone, oldest first, each in its own conversation unless `conversationId` is given. */
export async function history(
  db: Db,
  phone: string,
  deliveries: Array<
    { delivery: Delivery; broadcastId?: number; campaignId?: number; isSecond?: boolean; createdAt?: Date }
  >,
  conversationId?: string,
): Promise<{ ids: number[]; conversationIds: string[] }> {
  const ids: number[] = []
  const conversationIds: string[] = []
  for (const row of deliveries) {
    const target = conversationId ?? randomUUID()
    ids.push(await statusRow(db, { phone, conversationId: target, ...row }))
    conversationIds.push(target)
  }
  return { ids, conversationIds }
}

export async function label(db: Db, id: string = randomUUID(), name = 'label'): Promise<string> {
  await db`INSERT INTO public.labels (id, name, name_with_parent_names) VALUES (${id}, ${name}, ${name}) ON CONFLICT (id) DO NOTHING`
  return id
}

/** Puts a label on a conversation in the mirror; `removed` = the label was taken off again. */
export async function labelConversation(
  db: Db,
  conversationId: string,
  labelId: string,
  options: { removed?: boolean; name?: string } = {},
): Promise<void> {
  await conversation(db, conversationId)
  await label(db, labelId, options.name)
  await db`
    INSERT INTO public.conversations_labels (conversation_id, label_id, is_archived)
    VALUES (${conversationId}, ${labelId}, ${options.removed ?? false})`
}

/** A text the person sent us (as the user-actions webhook stores it). */
export async function incomingText(db: Db, from: string, to: string, deliveredAt: Date): Promise<void> {
  await db`INSERT INTO public.authors (phone_number) VALUES (${to}) ON CONFLICT DO NOTHING`
  await db`
    INSERT INTO public.twilio_messages (preview, delivered_at, "references", from_field, to_field)
    VALUES ('ok thanks', ${deliveredAt}, '{}', ${from}, ${to})`
}

export const CLOSING_LABEL_ID = '00000000-0000-4000-8000-0000000c1051'

/** The lookup_template rows handle-failed-deliveries reads. */
export async function closingTemplates(
  db: Db,
  input: { labelId?: string | null; message?: string | null } = {},
): Promise<void> {
  const labelId = input.labelId === undefined ? CLOSING_LABEL_ID : input.labelId
  if (labelId !== null) {
    await db`INSERT INTO public.lookup_template (name, content, type) VALUES ('missive_broadcast_post_closing_label_id', ${labelId}, 'text')`
  }
  if (input.message) {
    await db`INSERT INTO public.lookup_template (name, content, type) VALUES ('missive_broadcast_post_closing_message', ${input.message}, 'text')`
  }
}

/** The failure jobs' ledger, oldest first. */
export async function hygieneActions(db: Db) {
  return await db<{
    job: string
    recipient_phone_number: string
    missive_conversation_id: string
    message_status_ids: number[]
    last_message_status_id: number
    outcome: string
    attempts: number
    next_attempt_at: Date | null
    last_http_status: number | null
    detail: string | null
  }[]>`
    SELECT job, recipient_phone_number, missive_conversation_id, message_status_ids, last_message_status_id,
           outcome, attempts, next_attempt_at, last_http_status, detail
    FROM public.delivery_hygiene_actions ORDER BY id`
}

export async function cronJobs(db: Db, names: string[]) {
  return await db<{ jobname: string; schedule: string; command: string }[]>`
    SELECT jobname, schedule, command FROM cron.job WHERE jobname = ANY (${names}::text[]) ORDER BY jobname`
}
