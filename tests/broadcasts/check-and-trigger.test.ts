import { beforeEach, describe, expect, it } from 'vitest'
import type { Db } from '../../src/shared/db/client.ts'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'
import { createBroadcast, createBroadcastSetting } from '../support/factories/broadcasts.ts'

// check_and_trigger_broadcast: upstream's pgTAP file (upstream-database.md §11.1) plus the fixes:
// catch-up within a 30-minute grace period, one trigger per slot, explicit America/Detroit times,
// and a stale run_at that no longer blocks the weekly schedule.

const db = useTestDatabase()

beforeEach(async () => {
  await resetDatabase(db.sql)
  await setVaultSecrets(db.sql, { edgeFunctionUrl: 'http://test.com/', secretKey: 'test_key' })
})

const check = async (sql: Db, now?: Date) => {
  const [{ result }] = now
    ? await sql`SELECT public.check_and_trigger_broadcast(${now}) AS result`
    : await sql`SELECT public.check_and_trigger_broadcast() AS result`
  return result as { status: string; slot_at?: string; late_seconds?: number; attempt?: number; source?: string }
}

const makeRequests = async () =>
  await db.sql<{ url: string; method: string; headers: Record<string, string>; body: { run_at_utc: string } }[]>`
    SELECT url, method, headers, convert_from(body, 'UTF8')::jsonb AS body FROM net.http_request_queue
    WHERE url LIKE '%/make/' ORDER BY id`

// Wednesday 2025-06-11 09:00 EDT = 13:00 UTC.
const wed0900 = new Date('2025-06-11T13:00:00Z')
const minutes = (base: Date, n: number) => new Date(base.getTime() + n * 60_000)

describe('check_and_trigger_broadcast: upstream pgTAP cases', () => {
  it('1. a broadcast sent within the last 2 hours blocks everything', async () => {
    await createBroadcast(db.sql, {
      editable: false,
      runAt: minutes(new Date(), -60),
      firstMessage: 'Hello',
      secondMessage: 'World',
    })
    expect((await check(db.sql)).status).toBe('broadcast_ran_within_last_2_hours')
  })

  it('2-3. no settings, or only inactive ones: no_active_schedule', async () => {
    expect((await check(db.sql)).status).toBe('no_active_schedule')
    await createBroadcastSetting(db.sql, { mon: '10:00:00', active: false })
    expect((await check(db.sql)).status).toBe('no_active_schedule')
  })

  it("4. today's Detroit weekday at the current Detroit time: triggered, POST …/make/ queued", async () => {
    const result = await db.sql.begin(async (tx) => {
      // As the pgTAP test does it: the column and time from now() in Detroit, then check in the same transaction.
      await tx.unsafe(`
        DO $$
        DECLARE today_column text := lower(to_char(now() AT TIME ZONE 'America/Detroit', 'Dy'));
        BEGIN
          EXECUTE format('INSERT INTO public.broadcast_settings (%I, active) VALUES ($1, true)', today_column)
          USING (now() AT TIME ZONE 'America/Detroit')::time;
        END $$`)
      return await check(tx)
    })
    expect(result.status).toBe('triggered')
    const requests = await makeRequests()
    expect(requests).toHaveLength(1)
    expect(requests[0]).toMatchObject({ method: 'POST', url: 'http://test.com/make/', headers: { apikey: 'test_key' } })
    expect(requests[0].headers).not.toHaveProperty('Authorization')
    expect(requests[0].body.run_at_utc).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/)
  })

  it('5. an editable broadcast pinned to a later time: paused_schedule_not_match_current_time', async () => {
    await createBroadcast(db.sql, { editable: true, runAt: minutes(new Date(), 60) })
    expect((await check(db.sql)).status).toBe('paused_schedule_not_match_current_time')
    expect(await makeRequests()).toHaveLength(0)
  })

  it('6. an editable broadcast pinned to this minute: triggered', async () => {
    const [{ minute }] = await db.sql`SELECT date_trunc('minute', now()) AS minute`
    await createBroadcast(db.sql, { editable: true, runAt: minute })
    expect((await check(db.sql)).status).toBe('triggered')
    expect(await makeRequests()).toHaveLength(1)
  })

  it('7. a pinned later time beats a weekly slot matching now', async () => {
    await createBroadcast(db.sql, { editable: true, runAt: minutes(wed0900, 60) })
    await createBroadcastSetting(db.sql, { wed: '09:00' })
    expect((await check(db.sql, wed0900)).status).toBe('paused_schedule_not_match_current_time')
  })
})

describe('check_and_trigger_broadcast: no missed runs, no double runs', () => {
  it('sends run_at_utc as the UTC minute of the tick', async () => {
    await createBroadcastSetting(db.sql, { wed: '09:00' })
    expect(await check(db.sql, minutes(wed0900, 0.5))).toMatchObject({
      status: 'triggered',
      source: 'weekly',
      late_seconds: 0,
    })
    expect((await makeRequests())[0].body).toEqual({ run_at_utc: '2025-06-11 13:00', slot_at_utc: '2025-06-11 13:00' })
  })

  it('catches up a missed minute within the grace period, once, and records how late', async () => {
    await createBroadcastSetting(db.sql, { wed: '09:00' })
    // The 09:00 tick never ran (cron down, database restarting…); the 09:07 one picks the slot up.
    expect(await check(db.sql, minutes(wed0900, 7))).toMatchObject({
      status: 'triggered',
      late_seconds: 420,
      attempt: 1,
    })
    expect((await makeRequests()).map((r) => r.body.run_at_utc)).toEqual(['2025-06-11 13:07'])
    // The next ticks see the claim: no second call while make is on its way.
    expect((await check(db.sql, minutes(wed0900, 8))).status).toBe('already_triggered')
    expect((await check(db.sql, minutes(wed0900, 11))).status).toBe('already_triggered')
    expect(await makeRequests()).toHaveLength(1)
    const [claim] = await db.sql`SELECT slot_at, source, attempts, late_seconds FROM public.broadcast_triggers`
    expect(claim).toMatchObject({ slot_at: wed0900, source: 'weekly', attempts: 1, late_seconds: 420 })
  })

  it('retries a claimed slot whose make never happened, until the grace period ends', async () => {
    await createBroadcastSetting(db.sql, { wed: '09:00' })
    expect((await check(db.sql, wed0900)).status).toBe('triggered')
    // No hand-over happened (the request was lost): 5 minutes later the slot is triggered again.
    expect(await check(db.sql, minutes(wed0900, 5))).toMatchObject({ status: 'triggered', attempt: 2 })
    expect(await makeRequests()).toHaveLength(2)
    // Once make has handed a broadcast over, the 2-hour guard absorbs every later tick.
    await createBroadcast(db.sql, { editable: false, runAt: minutes(wed0900, 6) })
    expect((await check(db.sql, minutes(wed0900, 10))).status).toBe('broadcast_ran_within_last_2_hours')
    expect(await makeRequests()).toHaveLength(2)
  })

  it('gives up after the grace period: a slot more than 30 minutes old is not triggered', async () => {
    await createBroadcastSetting(db.sql, { wed: '09:00' })
    expect((await check(db.sql, minutes(wed0900, 30))).status).toBe('triggered')
    await resetDatabase(db.sql)
    await setVaultSecrets(db.sql, { edgeFunctionUrl: 'http://test.com/', secretKey: 'test_key' })
    await createBroadcastSetting(db.sql, { wed: '09:00' })
    expect((await check(db.sql, minutes(wed0900, 31))).status).toBe('no_schedule_match')
    expect((await check(db.sql, minutes(wed0900, -1))).status).toBe('no_schedule_match')
  })

  it('two ticks at once never both trigger (compare-and-set claim)', async () => {
    await createBroadcastSetting(db.sql, { wed: '09:00' })
    const results = await Promise.all([1, 2, 3, 4].map(() => db.sql.begin((tx) => check(tx, minutes(wed0900, 2)))))
    expect(results.map((r) => r.status).sort()).toEqual([
      'already_triggered',
      'already_triggered',
      'already_triggered',
      'triggered',
    ])
    expect(await makeRequests()).toHaveLength(1)
  })

  it('a pinned run_at that was missed is still triggered within the grace period', async () => {
    await createBroadcast(db.sql, { editable: true, runAt: wed0900 })
    expect(await check(db.sql, minutes(wed0900, 12))).toMatchObject({
      status: 'triggered',
      source: 'run_at',
      late_seconds: 720,
    })
  })

  it('a stale run_at no longer blocks the weekly schedule (upstream: paused forever)', async () => {
    await createBroadcast(db.sql, { editable: true, runAt: minutes(wed0900, -3 * 24 * 60) })
    await createBroadcastSetting(db.sql, { wed: '09:00' })
    expect(await check(db.sql, wed0900)).toMatchObject({ status: 'triggered', source: 'weekly' })
  })

  it('does not trigger off-schedule', async () => {
    await createBroadcastSetting(db.sql, { wed: '09:00', thu: '09:00' })
    expect((await check(db.sql, minutes(wed0900, 120))).status).toBe('no_schedule_match')
    expect(await makeRequests()).toHaveLength(0)
  })
})

describe('check_and_trigger_broadcast: America/Detroit, DST-correct, whatever the session time zone', () => {
  it('a 09:00 Sunday slot is 13:00 UTC on 2025-03-09 (EDT begins) and 14:00 UTC on 2025-11-02 (EST begins)', async () => {
    await createBroadcastSetting(db.sql, { sun: '09:00' })
    expect((await check(db.sql, new Date('2025-03-09T13:00:00Z'))).status).toBe('triggered')
    expect((await check(db.sql, new Date('2025-11-02T13:00:00Z'))).status).toBe('no_schedule_match')
    expect((await check(db.sql, new Date('2025-11-02T14:00:00Z'))).status).toBe('triggered')
    const slots = await db.sql`SELECT slot_at FROM public.broadcast_triggers ORDER BY slot_at`
    expect(slots.map((row) => row.slot_at.toISOString())).toEqual([
      '2025-03-09T13:00:00.000Z',
      '2025-11-02T14:00:00.000Z',
    ])
  })

  it('does not depend on the session TimeZone', async () => {
    await createBroadcastSetting(db.sql, { wed: '09:00' })
    for (const zone of ['Asia/Tokyo', 'America/Los_Angeles', 'UTC']) {
      await db.sql`DELETE FROM public.broadcast_triggers`
      const result = await db.sql.begin(async (tx) => {
        await tx.unsafe(`SET LOCAL TimeZone = '${zone}'`)
        return await check(tx, wed0900)
      })
      expect(result.status, zone).toBe('triggered')
    }
    expect((await makeRequests()).map((r) => r.body.run_at_utc)).toEqual(Array(3).fill('2025-06-11 13:00'))
  })

  it('a slot just before Detroit midnight is caught up just after it (previous Detroit day)', async () => {
    await createBroadcastSetting(db.sql, { tue: '23:45' })
    // Tuesday 23:45 EDT = Wednesday 03:45 UTC; the tick at Wednesday 00:05 EDT is 20 minutes late.
    expect(await check(db.sql, new Date('2025-06-11T04:05:00Z'))).toMatchObject({
      status: 'triggered',
      late_seconds: 1200,
    })
  })
})

describe('the cron job', () => {
  it('runs check_and_trigger_broadcast every minute under the upstream name', async () => {
    const [job] = await db
      .sql`SELECT schedule, command FROM cron.job WHERE jobname = 'check-and-trigger-broadcast-every-minute'`
    expect(job).toEqual({ schedule: '* * * * *', command: 'SELECT public.check_and_trigger_broadcast();' })
  })
})

describe('check_and_trigger_broadcast: a slot within 2 hours after the last broadcast is skipped for good (issue 9 #1)', () => {
  const skipRows = async () =>
    await db.sql<{ slot_at: Date; source: string; skipped_reason: string | null }[]>`
      SELECT slot_at, source, skipped_reason FROM public.broadcast_triggers ORDER BY slot_at`

  it('a send-now 110 minutes before the weekly slot: the slot is never caught up when the guard expires', async () => {
    // Weekly slot 13:00Z (09:00 Detroit); send-now at 11:10Z. Upstream-style guard measured from now:
    // at 13:10 the slot (still inside its 30-minute grace) fired 600 s late — the same texts twice.
    await createBroadcastSetting(db.sql, { wed: '09:00' })
    await createBroadcast(db.sql, { editable: false, runAt: minutes(wed0900, -110) })
    await createBroadcast(db.sql, { editable: true })
    for (const offset of [0, 5, 9, 10, 11, 15, 20, 30]) {
      const result = await check(db.sql, minutes(wed0900, offset))
      expect(result.status, `tick at +${offset} min`).toBe('broadcast_ran_within_last_2_hours')
    }
    expect(await makeRequests()).toHaveLength(0)
    const [skip] = await skipRows()
    expect(skip).toMatchObject({ slot_at: wed0900, source: 'weekly' })
    expect(skip.skipped_reason).toMatch(/within 2 hours after broadcast \d+/)
  })

  it('a pinned run_at within 2 hours after the last broadcast is skipped too, and stays skipped', async () => {
    await createBroadcast(db.sql, { editable: false, runAt: minutes(wed0900, -100) })
    await createBroadcast(db.sql, { editable: true, runAt: wed0900 })
    expect((await check(db.sql, minutes(wed0900, 20))).status).toBe('broadcast_ran_within_last_2_hours')
    expect((await check(db.sql, minutes(wed0900, 25))).status).toBe('broadcast_ran_within_last_2_hours')
    expect(await makeRequests()).toHaveLength(0)
    expect(await skipRows()).toEqual([expect.objectContaining({ slot_at: wed0900, source: 'run_at' })])
  })

  it('a missed slot with no broadcast in the 2 hours before it is still caught up', async () => {
    await createBroadcastSetting(db.sql, { wed: '09:00' })
    // Sent 2 h 01 min before the slot: outside the window.
    await createBroadcast(db.sql, { editable: false, runAt: minutes(wed0900, -121) })
    expect(await check(db.sql, minutes(wed0900, 10))).toMatchObject({ status: 'triggered', late_seconds: 600 })
    expect(await skipRows()).toEqual([expect.objectContaining({ slot_at: wed0900, skipped_reason: null })])
  })
})
