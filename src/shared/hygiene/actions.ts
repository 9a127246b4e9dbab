import type { Db } from '../db/client.ts'
import type { FailureEpisode, HygieneJob } from './episode.ts'

// The ledger of what the failure jobs posted (`delivery_hygiene_actions`, migration
// 20250601000600). Upstream kept none: the archive job could post to the same conversation every
// minute for 3 hours, and a failing post was retried every minute without backoff.

/**
 * A `posting` claim older than this belongs to a run that died mid-call (a run lasts ~50 s, a
 * Missive call at most MISSIVE_TIMEOUT_MS); only then may another run take the episode over.
 */
const STALE_CLAIM_SECONDS = 600

/** Wait before retrying a failed post: 5, 10, 20, 40, then 60 minutes. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(300 * 2 ** Math.max(attempts - 1, 0), 3600)
}

/**
 * Episodes (rows `e` of a candidate query) this job must not post now: already posted, claimed by
 * a run that is still going, or waiting for the retry time of an earlier failure.
 */
export function notBlockedByLedger(db: Db, job: HygieneJob, now: Date) {
  return db`NOT EXISTS (
    SELECT 1 FROM public.delivery_hygiene_actions d
    WHERE d.job = ${job} AND d.recipient_phone_number = e.phone AND d.last_message_status_id = e.last_message_status_id
      AND (d.outcome = 'posted'
        OR (d.outcome = 'posting' AND d.claimed_at > ${now}::timestamptz - make_interval(secs => ${STALE_CLAIM_SECONDS}))
        OR (d.outcome = 'post_failed' AND d.next_attempt_at > ${now}::timestamptz)))`
}

/**
 * Episodes still to do at some point: not posted and not in flight in another run. Episodes
 * waiting for a retry count, so the per-minute job stays scheduled until they are retried.
 */
export function notDoneInLedger(db: Db, job: HygieneJob, now: Date) {
  return db`NOT EXISTS (
    SELECT 1 FROM public.delivery_hygiene_actions d
    WHERE d.job = ${job} AND d.recipient_phone_number = e.phone AND d.last_message_status_id = e.last_message_status_id
      AND (d.outcome = 'posted'
        OR (d.outcome = 'posting' AND d.claimed_at > ${now}::timestamptz - make_interval(secs => ${STALE_CLAIM_SECONDS}))))`
}

export interface Claim {
  actionId: string
  attempts: number
}

/**
 * Commits a `posting` row before Missive is called, so an overlapping run (a slow call can push a
 * run past the next minute's cron tick) skips the episode instead of posting it a second time.
 * Returns null when another run holds it or it is already done.
 */
export async function claimEpisode(db: Db, job: HygieneJob, episode: FailureEpisode, now: Date): Promise<Claim | null> {
  const [row] = await db<{ id: string; attempts: number }[]>`
    INSERT INTO public.delivery_hygiene_actions AS d
      (job, recipient_phone_number, missive_conversation_id, message_status_ids, last_message_status_id,
       outcome, claimed_at, created_at, updated_at)
    VALUES (${job}, ${episode.phone}, ${episode.conversationId}, ${episode.messageStatusIds}::integer[],
            ${episode.lastMessageStatusId}, 'posting', ${now}, ${now}, ${now})
    ON CONFLICT (job, recipient_phone_number, last_message_status_id) DO UPDATE
      SET outcome = 'posting', claimed_at = excluded.claimed_at, updated_at = excluded.updated_at,
          missive_conversation_id = excluded.missive_conversation_id
      WHERE (d.outcome = 'post_failed' AND d.next_attempt_at <= excluded.claimed_at)
         OR (d.outcome = 'posting' AND d.claimed_at <= excluded.claimed_at - make_interval(secs => ${STALE_CLAIM_SECONDS}))
    RETURNING d.id, d.attempts`
  return row ? { actionId: row.id, attempts: row.attempts } : null
}

export async function recordPosted(db: Db, claim: Claim, now: Date, httpStatus: number): Promise<void> {
  await db`
    UPDATE public.delivery_hygiene_actions
    SET outcome = 'posted', attempts = attempts + 1, posted_at = ${now}, next_attempt_at = NULL,
        last_http_status = ${httpStatus}, detail = NULL, updated_at = ${now}
    WHERE id = ${claim.actionId}`
}

export interface PostFailure {
  httpStatus: number
  detail: string
  /** Missive's 429 is its rate limit, not this episode's fault: it does not count as an attempt. */
  countsAsAttempt: boolean
  retryAfterSeconds: number
}

/** Records the failure and when the episode may be tried again; returns that time. */
export async function recordPostFailed(db: Db, claim: Claim, now: Date, failure: PostFailure): Promise<Date> {
  const [row] = await db<{ next_attempt_at: Date }[]>`
    UPDATE public.delivery_hygiene_actions
    SET outcome = 'post_failed', attempts = attempts + ${failure.countsAsAttempt ? 1 : 0},
        next_attempt_at = ${now}::timestamptz + make_interval(secs => ${failure.retryAfterSeconds}),
        last_http_status = ${failure.httpStatus}, detail = ${failure.detail}, updated_at = ${now}
    WHERE id = ${claim.actionId}
    RETURNING next_attempt_at`
  return row!.next_attempt_at
}
