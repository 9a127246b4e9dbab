import { beforeEach, describe, expect, it } from 'vitest'
import {
  archiveFirstMessage,
  campaignRow,
  createAuthor,
  createCampaign,
  createCampaignMessageStatus,
  createLabel,
  createMessageSend,
  labelPhone,
  ledger,
  queuedFirstMessages,
} from '../support/factories/campaigns.ts'
import { useCampaignApi } from './harness.ts'

// Lifecycle control: pause / resume / cancel (409 with the current status when illegal),
// retry-failed, progress and the test send.

const { db, fakes, api } = useCampaignApi()
const PHONES = ['+13135550101', '+13135550102', '+13135550103', '+13135550104']
let label: string

beforeEach(async () => {
  label = (await createLabel(db.sql)).id
  for (const phone of PHONES) {
    await createAuthor(db.sql, phone)
    await labelPhone(db.sql, label, phone)
  }
})

async function tick(now = new Date()): Promise<Record<string, any>> {
  const [row] = await db.sql`SELECT public.check_and_run_campaigns(${now}) AS result`
  return row.result
}

/** A campaign due now, run by the per-minute job. */
async function runningCampaign(input: Parameters<typeof createCampaign>[1] = {}): Promise<number> {
  const id = await createCampaign(db.sql, {
    runAt: new Date(Date.now() - 1000),
    segments: { included: { id: label } },
    ...input,
  })
  await tick()
  return id
}

describe('pause, resume, cancel', () => {
  it('pauses a scheduled campaign so it does not run, and resumes it', async () => {
    const id = await createCampaign(db.sql, {
      runAt: new Date(Date.now() + 60_000),
      segments: { included: { id: label } },
    })
    let response = await api().post(`/${id}/pause/`)
    expect(response).toMatchObject({ status: 200, body: { id, status: 'paused' } })
    expect(await tick(new Date(Date.now() + 120_000))).toEqual({ status: 'no_campaigns_to_run' })

    response = await api().post(`/${id}/resume/`)
    expect(response).toMatchObject({ status: 200, body: { id, status: 'scheduled' } })
    expect(await tick(new Date(Date.now() + 120_000))).toMatchObject({ campaign_ids: [id] })
  })

  it('resuming a campaign whose time passed while paused runs it at the next tick', async () => {
    const id = await createCampaign(db.sql, {
      runAt: new Date(Date.now() - 3600_000),
      status: 'paused',
      segments: { included: { id: label } },
    })
    const { body } = await api().post(`/${id}/resume/`)
    expect(body.status).toBe('scheduled')
    expect(Math.abs(body.runAt - Date.now() / 1000)).toBeLessThan(5)
    expect(await tick(new Date(Date.now() + 60_000))).toMatchObject({ campaign_ids: [id] })
  })

  it('pauses and resumes a campaign that is sending', async () => {
    const id = await runningCampaign()
    expect((await api().post(`/${id}/pause/`)).body.status).toBe('paused')
    // Paused: the upkeep job leaves it paused even when its queue drains.
    await db.sql`DELETE FROM pgmq.q_broadcast_first_messages`
    await tick()
    expect((await campaignRow(db.sql, id)).status).toBe('paused')
    expect((await api().post(`/${id}/resume/`)).body.status).toBe('sending')
  })

  it('cancels a campaign that has not run: it never runs', async () => {
    const id = await createCampaign(db.sql, {
      runAt: new Date(Date.now() + 60_000),
      segments: { included: { id: label } },
    })
    const { status, body } = await api().post(`/${id}/cancel/`)
    expect({ status, status_: body.status, detail: body.statusDetail }).toEqual({
      status: 200,
      status_: 'cancelled',
      detail: 'cancelled before it ran',
    })
    expect(await tick(new Date(Date.now() + 120_000))).toEqual({ status: 'no_campaigns_to_run' })
    expect(await queuedFirstMessages(db.sql, id)).toHaveLength(0)
  })

  it('cancels a campaign while it sends: the sender skips the rest', async () => {
    const id = await runningCampaign()
    const { body } = await api().post(`/${id}/cancel/`)
    expect(body).toMatchObject({
      status: 'cancelled',
      statusDetail: 'cancelled while sending: messages not yet sent are skipped',
    })
    expect((await campaignRow(db.sql, id)).status).toBe('cancelled')
  })

  it('answers 409 with the current status for an illegal transition', async () => {
    const sent = await createCampaign(db.sql, { runAt: new Date(Date.now() - 60_000), processed: true, status: 'sent' })
    const scheduled = await createCampaign(db.sql, { runAt: new Date(Date.now() + 60_000) })
    const cancelled = await createCampaign(db.sql, { runAt: new Date(Date.now() + 60_000), status: 'cancelled' })
    const failed = await createCampaign(db.sql, {
      runAt: new Date(Date.now() - 60_000),
      processed: true,
      status: 'failed',
    })
    for (
      const [id, action, status] of [
        [sent, 'pause', 'sent'],
        [sent, 'cancel', 'sent'],
        [scheduled, 'resume', 'scheduled'],
        [cancelled, 'cancel', 'cancelled'],
        [cancelled, 'pause', 'cancelled'],
        [failed, 'resume', 'failed'],
      ] as const
    ) {
      const response = await api().post(`/${id}/${action}/`)
      expect(response).toEqual({
        status: 409,
        body: { message: `Cannot ${action} a campaign that is ${status}`, status },
        headers: response.headers,
      })
    }
  })

  it('answers 404 for an unknown campaign and 400 for an id that is not a number', async () => {
    expect(await api().post('/999999/pause/')).toMatchObject({ status: 404, body: { message: 'Campaign not found' } })
    expect(await api().post('/abc/cancel/')).toMatchObject({ status: 400, body: { message: 'Invalid campaign ID' } })
  })
})

describe('GET /campaigns/:id/progress/', () => {
  it('reports the estimate before the run', async () => {
    const id = await createCampaign(db.sql, { recipientCount: 4 })
    const { status, body } = await api().get(`/${id}/progress/`)
    expect(status).toBe(200)
    expect(body).toMatchObject({ id, status: 'scheduled', total: 4, queued: 0, sent: 0, percent: 0 })
  })

  it('counts each recipient once by where its first message is', async () => {
    const id = await runningCampaign({ secondMessage: 'Follow-up' })
    const queued = await queuedFirstMessages(db.sql, id)
    expect(queued).toHaveLength(4)
    const msg = (phone: string) => queued.find((m) => m.message.recipient_phone_number === phone)!.msgId
    // 101 sent and delivered, follow-up waiting; 102 in flight; 103 failed (archived); 104 still queued.
    await db.sql`SELECT pgmq.delete('broadcast_first_messages', ${msg(PHONES[0])}::bigint)`
    await createMessageSend(db.sql, { campaignId: id, phone: PHONES[0], state: 'sent' })
    await createCampaignMessageStatus(db.sql, { campaignId: id, phone: PHONES[0], twilioSentStatus: 'delivered' })
    await db.sql`SELECT pgmq.send('broadcast_second_messages', ${
      db.sql.json({ campaign_id: id, recipient_phone_number: PHONES[0] })
    }::jsonb, 600)`
    await createMessageSend(db.sql, { campaignId: id, phone: PHONES[1], state: 'sending' })
    await archiveFirstMessage(db.sql, msg(PHONES[2]))
    await createMessageSend(db.sql, { campaignId: id, phone: PHONES[2], state: 'failed' })

    const { body } = await api().get(`/${id}/progress/`)
    expect(body).toEqual({
      id,
      status: 'sending',
      statusDetail: null,
      total: 4,
      queued: 1,
      sending: 1,
      sent: 1,
      failed: 1,
      unknown: 0,
      skipped: 0,
      heldForQuietHours: 0,
      delivered: 1,
      undelivered: 0,
      percent: 50,
      followUps: { queued: 1, sending: 0, sent: 0, failed: 0, unknown: 0, skipped: 0, heldForQuietHours: 0 },
      // Issue 14: quiet hours are off in the test configuration (.env.example).
      quietHours: { active: false, window: null, resumesAt: null, resumesAtLocal: null, status: null },
    })
  })

  it('notices that the campaign finished', async () => {
    const id = await runningCampaign()
    for (const { msgId, message } of await queuedFirstMessages(db.sql, id)) {
      await db.sql`SELECT pgmq.delete('broadcast_first_messages', ${msgId}::bigint)`
      await createMessageSend(db.sql, { campaignId: id, phone: message.recipient_phone_number, state: 'failed' })
    }
    const { body } = await api().get(`/${id}/progress/`)
    expect(body).toMatchObject({
      status: 'failed',
      statusDetail: 'every message failed (4)',
      total: 4,
      failed: 4,
      percent: 100,
    })
  })

  it('answers 404 for an unknown campaign', async () => {
    expect(await api().get('/424242/progress/')).toMatchObject({ status: 404, body: { message: 'Campaign not found' } })
  })
})

describe('POST /campaigns/:id/retry-failed/', () => {
  it('re-queues failed and dead-lettered first messages only, never an unknown outcome', async () => {
    const id = await runningCampaign()
    await createAuthor(db.sql, '+13135550105')
    await createAuthor(db.sql, '+13135550106')
    const queued = await queuedFirstMessages(db.sql, id)
    const msg = (phone: string) => queued.find((m) => m.message.recipient_phone_number === phone)!.msgId
    // 101: failed 3 times, archived. 102: outcome unknown, archived. 103: sent.
    // 104: dead-lettered without a ledger row. 105: failed, payload not archived (rebuilt).
    // 106: failed, but has unsubscribed since.
    await archiveFirstMessage(db.sql, msg(PHONES[0]))
    await createMessageSend(db.sql, { campaignId: id, phone: PHONES[0], state: 'failed' })
    await archiveFirstMessage(db.sql, msg(PHONES[1]))
    await createMessageSend(db.sql, { campaignId: id, phone: PHONES[1], state: 'unknown' })
    await db.sql`SELECT pgmq.delete('broadcast_first_messages', ${msg(PHONES[2])}::bigint)`
    await createMessageSend(db.sql, { campaignId: id, phone: PHONES[2], state: 'sent' })
    await archiveFirstMessage(db.sql, msg(PHONES[3]))
    await createMessageSend(db.sql, { campaignId: id, phone: '+13135550105', state: 'failed' })
    await createMessageSend(db.sql, { campaignId: id, phone: '+13135550106', state: 'failed' })
    await db.sql`UPDATE public.authors SET unsubscribed = true WHERE phone_number = '+13135550106'`
    await tick()
    expect((await campaignRow(db.sql, id)).status).toBe('sent')

    const { status, body } = await api().post(`/${id}/retry-failed/`)
    expect(status).toBe(200)
    expect(body).toEqual({ requeued: 3, skippedUnknown: 1, skippedIneligible: 1, alreadyQueued: 0, missingMessage: 0 })
    const requeued = await queuedFirstMessages(db.sql, id)
    expect(requeued.map((m) => m.message.recipient_phone_number).sort()).toEqual([PHONES[0], PHONES[3], '+13135550105'])
    expect(requeued.every((m) => m.message.first_message === 'First message' && m.message.campaign_id === id)).toBe(
      true,
    )
    expect((await campaignRow(db.sql, id)).status).toBe('sending')
    // The ledger keeps its record; the sender claims a `failed` row again when its message comes back.
    expect((await ledger(db.sql, id)).find((row) => row.phone === PHONES[0])?.state).toBe('failed')

    // A second call finds them queued already.
    expect((await api().post(`/${id}/retry-failed/`)).body).toMatchObject({ requeued: 0, alreadyQueued: 3 })
  })

  it('re-sends a personalized message from its archived payload and reports the ones it cannot rebuild', async () => {
    await db.sql`INSERT INTO public.campaign_personalized_recipients (phone_number, message) VALUES
                 ('+13135550101', 'Hi Ana'), ('+13135550102', 'Hi Bo')`
    const [{ id }] = await db.sql`SELECT id FROM public.campaigns ORDER BY id DESC LIMIT 1`
    const queued = await queuedFirstMessages(db.sql, id)
    await archiveFirstMessage(db.sql, queued[0].msgId)
    await createMessageSend(db.sql, {
      campaignId: id,
      phone: queued[0].message.recipient_phone_number,
      state: 'failed',
    })
    await db.sql`SELECT pgmq.delete('broadcast_first_messages', ${queued[1].msgId}::bigint)`
    await createMessageSend(db.sql, {
      campaignId: id,
      phone: queued[1].message.recipient_phone_number,
      state: 'failed',
    })

    const { body } = await api().post(`/${id}/retry-failed/`)
    expect(body).toMatchObject({ requeued: 1, missingMessage: 1 })
    const [again] = await queuedFirstMessages(db.sql, id)
    expect(again.message).toMatchObject({ recipient_phone_number: '+13135550101', first_message: 'Hi Ana' })
  })

  it('answers 409 for a campaign that has not run or was cancelled', async () => {
    const scheduled = await createCampaign(db.sql)
    const cancelled = await createCampaign(db.sql, { status: 'cancelled', processed: true })
    expect(await api().post(`/${scheduled}/retry-failed/`)).toMatchObject({
      status: 409,
      body: { status: 'scheduled' },
    })
    expect(await api().post(`/${cancelled}/retry-failed/`)).toMatchObject({
      status: 409,
      body: { status: 'cancelled' },
    })
  })
})

describe('POST /campaigns/:id/test/', () => {
  it('sends the first message to one number without touching the campaign', async () => {
    const id = await createCampaign(db.sql, {
      firstMessage: 'Polls open at 7',
      labelIds: ['custom-label'],
      recipientCount: 4,
    })
    const before = await campaignRow(db.sql, id)
    const { status, body } = await api().post(`/${id}/test/`, { phoneNumber: '(313) 555-0199' })
    expect(status).toBe(200)
    expect(body).toMatchObject({ sent: true, phoneNumber: '+13135550199' })
    expect(fakes.missive.drafts).toHaveLength(1)
    expect(fakes.missive.drafts[0]).toMatchObject({ to: '+13135550199', body: 'Polls open at 7', labelIds: [] })
    expect(await campaignRow(db.sql, id)).toEqual(before)
    const [writes] = await db.sql`
      SELECT (SELECT count(*) FROM public.message_sends)::integer AS sends,
             (SELECT count(*) FROM public.message_statuses)::integer AS statuses,
             (SELECT count(*) FROM pgmq.q_broadcast_first_messages)::integer AS queued`
    expect(writes).toEqual({ sends: 0, statuses: 0, queued: 0 })
  })

  it('answers 400 for a number that is not one, or a body with other fields', async () => {
    const id = await createCampaign(db.sql)
    expect(await api().post(`/${id}/test/`, { phoneNumber: '555-01' })).toMatchObject({
      status: 400,
      body: { message: 'Validation error: [phoneNumber] Not a phone number: use +13135550123 or 313-555-0123' },
    })
    expect(await api().post(`/${id}/test/`, {})).toMatchObject({
      status: 400,
      body: { message: 'Validation error: [phoneNumber] Required' },
    })
    expect(await api().post(`/${id}/test/`, { phoneNumber: '3135550199', to: 'x' })).toMatchObject({ status: 400 })
    expect(fakes.missive.drafts).toHaveLength(0)
  })

  it('refuses (409, naming why) a test send to an unsubscribed or excluded number: nothing reaches Missive', async () => {
    const id = await createCampaign(db.sql, { firstMessage: 'Polls open at 7' })
    await createAuthor(db.sql, '+13135550188')
    await db.sql`UPDATE public.authors SET unsubscribed = true WHERE phone_number = '+13135550188'`
    await createAuthor(db.sql, '+13135550177')
    await db.sql`UPDATE public.authors SET exclude = true WHERE phone_number = '+13135550177'`

    const unsubscribed = await api().post(`/${id}/test/`, { phoneNumber: '313-555-0188' })
    expect(unsubscribed.status).toBe(409)
    expect(unsubscribed.body.message).toMatch(/unsubscribed/)
    const excluded = await api().post(`/${id}/test/`, { phoneNumber: '+13135550177' })
    expect(excluded.status).toBe(409)
    expect(excluded.body.message).toMatch(/excluded/)
    expect(fakes.missive.drafts).toHaveLength(0)
  })

  it("counts against the first-message token's rate windows like every other send", async () => {
    const id = await createCampaign(db.sql, { firstMessage: 'Polls open at 7' })
    const limited = api({ env: { MISSIVE_MAX_PER_MINUTE: '1' } })
    expect((await limited.post(`/${id}/test/`, { phoneNumber: '3135550199' })).status).toBe(200)
    const [{ count }] = await db.sql`
      SELECT count(*)::int AS count FROM public.missive_requests WHERE purpose = 'first-messages' AND finished_at IS NOT NULL`
    expect(count).toBe(1)
    // The minute's only slot is taken: the second test send is refused, not sent past the window.
    const second = await limited.post(`/${id}/test/`, { phoneNumber: '3135550198' })
    expect(second.status).toBe(429)
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(fakes.missive.drafts).toHaveLength(1)
  })

  it('answers 502 when Missive does not send it, and 404 for an unknown campaign', async () => {
    const id = await createCampaign(db.sql)
    fakes.missive.failNext(1, 'server-error')
    const failed = await api().post(`/${id}/test/`, { phoneNumber: '3135550199' })
    expect(failed.status).toBe(502)
    expect(failed.body.message).toMatch(/^Missive did not send the test message/)
    expect(await api().post('/424242/test/', { phoneNumber: '3135550199' })).toMatchObject({ status: 404 })
  })
})
