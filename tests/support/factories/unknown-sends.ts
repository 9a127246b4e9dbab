import type { Db } from '../../../src/shared/db/client.ts'
import { createAuthor } from './reconcile.ts'

// Ledger rows (public.message_sends) as the sender leaves them, for the reconcile of `unknown` sends.

export interface LedgerRowInput {
  phone: string
  broadcastId?: number
  campaignId?: number
  isSecond?: boolean
  state?: string
  createdAt: Date
  /** When the row was last written (for `unknown`: when it was dead-lettered); createdAt unless given. */
  updatedAt?: Date
  lastHttpStatus?: number | null
  detail?: string
}

export async function createLedgerRow(db: Db, input: LedgerRowInput): Promise<number> {
  await createAuthor(db, input.phone)
  const isSecond = input.isSecond ?? false
  const [row] = await db<{ id: number }[]>`
    INSERT INTO public.message_sends
      (broadcast_id, campaign_id, recipient_phone_number, is_second, state, queue_name, attempts, last_http_status,
       detail, created_at, updated_at)
    VALUES (${input.broadcastId ?? null}, ${input.campaignId ?? null}, ${input.phone}, ${isSecond},
            ${input.state ?? 'unknown'}, ${isSecond ? 'broadcast_second_messages' : 'broadcast_first_messages'}, 1,
            ${input.lastHttpStatus ?? null}, ${input.detail ?? 'Missive drafts request timed out'},
            ${input.createdAt}, ${input.updatedAt ?? input.createdAt})
    RETURNING id::integer`
  return row!.id
}

export interface ResolvedLedgerRow {
  id: number
  recipient_phone_number: string
  is_second: boolean
  state: string
  detail: string | null
  twilio_id: string | null
  twilio_status: string | null
  twilio_sent_at: Date | null
  resolved_at: Date | null
}

export async function ledgerById(db: Db): Promise<Map<number, ResolvedLedgerRow>> {
  const rows = await db<ResolvedLedgerRow[]>`
    SELECT id::integer, recipient_phone_number, is_second, state, detail, twilio_id, twilio_status::text AS twilio_status,
           twilio_sent_at, resolved_at
    FROM public.message_sends ORDER BY id`
  return new Map(rows.map((row) => [row.id, row]))
}
