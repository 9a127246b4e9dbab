import { randomUUID } from 'node:crypto'
import { beforeEach, describe, expect, it } from 'vitest'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { useFakes } from '../support/fakes.ts'
import {
  archiveRows,
  broadcastPayload,
  campaignPayload,
  createAuthor,
  createBroadcast,
  createCampaign,
  enqueue,
  ledgerRows,
  makeVisible,
  PHONE,
  queueRows,
  SECOND_MESSAGES_QUEUE,
  statusRows,
} from '../support/factories/sending.ts'
import { callSendMessages, drafts } from './helpers.ts'

// DESIGN.md "Sending guarantees": at most once per recipient and phase, nothing dropped silently,
// nobody ineligible texted.

const db = useTestDatabase()
const fakes = useFakes()

beforeEach(async () => {
  await resetDatabase(db.sql)
  await createAuthor(db.sql, PHONE)
})

const send = (isSecond = false, env: Record<string, string> = {}) => callSendMessages(db.sql, fakes, { isSecond }, env)
const phone = (i: number) => `+1313555${String(i).padStart(4, '0')}`

describe('at most once', () => {
  it('sends one draft per recipient when two drains run at once over the same queue, duplicates included', async () => {
    const ids = await createBroadcast(db.sql)
    for (let i = 0; i < 20; i++) {
      await createAuthor(db.sql, phone(i))
      await enqueue(db.sql, broadcastPayload(ids, { recipient_phone_number: phone(i) }))
    }
    // The same recipients queued a second time (a producer retried): never a second text.
    for (let i = 0; i < 5; i++) await enqueue(db.sql, broadcastPayload(ids, { recipient_phone_number: phone(i) }))
    fakes.missive.setLatency(25)

    // Both drains stop when the queue is empty; the long deadline only keeps a loaded machine honest.
    const [a, b] = await Promise.all([
      send(false, { SEND_DRAIN_SECONDS: '30' }),
      send(false, { SEND_DRAIN_SECONDS: '30' }),
    ])

    expect(a!.body.sent + b!.body.sent).toBe(20)
    expect(a!.body.duplicate + b!.body.duplicate).toBe(5)
    expect(fakes.missive.drafts).toHaveLength(20)
    expect(new Set(fakes.missive.drafts.map((d) => d.to)).size).toBe(20)
    expect(await queueRows(db.sql)).toHaveLength(0)
    const ledger = await ledgerRows(db.sql)
    expect(ledger).toHaveLength(20)
    expect(ledger.every((row) => row.state === 'sent')).toBe(true)
    expect(await statusRows(db.sql)).toHaveLength(20)
  })

  it('does not re-send after a crash between Missive accepting the draft and the completion', async () => {
    const ids = await createBroadcast(db.sql)
    const msgId = await enqueue(db.sql, broadcastPayload(ids))
    // What a crash leaves: the claim committed (`sending`), the draft maybe sent, the queue
    // message visible again once its 180 s lease ran out.
    await db.sql`
      INSERT INTO public.message_sends (broadcast_id, recipient_phone_number, is_second, state, queue_name, queue_msg_id)
      VALUES (${ids.broadcastId}, ${PHONE}, false, 'sending', 'broadcast_first_messages', ${msgId})`
    await db.sql`UPDATE pgmq.q_broadcast_first_messages SET read_ct = 1`

    const response = await send()

    expect(response.body).toMatchObject({ sent: 0, unknown: 1 })
    expect(drafts(fakes)).toHaveLength(0)
    expect(await queueRows(db.sql)).toHaveLength(0)
    expect(await archiveRows(db.sql)).toMatchObject([{ msg_id: msgId }])
    const [ledger] = await ledgerRows(db.sql)
    expect(ledger).toMatchObject({ state: 'unknown' })
    expect(ledger!.detail).toMatch(/never completed/)
  })

  it('removes a queued duplicate of a message already sent', async () => {
    const ids = await createBroadcast(db.sql)
    await enqueue(db.sql, broadcastPayload(ids))
    await send()
    await enqueue(db.sql, broadcastPayload(ids))

    const response = await send()

    expect(response.body).toMatchObject({ sent: 0, duplicate: 1 })
    expect(fakes.missive.drafts).toHaveLength(1)
    expect(await queueRows(db.sql)).toHaveLength(0)
  })

  it('marks a timed-out send unknown and archives it, never retrying it', async () => {
    const ids = await createBroadcast(db.sql)
    await enqueue(db.sql, broadcastPayload(ids))
    fakes.missive.failNext(1, 'hang', { path: '/v1/drafts', hangMs: 3_000 })

    const response = await send(false, { MISSIVE_TIMEOUT_MS: '300' })

    expect(response.body).toMatchObject({ sent: 0, unknown: 1, retrying: 0 })
    expect(await queueRows(db.sql)).toHaveLength(0)
    expect(await archiveRows(db.sql)).toHaveLength(1)
    const [ledger] = await ledgerRows(db.sql)
    expect(ledger).toMatchObject({ state: 'unknown' })
    expect(ledger!.detail).toMatch(/timed out/)

    await send()
    expect(drafts(fakes)).toHaveLength(1)
  })
})

describe('failures and retries', () => {
  let ids: { broadcastId: number; segmentId: number }
  beforeEach(async () => {
    ids = await createBroadcast(db.sql)
  })

  it('sends every message exactly once through a burst of 429s, counting no attempt', async () => {
    for (let i = 0; i < 10; i++) {
      await createAuthor(db.sql, phone(i))
      await enqueue(db.sql, broadcastPayload(ids, { recipient_phone_number: phone(i) }))
    }
    fakes.missive.failNext(12, 'rate-limit', { path: '/v1/drafts', retryAfterSeconds: 1 })

    const response = await send(false, { SEND_DRAIN_SECONDS: '15' })

    expect(response.body).toMatchObject({ sent: 10, failed: 0, retrying: 0 })
    expect(response.body.deferred).toBeGreaterThanOrEqual(10)
    expect(drafts(fakes)).toHaveLength(22)
    expect(fakes.missive.drafts).toHaveLength(10)
    expect(new Set(fakes.missive.drafts.map((d) => d.to)).size).toBe(10)
    const ledger = await ledgerRows(db.sql)
    expect(ledger.map((row) => [row.state, row.attempts])).toEqual(Array(10).fill(['sent', 0]))
    expect(await archiveRows(db.sql)).toHaveLength(0)
  })

  it('keeps the attempt count when a retry is answered 429', async () => {
    await enqueue(db.sql, broadcastPayload(ids))
    fakes.missive.failNext(1, 'rejected', { path: '/v1/drafts' })
    await send()
    await makeVisible(db.sql)
    fakes.missive.failNext(1, 'rate-limit', { path: '/v1/drafts', retryAfterSeconds: 30 })

    const response = await send()

    expect(response.body).toMatchObject({ deferred: 1 })
    expect(await ledgerRows(db.sql)).toMatchObject([{ state: 'failed', attempts: 1, last_http_status: 429 }])
    expect(await queueRows(db.sql)).toHaveLength(1)
  })

  // Issue 9 item 4: a failure after the request reached Missive was retried as "not sent", so the
  // reader got the text twice. Only a failure that proves Missive did not act is retried.
  for (
    const [name, kind, status] of [
      ['a proxy 503', 'unavailable', 503],
      ['a JSON 500', 'server-error', 500],
      ['a dropped connection', 'drop', 0],
    ] as const
  ) {
    it(`marks ${name} after Missive recorded the draft unknown, and never sends it again`, async () => {
      await enqueue(db.sql, broadcastPayload(ids))
      fakes.missive.failNext(1, kind, { path: '/v1/drafts', afterHandling: true })

      const first = await send()
      await makeVisible(db.sql)
      await send()

      expect(first.body).toMatchObject({ unknown: 1, retrying: 0, sent: 0 })
      expect(fakes.missive.drafts).toHaveLength(1)
      expect(drafts(fakes)).toHaveLength(1)
      expect(await queueRows(db.sql)).toHaveLength(0)
      expect(await archiveRows(db.sql)).toHaveLength(1)
      expect(await ledgerRows(db.sql)).toMatchObject([{ state: 'unknown', last_http_status: status }])
    })
  }

  it('treats a 5xx before Missive acted as unknown too: the answer cannot tell the two apart', async () => {
    await enqueue(db.sql, broadcastPayload(ids))
    fakes.missive.failNext(1, 'unavailable', { path: '/v1/drafts' })

    const response = await send()

    expect(response.body).toMatchObject({ unknown: 1, retrying: 0 })
    expect(fakes.missive.drafts).toHaveLength(0)
    const [ledger] = await ledgerRows(db.sql)
    expect(ledger).toMatchObject({ state: 'unknown', last_http_status: 503 })
    expect(ledger!.detail).toContain('503 Service Temporarily Unavailable')
  })

  it('never texts anyone twice through 503s and dropped connections after Missive acted', async () => {
    const count = 30
    for (let i = 0; i < count; i++) {
      await createAuthor(db.sql, phone(i))
      await enqueue(db.sql, broadcastPayload(ids, { recipient_phone_number: phone(i) }))
    }
    fakes.missive.failShare(0.15, 'unavailable', { path: '/v1/drafts', afterHandling: true })
    fakes.missive.failShare(0.15, 'drop', { path: '/v1/drafts', afterHandling: true })
    fakes.missive.failShare(0.1, 'rejected', { path: '/v1/drafts' })

    for (let round = 0; round < 4; round++) {
      await send(false, { SEND_DRAIN_SECONDS: '30' })
      await makeVisible(db.sql)
    }

    const perRecipient = new Map<string, number>()
    for (const draft of fakes.missive.drafts) perRecipient.set(draft.to, (perRecipient.get(draft.to) ?? 0) + 1)
    expect([...perRecipient.values()].filter((n) => n > 1)).toEqual([])
    const ledger = await ledgerRows(db.sql)
    // Every recipient got one text or has a ledger row saying why not.
    expect(ledger).toHaveLength(count)
    for (const row of ledger) {
      const texted = perRecipient.get(row.recipient_phone_number) ?? 0
      if (row.state === 'sent') expect(texted).toBe(1)
      else expect(['unknown', 'failed']).toContain(row.state)
    }
  })

  it('retries a 4xx that rejects the request with backoff, and archives the message on the 3rd', async () => {
    await enqueue(db.sql, broadcastPayload(ids))
    fakes.missive.failShare(1, 'rejected', { path: '/v1/drafts', status: 422 })

    expect((await send()).body).toMatchObject({ retrying: 1 })
    await makeVisible(db.sql)
    expect((await send()).body).toMatchObject({ retrying: 1 })
    await makeVisible(db.sql)
    const third = await send()

    expect(third.body).toMatchObject({ failed: 1, retrying: 0 })
    expect(drafts(fakes)).toHaveLength(3)
    expect(await archiveRows(db.sql)).toHaveLength(1)
    expect(await ledgerRows(db.sql)).toMatchObject([{ state: 'failed', attempts: 3, last_http_status: 422 }])
  })

  it('counts a connection failure as a definite failure (nothing reached Missive)', async () => {
    await enqueue(db.sql, broadcastPayload(ids))

    const response = await send(false, { MISSIVE_API_BASE_URL: 'http://127.0.0.1:1/v1' })

    expect(response.body).toMatchObject({ retrying: 1 })
    expect(await ledgerRows(db.sql)).toMatchObject([{ state: 'failed', attempts: 1, last_http_status: 0 }])
    expect(await queueRows(db.sql)).toHaveLength(1)
  })

  it('gives a re-queued message (campaign "retry failed") three fresh attempts after an earlier give-up', async () => {
    await db.sql`
      INSERT INTO public.message_sends (broadcast_id, recipient_phone_number, is_second, state, queue_name, queue_msg_id, attempts, last_http_status)
      VALUES (${ids.broadcastId}, ${PHONE}, false, 'failed', 'broadcast_first_messages', 999, 3, 503)`
    await enqueue(db.sql, broadcastPayload(ids))

    const response = await send()

    expect(response.body).toMatchObject({ sent: 1 })
    expect(await ledgerRows(db.sql)).toMatchObject([{ state: 'sent', attempts: 0 }])
  })

  it('archives a payload it cannot read, and one whose broadcast is gone', async () => {
    await enqueue(db.sql, { first_message: 'no recipient', broadcast_id: ids.broadcastId })
    await enqueue(db.sql, broadcastPayload({ broadcastId: 987654, segmentId: ids.segmentId }))

    const response = await send()

    expect(response.body).toMatchObject({ invalid: 2, sent: 0 })
    expect(drafts(fakes)).toHaveLength(0)
    expect(await archiveRows(db.sql)).toHaveLength(2)
  })
})

describe('eligibility at send time', () => {
  it('skips a recipient who unsubscribed after the message was queued', async () => {
    const ids = await createBroadcast(db.sql)
    await enqueue(db.sql, broadcastPayload(ids))
    await db.sql`UPDATE public.authors SET unsubscribed = true WHERE phone_number = ${PHONE}`

    const response = await send()

    expect(response.body).toMatchObject({ skipped: 1, sent: 0 })
    expect(fakes.missive.requests).toHaveLength(0)
    expect(await queueRows(db.sql)).toHaveLength(0)
    expect(await ledgerRows(db.sql)).toMatchObject([{ state: 'skipped', detail: 'recipient unsubscribed' }])
  })

  it('skips excluded and file-upload-only authors for broadcasts', async () => {
    const ids = await createBroadcast(db.sql)
    await createAuthor(db.sql, phone(1), { exclude: true })
    await createAuthor(db.sql, phone(2), { addedViaFileUpload: true })
    await enqueue(db.sql, broadcastPayload(ids, { recipient_phone_number: phone(1) }))
    await enqueue(db.sql, broadcastPayload(ids, { recipient_phone_number: phone(2) }))

    await send()

    expect(drafts(fakes)).toHaveLength(0)
    const ledger = await ledgerRows(db.sql)
    expect(ledger.map((row) => [row.recipient_phone_number, row.state, row.detail]).sort()).toEqual([
      [phone(1), 'skipped', 'recipient excluded'],
      [phone(2), 'skipped', 'recipient only known from a campaign file upload'],
    ])
  })

  it('skips a follow-up when the recipient unsubscribed after the first message', async () => {
    const ids = await createBroadcast(db.sql)
    await enqueue(db.sql, broadcastPayload(ids, { delay: 0 }))
    await send()
    await db.sql`UPDATE public.authors SET unsubscribed = true WHERE phone_number = ${PHONE}`

    const response = await send(true)

    expect(response.body).toMatchObject({ skipped: 1 })
    expect(fakes.missive.drafts).toHaveLength(1)
    expect(await queueRows(db.sql, SECOND_MESSAGES_QUEUE)).toHaveLength(0)
  })

  it('holds the messages of a paused campaign without counting an attempt', async () => {
    const campaignId = await createCampaign(db.sql, { status: 'paused' })
    await enqueue(db.sql, campaignPayload(campaignId))

    const response = await send()

    expect(response.body).toMatchObject({ deferred: 1, sent: 0 })
    expect(fakes.missive.requests).toHaveLength(0)
    const [row] = await queueRows(db.sql)
    expect((row!.vt.getTime() - Date.now()) / 1000).toBeGreaterThan(55)
    expect(await ledgerRows(db.sql)).toHaveLength(0)

    await db.sql`UPDATE public.campaigns SET status = 'sending' WHERE id = ${campaignId}`
    await makeVisible(db.sql)
    expect((await send()).body).toMatchObject({ sent: 1 })
  })

  it('skips the messages of a cancelled campaign', async () => {
    const campaignId = await createCampaign(db.sql, { status: 'cancelled' })
    await enqueue(db.sql, campaignPayload(campaignId))

    const response = await send()

    expect(response.body).toMatchObject({ skipped: 1 })
    expect(fakes.missive.requests).toHaveLength(0)
    expect(await queueRows(db.sql)).toHaveLength(0)
    expect(await ledgerRows(db.sql)).toMatchObject([{
      state: 'skipped',
      campaign_id: campaignId,
      detail: 'campaign cancelled',
    }])
  })

  it("creates the author of a personalized campaign's unknown number so its status row is kept", async () => {
    const campaignId = await createCampaign(db.sql, { secondMessage: null, delay: 600 })
    const stranger = '+13135559876'
    await enqueue(db.sql, {
      recipient_phone_number: stranger,
      campaign_id: campaignId,
      first_message: 'Hello, personally',
      second_message: null,
      title: 'Personalized Campaign',
      delay: 600,
      created_at: Math.floor(Date.now() / 1000),
    })

    const response = await send()

    expect(response.body).toMatchObject({ sent: 1 })
    expect(await statusRows(db.sql)).toMatchObject([{
      recipient_phone_number: stranger,
      message: 'Hello, personally',
      campaign_id: campaignId,
      second_message_queue_id: null,
    }])
    const [author] = await db.sql`SELECT unsubscribed, exclude FROM public.authors WHERE phone_number = ${stranger}`
    expect(author).toMatchObject({ unsubscribed: false, exclude: false })
    expect(await queueRows(db.sql, SECOND_MESSAGES_QUEUE)).toHaveLength(0)
  })
})

describe('excluded labels (every segment form)', () => {
  const conversationId = randomUUID()
  const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()]

  const sendWith = async (excluded: unknown, labels: string[]) => {
    const campaignId = await createCampaign(db.sql)
    fakes.missive.setConversationLabels(conversationId, labels)
    await enqueue(
      db.sql,
      campaignPayload(campaignId, {
        conversation_id: conversationId,
        campaign_segments: { included: { id: c }, excluded },
      }),
    )
    return (await send()).body
  }

  it('reads a single-object excluded (upstream never checked it)', async () => {
    expect(await sendWith({ id: a }, [a])).toMatchObject({ skipped: 1, sent: 0 })
  })

  it('skips when every label of an AND group is on the conversation', async () => {
    expect(await sendWith([[{ id: a }, { id: b }]], [b, a])).toMatchObject({ skipped: 1 })
  })

  it('sends when only part of an AND group is on the conversation', async () => {
    expect(await sendWith([[{ id: a }, { id: b }]], [a])).toMatchObject({ sent: 1 })
  })

  it('checks a follow-up against the conversation the first message created', async () => {
    const campaignId = await createCampaign(db.sql, { delay: 0 })
    await enqueue(db.sql, campaignPayload(campaignId, { delay: 0, campaign_segments: { excluded: [{ id: a }] } }))
    await send()
    const created = fakes.missive.drafts[0]!.conversationId
    fakes.missive.setConversationLabels(created, [a])

    const response = await send(true)

    expect(response.body).toMatchObject({ skipped: 1 })
    expect(fakes.missive.requests.filter((r) => r.path === `/v1/conversations/${created}`)).toHaveLength(1)
    expect(fakes.missive.drafts).toHaveLength(1)
  })
})

describe('the HTTP surface', () => {
  it('answers 401 without the secret key and 400 for a bad body', async () => {
    const { createFunctionApp } = await import('../../src/shared/http/function-app.ts')
    const { sendMessagesFunction } = await import('../../src/shared/sending/send-messages-function.ts')
    const { createTestDeps } = await import('../support/app.ts')
    const app = createFunctionApp(sendMessagesFunction, createTestDeps(db.sql, { env: fakes.env }))
    const unauthorized = await app.request('/send-messages/', { method: 'POST', body: '{}' })
    expect(unauthorized.status).toBe(401)

    const bad = await callSendMessages(db.sql, fakes, { isSecond: 'yes' })
    expect(bad.status).toBe(400)
    expect(bad.body.message).toContain('isSecond')
  })

  it('answers 400 for every isSecond that is not a boolean, null included', async () => {
    for (const isSecond of [null, 1, 0, 'true', [], {}]) {
      const bad = await callSendMessages(db.sql, fakes, { isSecond })
      expect(bad.status, JSON.stringify(isSecond)).toBe(400)
      expect(bad.body.message).toContain('isSecond')
    }
    for (const body of ['[]', '5', 'null']) {
      expect((await callSendMessages(db.sql, fakes, body)).status, body).toBe(400)
    }
    expect(fakes.missive.requests).toHaveLength(0)
  })

  it('answers 500 with the summary when the drain failed, so net._http_response and monitoring see it', async () => {
    const ids = await createBroadcast(db.sql)
    await enqueue(db.sql, broadcastPayload(ids))
    // The database refuses the claim: the message's handling throws, the drain stops with an error.
    await db.sql.unsafe(`
      CREATE FUNCTION public.test_refuse_claim() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'disk full (test)'; END $$;
      CREATE TRIGGER refuse_claim BEFORE INSERT ON public.message_sends
        FOR EACH ROW EXECUTE FUNCTION public.test_refuse_claim();`)
    try {
      const response = await send()

      expect(response.status).toBe(500)
      expect(response.body).toMatchObject({ stoppedBy: 'error', errors: 1, sent: 0 })
      expect(drafts(fakes)).toHaveLength(0)
      expect(await queueRows(db.sql)).toHaveLength(1)
    } finally {
      await db.sql.unsafe(`
        DROP TRIGGER IF EXISTS refuse_claim ON public.message_sends;
        DROP FUNCTION IF EXISTS public.test_refuse_claim();`)
    }
  })

  it('drains the first queue when the body is empty', async () => {
    const ids = await createBroadcast(db.sql)
    await enqueue(db.sql, broadcastPayload(ids))

    const response = await callSendMessages(db.sql, fakes, '')

    expect(response).toMatchObject({ status: 200, body: { queue: 'broadcast_first_messages', sent: 1 } })
  })
})
