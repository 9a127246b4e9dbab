import { beforeEach, describe, expect, it } from 'vitest'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import {
  campaignRow,
  createAuthor,
  createCampaign,
  createLabel,
  createMessageSend,
  labelPhone,
  queuedFirstMessages,
} from '../support/factories/campaigns.ts'

// check_and_run_campaigns (upstream-database.md §5.4) with the fixes of DESIGN.md "No missed
// runs": everything due within the grace period runs, late runs are reported, two campaigns due
// in the same minute both run, and one failing campaign does not undo the others.

const db = useTestDatabase()
beforeEach(() => resetDatabase(db.sql))

const NOW = new Date('2025-06-11T19:00:00Z')
const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000)

async function run(now = NOW): Promise<Record<string, any>> {
  const [row] = await db.sql`SELECT public.check_and_run_campaigns(${now}) AS result`
  return row.result
}

let label: string
beforeEach(async () => {
  label = (await createLabel(db.sql)).id
  for (const phone of ['+13135550101', '+13135550102']) {
    await createAuthor(db.sql, phone)
    await labelPhone(db.sql, label, phone)
  }
  await createAuthor(db.sql, '+13135550103', { unsubscribed: true })
  await labelPhone(db.sql, label, '+13135550103')
  await createAuthor(db.sql, '+13135550104', { exclude: true })
  await labelPhone(db.sql, label, '+13135550104')
})

const segments = () => ({ included: { id: label } })

describe('check_and_run_campaigns', () => {
  it('answers no_campaigns_to_run when nothing is due', async () => {
    await createCampaign(db.sql, { runAt: minutes(5), segments: segments() })
    expect(await run()).toEqual({ status: 'no_campaigns_to_run' })
  })

  it('queues a due campaign, marks it processed and sending, never to unsubscribed or excluded authors', async () => {
    const id = await createCampaign(db.sql, { runAt: NOW, segments: segments() })
    const result = await run()
    expect(result).toMatchObject({ status: 'queued', campaigns_run: 1, campaign_ids: [id], late_campaign_ids: [] })
    const queued = await queuedFirstMessages(db.sql, id)
    expect(queued.map((m) => m.message.recipient_phone_number).sort()).toEqual(['+13135550101', '+13135550102'])
    expect(await campaignRow(db.sql, id)).toMatchObject({ processed: true, status: 'sending', recipient_count: 2 })
  })

  it('runs two campaigns due in the same minute (upstream: the temp table made both fail, forever)', async () => {
    const first = await createCampaign(db.sql, { runAt: NOW, segments: segments() })
    const second = await createCampaign(db.sql, { runAt: new Date(NOW.getTime() + 30_000), segments: segments() })
    expect(await run(minutes(1))).toMatchObject({ campaigns_run: 2, campaign_ids: [first, second] })
    expect(await queuedFirstMessages(db.sql, first)).toHaveLength(2)
    expect(await queuedFirstMessages(db.sql, second)).toHaveLength(2)
  })

  it('catches up a campaign whose minute was missed, within the grace period, and reports it late', async () => {
    const id = await createCampaign(db.sql, { runAt: minutes(-12), segments: segments() })
    expect(await run()).toMatchObject({ status: 'queued', campaign_ids: [id], late_campaign_ids: [id] })
    expect(await queuedFirstMessages(db.sql, id)).toHaveLength(2)
  })

  it('does not run a campaign before its time (upstream ran it at the start of its minute)', async () => {
    const id = await createCampaign(db.sql, { runAt: new Date(NOW.getTime() + 30_000), segments: segments() })
    expect(await run()).toEqual({ status: 'no_campaigns_to_run' })
    expect(await run(minutes(1))).toMatchObject({ campaign_ids: [id] })
  })

  it('marks a campaign missed for longer than the grace period failed, with the reason, instead of sending it late', async () => {
    const id = await createCampaign(db.sql, { runAt: minutes(-45), segments: segments() })
    expect(await run()).toMatchObject({ campaigns_run: 0, missed_campaign_ids: [id] })
    expect(await queuedFirstMessages(db.sql, id)).toHaveLength(0)
    const row = await campaignRow(db.sql, id)
    expect(row.status).toBe('failed')
    expect(row.status_detail).toMatch(/^missed: not run within 00:30:00 of its run time 2025-06-11 18:15:00 UTC/)
  })

  it('runs each campaign once, however often it is called', async () => {
    const id = await createCampaign(db.sql, { runAt: NOW, segments: segments() })
    await run()
    expect(await run()).toEqual({ status: 'no_campaigns_to_run' })
    expect(await run(minutes(1))).toEqual({ status: 'no_campaigns_to_run' })
    expect(await queuedFirstMessages(db.sql, id)).toHaveLength(2)
  })

  it('two overlapping ticks queue a campaign once', async () => {
    const id = await createCampaign(db.sql, { runAt: NOW, segments: segments() })
    await Promise.all([run(), run(), run()])
    expect(await queuedFirstMessages(db.sql, id)).toHaveLength(2)
  })

  it('does not start paused, cancelled or draft campaigns', async () => {
    for (const status of ['paused', 'cancelled', 'draft']) {
      await createCampaign(db.sql, { runAt: NOW, status, segments: segments() })
    }
    expect(await run()).toEqual({ status: 'no_campaigns_to_run' })
    expect(await queuedFirstMessages(db.sql)).toHaveLength(0)
  })

  it('keeps going when one campaign fails; the failed one is retried next minute', async () => {
    const broken = await createCampaign(db.sql, { runAt: NOW, segments: segments() })
    const fine = await createCampaign(db.sql, { runAt: NOW, segments: segments() })
    // A fault in this one campaign only: its queueing raises (as upstream's temp table did).
    await db.sql`
      CREATE FUNCTION public.test_refuse_campaign() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.id = ${db.sql.unsafe(String(broken))} AND NEW.recipient_count IS DISTINCT FROM OLD.recipient_count THEN
          RAISE EXCEPTION 'simulated failure';
        END IF;
        RETURN NEW;
      END $$`
    await db
      .sql`CREATE TRIGGER test_refuse_campaign BEFORE UPDATE ON public.campaigns FOR EACH ROW EXECUTE FUNCTION public.test_refuse_campaign()`

    const result = await run()
    expect(result).toMatchObject({
      status: 'queued',
      campaign_ids: [fine],
      failed: [{ campaign_id: broken, error: 'simulated failure' }],
    })
    expect(await queuedFirstMessages(db.sql, fine)).toHaveLength(2)
    expect(await queuedFirstMessages(db.sql, broken)).toHaveLength(0)
    expect(await campaignRow(db.sql, broken)).toMatchObject({ processed: false, status: 'scheduled' })

    await db.sql`DROP TRIGGER test_refuse_campaign ON public.campaigns`
    expect(await run(minutes(1))).toMatchObject({ campaign_ids: [broken], late_campaign_ids: [broken] })
    expect(await queuedFirstMessages(db.sql, broken)).toHaveLength(2)
  })

  it('plans the Twilio reconcile of the campaign it ran', async () => {
    const id = await createCampaign(db.sql, { runAt: NOW, segments: segments() })
    await run()
    const jobs = await db.sql`SELECT jobname FROM cron.job WHERE jobname LIKE ${`%campaign-reconcile-${id}`}`
    expect(jobs.map((job) => job.jobname)).toEqual([`start-campaign-reconcile-${id}`])
  })

  it("is scheduled every minute under upstream's job name", async () => {
    const [job] = await db.sql`SELECT schedule, command FROM cron.job WHERE jobname = 'check_and_run_campaigns'`
    expect(job).toEqual({ schedule: '* * * * *', command: 'SELECT public.check_and_run_campaigns();' })
  })
})

describe('campaign status upkeep (refresh_campaign_statuses)', () => {
  it('moves a sending campaign to sent once nothing is queued or in flight', async () => {
    const id = await createCampaign(db.sql, { runAt: NOW, segments: segments() })
    await run()
    expect((await campaignRow(db.sql, id)).status).toBe('sending')

    const queued = await queuedFirstMessages(db.sql, id)
    // The sender: first message claimed (ledger `sending`) and still in the queue.
    await createMessageSend(db.sql, { campaignId: id, phone: '+13135550101', state: 'sending' })
    await db.sql`SELECT pgmq.delete('broadcast_first_messages', ${queued[0].msgId}::bigint)`
    await run(minutes(1))
    expect((await campaignRow(db.sql, id)).status).toBe('sending')

    await db.sql`UPDATE public.message_sends SET state = 'sent' WHERE campaign_id = ${id}`
    await db.sql`SELECT pgmq.delete('broadcast_first_messages', ${queued[1].msgId}::bigint)`
    await createMessageSend(db.sql, { campaignId: id, phone: '+13135550102', state: 'failed' })
    // A follow-up waiting out its delay keeps the campaign sending.
    await db.sql`SELECT pgmq.send('broadcast_second_messages', ${
      db.sql.json({ campaign_id: id, recipient_phone_number: '+13135550101' })
    }::jsonb, 600)`
    await run(minutes(2))
    expect((await campaignRow(db.sql, id)).status).toBe('sending')

    await db.sql`DELETE FROM pgmq.q_broadcast_second_messages`
    await run(minutes(3))
    expect(await campaignRow(db.sql, id)).toMatchObject({ status: 'sent', status_detail: null })
  })

  it('marks a campaign failed when every message failed', async () => {
    const id = await createCampaign(db.sql, { runAt: NOW, segments: segments() })
    await run()
    await db.sql`DELETE FROM pgmq.q_broadcast_first_messages`
    await createMessageSend(db.sql, { campaignId: id, phone: '+13135550101', state: 'failed' })
    await createMessageSend(db.sql, { campaignId: id, phone: '+13135550102', state: 'failed' })
    await run(minutes(1))
    expect(await campaignRow(db.sql, id)).toMatchObject({ status: 'failed', status_detail: 'every message failed (2)' })
  })

  it('counts an unknown outcome as sent (it may have been delivered)', async () => {
    const id = await createCampaign(db.sql, { runAt: NOW, segments: segments() })
    await run()
    await db.sql`DELETE FROM pgmq.q_broadcast_first_messages`
    await createMessageSend(db.sql, { campaignId: id, phone: '+13135550101', state: 'failed' })
    await createMessageSend(db.sql, { campaignId: id, phone: '+13135550102', state: 'unknown' })
    await run(minutes(1))
    expect((await campaignRow(db.sql, id)).status).toBe('sent')
  })

  it('a campaign with nobody to send to is sent at once', async () => {
    const empty = (await createLabel(db.sql)).id
    const id = await createCampaign(db.sql, { runAt: NOW, segments: { included: { id: empty } } })
    await run()
    expect(await campaignRow(db.sql, id)).toMatchObject({ status: 'sent', recipient_count: 0 })
  })
})
