import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MissiveFake, startMissiveFake } from '../../src/local/fakes/missive.ts'
import { startTwilioFake, type TwilioFake } from '../../src/local/fakes/twilio.ts'
import { createMissiveClient } from '../../src/shared/missive/index.ts'
import { createTwilioClient } from '../../src/shared/twilio/index.ts'
import { ACCOUNT_SID, AUTH_TOKEN, FROM_PHONE, ORGANIZATION_ID, TOKENS } from './constants.ts'

// The local stack reconciles what it sent: a draft sent through the Missive fake must show up in
// the Twilio fake's list, and Missive's message read must point at the same SID.

let twilioFake: TwilioFake
let missiveFake: MissiveFake
beforeAll(async () => {
  twilioFake = await startTwilioFake({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN })
  missiveFake = await startMissiveFake({
    tokens: Object.values(TOKENS),
    organizationId: ORGANIZATION_ID,
    twilio: twilioFake,
    deliveryStatus: (draft) => (draft.to.endsWith('0') ? 'undelivered' : 'delivered'),
  })
})
afterAll(async () => {
  await missiveFake.close()
  await twilioFake.close()
})

describe('Missive fake feeding the Twilio fake', () => {
  it('records each sent draft as a Twilio message from the broadcast number', async () => {
    const before = new Date(Date.now() - 1_000)
    const missive = createMissiveClient({
      baseUrl: missiveFake.baseUrl,
      tokens: TOKENS,
      organizationId: ORGANIZATION_ID,
      fromPhoneNumber: FROM_PHONE,
      timeoutMs: 2_000,
    })
    const delivered = await missive.sendDraft({ body: 'hello', to: '+13135550101', phase: 'first' })
    const failed = await missive.sendDraft({ body: 'hello', to: '+13135550110', phase: 'first' })
    if (!delivered.ok || !failed.ok) throw new Error('send failed')

    const page = await createTwilioClient({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      baseUrl: twilioFake.baseUrl,
    })
      .listMessagesPage({ from: FROM_PHONE, dateSentAfter: before, pageSize: 50 })
    expect(page.messages.map(({ to, from, status }) => ({ to, from, status })).sort((a, b) => a.to.localeCompare(b.to)))
      .toEqual([
        { to: '+13135550101', from: FROM_PHONE, status: 'delivered' },
        { to: '+13135550110', from: FROM_PHONE, status: 'undelivered' },
      ])

    const message = await missive.getMessage(delivered.draftId)
    const sid = page.messages.find((candidate) => candidate.to === '+13135550101')?.sid
    expect(message).toMatchObject({ ok: true, externalId: sid })
    if (message.ok) expect(message.deliveredAt).toBeGreaterThan(before.getTime() / 1000)
    expect(await missive.getMessage(failed.draftId)).toMatchObject({ ok: true, deliveredAt: null })
  })
})
