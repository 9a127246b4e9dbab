import { beforeEach, describe, expect, it } from 'vitest'
import { campaignFunction } from '../../src/shared/campaigns/campaign-function.ts'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { reconcileTwilioStatusFunction } from '../../src/shared/reconcile/reconcile-function.ts'
import { PAGE_SIZE, reconcilePass } from '../../src/shared/reconcile/reconcile-pass.ts'
import { NOT_SENT_AFTER_MS, NOT_SENT_DETAIL } from '../../src/shared/reconcile/settle-unknown.ts'
import { asStaff, createTestDeps, SECRET_KEY } from '../support/app.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { createCampaign, createLabel, labelPhone } from '../support/factories/campaigns.ts'
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
import { callSendMessages } from '../sending/helpers.ts'

// DESIGN.md "Sending guarantees": a send whose Missive call may or may not have gone out is
// dead-lettered as ledger `unknown`, and "the Twilio reconcile fills in what really happened".

const db = useTestDatabase()
const fakes = useFakes()

beforeEach(() => resetDatabase(db.sql))

const RUN_AT = new Date('2025-01-15T18:00:00Z')
const ALICE = '+13135550101'
const BOB = '+13135550102'
const CAROL = '+13135550103'
const DAVE = '+13135550104'

async function reconcile(body: Record<string, unknown>, now?: Date) {
  const deps = createTestDeps(db.sql, { env: fakes.env, now: now ? () => now : undefined })
  const response = await createFunctionApp(reconcileTwilioStatusFunction, deps).request('/reconcile-twilio-status/', {
    method: 'POST',
    headers: { 'content-type': 'application/json', apikey: SECRET_KEY },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

async function campaignApi(method: 'GET' | 'POST', path: string) {
  const app = asStaff(createFunctionApp(campaignFunction, createTestDeps(db.sql, { env: fakes.env })))
  const response = await app.request(`/campaigns${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: method === 'POST' ? '{}' : undefined,
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

// The body is the text the row sent (issue 9 #6: an SMS with another text is no evidence).
const sms = (to: string, minutes: number, status: string, sid: string, body = 'First message') =>
  fakes.twilio.addMessage({ to, from: SOURCE_PHONE, status, dateSent: minutesAfter(RUN_AT, minutes), sid, body })

/** A campaign due 5 minutes ago, run by the per-minute job: its recipients are queued. */
async function runCampaign(phones: string[]): Promise<number> {
  const label = await createLabel(db.sql)
  for (const phone of phones) {
    await db.sql`INSERT INTO public.authors (phone_number) VALUES (${phone})`
    await labelPhone(db.sql, label.id, phone)
  }
  const id = await createCampaign(db.sql, {
    runAt: new Date(Date.now() - 5 * 60_000),
    segments: { included: { id: label.id } },
    recipientCount: phones.length,
  })
  await db.sql`SELECT public.check_and_run_campaigns(${new Date()})`
  return id
}

const ledgerOf = async (campaignId: number) =>
  db.sql<
    { phone: string; state: string; detail: string | null; twilio_id: string | null; twilio_status: string | null }[]
  >`
    SELECT recipient_phone_number AS phone, state, detail, twilio_id, twilio_status::text AS twilio_status
    FROM public.message_sends WHERE campaign_id = ${campaignId} ORDER BY recipient_phone_number, is_second`

async function waitFor(condition: () => boolean, timeoutMs = 3_000) {
  const until = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('reconciling sends with an unknown outcome', () => {
  it('resolves an unknown send that Twilio shows went out as sent, with its SID and status', async () => {
    const id = await runCampaign([ALICE])
    // Missive acts on the draft after our client has given up: the SMS goes out, we never hear it.
    fakes.missive.setLatency(600)
    const drain = await callSendMessages(db.sql, fakes, {}, { MISSIVE_TIMEOUT_MS: '200' })
    expect(drain.body).toMatchObject({ sent: 0, unknown: 1 })
    await waitFor(() => fakes.twilio.messages().length === 1)
    fakes.missive.setLatency(0)
    const [twilioMessage] = fakes.twilio.messages()
    expect(await ledgerOf(id)).toMatchObject([{ phone: ALICE, state: 'unknown' }])

    // Evidence needs no waiting: a recent unknown send that Twilio has is settled at once.
    const { status, body } = await reconcile({ campaignId: id })

    expect(status).toBe(200)
    expect(body).toMatchObject({
      campaignId: id,
      done: true,
      pairedInOrder: 0,
      unpairedMessages: 0,
      unknownResolvedSent: 1,
      unknownResolvedNotSent: 0,
      unknownRemaining: 0,
    })
    expect(await ledgerOf(id)).toEqual([{
      phone: ALICE,
      state: 'sent',
      twilio_id: twilioMessage!.sid,
      twilio_status: 'delivered',
      detail: `confirmed by Twilio reconcile (${twilioMessage!.sid}, delivered)`,
    }])
    // No message_statuses row is invented (there are no Missive ids), but progress counts it.
    expect(await statusRows(db.sql)).toEqual([])
    expect((await campaignApi('GET', `/${id}/progress/`)).body).toMatchObject({
      total: 1,
      sent: 1,
      unknown: 0,
      failed: 0,
      delivered: 1,
      percent: 100,
    })
    // It went out: retry-failed must not send it again.
    expect((await campaignApi('POST', `/${id}/retry-failed/`)).body).toMatchObject({ requeued: 0, skippedUnknown: 0 })
    expect(fakes.missive.drafts).toHaveLength(1)
  })

  it('makes an unknown send Twilio never saw retryable; retry-failed re-queues it and it goes out exactly once', async () => {
    const id = await runCampaign([ALICE, BOB])
    // The first draft request hangs past our timeout without Missive acting on it.
    fakes.missive.failNext(1, 'hang', { path: '/v1/drafts', hangMs: 2_000 })
    const drain = await callSendMessages(db.sql, fakes, {}, { MISSIVE_TIMEOUT_MS: '300' })
    expect(drain.body).toMatchObject({ sent: 1, unknown: 1 })
    const lost = (await ledgerOf(id)).find((row) => row.state === 'unknown')!.phone
    const delivered = lost === ALICE ? BOB : ALICE
    expect(fakes.twilio.messages().map((message) => message.to)).toEqual([delivered])

    // Once the pass is done, a lookup of the number (not-yet-sent messages included) proves it was
    // never handed to Twilio (issue 9 #5/#7); while still recent it is re-queued at once.
    const later = new Date(Date.now() + NOT_SENT_AFTER_MS + 60_000)
    const { body } = await reconcile({ campaignId: id }, later)

    expect(body).toMatchObject({
      done: true,
      pairedInOrder: 1,
      unknownResolvedSent: 0,
      unknownResolvedNotSent: 1,
      unknownRemaining: 0,
    })
    const rows = await ledgerOf(id)
    expect(rows.find((row) => row.phone === lost)).toMatchObject({ state: 'failed', twilio_id: null })
    expect(rows.find((row) => row.phone === lost)!.detail).toMatch(
      new RegExp(`^${NOT_SENT_DETAIL.replace(/[()]/g, '\\$&')}; re-queued as \\d+$`),
    )
    expect(rows.find((row) => row.phone === delivered)).toMatchObject({ state: 'sent' })
    expect((await campaignApi('GET', `/${id}/progress/`)).body).toMatchObject({ sent: 1, queued: 1, unknown: 0 })

    // Already re-queued: retry-failed finds it queued and queues nothing more.
    const retry = await campaignApi('POST', `/${id}/retry-failed/`)
    expect(retry).toEqual({
      status: 200,
      body: { requeued: 0, skippedUnknown: 0, skippedIneligible: 0, alreadyQueued: 1, missingMessage: 0 },
    })
    expect((await callSendMessages(db.sql, fakes)).body).toMatchObject({ sent: 1, duplicate: 0 })
    // A second retry and drain find nothing to do.
    expect((await campaignApi('POST', `/${id}/retry-failed/`)).body).toMatchObject({ requeued: 0 })
    expect((await callSendMessages(db.sql, fakes)).body).toMatchObject({ sent: 0 })

    const draftsTo = (phone: string) => fakes.missive.drafts.filter((draft) => draft.to === phone)
    expect(draftsTo(lost)).toHaveLength(1)
    expect(draftsTo(delivered)).toHaveLength(1)
    expect(fakes.twilio.messages().map((message) => message.to).sort()).toEqual([ALICE, BOB])
    expect((await ledgerOf(id)).map((row) => row.state)).toEqual(['sent', 'sent'])
  })

  it('leaves alone what may still be on its way or Missive acknowledged; settles the rest by a lookup', async () => {
    const now = minutesAfter(RUN_AT, 120)
    const broadcastId = await createSentBroadcast(db.sql, { runAt: RUN_AT, noUsers: 5 })
    const old = await createLedgerRow(db.sql, { phone: ALICE, broadcastId, createdAt: minutesAfter(RUN_AT, 1) })
    // Dead-lettered 5 minutes ago: Missive may still hand it to Twilio.
    const recent = await createLedgerRow(db.sql, {
      phone: BOB,
      broadcastId,
      createdAt: minutesAfter(RUN_AT, 100),
      updatedAt: minutesAfter(RUN_AT, 115),
    })
    // Claimed right at the window's start: outside what a `DateSent>` listing covers for sure, but the
    // lookup of the number has no date filter (it used to stay unknown).
    const atStart = await createLedgerRow(db.sql, {
      phone: CAROL,
      broadcastId,
      createdAt: new Date(RUN_AT.getTime() + 2_000),
    })
    // Missive accepted it (2xx) and the recording failed: Missive has it, so it is never declared lost.
    const acknowledged = await createLedgerRow(db.sql, {
      phone: DAVE,
      broadcastId,
      createdAt: minutesAfter(RUN_AT, 1),
      lastHttpStatus: 200,
      detail: 'Missive accepted draft … but recording it failed',
    })
    sms('+13135550199', 1, 'delivered', 'SMsomeoneElse')

    const { body } = await reconcile({ broadcastId }, now)

    expect(body).toMatchObject({ done: true, unknownResolvedSent: 0, unknownResolvedNotSent: 2, unknownRemaining: 2 })
    const rows = await ledgerById(db.sql)
    for (const id of [old, atStart]) {
      expect(rows.get(id)).toMatchObject({ state: 'failed', resolved_at: now })
      expect(rows.get(id)!.detail).toContain(NOT_SENT_DETAIL)
    }
    for (const id of [recent, acknowledged]) {
      expect(rows.get(id)).toMatchObject({ state: 'unknown', twilio_id: null, resolved_at: null })
    }
  })

  it('declares nothing lost before the pass has reached its last page', async () => {
    const startedAt = minutesAfter(RUN_AT, 120)
    const broadcastId = await createSentBroadcast(db.sql, { runAt: RUN_AT, noUsers: 5 })
    const before = await createLedgerRow(db.sql, {
      phone: ALICE,
      broadcastId,
      createdAt: minutesAfter(RUN_AT, 1),
      updatedAt: minutesAfter(RUN_AT, 40),
    })
    // Dead-lettered 20 minutes before the pass's first request: its SMS may have reached Twilio
    // after that request, so the pass cannot have seen it, however long the pass then takes.
    const during = await createLedgerRow(db.sql, {
      phone: BOB,
      broadcastId,
      createdAt: minutesAfter(RUN_AT, 90),
      updatedAt: minutesAfter(RUN_AT, 100),
    })
    for (let i = 0; i <= PAGE_SIZE; i++) {
      sms(`+1313556${String(i).padStart(4, '0')}`, 2, 'delivered', `SMother${i}`)
    }
    await db.sql`SELECT public.start_twilio_reconcile('broadcast', ${broadcastId})`

    const deps = (now: Date) => createTestDeps(db.sql, { env: fakes.env, now: () => now })
    const first = await reconcilePass(deps(startedAt), { kind: 'broadcast', id: broadcastId }, { maxPages: 1 })
    expect(first).toMatchObject({ pages: 1, done: false, unknownResolvedNotSent: 0, unknownRemaining: null })
    expect([...(await ledgerById(db.sql)).values()].map((row) => row.state)).toEqual(['unknown', 'unknown'])

    // Once done, the lookup of each number settles both: it lists everything Twilio has, so a send
    // made after the pass's first request is covered too.
    const second = await reconcilePass(deps(minutesAfter(startedAt, 40)), { kind: 'broadcast', id: broadcastId })
    expect(second).toMatchObject({ pages: 1, done: true, unknownResolvedNotSent: 2, unknownRemaining: 0 })
    const rows = await ledgerById(db.sql)
    expect(rows.get(before)).toMatchObject({ state: 'failed' })
    expect(rows.get(during)).toMatchObject({ state: 'failed' })
  })

  it('never takes an SMS that a message_statuses row claims as evidence for an unknown send', async () => {
    const now = minutesAfter(RUN_AT, 120)
    const broadcastId = await createSentBroadcast(db.sql, { runAt: RUN_AT, noUsers: 3, delay: 600 })
    const otherBroadcast = await createSentBroadcast(db.sql, { runAt: minutesAfter(RUN_AT, -60) })
    // Alice's first message was recorded (no SID yet); her follow-up's outcome is unknown.
    const aliceFirst = await createStatusRow(db.sql, { phone: ALICE, broadcastId, createdAt: minutesAfter(RUN_AT, 1) })
    const aliceSecond = await createLedgerRow(db.sql, {
      phone: ALICE,
      broadcastId,
      isSecond: true,
      createdAt: minutesAfter(RUN_AT, 11),
    })
    // Bob's first message already carries its SID (Missive's outgoing webhook).
    const bobFirst = await createStatusRow(db.sql, {
      phone: BOB,
      broadcastId,
      createdAt: minutesAfter(RUN_AT, 1),
      twilioId: 'SMbob1',
    })
    const bobSecond = await createLedgerRow(db.sql, {
      phone: BOB,
      broadcastId,
      isSecond: true,
      createdAt: minutesAfter(RUN_AT, 11),
    })
    // The only SMS to Carol in the window belongs to another broadcast's row.
    await createStatusRow(db.sql, {
      phone: CAROL,
      broadcastId: otherBroadcast,
      createdAt: minutesAfter(RUN_AT, 2),
      twilioId: 'SMcarolOther',
    })
    const carol = await createLedgerRow(db.sql, { phone: CAROL, broadcastId, createdAt: minutesAfter(RUN_AT, 2) })
    sms(ALICE, 1, 'delivered', 'SMalice1')
    sms(BOB, 1, 'delivered', 'SMbob1')
    sms(CAROL, 2, 'delivered', 'SMcarolOther')

    const { body } = await reconcile({ broadcastId }, now)

    expect(body).toMatchObject({
      matchedBySid: 2,
      pairedInOrder: 1,
      unpairedMessages: 0,
      unknownResolvedSent: 0,
      unknownResolvedNotSent: 3,
      unknownRemaining: 0,
    })
    const statuses = new Map((await statusRows(db.sql)).map((row) => [row.id, row]))
    expect(statuses.get(aliceFirst)).toMatchObject({ twilio_id: 'SMalice1' })
    expect(statuses.get(bobFirst)).toMatchObject({ twilio_id: 'SMbob1' })
    const rows = await ledgerById(db.sql)
    for (const id of [aliceSecond, bobSecond, carol]) {
      expect(rows.get(id)).toMatchObject({ state: 'failed', twilio_id: null })
      expect(rows.get(id)!.detail).toContain(NOT_SENT_DETAIL)
    }
  })

  it('matches phases in time order: the earlier SMS to the first phase, the later to the follow-up', async () => {
    const now = minutesAfter(RUN_AT, 120)
    const campaignId = await createRunCampaign(db.sql, { runAt: RUN_AT, recipientCount: 3, delay: 600 })
    // Alice: first message recorded without a SID, follow-up unknown.
    const aliceFirst = await createStatusRow(db.sql, { phone: ALICE, campaignId, createdAt: minutesAfter(RUN_AT, 1) })
    const aliceSecond = await createLedgerRow(db.sql, {
      phone: ALICE,
      campaignId,
      isSecond: true,
      createdAt: minutesAfter(RUN_AT, 11),
    })
    // Bob: both phases unknown (written in reverse order, to show the phase decides, not the row id).
    const bobSecond = await createLedgerRow(db.sql, {
      phone: BOB,
      campaignId,
      isSecond: true,
      createdAt: minutesAfter(RUN_AT, 11),
    })
    const bobFirst = await createLedgerRow(db.sql, { phone: BOB, campaignId, createdAt: minutesAfter(RUN_AT, 1) })
    // Dave: first phase unknown; an editor answered him later from the same number.
    const dave = await createLedgerRow(db.sql, { phone: DAVE, campaignId, createdAt: minutesAfter(RUN_AT, 1) })
    // Added newest first, as Twilio lists them.
    // Bodies: status rows sent 'First message' (createStatusRow), ledger rows the campaign's texts.
    sms(DAVE, 45, 'delivered', 'SMdaveManual', 'An editor typed this')
    sms(BOB, 45, 'delivered', 'SMbobManual', 'First message')
    sms(ALICE, 11, 'undelivered', 'SMalice2', 'Campaign second')
    sms(BOB, 11, 'sent', 'SMbob2', 'Campaign second')
    sms(ALICE, 1, 'delivered', 'SMalice1', 'First message')
    sms(BOB, 1, 'delivered', 'SMbob1', 'Campaign first')
    sms(DAVE, 1, 'failed', 'SMdave1', 'Campaign first')

    const { body } = await reconcile({ campaignId }, now)

    expect(body).toMatchObject({
      pairedInOrder: 1,
      unpairedMessages: 2,
      unknownResolvedSent: 4,
      unknownResolvedNotSent: 0,
    })
    expect((await statusRows(db.sql)).find((row) => row.id === aliceFirst)).toMatchObject({ twilio_id: 'SMalice1' })
    const rows = await ledgerById(db.sql)
    expect(rows.get(aliceSecond)).toMatchObject({
      state: 'sent',
      twilio_id: 'SMalice2',
      twilio_status: 'undelivered',
      twilio_sent_at: minutesAfter(RUN_AT, 11),
      resolved_at: now,
      detail: 'confirmed by Twilio reconcile (SMalice2, undelivered)',
    })
    expect(rows.get(bobFirst)).toMatchObject({ state: 'sent', twilio_id: 'SMbob1', twilio_status: 'delivered' })
    expect(rows.get(bobSecond)).toMatchObject({ state: 'sent', twilio_id: 'SMbob2', twilio_status: 'sent' })
    expect(rows.get(dave)).toMatchObject({ state: 'sent', twilio_id: 'SMdave1', twilio_status: 'failed' })

    // The next pass keeps their status up to date and does not hand their SMSs to anyone else.
    fakes.twilio.setStatus('SMbob2', 'delivered')
    const laterRow = await createStatusRow(db.sql, { phone: BOB, campaignId, createdAt: minutesAfter(RUN_AT, 30) })
    await db.sql`SELECT public.start_twilio_reconcile('campaign', ${campaignId})`
    const again = await reconcile({ campaignId }, minutesAfter(now, 60))
    expect(again.body).toMatchObject({ unknownResolvedSent: 0, unknownResolvedNotSent: 0, unknownRemaining: 0 })
    expect((await ledgerById(db.sql)).get(bobSecond)).toMatchObject({ twilio_id: 'SMbob2', twilio_status: 'delivered' })
    // Bob's open row takes his surplus SMS, never one an unknown send was resolved with.
    expect((await statusRows(db.sql)).find((row) => row.id === laterRow)).toMatchObject({ twilio_id: 'SMbobManual' })
  })
})
