import { beforeEach, describe, expect, it } from 'vitest'
import type { Sql } from '../../src/shared/db/client.ts'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { MAX_PAGES_PER_CALL, PAGE_SIZE } from '../../src/shared/reconcile/reconcile-pass.ts'
import { reconcileTwilioStatusFunction } from '../../src/shared/reconcile/reconcile-function.ts'
import { createTestDeps, SECRET_KEY } from '../support/app.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import {
  createRunCampaign,
  createSentBroadcast,
  createStatusRow,
  cronJobs,
  minutesAfter,
  SOURCE_PHONE,
  statusRows,
} from '../support/factories/reconcile.ts'
import { useFakes } from '../support/fakes.ts'

const db = useTestDatabase()
const fakes = useFakes()

beforeEach(() => resetDatabase(db.sql))

const RUN_AT = new Date('2025-01-15T18:00:00Z')
const ALICE = '+13135550101'
const BOB = '+13135550102'

function app() {
  return createFunctionApp(reconcileTwilioStatusFunction, createTestDeps(db.sql, { env: fakes.env }))
}

async function reconcile(body: unknown, headers: Record<string, string> = { apikey: SECRET_KEY }) {
  const response = await app().request('/reconcile-twilio-status/', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

const paging = async (sql: Sql, id: number) =>
  (await sql`SELECT twilio_paging FROM public.broadcasts WHERE id = ${id}`)[0]!.twilio_paging as string | null

const twilioRequests = () => fakes.twilio.requests.filter((request) => request.path.endsWith('/Messages.json'))

describe('POST /reconcile-twilio-status/', () => {
  it('gives each phase its own SMS: the first-message row the earlier one, the follow-up the later one', async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: RUN_AT, noUsers: 2, delay: 600 })
    const aliceFirst = await createStatusRow(db.sql, { phone: ALICE, broadcastId, createdAt: minutesAfter(RUN_AT, 1) })
    const bobFirst = await createStatusRow(db.sql, { phone: BOB, broadcastId, createdAt: minutesAfter(RUN_AT, 1) })
    const aliceSecond = await createStatusRow(db.sql, {
      phone: ALICE,
      broadcastId,
      isSecond: true,
      createdAt: minutesAfter(RUN_AT, 11),
    })
    const bobSecond = await createStatusRow(db.sql, {
      phone: BOB,
      broadcastId,
      isSecond: true,
      createdAt: minutesAfter(RUN_AT, 11),
    })
    await db.sql`SELECT public.start_twilio_reconcile('broadcast', ${broadcastId})`

    // Bodies are what the rows sent (createStatusRow: 'First message' / 'Second message').
    const sms = (to: string, minutes: number, status: string, sid: string, body: string) =>
      fakes.twilio.addMessage({ to, from: SOURCE_PHONE, status, dateSent: minutesAfter(RUN_AT, minutes), sid, body })
    sms(ALICE, 1, 'delivered', 'SMalice1', 'First message')
    sms(BOB, 1, 'sent', 'SMbob1', 'First message')
    sms(ALICE, 11, 'undelivered', 'SMalice2', 'Second message')
    sms(BOB, 11, 'failed', 'SMbob2', 'Second message')
    // Alice replied and an editor answered her from the same number in Missive: not a broadcast SMS.
    sms(ALICE, 45, 'delivered', 'SMaliceManual', 'Thanks, we will look into it')
    // Another sender's message to Alice is outside the From filter.
    fakes.twilio.addMessage({ to: ALICE, from: '+18005550999', dateSent: minutesAfter(RUN_AT, 2), sid: 'SMother' })

    const { status, body } = await reconcile({ broadcastId: String(broadcastId) })

    expect(status).toBe(200)
    expect(body).toMatchObject({
      broadcastId,
      pages: 1,
      messages: 5,
      pairedInOrder: 4,
      unpairedMessages: 1,
      unreconciledRows: 0,
      done: true,
    })
    const rows = await statusRows(db.sql)
    const byId = new Map(rows.map((row) => [row.id, row]))
    // Upstream updated the recipient's LATEST row for every message, newest first, so the follow-up
    // row ended with the first SMS's status and the first-message row with nothing (§8.3 #14).
    expect(byId.get(aliceFirst)).toMatchObject({
      twilio_id: 'SMalice1',
      twilio_sent_status: 'delivered',
      twilio_sent_at: minutesAfter(RUN_AT, 1),
    })
    expect(byId.get(aliceSecond)).toMatchObject({
      twilio_id: 'SMalice2',
      twilio_sent_status: 'undelivered',
      twilio_sent_at: minutesAfter(RUN_AT, 11),
    })
    expect(byId.get(bobFirst)).toMatchObject({ twilio_id: 'SMbob1', twilio_sent_status: 'sent' })
    expect(byId.get(bobSecond)).toMatchObject({ twilio_id: 'SMbob2', twilio_sent_status: 'failed' })
    // Upstream never maintained updated_at, which made its 30-minute guard inert.
    for (const row of rows) expect(row.updated_at).toBeInstanceOf(Date)

    const [request] = twilioRequests()
    expect(request!.query).toEqual({
      From: SOURCE_PHONE,
      'DateSent>': '2025-01-15T18:00:00Z',
      // 2 recipients: one 15-minute window per phase, the 600 s delay and a 3-hour buffer.
      'DateSent<': '2025-01-15T21:40:00Z',
      PageSize: String(PAGE_SIZE),
    })
    expect(await paging(db.sql, broadcastId)).toBeNull()
    expect(await cronJobs(db.sql)).toEqual([])
    expect(await db.sql`SELECT * FROM public.twilio_reconcile_messages`).toEqual([])
  })

  it('reconciles a campaign from a numeric campaignId', async () => {
    const campaignId = await createRunCampaign(db.sql, { runAt: RUN_AT, recipientCount: 1 })
    const row = await createStatusRow(db.sql, { phone: ALICE, campaignId, createdAt: minutesAfter(RUN_AT, 0) })
    fakes.twilio.addMessage({
      to: ALICE,
      from: SOURCE_PHONE,
      status: 'delivered',
      dateSent: minutesAfter(RUN_AT, 0.5),
      sid: 'SMc1',
      body: 'First message',
    })

    const { status, body } = await reconcile({ campaignId })

    expect(status).toBe(200)
    expect(body).toMatchObject({ campaignId, done: true, pairedInOrder: 1 })
    expect((await statusRows(db.sql)).find((r) => r.id === row)).toMatchObject({
      twilio_id: 'SMc1',
      twilio_sent_status: 'delivered',
    })
  })

  it('updates rows already carrying a SID (webhook or callback) without regressing a final status', async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: RUN_AT })
    await createStatusRow(db.sql, { phone: ALICE, broadcastId, createdAt: RUN_AT, twilioId: 'SMknown', status: 'sent' })
    await createStatusRow(db.sql, {
      phone: BOB,
      broadcastId,
      createdAt: RUN_AT,
      twilioId: 'SMfinal',
      status: 'delivered',
    })
    fakes.twilio.addMessage({
      to: ALICE,
      from: SOURCE_PHONE,
      status: 'delivered',
      dateSent: minutesAfter(RUN_AT, 1),
      sid: 'SMknown',
    })
    // Listed before a later callback said delivered: the row keeps the final status.
    fakes.twilio.addMessage({
      to: BOB,
      from: SOURCE_PHONE,
      status: 'sending',
      dateSent: minutesAfter(RUN_AT, 1),
      sid: 'SMfinal',
    })

    const { body } = await reconcile({ broadcastId })

    expect(body).toMatchObject({ matchedBySid: 2, pairedInOrder: 0, done: true })
    expect((await statusRows(db.sql)).map((r) => [r.twilio_id, r.twilio_sent_status])).toEqual([
      ['SMknown', 'delivered'],
      ['SMfinal', 'delivered'],
    ])
  })

  it('stores statuses upstream did not know instead of stalling the page', async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: RUN_AT })
    const statuses = [
      'queued',
      'sending',
      'accepted',
      'scheduled',
      'read',
      'canceled',
      'partially_delivered',
      'receiving',
      'brand_new_status',
    ]
    for (const [i, status] of statuses.entries()) {
      const phone = `+1313555020${i}`
      await createStatusRow(db.sql, { phone, broadcastId, createdAt: RUN_AT })
      fakes.twilio.addMessage({
        to: phone,
        from: SOURCE_PHONE,
        status,
        dateSent: minutesAfter(RUN_AT, i + 1),
        sid: `SMstatus${i}`,
        body: 'First message',
      })
    }

    const { status, body } = await reconcile({ broadcastId })

    expect(status).toBe(200)
    expect(body).toMatchObject({ done: true, pairedInOrder: statuses.length, unknownStatuses: 1 })
    expect((await statusRows(db.sql)).map((r) => r.twilio_sent_status)).toEqual([
      ...statuses.slice(0, -1),
      // A status Twilio adds later is kept visible as delivery_unknown (and logged) rather than failing the page.
      'delivery_unknown',
    ])
  })

  describe('paging across invocations', () => {
    // More messages than one invocation reads, so the pass must continue from the stored token.
    const recipients = Math.ceil((MAX_PAGES_PER_CALL * PAGE_SIZE + 100) / 2)

    async function seedLargeBroadcast() {
      const broadcastId = await createSentBroadcast(db.sql, { runAt: RUN_AT, noUsers: recipients, delay: 900 })
      await db.sql`
        INSERT INTO public.authors (phone_number)
        SELECT '+1313' || lpad(i::text, 7, '0') FROM generate_series(1, ${recipients}::int) AS i`
      // First messages one per second from run_at; follow-ups 900 s later, so a recipient's two
      // SMSs sit on different Twilio pages.
      await db.sql`
        INSERT INTO public.message_statuses
          (recipient_phone_number, missive_id, missive_conversation_id, broadcast_id, is_second, message, created_at)
        SELECT '+1313' || lpad(i::text, 7, '0'), gen_random_uuid(), gen_random_uuid(), ${broadcastId}, phase.second,
               CASE WHEN phase.second THEN 'Second' ELSE 'First' END,
               ${RUN_AT}::timestamptz + make_interval(secs => i + CASE WHEN phase.second THEN 900 ELSE 0 END)
        FROM generate_series(1, ${recipients}::int) AS i CROSS JOIN (VALUES (false), (true)) AS phase(second)`
      for (let i = 1; i <= recipients; i++) {
        const to = `+1313${String(i).padStart(7, '0')}`
        fakes.twilio.addMessage({
          to,
          from: SOURCE_PHONE,
          status: 'delivered',
          dateSent: new Date(RUN_AT.getTime() + (i + 2) * 1000),
          sid: `SMfirst${i}`,
          body: 'First',
        })
        fakes.twilio.addMessage({
          to,
          from: SOURCE_PHONE,
          status: 'undelivered',
          dateSent: new Date(RUN_AT.getTime() + (i + 902) * 1000),
          sid: `SMsecond${i}`,
          body: 'Second',
        })
      }
      await db.sql`SELECT public.start_twilio_reconcile('broadcast', ${broadcastId})`
      return broadcastId
    }

    async function expectEveryPhasePaired() {
      const rows = await db.sql<{ wrong: number; open: number }[]>`
        SELECT count(*) FILTER (WHERE twilio_id IS DISTINCT FROM
                 (CASE WHEN is_second THEN 'SMsecond' ELSE 'SMfirst' END) || ltrim(substr(recipient_phone_number, 6), '0'))::int AS wrong,
               count(*) FILTER (WHERE twilio_id IS NULL)::int AS open
        FROM public.message_statuses`
      expect(rows[0]).toEqual({ wrong: 0, open: 0 })
    }

    it('stores the page token, continues from it, then clears it and removes the jobs', async () => {
      const broadcastId = await seedLargeBroadcast()

      const first = await reconcile({ broadcastId: String(broadcastId) })
      expect(first.status).toBe(200)
      expect(first.body).toMatchObject({
        pages: MAX_PAGES_PER_CALL,
        messages: MAX_PAGES_PER_CALL * PAGE_SIZE,
        done: false,
      })
      const token = await paging(db.sql, broadcastId)
      expect(token).toMatch(/^PA/)
      expect(twilioRequests().at(-1)!.query.PageToken).not.toBe(token)
      expect((await cronJobs(db.sql)).map((job) => job.jobname)).toEqual([
        `reconcile-twilio-status-broadcast-${broadcastId}`,
        `unschedule-broadcast-reconcile-${broadcastId}`,
      ])

      fakes.twilio.clearRequests()
      const second = await reconcile({ broadcastId: String(broadcastId) })
      expect(second.body).toMatchObject({ pages: 1, done: true, unreconciledRows: 0 })
      expect(twilioRequests()[0]!.query.PageToken).toBe(token)
      // Later pages carry the token, not the window end (as upstream; the cursor is inside the window).
      expect(twilioRequests()[0]!.query['DateSent<']).toBeUndefined()

      await expectEveryPhasePaired()
      expect(await paging(db.sql, broadcastId)).toBeNull()
      expect(await cronJobs(db.sql)).toEqual([])
    })

    it('keeps the page token when Twilio fails (502) and retries that page next time', async () => {
      const broadcastId = await seedLargeBroadcast()
      await reconcile({ broadcastId })
      const token = await paging(db.sql, broadcastId)

      fakes.twilio.failNext(1, 'unavailable', { status: 503 })
      const failed = await reconcile({ broadcastId })
      expect(failed.status).toBe(502)
      expect(failed.body.message).toMatch(/Could not fetch Twilio messages .*page token is kept/)
      expect(await paging(db.sql, broadcastId)).toBe(token)
      expect((await cronJobs(db.sql)).length).toBe(2)

      const retried = await reconcile({ broadcastId })
      expect(retried.body).toMatchObject({ done: true })
      await expectEveryPhasePaired()
    })
  })

  describe('bad requests', () => {
    it('is 401 without the secret apikey', async () => {
      expect((await reconcile({ broadcastId: 1 }, {})).status).toBe(401)
      expect((await reconcile({ broadcastId: 1 }, { apikey: 'wrong' })).status).toBe(401)
    })

    it('is 400 with upstream message when neither id is given', async () => {
      expect(await reconcile({})).toEqual({
        status: 400,
        body: { message: 'Either broadcastId or campaignId must be provided' },
      })
      expect(await reconcile({ broadcastId: '' })).toEqual({
        status: 400,
        body: { message: 'Either broadcastId or campaignId must be provided' },
      })
    })

    it('is 400 for malformed JSON and for an id that is not a number', async () => {
      expect(await reconcile('{"broadcastId": ')).toEqual({ status: 400, body: { message: 'Malformed JSON body' } })
      const bad = await reconcile({ broadcastId: 'abc' })
      expect(bad.status).toBe(400)
      expect(bad.body.message).toMatch(/broadcastId/)
    })

    it('answers 404 for an unknown id and 400 for an unscheduled broadcast (upstream answered 200)', async () => {
      expect(await reconcile({ broadcastId: '999' })).toEqual({
        status: 404,
        body: { message: 'Broadcast 999 not found' },
      })
      expect(await reconcile({ campaignId: 999 })).toEqual({ status: 404, body: { message: 'Campaign 999 not found' } })
      const unscheduled = await createSentBroadcast(db.sql, { runAt: null, editable: true })
      expect(await reconcile({ broadcastId: unscheduled })).toEqual({
        status: 400,
        body: { message: 'Broadcast has not been scheduled yet' },
      })
      expect(twilioRequests()).toEqual([])
    })
  })
})
