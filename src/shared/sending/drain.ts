import { nextVisibleInMs, queueFor, type QueueName, readMessages } from '../queue/index.ts'
import { maskPhone } from '../log/logger.ts'
import type { Deps } from '../runtime/deps.ts'
import { isQuiet, nextAllowed, quietHoursFrom } from '../schedule/quiet-hours.ts'
import type { OutcomeStatus } from './outcome.ts'
import { processMessage, type SendContext } from './process-message.ts'
import { CLAIM_VISIBILITY_SECONDS, SOON_VISIBLE_MS } from './retry-policy.ts'
import { unscheduleSenderIfIdle } from './sender-job.ts'

export type DrainSummary = Record<OutcomeStatus, number> & {
  queue: QueueName
  isSecond: boolean
  /** Messages whose handling threw (database trouble); they come back when their lease ends. */
  errors: number
  durationMs: number
  /**
   * `empty`: nothing (soon) visible; `deadline`: SEND_DRAIN_SECONDS elapsed; `rate-limit`: no slot
   * before the deadline; `quiet-hours`: inside quiet hours (the queue is held, its job kept).
   */
  stoppedBy: 'empty' | 'deadline' | 'rate-limit' | 'error' | 'quiet-hours'
  /** Whether the per-minute job was removed because the queue is empty. */
  jobRemoved: boolean
}

/** Which broadcast or campaign, and whose (masked) number, a queue message was for: log scope only. */
function messageScope(message: unknown): Record<string, unknown> {
  const m = (message ?? {}) as Record<string, unknown>
  return {
    broadcastId: m.broadcast_id,
    campaignId: m.campaign_id,
    phone: typeof m.recipient_phone_number === 'string' ? maskPhone(m.recipient_phone_number) : undefined,
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * One send-messages invocation: drains a queue for up to SEND_DRAIN_SECONDS with
 * MISSIVE_MAX_CONCURRENT workers. Each worker claims one message at a time with pgmq.read (a
 * 180 s lease; SKIP LOCKED keeps concurrent drains on disjoint messages); the rate windows, not
 * the number of workers or drains, decide how fast drafts go out.
 */
export async function drainQueue(deps: Deps, isSecond: boolean): Promise<DrainSummary> {
  const queue = queueFor(isSecond)
  const startedAt = deps.now().getTime()
  const log = deps.log.child({ queue })
  const ctx: SendContext = {
    deps,
    log,
    queue,
    isSecond,
    deadline: startedAt + deps.config.SEND_DRAIN_SECONDS * 1000,
    quietHours: quietHoursFrom(deps.config),
  }
  const summary: DrainSummary = {
    queue,
    isSecond,
    sent: 0,
    retrying: 0,
    failed: 0,
    unknown: 0,
    skipped: 0,
    deferred: 0,
    duplicate: 0,
    invalid: 0,
    held: 0,
    errors: 0,
    durationMs: 0,
    stoppedBy: 'empty',
    jobRemoved: false,
  }
  let stop: DrainSummary['stoppedBy'] | null = null

  const worker = async () => {
    while (!stop) {
      if (deps.now().getTime() >= ctx.deadline) {
        stop = 'deadline'
        break
      }
      // Inside quiet hours nothing is read: the queue stays as it is (visible, in order, no attempt
      // counted) and the per-minute job, kept because the queue is not empty, drains it when they
      // end. The decisive check is at claim time (claim.ts); this one spares the reads.
      if (isQuiet(ctx.quietHours, deps.now())) {
        stop = 'quiet-hours'
        break
      }
      const [row] = await readMessages(deps.sql, queue, CLAIM_VISIBILITY_SECONDS, 1)
      if (!row) {
        // Nothing visible. A message deferred by a 429 comes back within seconds: wait for it
        // rather than leave it to the next minute's job; anything later ends this worker.
        const next = await nextVisibleInMs(deps.sql, queue)
        const remaining = ctx.deadline - deps.now().getTime()
        if (next === null || next > Math.min(SOON_VISIBLE_MS, remaining)) break
        await sleep(Math.max(next, 20))
        continue
      }
      try {
        const outcome = await processMessage(ctx, row)
        summary[outcome.status]++
        if (outcome.stopDrain) stop = outcome.status === 'held' ? 'quiet-hours' : 'rate-limit'
      } catch (error) {
        // The message keeps its lease and comes back; a `sending` ledger row then makes it
        // `unknown` rather than a second text. Stop this worker: the database is likely unwell.
        summary.errors++
        log.error('handling a queue message failed', { msgId: row.msgId, ...messageScope(row.message), error })
        break
      }
    }
  }
  await Promise.all(Array.from({ length: deps.config.MISSIVE_MAX_CONCURRENT }, worker))

  // `stop` is set inside the workers, which TypeScript's narrowing does not see.
  summary.stoppedBy = (stop as DrainSummary['stoppedBy'] | null) ?? (summary.errors > 0 ? 'error' : 'empty')
  if (summary.stoppedBy === 'empty') summary.jobRemoved = await unscheduleSenderIfIdle(deps, isSecond)
  summary.durationMs = deps.now().getTime() - startedAt
  if (summary.stoppedBy === 'quiet-hours' && ctx.quietHours) {
    log.info('quiet hours: queue held', { until: nextAllowed(ctx.quietHours, deps.now()).toISOString() })
  }
  log.info('drain finished', { ...summary })
  return summary
}
