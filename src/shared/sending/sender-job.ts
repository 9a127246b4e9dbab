import type { Deps } from '../runtime/deps.ts'

/**
 * Removes the per-minute `send-first-messages` / `send-second-messages` job when the queue is
 * empty, under the lock the queue insert trigger shares (see
 * public.unschedule_send_messages_job_if_idle for why this cannot lose a job). Delayed follow-ups
 * keep the queue non-empty, so their job stays until they are sent.
 */
export async function unscheduleSenderIfIdle(deps: Deps, isSecond: boolean): Promise<boolean> {
  try {
    const [row] = await deps.sql<{ removed: boolean }[]>`
      SELECT public.unschedule_send_messages_job_if_idle(${isSecond}) AS removed`
    return row?.removed ?? false
  } catch (error) {
    deps.log.warn('could not remove the idle sender job', { isSecond, error })
    return false
  }
}
