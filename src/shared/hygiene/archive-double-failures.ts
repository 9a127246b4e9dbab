import type { Deps } from '../runtime/deps.ts'
import { readClosingTemplate } from './closing-template.ts'
import { readyEpisodes } from './episode-queries.ts'
import type { HygieneSummary } from './episode.ts'
import { doubleFailureEpisodes } from './double-failures-queries.ts'
import { finishRun, nothingPosted } from './finish-run.ts'
import { postEpisodes } from './post-episodes.ts'

const JOB = 'archive-double-failures'
const BATCH_SIZE = 40
export const ARCHIVE_MESSAGE = "This chat's been archived because the last two messages didn't go through."

/** Labels (archive) and closes the conversations whose last two broadcast messages both failed. */
export async function archiveDoubleFailures(deps: Deps): Promise<HygieneSummary> {
  const archiveLabelId = deps.config.MISSIVE_ARCHIVE_LABEL_ID
  // Conversations already marked undeliverable by handle-failed-deliveries need no archive post.
  const { labelId: closingLabelId } = await readClosingTemplate(deps.sql)
  const episodes = doubleFailureEpisodes(
    closingLabelId ? [archiveLabelId, closingLabelId] : [archiveLabelId],
    deps.now(),
  )
  const ready = await readyEpisodes(deps.sql, JOB, episodes, deps.now(), BATCH_SIZE)
  if (ready.length === 0) return finishRun(deps, JOB, episodes, nothingPosted)

  const tally = await postEpisodes(deps, { job: JOB, episodes: ready, text: ARCHIVE_MESSAGE, labelId: archiveLabelId })
  return finishRun(deps, JOB, episodes, tally)
}
