import type { TransactionSql } from '../db/client.ts'
import { maskPhone } from '../log/logger.ts'
import { type MissiveFailure, provedNotActedOn } from '../missive/index.ts'
import type { Deps } from '../runtime/deps.ts'
import { claimEpisode, recordPosted, recordPostFailed, retryDelaySeconds } from './actions.ts'
import type { FailureEpisode, HygieneJob, HygieneSummary } from './episode.ts'

/** Wait after a 429 that carried no Retry-After. */
const DEFAULT_RATE_LIMIT_PAUSE_SECONDS = 60

export interface PostRun {
  job: HygieneJob
  episodes: FailureEpisode[]
  text: string
  labelId: string
  /** Runs in the transaction that records the post (handle-failed-deliveries excludes the author). */
  afterPosted?: (tx: TransactionSql, episode: FailureEpisode) => Promise<void>
}

export type PostTally = Pick<HygieneSummary, 'processed' | 'posted' | 'failed' | 'stoppedBy'>

/**
 * Posts to each episode's conversation, one at a time, at most one post per
 * FAILURE_JOBS_POST_INTERVAL_MS (Missive allows 1 request per second sustained per token, and
 * these posts share the non-broadcast token with the webhooks), and starts no post once
 * FAILURE_JOBS_RUN_SECONDS are spent, so a call ends before the next minute's cron tick.
 * A failed post is recorded with a retry time and the run moves on; a 429 ends the run.
 *
 * The interval and budget are wall-clock durations, measured with the monotonic clock; `deps.now()`
 * is the time written to the ledger.
 */
export async function postEpisodes(deps: Deps, run: PostRun): Promise<PostTally> {
  const log = deps.log.child({ job: run.job })
  const budgetMs = deps.config.FAILURE_JOBS_RUN_SECONDS * 1000
  const intervalMs = deps.config.FAILURE_JOBS_POST_INTERVAL_MS
  const started = performance.now()
  const tally: PostTally = { processed: 0, posted: 0, failed: 0, stoppedBy: 'done' }
  let lastPostAt: number | undefined

  for (const episode of run.episodes) {
    const wait = lastPostAt === undefined ? 0 : Math.max(0, lastPostAt + intervalMs - performance.now())
    if (performance.now() - started + wait >= budgetMs) {
      tally.stoppedBy = 'budget'
      log.info('Time budget spent; the next call continues', { budgetMs, processed: tally.processed })
      break
    }
    if (wait > 0) await sleep(wait)

    const scope = { phone: maskPhone(episode.phone), conversationId: episode.conversationId }
    const claim = await claimEpisode(deps.sql, run.job, episode, deps.now())
    if (!claim) {
      log.info('Episode taken by another run or already done; skipped', scope)
      continue
    }

    lastPostAt = performance.now()
    tally.processed++
    const result = await deps.missive.createPost({
      conversationId: episode.conversationId,
      text: run.text,
      labelId: run.labelId,
    })
    if (result.ok) {
      await deps.sql.begin(async (tx) => {
        await recordPosted(tx, claim, deps.now(), result.status)
        await run.afterPosted?.(tx, episode)
      })
      tally.posted++
      log.info('Posted to the conversation', scope)
      continue
    }

    tally.failed++
    const rateLimited = result.status === 429
    const retryAt = await recordPostFailed(deps.sql, claim, deps.now(), {
      httpStatus: result.status,
      detail: describeFailure(result),
      countsAsAttempt: !rateLimited,
      retryAfterSeconds: rateLimited
        ? result.retryAfterSeconds ?? DEFAULT_RATE_LIMIT_PAUSE_SECONDS
        : retryDelaySeconds(claim.attempts + 1),
    })
    if (rateLimited) {
      tally.stoppedBy = 'rate-limit'
      log.warn('Missive rate limit (429); stopping this run', { ...scope, retryAt })
      break
    }
    log.error('Failed to post to the conversation; will retry', {
      ...scope,
      status: result.status,
      kind: result.kind,
      error: result.error,
      retryAt,
    })
  }
  return tally
}

function describeFailure(failure: MissiveFailure): string {
  // A failure that does not prove Missive did nothing may have posted: the retry can add a second
  // note, never a second SMS.
  const maybe = provedNotActedOn(failure) ? '' : ' (the post may have been made)'
  return `${failure.kind} ${failure.status}: ${failure.error}${maybe}`.slice(0, 1000)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
