import twilio from 'twilio'
import { beforeEach, describe, expect, it } from 'vitest'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { reconcileTwilioStatusFunction } from '../../src/shared/reconcile/reconcile-function.ts'
import { createTestDeps, exampleEnv } from '../support/app.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import {
  createSentBroadcast,
  createStatusRow,
  minutesAfter,
  SOURCE_PHONE,
  statusRows,
} from '../support/factories/reconcile.ts'

const db = useTestDatabase()
beforeEach(() => resetDatabase(db.sql))

const CALLBACK_URL = 'https://project.example.test/functions/v1/reconcile-twilio-status/status-callback'
const NOW = new Date('2025-01-15T19:00:00Z')
const ALICE = '+13135550101'

function app(env: Record<string, string> = { TWILIO_STATUS_CALLBACK_URL: CALLBACK_URL }) {
  return createFunctionApp(reconcileTwilioStatusFunction, createTestDeps(db.sql, { env, now: () => NOW }))
}

/** Signed the way Twilio signs (the official helper), over the configured URL. */
function signed(params: Record<string, string>, url = CALLBACK_URL) {
  return twilio.getExpectedTwilioSignature(exampleEnv.TWILIO_AUTH_TOKEN, url, params)
}

async function callback(params: Record<string, string>, signature: string | null = signed(params), target = app()) {
  const response = await target.request('/reconcile-twilio-status/status-callback', {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(signature === null ? {} : { 'x-twilio-signature': signature }),
    },
    body: new URLSearchParams(params).toString(),
  })
  return { status: response.status, body: await response.json() }
}

const params = (sid: string, status: string, extra: Record<string, string> = {}) => ({
  AccountSid: exampleEnv.TWILIO_ACCOUNT_SID,
  ApiVersion: '2010-04-01',
  From: SOURCE_PHONE,
  To: ALICE,
  MessageSid: sid,
  SmsSid: sid,
  MessageStatus: status,
  SmsStatus: status,
  ...extra,
})

describe('POST /reconcile-twilio-status/status-callback', () => {
  it('updates the row carrying the SID at once, with no apikey (the signature is the gate)', async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: minutesAfter(NOW, -30) })
    await createStatusRow(db.sql, {
      phone: ALICE,
      broadcastId,
      createdAt: minutesAfter(NOW, -20),
      twilioId: 'SMa',
      status: 'sent',
    })

    expect(await callback(params('SMa', 'undelivered', { ErrorCode: '30003' }))).toEqual({ status: 200, body: {} })

    const [row] = await statusRows(db.sql)
    expect(row).toMatchObject({ twilio_id: 'SMa', twilio_sent_status: 'undelivered', updated_at: NOW })
  })

  it('without a known SID, takes the newest un-reconciled row for To with that text from the last 24 hours', async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: minutesAfter(NOW, -60 * 30) })
    const stale = await createStatusRow(db.sql, { phone: ALICE, broadcastId, createdAt: minutesAfter(NOW, -60 * 25) })
    const older = await createStatusRow(db.sql, { phone: ALICE, broadcastId, createdAt: minutesAfter(NOW, -30) })
    const newest = await createStatusRow(db.sql, {
      phone: ALICE,
      broadcastId,
      isSecond: true,
      createdAt: minutesAfter(NOW, -1),
    })

    // Twilio's callback carries no body unless configured to; the fallback needs it (issue 9 #6).
    expect((await callback(params('SMnew', 'sent', { Body: 'Second message' }))).status).toBe(200)

    const rows = new Map((await statusRows(db.sql)).map((row) => [row.id, row]))
    expect(rows.get(newest)).toMatchObject({ twilio_id: 'SMnew', twilio_sent_status: 'sent', twilio_sent_at: NOW })
    expect(rows.get(older)).toMatchObject({ twilio_id: null })
    expect(rows.get(stale)).toMatchObject({ twilio_id: null })

    // The next callback for the same SMS finds it by SID, not by recipient.
    await callback(params('SMnew', 'delivered'))
    expect((await statusRows(db.sql)).filter((row) => row.twilio_id === 'SMnew').map((row) => row.id)).toEqual([newest])
  })

  it("never gives a staff reply's SMS (another body) to a broadcast row, nor uses the fallback without a body (issue 9 #6)", async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: minutesAfter(NOW, -60) })
    const first = await createStatusRow(db.sql, { phone: ALICE, broadcastId, createdAt: minutesAfter(NOW, -30) })

    await callback(params('SMstaff', 'delivered', { Body: 'Thanks, we will look into it' }))
    await callback(params('SMnobody', 'delivered'))
    expect((await statusRows(db.sql)).find((row) => row.id === first)).toMatchObject({ twilio_id: null })

    // The broadcast's own SMS (its text) takes the row.
    await callback(params('SMfirst', 'sent', { Body: 'First message' }))
    expect((await statusRows(db.sql)).find((row) => row.id === first)).toMatchObject({ twilio_id: 'SMfirst' })
  })

  it('does not move a final status back when callbacks arrive out of order', async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: minutesAfter(NOW, -30) })
    await createStatusRow(db.sql, {
      phone: ALICE,
      broadcastId,
      createdAt: minutesAfter(NOW, -20),
      twilioId: 'SMa',
      status: 'sent',
    })

    await callback(params('SMa', 'delivered'))
    await callback(params('SMa', 'sent'))
    await callback(params('SMa', 'queued'))
    expect((await statusRows(db.sql))[0]!.twilio_sent_status).toBe('delivered')

    // A later final status (a carrier correcting itself) still applies.
    await callback(params('SMa', 'undelivered', { ErrorCode: '30005' }))
    expect((await statusRows(db.sql))[0]!.twilio_sent_status).toBe('undelivered')
  })

  it('answers 200 when no row matches, and leaves rows of other numbers alone', async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: minutesAfter(NOW, -30) })
    await createStatusRow(db.sql, { phone: '+13135550199', broadcastId, createdAt: minutesAfter(NOW, -5) })
    expect(await callback(params('SMnobody', 'delivered'))).toEqual({ status: 200, body: {} })
    // An SMS from another number cannot be a broadcast SMS: no fallback by recipient.
    await createStatusRow(db.sql, { phone: ALICE, broadcastId, createdAt: minutesAfter(NOW, -5) })
    await callback(params('SMmanual', 'delivered', { From: '+18005550999' }))
    expect((await statusRows(db.sql)).map((row) => row.twilio_id)).toEqual([null, null])
  })

  it('is 401 for a forged signature or without one, changing nothing (issue 11)', async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: minutesAfter(NOW, -30) })
    await createStatusRow(db.sql, {
      phone: ALICE,
      broadcastId,
      createdAt: minutesAfter(NOW, -5),
      twilioId: 'SMa',
      status: 'sent',
    })
    const genuine = params('SMa', 'failed')

    const forgedToken = twilio.getExpectedTwilioSignature('not-the-auth-token', CALLBACK_URL, genuine)
    expect(await callback(genuine, forgedToken)).toEqual({
      status: 401,
      body: { message: 'Invalid X-Twilio-Signature' },
    })
    // Signed for other parameters than those sent.
    expect((await callback(genuine, signed(params('SMa', 'delivered')))).status).toBe(401)
    // Signed for another URL than the configured one.
    expect((await callback(genuine, signed(genuine, 'https://evil.example.test/status-callback'))).status).toBe(401)
    expect(await callback(genuine, null)).toEqual({
      status: 401,
      body: { message: 'Missing X-Twilio-Signature header' },
    })

    expect((await statusRows(db.sql))[0]!.twilio_sent_status).toBe('sent')
  })

  it('is 503 when TWILIO_STATUS_CALLBACK_URL is not configured', async () => {
    const result = await callback(params('SMa', 'sent'), 'anything', app({ TWILIO_STATUS_CALLBACK_URL: '' }))
    expect(result.status).toBe(503)
    expect(result.body).toEqual({ message: expect.stringMatching(/not configured.*TWILIO_STATUS_CALLBACK_URL/) })
  })

  it('is 400 when a signed callback lacks MessageSid', async () => {
    const { MessageSid: _sid, ...withoutSid } = params('SMa', 'sent')
    const result = await callback(withoutSid)
    expect(result.status).toBe(400)
    expect((result.body as { message: string }).message).toMatch(/MessageSid/)
  })
})
