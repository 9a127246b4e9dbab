import { beforeEach, describe, expect, it } from 'vitest'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { reconcileTwilioStatusFunction } from '../../src/shared/reconcile/reconcile-function.ts'
import { createTestDeps, SECRET_KEY } from '../support/app.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import {
  createRunCampaign,
  createSentBroadcast,
  createStatusRow,
  minutesAfter,
  SOURCE_PHONE,
  statusRows,
} from '../support/factories/reconcile.ts'
import { createLedgerRow, ledgerById } from '../support/factories/unknown-sends.ts'
import { useFakes } from '../support/fakes.ts'

// Issue 9 #6 and #7: what counts as evidence that one of our sends became a given SMS.
//   #6 an SMS without a SID is paired only when no other row claims it AND its body is our text;
//   #7 an `unknown` send whose SMS Twilio still holds (queued, no DateSent) is never declared lost.

const db = useTestDatabase()
const fakes = useFakes()

beforeEach(() => resetDatabase(db.sql))

const RUN_AT = new Date('2025-01-15T18:00:00Z')
const ALICE = '+13135550101'
const BOB = '+13135550102'
const CAROL = '+13135550103'
const DAVE = '+13135550104'

async function reconcile(body: Record<string, unknown>, now: Date) {
  const deps = createTestDeps(db.sql, { env: fakes.env, now: () => now })
  const response = await createFunctionApp(reconcileTwilioStatusFunction, deps).request('/reconcile-twilio-status/', {
    method: 'POST',
    headers: { 'content-type': 'application/json', apikey: SECRET_KEY },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

const sms = (to: string, minutes: number, sid: string, body: string, status = 'delivered') =>
  fakes.twilio.addMessage({ to, from: SOURCE_PHONE, status, dateSent: minutesAfter(RUN_AT, minutes), sid, body })

describe('pairing an SMS without a SID (issue 9 #6)', () => {
  it("never pairs a row with a staff reply to the same number (the broadcast's own SMS never reached Twilio)", async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: RUN_AT })
    const alice = await createStatusRow(db.sql, { phone: ALICE, broadcastId, createdAt: minutesAfter(RUN_AT, 1) })
    sms(ALICE, 30, 'SMstaffReply', 'Thanks for writing in, we will look into it')

    const { body } = await reconcile({ broadcastId }, minutesAfter(RUN_AT, 240))

    expect(body).toMatchObject({ done: true, pairedInOrder: 0, unpairedMessages: 1, unreconciledRows: 1 })
    expect((await statusRows(db.sql)).find((row) => row.id === alice)).toMatchObject({ twilio_id: null })
  })

  it("never pairs a row with another campaign's SMS; that campaign's own pass pairs it", async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: RUN_AT })
    const campaignId = await createRunCampaign(db.sql, { runAt: minutesAfter(RUN_AT, 5) })
    // Bob's broadcast SMS never reached Twilio (Missive failed after the row was written).
    const bobBroadcast = await createStatusRow(db.sql, { phone: BOB, broadcastId, createdAt: minutesAfter(RUN_AT, 1) })
    const [{ id: bobCampaign }] = await db.sql<{ id: number }[]>`
      INSERT INTO public.message_statuses (recipient_phone_number, missive_id, missive_conversation_id, campaign_id, is_second, message, created_at)
      VALUES (${BOB}, gen_random_uuid(), gen_random_uuid(), ${campaignId}, false, 'Campaign first', ${
      minutesAfter(RUN_AT, 6)
    })
      RETURNING id`
    sms(BOB, 6, 'SMcampaign', 'Campaign first')

    const broadcastPass = await reconcile({ broadcastId }, minutesAfter(RUN_AT, 240))
    expect(broadcastPass.body).toMatchObject({ pairedInOrder: 0 })
    const campaignPass = await reconcile({ campaignId }, minutesAfter(RUN_AT, 240))
    expect(campaignPass.body).toMatchObject({ pairedInOrder: 1 })

    const rows = new Map((await statusRows(db.sql)).map((row) => [row.id, row]))
    expect(rows.get(bobBroadcast)).toMatchObject({ twilio_id: null })
    expect(rows.get(bobCampaign)).toMatchObject({ twilio_id: 'SMcampaign' })
  })

  it('pairs by body after link shortening, and whitespace Twilio re-wrapped does not matter', async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: RUN_AT })
    await db.sql`INSERT INTO public.authors (phone_number) VALUES (${ALICE})`
    const [{ id }] = await db.sql<{ id: number }[]>`
      INSERT INTO public.message_statuses (recipient_phone_number, missive_id, missive_conversation_id, broadcast_id, is_second, message, created_at)
      VALUES (${ALICE}, gen_random_uuid(), gen_random_uuid(), ${broadcastId}, false, 'Read it: https://dub.sh/abc  today', ${
      minutesAfter(RUN_AT, 1)
    })
      RETURNING id`
    sms(ALICE, 1, 'SMshort', 'Read it: https://dub.sh/abc today\n')
    const { body } = await reconcile({ broadcastId }, minutesAfter(RUN_AT, 240))
    expect(body).toMatchObject({ pairedInOrder: 1 })
    expect((await statusRows(db.sql)).find((row) => row.id === id)).toMatchObject({ twilio_id: 'SMshort' })
  })

  it("never settles an unknown send as sent with a test send's SMS to that number", async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: RUN_AT })
    const carol = await createLedgerRow(db.sql, { phone: CAROL, broadcastId, createdAt: minutesAfter(RUN_AT, 1) })
    sms(CAROL, 3, 'SMtestSend', 'Campaign test: polls open at 7')

    await reconcile({ broadcastId }, minutesAfter(RUN_AT, 240))

    const row = (await ledgerById(db.sql)).get(carol)!
    expect(row.state).not.toBe('sent')
    expect(row.twilio_id).toBeNull()
  })
})

describe('an unknown send whose SMS is stuck at Twilio (issue 9 #7)', () => {
  it('is never declared never-sent while Twilio holds it queued without a DateSent', async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: RUN_AT })
    const dave = await createLedgerRow(db.sql, { phone: DAVE, broadcastId, createdAt: minutesAfter(RUN_AT, 1) })
    // Missive handed the draft to Twilio, which still holds it: no DateSent, so `DateSent>` omits it.
    const stuck = fakes.twilio.addMessage({ to: DAVE, from: SOURCE_PHONE, status: 'queued', body: 'First message' })
    expect(stuck.dateSent).toBeNull()

    const { body } = await reconcile({ broadcastId }, minutesAfter(RUN_AT, 240))

    expect(body).toMatchObject({ done: true, unknownResolvedNotSent: 0 })
    expect((await ledgerById(db.sql)).get(dave)).toMatchObject({
      state: 'sent',
      twilio_id: stuck.sid,
      twilio_status: 'queued',
    })
    // Not re-queued: a second text would follow once Twilio delivers the first.
    const [{ queued }] = await db.sql`SELECT count(*)::int AS queued FROM pgmq.q_broadcast_first_messages`
    expect(queued).toBe(0)
  })
})
