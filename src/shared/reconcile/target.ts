import type { Db } from '../db/client.ts'
import { badRequest, notFound } from '../http/errors.ts'

export type TargetKind = 'broadcast' | 'campaign'

export interface TargetRef {
  kind: TargetKind
  id: number
}

export interface ReconcileTarget extends TargetRef {
  runAt: Date
  /** Seconds between a recipient's first and second message. */
  delay: number
  /** The larger of the planned count and the first-message rows written, so a stale count never narrows the window. */
  recipients: number
  /** Twilio's cursor for the next page of this pass; null = start from the newest message. */
  twilioPaging: string | null
}

export const ownerColumn = (kind: TargetKind) => (kind === 'broadcast' ? 'broadcast_id' : 'campaign_id')
const label = (kind: TargetKind) => (kind === 'broadcast' ? 'Broadcast' : 'Campaign')

/** Loads what a pass needs; an unknown id is 404 and an unscheduled one 400 (upstream answered 200 to both). */
export async function loadTarget(db: Db, ref: TargetRef): Promise<ReconcileTarget> {
  const [row] = ref.kind === 'broadcast'
    ? await db<{ run_at: Date | null; delay: number; planned: number; twilio_paging: string | null }[]>`
        SELECT run_at, delay, no_users AS planned, twilio_paging FROM public.broadcasts WHERE id = ${ref.id}`
    : await db<{ run_at: Date | null; delay: number; planned: number; twilio_paging: string | null }[]>`
        SELECT run_at, delay, COALESCE(recipient_count, 0) AS planned, twilio_paging FROM public.campaigns WHERE id = ${ref.id}`
  if (!row) throw notFound(`${label(ref.kind)} ${ref.id} not found`)
  if (!row.run_at) throw badRequest(`${label(ref.kind)} has not been scheduled yet`)
  const [{ written }] = await db<{ written: number }[]>`
    SELECT count(*)::int AS written FROM public.message_statuses
    WHERE ${db(ownerColumn(ref.kind))} = ${ref.id} AND NOT is_second`
  return {
    ...ref,
    runAt: row.run_at,
    delay: row.delay,
    recipients: Math.max(row.planned, written),
    twilioPaging: row.twilio_paging,
  }
}

const FIFTEEN_MINUTES_MS = 15 * 60_000
const BUFFER_MS = 3 * 3_600_000

/**
 * The end of the Twilio date window of a pass. The sender sends at most `perFifteenMinutes` per
 * phase and token; counting both phases as if they shared one budget, plus the follow-up delay and
 * a 3-hour buffer, is generous on purpose: a message outside the window is never reconciled.
 * (Upstream assumed 2 s per recipient, which the 900-per-15-minutes pacing can exceed.)
 */
export function windowEnd(target: ReconcileTarget, perFifteenMinutes: number): Date {
  const windows = Math.ceil(target.recipients / Math.max(perFifteenMinutes, 1))
  const sendMs = 2 * windows * FIFTEEN_MINUTES_MS
  return new Date(target.runAt.getTime() + sendMs + target.delay * 1000 + BUFFER_MS)
}
