import { beforeEach, describe, expect, it } from 'vitest'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'
import {
  createRunCampaign,
  createSentBroadcast,
  createStatusRow,
  cronJobs,
  minutesAfter,
} from '../support/factories/reconcile.ts'

const db = useTestDatabase()
beforeEach(() => resetDatabase(db.sql))

// 15:30:20 in Detroit (EST), 20:30:20 UTC.
const NOW = new Date('2025-03-05T20:30:20Z')
const daysBefore = (days: number) => minutesAfter(NOW, -days * 24 * 60)

const perMinuteCommand = (kind: string, id: number) =>
  `SELECT public.invoke_edge_function('reconcile-twilio-status', jsonb_build_object('${kind}Id', '${id}'))`

describe('daily-reconciliation', () => {
  it('is a static job at 20:00 UTC', async () => {
    const [job] = await db.sql`SELECT schedule, command FROM cron.job WHERE jobname = 'daily-reconciliation'`
    expect(job).toEqual({ schedule: '0 20 * * *', command: 'SELECT public.schedule_daily_broadcast_reconciliation()' })
  })

  it('picks only the 3 latest broadcasts and campaigns that ran in the last 7 days, and schedules their jobs in UTC', async () => {
    const sent = []
    for (const days of [1, 2, 3, 4]) {
      sent.push(await createSentBroadcast(db.sql, { runAt: daysBefore(days), twilioPaging: 'PAold' }))
    }
    // Upstream's pick included these (future run_at sorts first) and crowded out real sends (§14.6).
    // (at most one editable broadcast exists, so the future run_at one is a non-editable row here)
    await createSentBroadcast(db.sql, { runAt: minutesAfter(NOW, 60 * 24 * 5), editable: false })
    await createSentBroadcast(db.sql, { runAt: daysBefore(0.5), editable: true })
    await createSentBroadcast(db.sql, { runAt: daysBefore(8) })
    const ranCampaign = await createRunCampaign(db.sql, { runAt: daysBefore(2) })
    await createRunCampaign(db.sql, { runAt: daysBefore(1), processed: false })
    await createRunCampaign(db.sql, { runAt: minutesAfter(NOW, 60), processed: false })
    await createRunCampaign(db.sql, { runAt: daysBefore(9) })

    // The session time zone must not matter: upstream EXTRACTed cron fields in it (§14.4).
    await db.sql.begin(async (tx) => {
      await tx`SET LOCAL TIME ZONE 'America/Detroit'`
      await tx`SELECT public.schedule_daily_broadcast_reconciliation(${NOW})`
    })

    const [b1, b2, b3] = sent
    const expected = [
      ...[b1!, b2!, b3!].flatMap((id) => [
        {
          jobname: `reconcile-twilio-status-broadcast-${id}`,
          schedule: '* * * * *',
          command: perMinuteCommand('broadcast', id),
        },
        {
          jobname: `unschedule-broadcast-reconcile-${id}`,
          schedule: '30 23 5 3 *',
          command: `SELECT public.stop_twilio_reconcile('broadcast', ${id})`,
        },
      ]),
      {
        jobname: `reconcile-twilio-status-campaign-${ranCampaign}`,
        schedule: '* * * * *',
        command: perMinuteCommand('campaign', ranCampaign),
      },
      {
        jobname: `unschedule-campaign-reconcile-${ranCampaign}`,
        schedule: '30 23 5 3 *',
        command: `SELECT public.stop_twilio_reconcile('campaign', ${ranCampaign})`,
      },
    ]
    expect(await cronJobs(db.sql)).toEqual(expect.arrayContaining(expected))
    expect((await cronJobs(db.sql)).length).toBe(expected.length)
    const paging = await db.sql`SELECT id, twilio_paging FROM public.broadcasts WHERE id = ANY(${sent}) ORDER BY id`
    expect(paging.map((row) => row.twilio_paging)).toEqual([null, null, null, 'PAold'])
  })

  it('per-minute job posts the id as a string; the stopper removes both jobs even when one is gone', async () => {
    const id = await createSentBroadcast(db.sql, { runAt: daysBefore(1) })
    await db.sql`SELECT public.schedule_daily_broadcast_reconciliation(${NOW})`
    await setVaultSecrets(db.sql, { edgeFunctionUrl: 'http://edge.test/functions/v1/', secretKey: 'sb_secret_test' })
    const jobs = await cronJobs(db.sql)

    await db.sql.unsafe(jobs.find((job) => job.jobname.startsWith('reconcile-twilio-status-'))!.command)
    const [request] = await db.sql`SELECT url, convert_from(body, 'UTF8')::jsonb AS body FROM net.http_request_queue`
    expect(request).toEqual({
      url: 'http://edge.test/functions/v1/reconcile-twilio-status/',
      body: { broadcastId: String(id) },
    })

    // The function already removed the per-minute job (pass finished); the stopper must not fail.
    await db.sql`SELECT cron.unschedule(${`reconcile-twilio-status-broadcast-${id}`})`
    await db.sql.unsafe(jobs.find((job) => job.jobname.startsWith('unschedule-'))!.command)
    expect(await cronJobs(db.sql)).toEqual([])
    // And again, with nothing left.
    await db.sql.unsafe(jobs.find((job) => job.jobname.startsWith('unschedule-'))!.command)
  })
})

describe('schedule_broadcast_reconcile (after make) and schedule_campaign_reconcile', () => {
  it('starts the pass with a one-shot job after the estimated end of the send', async () => {
    const id = await createSentBroadcast(db.sql, { runAt: NOW, noUsers: 1000, delay: 600 })

    const [{ starts }] = await db.sql`SELECT public.schedule_broadcast_reconcile(${id}, ${NOW}) AS starts`

    // 1000 recipients at 900 per 15 minutes = 2 windows, + 600 s delay + 10 min margin, rounded up to a minute.
    expect(starts).toEqual(new Date('2025-03-05T21:21:00Z'))
    expect(await cronJobs(db.sql)).toEqual([
      {
        jobname: `start-broadcast-reconcile-${id}`,
        schedule: '21 21 5 3 *',
        command: `SELECT public.start_twilio_reconcile('broadcast', ${id})`,
      },
    ])

    await db.sql`UPDATE public.broadcasts SET twilio_paging = 'PAstale' WHERE id = ${id}`
    await db.sql.unsafe(`SELECT public.start_twilio_reconcile('broadcast', ${id}, '2025-03-05T21:21:00Z')`)
    expect(await cronJobs(db.sql)).toEqual([
      {
        jobname: `reconcile-twilio-status-broadcast-${id}`,
        schedule: '* * * * *',
        command: perMinuteCommand('broadcast', id),
      },
      {
        jobname: `unschedule-broadcast-reconcile-${id}`,
        schedule: '21 0 6 3 *',
        command: `SELECT public.stop_twilio_reconcile('broadcast', ${id})`,
      },
    ])
    expect((await db.sql`SELECT twilio_paging FROM public.broadcasts WHERE id = ${id}`)[0]!.twilio_paging).toBeNull()
  })

  it('counts rows already written when the planned count is lower, and starts at once when the end has passed', async () => {
    const id = await createRunCampaign(db.sql, { runAt: daysBefore(1), recipientCount: 0, delay: 60 })
    await createStatusRow(db.sql, { phone: '+13135550101', campaignId: id, createdAt: daysBefore(1) })

    const [{ starts }] = await db.sql`SELECT public.schedule_campaign_reconcile(${id}, ${NOW}) AS starts`

    expect(starts).toEqual(NOW)
    expect((await cronJobs(db.sql)).map((job) => job.jobname)).toEqual([
      `reconcile-twilio-status-campaign-${id}`,
      `unschedule-campaign-reconcile-${id}`,
    ])
  })

  it('schedules nothing (and does not raise) for an unknown or unscheduled broadcast', async () => {
    const unscheduled = await createSentBroadcast(db.sql, { runAt: null, editable: true })
    const [row] = await db
      .sql`SELECT public.schedule_broadcast_reconcile(${unscheduled}) AS a, public.schedule_broadcast_reconcile(999) AS b`
    expect(row).toEqual({ a: null, b: null })
    expect(await cronJobs(db.sql)).toEqual([])
  })
})
