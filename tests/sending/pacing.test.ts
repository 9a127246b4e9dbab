import { beforeEach, describe, expect, it } from 'vitest'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { useFakes } from '../support/fakes.ts'
import {
  broadcastPayload,
  createAuthor,
  createBroadcast,
  enqueue,
  queueRows,
  SECOND_MESSAGES_QUEUE,
} from '../support/factories/sending.ts'
import { callSendMessages, drafts } from './helpers.ts'

// DESIGN.md "Sending guarantees": as fast as Missive's per-token windows allow and no faster,
// counted in the database so that every drain shares one budget. The fake enforces the same
// limits and answers 429 beyond them, as Missive does: a draft request without a draft is a 429.

const db = useTestDatabase()
const fakes = useFakes()

const phone = (i: number) => `+1313555${String(i).padStart(4, '0')}`
let ids: { broadcastId: number; segmentId: number }

beforeEach(async () => {
  await resetDatabase(db.sql)
  ids = await createBroadcast(db.sql)
})

async function enqueueMany(count: number, options: { queue?: typeof SECOND_MESSAGES_QUEUE } = {}) {
  for (let i = 0; i < count; i++) {
    await createAuthor(db.sql, phone(i))
    await enqueue(db.sql, broadcastPayload(ids, { recipient_phone_number: phone(i) }), options)
  }
}

/** The most requests in flight at once, from the request log (start to finish). */
async function maxInFlight(): Promise<number> {
  const [row] = await db.sql<{ max: number }[]>`
    SELECT coalesce(max(n), 0)::integer AS max FROM (
      SELECT sum(delta) OVER (ORDER BY at, delta ROWS UNBOUNDED PRECEDING) AS n FROM (
        SELECT started_at AS at, 1 AS delta FROM public.missive_requests
        UNION ALL SELECT finished_at, -1 FROM public.missive_requests) events) running`
  return row!.max
}

describe('pacing', () => {
  it('never exceeds the per-minute and concurrency limits, and defers the rest', async () => {
    await enqueueMany(8)
    fakes.missive.setRateLimits({ maxConcurrent: 2, perMinute: 5, per15Minutes: 100 })
    fakes.missive.setLatency(100)
    const env = {
      MISSIVE_MAX_CONCURRENT: '2',
      MISSIVE_MAX_PER_MINUTE: '5',
      MISSIVE_MAX_PER_15_MINUTES: '100',
      SEND_DRAIN_SECONDS: '3',
    }

    const response = await callSendMessages(db.sql, fakes, {}, env)

    expect(response.body).toMatchObject({ sent: 5, stoppedBy: 'rate-limit' })
    expect(response.body.deferred).toBeGreaterThanOrEqual(1)
    // No request was refused: every draft request made a draft.
    expect(drafts(fakes)).toHaveLength(5)
    expect(fakes.missive.drafts).toHaveLength(5)
    expect(await maxInFlight()).toBeLessThanOrEqual(2)
    // The rest wait for the window, not for the 180 s lease.
    const waiting = await queueRows(db.sql)
    expect(waiting).toHaveLength(3)
    for (const row of waiting) expect((row.vt.getTime() - Date.now()) / 1000).toBeLessThanOrEqual(61)

    // The next drain finds the same budget used up: nothing more goes out this minute.
    const again = await callSendMessages(db.sql, fakes, {}, env)
    expect(again.body.sent).toBe(0)
    expect(fakes.missive.drafts).toHaveLength(5)
  })

  it('shares one budget between two drains running at once', async () => {
    await enqueueMany(10)
    fakes.missive.setRateLimits({ perMinute: 4 })
    fakes.missive.setLatency(30)
    const env = { MISSIVE_MAX_PER_MINUTE: '4', SEND_DRAIN_SECONDS: '3' }

    const [a, b] = await Promise.all([
      callSendMessages(db.sql, fakes, {}, env),
      callSendMessages(db.sql, fakes, {}, env),
    ])

    expect(a!.body.sent + b!.body.sent).toBe(4)
    expect(drafts(fakes)).toHaveLength(4)
    expect(fakes.missive.drafts).toHaveLength(4)
  })

  it('waits for a slot that frees within the drain instead of deferring', async () => {
    await enqueueMany(6)
    fakes.missive.setRateLimits({ maxConcurrent: 1 })
    fakes.missive.setLatency(100)

    const response = await callSendMessages(db.sql, fakes, {}, { MISSIVE_MAX_CONCURRENT: '1' })

    expect(response.body).toMatchObject({ sent: 6, deferred: 0, stoppedBy: 'empty' })
    expect(drafts(fakes)).toHaveLength(6)
    expect(await maxInFlight()).toBe(1)
  })

  it('keeps a separate budget per token: first and second phases do not starve each other', async () => {
    await enqueueMany(3)
    await enqueueMany(3, { queue: SECOND_MESSAGES_QUEUE })
    fakes.missive.setRateLimits({ perMinute: 3 })
    const env = { MISSIVE_MAX_PER_MINUTE: '3', SEND_DRAIN_SECONDS: '2' }

    const first = await callSendMessages(db.sql, fakes, { isSecond: false }, env)
    const second = await callSendMessages(db.sql, fakes, { isSecond: true }, env)

    expect(first.body.sent).toBe(3)
    expect(second.body.sent).toBe(3)
    expect(fakes.missive.drafts).toHaveLength(6)
    const purposes = await db.sql<{ purpose: string; n: number }[]>`
      SELECT purpose, count(*)::integer AS n FROM public.missive_requests GROUP BY purpose ORDER BY purpose`
    expect(purposes).toEqual([{ purpose: 'first-messages', n: 3 }, { purpose: 'second-messages', n: 3 }])
  })

  it('sends a small campaign in a burst: the windows, not a fixed rate, set the pace', async () => {
    await enqueueMany(40)
    fakes.missive.setRateLimits(true)
    const started = Date.now()

    // The drain may run 15 s (tests default to 5), so a loaded machine cannot cut the burst short.
    const response = await callSendMessages(db.sql, fakes, {}, { SEND_DRAIN_SECONDS: '15' })

    expect(response.body).toMatchObject({ sent: 40 })
    expect(drafts(fakes)).toHaveLength(40)
    // Upstream's one-per-2-seconds would take 80 s, a fixed 1 msg/s 40 s; the windows allow all 40
    // at once (about 1 s here, with room for a loaded machine).
    expect(Date.now() - started).toBeLessThan(15_000)
  })
})
