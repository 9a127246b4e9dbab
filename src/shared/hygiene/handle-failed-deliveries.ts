import { AppError } from '../http/errors.ts'
import type { Deps } from '../runtime/deps.ts'
import { CLOSING_LABEL_TEMPLATE, readClosingTemplate } from './closing-template.ts'
import { unscheduleJobs } from './cron-jobs.ts'
import { readyEpisodes } from './episode-queries.ts'
import type { HygieneSummary } from './episode.ts'
import { excludeUndeliverable, failedDeliveryEpisodes } from './failed-deliveries-queries.ts'
import { finishRun, nothingPosted } from './finish-run.ts'
import { postEpisodes } from './post-episodes.ts'

const JOB = 'handle-failed-deliveries'
/** Upstream's batch per call. */
const BATCH_SIZE = 40

/**
 * Closes the conversations of numbers whose last three messages failed and who never answered:
 * posts the closing message with the "undeliverable" label, then excludes the author from future
 * sends (`authors.exclude`, as upstream; `unsubscribed` stays untouched).
 */
export async function handleFailedDeliveries(deps: Deps): Promise<HygieneSummary> {
  const episodes = failedDeliveryEpisodes(deps.config.MISSIVE_REPLY_LABEL_ID, deps.now())
  const ready = await readyEpisodes(deps.sql, JOB, episodes, deps.now(), BATCH_SIZE)
  if (ready.length === 0) return finishRun(deps, JOB, episodes, nothingPosted)

  const template = await readClosingTemplate(deps.sql)
  if (!template.labelId) {
    // Upstream logged and returned, and its cron kept calling for 3 hours. Without the label the
    // conversations cannot be marked, so say so loudly once and stop for today; tomorrow's setup
    // (or `SELECT public.schedule_daily_failed_deliveries_handler()`) tries again.
    await unscheduleJobs(deps.sql, JOB)
    throw new AppError(
      500,
      `lookup_template row '${CLOSING_LABEL_TEMPLATE}' is missing or empty: it must hold the Missive label id for undeliverable conversations. ${ready.length} conversation(s) are waiting; nothing was posted.`,
      {
        waiting: ready.length,
      },
    )
  }

  const tally = await postEpisodes(deps, {
    job: JOB,
    episodes: ready,
    text: template.text,
    labelId: template.labelId,
    afterPosted: (tx, episode) => excludeUndeliverable(tx, episode.phone, episode.conversationId, deps.now()),
  })
  return finishRun(deps, JOB, episodes, tally)
}
