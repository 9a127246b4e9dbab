import { beforeEach, describe, expect, it } from 'vitest'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'
import { cronJobs } from '../support/factories/hygiene.ts'

const db = useTestDatabase()

beforeEach(async () => {
  await resetDatabase(db.sql)
  await setVaultSecrets(db.sql, { edgeFunctionUrl: 'http://edge.test/functions/v1/', secretKey: 'sb_secret_test' })
})

const FIVE_FIELDS = /^\S+ \S+ \S+ \S+ \S+$/

const jobs = [
  {
    setupJob: 'daily-failed-deliveries-setup',
    setupSchedule: '0 22 * * *',
    setup: 'schedule_daily_failed_deliveries_handler',
    worker: 'handle-failed-deliveries-daily',
    oneShot: 'unschedule-failed-deliveries-handler',
    request: { method: 'GET', url: 'http://edge.test/functions/v1/handle-failed-deliveries/', body: null },
  },
  {
    setupJob: 'daily-archive-double-failures-setup',
    setupSchedule: '0 23 * * *',
    setup: 'schedule_daily_archive_double_failures',
    worker: 'archive-double-failures-daily',
    oneShot: 'unschedule-archive-double-failures',
    request: { method: 'POST', url: 'http://edge.test/functions/v1/archive-double-failures/', body: '{}' },
  },
]

describe.each(jobs)('$setupJob', (job) => {
  const setup = (at?: Date) =>
    at ? db.sql`SELECT public.${db.sql(job.setup)}(${at}::timestamptz)` : db.sql`SELECT public.${db.sql(job.setup)}()`

  it('is created by the migration at upstream time, UTC', async () => {
    expect(await cronJobs(db.sql, [job.setupJob])).toEqual([
      { jobname: job.setupJob, schedule: job.setupSchedule, command: `SELECT public.${job.setup}();` },
    ])
  })

  it('schedules the per-minute job and a one-shot job 3 hours later, in UTC whatever the session time zone', async () => {
    await db.sql.begin(async (tx) => {
      await tx`SET LOCAL TIME ZONE 'America/Detroit'`
      await tx`SELECT public.${tx(job.setup)}(${new Date('2025-03-10T22:00:07Z')}::timestamptz)`
    })

    const scheduled = await cronJobs(db.sql, [job.worker, job.oneShot])
    expect(scheduled.map((row) => [row.jobname, row.schedule])).toEqual(
      [[job.worker, '* * * * *'], [job.oneShot, '0 1 11 3 *']].sort(),
    )
    for (const row of scheduled) expect(row.schedule).toMatch(FIVE_FIELDS)
    expect(scheduled.find((row) => row.jobname === job.worker)!.command).toContain('public.invoke_edge_function(')
  })

  it('pins the one-shot job across a month and year boundary', async () => {
    await setup(new Date('2025-12-31T23:30:00Z'))
    const [oneShot] = await cronJobs(db.sql, [job.oneShot])
    expect(oneShot!.schedule).toBe('30 2 1 1 *')
  })

  it('keeps one job of each name when run twice', async () => {
    await setup()
    await setup()
    expect(await cronJobs(db.sql, [job.worker, job.oneShot])).toHaveLength(2)
  })

  it('has a per-minute command that calls the function through invoke_edge_function', async () => {
    await setup()
    const [worker] = await cronJobs(db.sql, [job.worker])
    await db.sql.unsafe(worker!.command)
    const requests = await db.sql`
      SELECT method, url, headers, convert_from(body, 'UTF8') AS body FROM net.http_request_queue`
    expect(requests).toEqual([{
      ...job.request,
      headers: { 'Content-Type': 'application/json', apikey: 'sb_secret_test' },
    }])
  })

  it('has a one-shot command that removes both jobs, even when the per-minute job is already gone', async () => {
    await setup()
    const [oneShot] = await cronJobs(db.sql, [job.oneShot])
    await db.sql`SELECT cron.unschedule(${job.worker})`

    // Upstream's `SELECT cron.unschedule(a); SELECT cron.unschedule(b)` raised here and left
    // its one-shot job to fire again a year later.
    await db.sql.unsafe(oneShot!.command)
    expect(await cronJobs(db.sql, [job.worker, job.oneShot])).toEqual([])
    await expect(db.sql.unsafe(oneShot!.command)).resolves.toBeDefined()
  })
})
