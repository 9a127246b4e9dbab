import type { Sql, TransactionSql } from '../db/client.ts'
import { findUpcoming, type UpcomingBroadcast } from './queries.ts'

// The hand-over of the upcoming broadcast, shared by `make` (schedule) and `send-now` (sidebar).
//
// One transaction: enqueue its audience, mark it sent, create the next editable broadcast (texts,
// delay, batch size, segment links). Upstream created the next broadcast after committing, so a
// failure there (e.g. zero segments) left no editable broadcast and every later run failed; here
// it all commits or nothing does, and a failed enqueue leaves the broadcast editable.
//
// Hand-overs are serialised by an advisory lock taken first, so the caller's checks (the 2-hour
// guard, send-now's rules) run against the state left by any concurrent hand-over: two `make`
// calls, or `make` racing `send-now`, can never send two broadcasts back to back.

const HAND_OVER_LOCK = 'txt-outlier:broadcast-hand-over'

/**
 * How long picking the audience may take (the segment queries and the enqueue). Segment queries are
 * admin-written SQL; PostgreSQL arms statement_timeout only when a top-level statement starts, so
 * the SQL function cannot give itself one: the statement that calls it gets it here. A query
 * running longer fails the hand-over (nothing queued, the broadcast stays editable), naming the
 * segment. Upstream had no limit.
 */
export const AUDIENCE_TIMEOUT_MS = 60_000

export interface HandOver {
  broadcastId: number
  nextBroadcastId: number
  queued: number
  /** The new editable broadcast's texts (unshortened; link shortening follows after commit). */
  next: { id: number; firstMessage: string; secondMessage: string }
}

export interface HandOverOptions {
  now: Date
  /** Runs under the lock before anything changes; throw an AppError to refuse. */
  check?: (tx: TransactionSql, upcoming: UpcomingBroadcast) => Promise<void>
  /** `run_at` of the next broadcast (default: none, i.e. it follows the weekly schedule). */
  nextRunAt?: (upcoming: UpcomingBroadcast) => Date | null
  /** Default AUDIENCE_TIMEOUT_MS. */
  audienceTimeoutMs?: number
}

/** Returns null (and changes nothing) when there is no editable broadcast. */
export async function handOverUpcomingBroadcast(sql: Sql, options: HandOverOptions): Promise<HandOver | null> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext(${HAND_OVER_LOCK}))`
    const upcoming = await findUpcoming(tx, { forUpdate: true })
    if (!upcoming) return null
    await options.check?.(tx, upcoming)

    await tx`SELECT set_config('statement_timeout', ${`${options.audienceTimeoutMs ?? AUDIENCE_TIMEOUT_MS}ms`}, true)`
    const [{ queued }] = await tx<
      { queued: number }[]
    >`SELECT public.queue_broadcast_messages(${upcoming.id}) AS queued`
    await tx`SET LOCAL statement_timeout TO DEFAULT`
    await tx`UPDATE public.broadcasts SET editable = false, run_at = ${options.now}, updated_at = ${options.now} WHERE id = ${upcoming.id}`
    // Twilio's delivery statuses are pulled once the batch has most likely gone out (never raises).
    await tx`SELECT public.schedule_broadcast_reconcile(${upcoming.id}, ${options.now})`

    // The next broadcast starts from the texts as the editor wrote them (before shortening).
    const firstMessage = upcoming.originalFirstMessage || upcoming.firstMessage
    const secondMessage = upcoming.originalSecondMessage || upcoming.secondMessage
    const [next] = await tx<{ id: number }[]>`
      INSERT INTO public.broadcasts
        (first_message, second_message, original_first_message, original_second_message, delay, no_users, editable, run_at)
      VALUES (${firstMessage}, ${secondMessage}, ${firstMessage}, ${secondMessage}, ${upcoming.delay}, ${upcoming.noUsers},
              true, ${options.nextRunAt?.(upcoming) ?? null})
      RETURNING id`
    // INSERT … SELECT: zero segments is zero rows, not an error (upstream's empty values([])).
    await tx`
      INSERT INTO public.broadcasts_segments (broadcast_id, segment_id, ratio, first_message, second_message)
      SELECT ${next.id}, segment_id, ratio, first_message, second_message
      FROM public.broadcasts_segments WHERE broadcast_id = ${upcoming.id} ORDER BY id`

    return {
      broadcastId: upcoming.id,
      nextBroadcastId: next.id,
      queued,
      next: { id: next.id, firstMessage, secondMessage },
    }
  })
}
