import type { Deps } from '../runtime/deps.ts'
import { unscheduleJobs } from './cron-jobs.ts'
import { countEpisodesLeft, type EpisodeQuery } from './episode-queries.ts'
import type { HygieneJob, HygieneSummary } from './episode.ts'
import type { PostTally } from './post-episodes.ts'

/**
 * Counts what is left and, when nothing is (not even a failed post waiting for its retry), removes
 * the job's per-minute and one-shot cron jobs, as upstream did when its query came back empty.
 */
export async function finishRun(
  deps: Deps,
  job: HygieneJob,
  episodes: EpisodeQuery,
  tally: PostTally,
): Promise<HygieneSummary> {
  const remaining = await countEpisodesLeft(deps.sql, job, episodes, deps.now())
  const unscheduled = remaining === 0
  if (unscheduled) await unscheduleJobs(deps.sql, job)
  deps.log.info('Run finished', { job, ...tally, remaining, unscheduled })
  return { ...tally, remaining, unscheduled }
}

export const nothingPosted: PostTally = { processed: 0, posted: 0, failed: 0, stoppedBy: 'done' }
