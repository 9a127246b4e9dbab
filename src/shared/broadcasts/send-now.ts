import { AppError } from '../http/errors.ts'
import { dubLinkShortener } from '../links/dub.ts'
import type { Deps } from '../runtime/deps.ts'
import { loadActiveSchedule } from '../schedule/active-schedule.ts'
import { effectiveNextRun, minutesUntil } from '../schedule/weekly.ts'
import { handOverUpcomingBroadcast } from './hand-over.ts'
import type { MadeBroadcast } from './make.ts'
import { MIN_GAP_BETWEEN_BROADCASTS_MS } from './make.ts'
import { findBroadcastInProgress } from './queries.ts'
import { shortenNextBroadcastTexts } from './shorten-texts.ts'

/** send-now is refused while the scheduled batch is this close (upstream's 90, whatever its text said). */
export const SEND_NOW_WINDOW_MINUTES = 90

/**
 * The sidebar maps `message` to its own texts (DESIGN.md "Client contracts"): '0' internal error,
 * '1' the scheduled batch is less than 90 minutes away, '2' a broadcast is in progress. The
 * sentence for people goes in `detail`. Upstream sent English sentences the sidebar cannot map.
 */
export type SendNowCode = '0' | '1' | '2'

export function sendNowError(
  status: 404 | 409 | 500,
  code: SendNowCode,
  detail: string,
  extra: Record<string, unknown> = {},
): AppError {
  return new AppError(status, code, { detail, ...extra })
}

/** Sends the upcoming broadcast now; the next editable one is created in the same transaction. */
export async function sendNow(deps: Deps): Promise<MadeBroadcast> {
  const now = deps.now()
  const schedule = await loadActiveSchedule(deps.sql)
  const handOver = await handOverUpcomingBroadcast(deps.sql, {
    now,
    check: async (tx, upcoming) => {
      const running = await findBroadcastInProgress(tx, new Date(now.getTime() - MIN_GAP_BETWEEN_BROADCASTS_MS))
      if (running) {
        throw sendNowError(409, '2', `Unable to send now: broadcast ${running.id} is still being sent`, {
          broadcastId: running.id,
        })
      }
      // The batch that would go out next: the pinned run_at, or the weekly slot (upstream looked
      // only at a pinned run_at, so a send-now shortly before the weekly slot went through).
      const scheduled = effectiveNextRun(upcoming.runAt, schedule, now)
      if (scheduled) {
        const minutes = minutesUntil(scheduled, now)
        if (minutes >= 0 && minutes <= SEND_NOW_WINDOW_MINUTES) {
          throw sendNowError(
            409,
            '1',
            `Unable to send now: the next batch is scheduled to send less than ${SEND_NOW_WINDOW_MINUTES} minutes from now`,
            {
              scheduledAt: Math.floor(scheduled.getTime() / 1000),
            },
          )
        }
      }
    },
    // Keep a pinned time only while it is still ahead: upstream copied it even when past (or
    // 90–120 min ahead, inside the 2-hour guard), and such a run_at then blocked the schedule.
    nextRunAt: (upcoming) =>
      upcoming.runAt && minutesUntil(upcoming.runAt, now) > SEND_NOW_WINDOW_MINUTES ? upcoming.runAt : null,
  })
  if (!handOver) throw sendNowError(404, '0', 'Unable to retrieve next broadcast.')
  const log = deps.log.child({ broadcastId: handOver.broadcastId })
  log.info('broadcast sent now', { queued: handOver.queued, nextBroadcastId: handOver.nextBroadcastId })
  await shortenNextBroadcastTexts(deps.sql, dubLinkShortener(deps.config, log), log, handOver.next)
  return { broadcastId: handOver.broadcastId, nextBroadcastId: handOver.nextBroadcastId, queued: handOver.queued }
}
