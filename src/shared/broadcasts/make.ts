import { badRequest, conflict, notFound } from '../http/errors.ts'
import { dubLinkShortener } from '../links/dub.ts'
import type { Deps } from '../runtime/deps.ts'
import { BROADCAST_GRACE_MINUTES } from '../schedule/weekly.ts'
import { handOverUpcomingBroadcast } from './hand-over.ts'
import { findSentSince } from './queries.ts'
import { shortenNextBroadcastTexts } from './shorten-texts.ts'

const MINUTE = 60_000
/** No two broadcasts within this window (upstream's guard in check_and_trigger_broadcast). */
export const MIN_GAP_BETWEEN_BROADCASTS_MS = 2 * 60 * MINUTE

const utcMinute = (date: Date) => date.toISOString().slice(0, 16).replace('T', ' ')

/**
 * `run_at_utc` is the minute the trigger fired ("YYYY-MM-DD HH:MM", UTC). Upstream accepted only
 * the current minute, so a pg_net call delivered after a minute boundary silently skipped that
 * week's broadcast; a call up to the grace period late is now accepted (and logged as late), one
 * from the future or malformed is a 400.
 */
export function parseRunAtUtc(
  value: string,
  now: Date,
  slotValue?: string,
): { runAt: Date; slotAt: Date; lateMinutes: number } {
  const runAt = parseUtcMinute('run_at_utc', value)
  const nowMinute = Math.floor(now.getTime() / MINUTE) * MINUTE
  const earliest = nowMinute - BROADCAST_GRACE_MINUTES * MINUTE
  if (runAt.getTime() > nowMinute || runAt.getTime() < earliest) {
    throw badRequest(
      `Invalid broadcast timing - Expected: between ${utcMinute(new Date(earliest))} and ${
        utcMinute(now)
      }, Received: ${value}`,
    )
  }
  // The slot lies at or before the tick that fired for it, within the grace period.
  const slotAt = slotValue === undefined ? runAt : parseUtcMinute('slot_at_utc', slotValue)
  if (slotAt.getTime() > runAt.getTime() || slotAt.getTime() < runAt.getTime() - BROADCAST_GRACE_MINUTES * MINUTE) {
    throw badRequest(
      `Invalid slot_at_utc: expected between ${
        utcMinute(new Date(runAt.getTime() - BROADCAST_GRACE_MINUTES * MINUTE))
      } and ${value}, received ${slotValue}`,
    )
  }
  return { runAt, slotAt, lateMinutes: (nowMinute - runAt.getTime()) / MINUTE }
}

function parseUtcMinute(field: string, value: string): Date {
  const match = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})$/.exec(value)
  const at = match ? new Date(Date.UTC(+match[1], +match[2] - 1, +match[3], +match[4], +match[5])) : null
  if (!at || utcMinute(at) !== value) {
    throw badRequest(`Invalid ${field}: expected "YYYY-MM-DD HH:MM" (UTC), received ${JSON.stringify(value)}`)
  }
  return at
}

export interface MadeBroadcast {
  broadcastId: number
  nextBroadcastId: number
  queued: number
}

/** The scheduled run: hands the upcoming broadcast over unless one was sent less than 2 h ago. */
export async function makeBroadcast(
  deps: Deps,
  trigger: { runAt: Date; slotAt?: Date; lateMinutes: number },
): Promise<MadeBroadcast> {
  const now = deps.now()
  const log = deps.log.child({ runAtUtc: utcMinute(trigger.runAt) })
  const handOver = await handOverUpcomingBroadcast(deps.sql, {
    now,
    // A second call for the same slot (a retried trigger, a duplicate delivery) or a call right
    // after a send-now lands here: the audience already got a broadcast, so this one is refused.
    check: async (tx, upcoming) => {
      // Rescheduled ("paused") to a later minute after this trigger fired: that time wins.
      if (upcoming.runAt && Math.floor(upcoming.runAt.getTime() / MINUTE) > Math.floor(now.getTime() / MINUTE)) {
        throw conflict(
          `Broadcast ${upcoming.id} is scheduled for ${upcoming.runAt.toISOString()}; not sending it now`,
          {
            broadcastId: upcoming.id,
          },
        )
      }
      // The 2-hour rule is measured from the slot (the same rule as check_and_trigger_broadcast):
      // measured from now, a slot 90–120 min after a send-now went out as soon as the guard expired.
      const slotAt = trigger.slotAt ?? trigger.runAt
      const recent = await findSentSince(tx, new Date(slotAt.getTime() - MIN_GAP_BETWEEN_BROADCASTS_MS))
      if (recent) {
        throw conflict(
          `Broadcast ${recent.id} was sent at ${recent.runAt.toISOString()}, less than 2 hours before the slot ${
            utcMinute(slotAt)
          }; not sending another`,
          {
            broadcastId: recent.id,
          },
        )
      }
    },
  })
  if (!handOver) throw notFound('Broadcast not found')
  const scoped = log.child({ broadcastId: handOver.broadcastId })
  if (trigger.lateMinutes > 0) scoped.warn('broadcast made late', { lateMinutes: trigger.lateMinutes })
  scoped.info('broadcast made', { queued: handOver.queued, nextBroadcastId: handOver.nextBroadcastId })
  await shortenNextBroadcastTexts(deps.sql, dubLinkShortener(deps.config, scoped), scoped, handOver.next)
  return { broadcastId: handOver.broadcastId, nextBroadcastId: handOver.nextBroadcastId, queued: handOver.queued }
}
