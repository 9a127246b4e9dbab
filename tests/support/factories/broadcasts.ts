import { randomUUID } from 'node:crypto'
import type { Db } from '../../../src/shared/db/client.ts'

// Row builders for the broadcast concern, with upstream's factory defaults (upstream-functions.md
// §7.0): delay 600, no_users 10, editable false, run_at NULL unless given.

let phoneCounter = 0
/** A fresh E.164 number in the fictional 555-01xx range, unique within the test process. */
export function samplePhone(): string {
  phoneCounter++
  return `+1313555${String(1000 + (phoneCounter % 9000)).padStart(4, '0')}`
}

export interface AuthorInput {
  phone?: string
  name?: string
  unsubscribed?: boolean
  exclude?: boolean | null
  addedViaFileUpload?: boolean | null
}

export async function createAuthor(db: Db, input: AuthorInput = {}): Promise<string> {
  const phone = input.phone ?? samplePhone()
  await db`
    INSERT INTO public.authors (phone_number, name, unsubscribed, exclude, added_via_file_upload)
    VALUES (${phone}, ${input.name ?? null}, ${input.unsubscribed ?? false},
            ${input.exclude === undefined ? false : input.exclude},
            ${input.addedViaFileUpload === undefined ? false : input.addedViaFileUpload})
    ON CONFLICT (phone_number) DO NOTHING`
  return phone
}

export async function createAuthors(db: Db, count: number): Promise<string[]> {
  const phones: string[] = []
  for (let i = 0; i < count; i++) phones.push(await createAuthor(db))
  return phones
}

export interface BroadcastInput {
  firstMessage?: string
  secondMessage?: string
  originalFirstMessage?: string | null
  originalSecondMessage?: string | null
  noUsers?: number
  delay?: number
  editable?: boolean
  runAt?: Date | null
}

export interface BroadcastRow {
  id: number
  firstMessage: string
  secondMessage: string
  runAt: Date | null
  noUsers: number
  delay: number
  editable: boolean
}

export async function createBroadcast(db: Db, input: BroadcastInput = {}): Promise<BroadcastRow> {
  const [row] = await db`
    INSERT INTO public.broadcasts (first_message, second_message, original_first_message, original_second_message, no_users, delay, editable, run_at)
    VALUES (${input.firstMessage ?? 'First message'}, ${input.secondMessage ?? 'Second message'},
            ${input.originalFirstMessage ?? null}, ${input.originalSecondMessage ?? null},
            ${input.noUsers ?? 10}, ${input.delay ?? 600}, ${input.editable ?? false}, ${input.runAt ?? null})
    RETURNING id, first_message, second_message, run_at, no_users, delay, editable`
  return {
    id: row.id,
    firstMessage: row.first_message,
    secondMessage: row.second_message,
    runAt: row.run_at,
    noUsers: row.no_users,
    delay: row.delay,
    editable: row.editable,
  }
}

export interface SegmentInput {
  name?: string | null
  description?: string
  query?: string
  /** Links the segment to this broadcast with `ratio` (default 100). */
  broadcastId?: number
  ratio?: number
}

/** Upstream's default query: every author, in random order (it excludes nobody on purpose). */
export const EVERYONE_QUERY = 'SELECT a.phone_number FROM public.authors a ORDER BY random()'

export async function createSegment(db: Db, input: SegmentInput = {}): Promise<number> {
  const [row] = await db`
    INSERT INTO public.audience_segments (name, description, query)
    VALUES (${input.name === undefined ? 'Test' : input.name}, ${input.description ?? 'Test description'}, ${
    input.query ?? EVERYONE_QUERY
  })
    RETURNING id`
  if (input.broadcastId !== undefined) await linkSegment(db, input.broadcastId, row.id, input.ratio ?? 100)
  return row.id
}

export async function linkSegment(db: Db, broadcastId: number, segmentId: number, ratio = 100): Promise<void> {
  await db`INSERT INTO public.broadcasts_segments (broadcast_id, segment_id, ratio) VALUES (${broadcastId}, ${segmentId}, ${ratio})`
}

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun'
export type SettingInput = Partial<Record<Weekday, string | null>> & { active?: boolean }

export async function createBroadcastSetting(db: Db, input: SettingInput = {}): Promise<number> {
  const day = (name: Weekday) => input[name] ?? null
  const [row] = await db`
    INSERT INTO public.broadcast_settings (mon, tue, wed, thu, fri, sat, sun, active)
    VALUES (${day('mon')}, ${day('tue')}, ${day('wed')}, ${day('thu')}, ${day('fri')}, ${day('sat')}, ${day('sun')}, ${
    input.active ?? true
  })
    RETURNING id`
  return Number(row.id)
}

export interface MessageStatusInput {
  broadcastId: number
  recipient: string
  isSecond?: boolean
  twilioId?: string | null
  twilioSentStatus?: 'delivered' | 'sent' | 'undelivered' | 'failed' | 'received' | 'queued' | null
}

export async function createBroadcastMessageStatus(db: Db, input: MessageStatusInput): Promise<number> {
  await createAuthor(db, { phone: input.recipient })
  const [row] = await db`
    INSERT INTO public.message_statuses
      (recipient_phone_number, missive_id, missive_conversation_id, broadcast_id, is_second, twilio_id, twilio_sent_status, message)
    VALUES (${input.recipient}, ${randomUUID()}, ${randomUUID()}, ${input.broadcastId}, ${input.isSecond ?? false},
            ${input.twilioId ?? null}, ${input.twilioSentStatus ?? 'delivered'}, ${
    input.isSecond ? 'Second message' : 'First message'
  })
    RETURNING id`
  return row.id
}

export interface QueuedBroadcastMessage {
  msg_id: string
  message: {
    recipient_phone_number: string
    broadcast_id: number
    segment_id: number
    first_message: string
    second_message: string
    delay: number
  }
}

export async function queuedFirstMessages(db: Db): Promise<QueuedBroadcastMessage[]> {
  return (await db`SELECT msg_id, message FROM pgmq.q_broadcast_first_messages ORDER BY msg_id`) as unknown as QueuedBroadcastMessage[]
}

export async function broadcastRows(db: Db) {
  return await db<
    {
      id: number
      editable: boolean
      run_at: Date | null
      first_message: string
      second_message: string
      original_first_message: string | null
      original_second_message: string | null
      no_users: number
      delay: number
    }[]
  >`
    SELECT id, editable, run_at, first_message, second_message, original_first_message, original_second_message, no_users, delay
    FROM public.broadcasts ORDER BY id`
}

export async function segmentLinks(db: Db, broadcastId: number) {
  return await db<{ segment_id: number; ratio: number; name: string | null }[]>`
    SELECT bs.segment_id, bs.ratio, s.name FROM public.broadcasts_segments bs
    JOIN public.audience_segments s ON s.id = bs.segment_id
    WHERE bs.broadcast_id = ${broadcastId} ORDER BY bs.id`
}
