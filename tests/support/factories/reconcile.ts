import { randomUUID } from 'node:crypto'
import type { Db } from '../../../src/shared/db/client.ts'

// Row builders for the reconcile concern: broadcasts and campaigns that ran, and the
// message_statuses rows the sender writes (one per SMS handed to Missive).

export const SOURCE_PHONE = '+18005550100' // BROADCAST_SOURCE_PHONE_NUMBER in .env.example

export const minutesAfter = (date: Date, minutes: number) => new Date(date.getTime() + minutes * 60_000)

export async function createAuthor(db: Db, phone: string): Promise<string> {
  await db`INSERT INTO public.authors (phone_number) VALUES (${phone}) ON CONFLICT (phone_number) DO NOTHING`
  return phone
}

export interface ReconcileBroadcastInput {
  runAt?: Date | null
  editable?: boolean
  noUsers?: number
  delay?: number
  twilioPaging?: string | null
}

export async function createSentBroadcast(db: Db, input: ReconcileBroadcastInput = {}): Promise<number> {
  const [row] = await db<{ id: number }[]>`
    INSERT INTO public.broadcasts (run_at, editable, no_users, delay, first_message, second_message, twilio_paging)
    VALUES (${input.runAt === undefined ? null : input.runAt}, ${input.editable ?? false}, ${input.noUsers ?? 10},
            ${input.delay ?? 600}, 'First message', 'Second message', ${input.twilioPaging ?? null})
    RETURNING id`
  return row!.id
}

export interface ReconcileCampaignInput {
  runAt: Date
  processed?: boolean
  recipientCount?: number
  delay?: number
}

export async function createRunCampaign(db: Db, input: ReconcileCampaignInput): Promise<number> {
  const [row] = await db<{ id: number }[]>`
    INSERT INTO public.campaigns (title, first_message, second_message, run_at, processed, recipient_count, delay)
    VALUES ('Campaign', 'Campaign first', 'Campaign second', ${input.runAt}, ${input.processed ?? true},
            ${input.recipientCount ?? 10}, ${input.delay ?? 600})
    RETURNING id`
  return row!.id
}

export interface StatusRowInput {
  phone: string
  broadcastId?: number
  campaignId?: number
  isSecond?: boolean
  createdAt: Date
  twilioId?: string | null
  status?: string
}

/** A message_statuses row as the sender writes it (status left at the column default unless given). */
export async function createStatusRow(db: Db, input: StatusRowInput): Promise<number> {
  await createAuthor(db, input.phone)
  const [row] = await db<{ id: number }[]>`
    INSERT INTO public.message_statuses
      (recipient_phone_number, missive_id, missive_conversation_id, broadcast_id, campaign_id, is_second, message,
       created_at, twilio_id, twilio_sent_status)
    VALUES (${input.phone}, ${randomUUID()}, ${randomUUID()}, ${input.broadcastId ?? null}, ${input.campaignId ?? null},
            ${input.isSecond ?? false}, ${input.isSecond ? 'Second message' : 'First message'}, ${input.createdAt},
            ${input.twilioId ?? null}, ${input.status ?? 'delivered'}::public.twilio_status)
    RETURNING id`
  return row!.id
}

export interface StatusRow {
  id: number
  recipient_phone_number: string
  is_second: boolean
  twilio_id: string | null
  twilio_sent_status: string | null
  twilio_sent_at: Date | null
  updated_at: Date | null
}

export async function statusRows(db: Db): Promise<StatusRow[]> {
  return db<StatusRow[]>`
    SELECT id, recipient_phone_number, is_second, twilio_id, twilio_sent_status::text AS twilio_sent_status,
           twilio_sent_at, updated_at
    FROM public.message_statuses ORDER BY id`
}

export async function cronJobs(
  db: Db,
  pattern = '%reconcile%',
): Promise<{ jobname: string; schedule: string; command: string }[]> {
  return db<{ jobname: string; schedule: string; command: string }[]>`
    SELECT jobname, schedule, command FROM cron.job WHERE jobname LIKE ${pattern} AND jobname <> 'daily-reconciliation'
    ORDER BY jobname`
}
