import type { Sql } from '../shared/db/client.ts'
import type { Logger } from '../shared/log/logger.ts'

// A clock for the local stack only (issue 14 part 3): `DEV_CLOCK_START=2026-12-01T20:58:00-05:00`
// starts the functions' clock (deps.now) at that instant, and it then runs in real time, so quiet
// hours can be watched beginning at 21:00 and ending at 08:00 without waiting for the night.
// Only src/local/dev.ts reads it; a deployed function always has the real clock.
//
// PostgreSQL keeps the real clock (pg_cron, queue visibility, rate windows). The functions do not
// care: they decide on deps.now. Campaigns do: pg_cron's check_and_run_campaigns compares run_at
// with the database's now(). So while the dev clock is set, the stack also calls
// check_and_run_campaigns(<dev clock>) every 15 s, and a campaign runs at its time on the dev
// clock. Choose a start AHEAD of the real time (the next evening, say): with a clock behind it,
// pg_cron's own tick would find those campaigns overdue and mark them missed.

export interface DevClock {
  now: () => Date
  /** Milliseconds the dev clock is ahead of the real one (negative: behind). */
  offsetMs: number
}

/** Null without DEV_CLOCK_START; an error naming the variable when it is not an ISO instant. */
export function devClockFrom(raw: string | undefined, realNow = Date.now()): DevClock | null {
  const text = raw?.trim()
  if (!text) return null
  if (
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text) || Number.isNaN(Date.parse(text))
  ) {
    throw new Error(
      `DEV_CLOCK_START is invalid: expected an ISO 8601 instant with an offset, e.g. 2026-12-01T20:58:00-05:00`,
    )
  }
  const offsetMs = Date.parse(text) - realNow
  return { now: () => new Date(Date.now() + offsetMs), offsetMs }
}

/** Runs due campaigns by the dev clock (see above); returns a stop function. */
export function startDevClockCampaignTick(sql: Sql, clock: DevClock, log: Logger, everyMs = 15_000): () => void {
  const tick = async () => {
    try {
      const [row] = await sql<{ result: { status?: string; campaign_ids?: number[] } }[]>`
        SELECT public.check_and_run_campaigns(${clock.now()}::timestamptz) AS result`
      if (row?.result?.status === 'queued') {
        log.info('dev clock: campaigns due by the dev clock were queued', { campaignIds: row.result.campaign_ids })
      }
    } catch (error) {
      log.warn('dev clock: check_and_run_campaigns failed', { error })
    }
  }
  const timer = setInterval(() => void tick(), everyMs)
  void tick()
  return () => clearInterval(timer)
}
