import { beforeEach, describe, expect, it } from 'vitest'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { reconcileTwilioStatusFunction } from '../../src/shared/reconcile/reconcile-function.ts'
import { callSendMessages } from '../sending/helpers.ts'
import { createTestDeps, SECRET_KEY } from '../support/app.ts'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'
import { createCampaign, createLabel, labelPhone } from '../support/factories/campaigns.ts'
import { useFakes } from '../support/fakes.ts'

// Issue 14: an `unknown` send of a templated text is settled by pairing Twilio's body with the text
// rendered for that person (message_sends.sent_text), not with the template it came from.

const db = useTestDatabase()
const fakes = useFakes()

beforeEach(async () => {
  await resetDatabase(db.sql)
  await setVaultSecrets(db.sql, { edgeFunctionUrl: 'http://edge.test/functions/v1/', secretKey: SECRET_KEY })
})

const ANA = '+13135550101'

async function settle(now: Date) {
  const deps = createTestDeps(db.sql, { env: fakes.env, now: () => now })
  const response = await createFunctionApp(reconcileTwilioStatusFunction, deps).request(
    '/reconcile-twilio-status/settle-unknown/',
    { method: 'POST', headers: { 'content-type': 'application/json', apikey: SECRET_KEY }, body: '{}' },
  )
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

async function waitFor(condition: () => boolean, timeoutMs = 3_000) {
  const until = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('reconcile of a personalised send', () => {
  it('an unknown send is confirmed by the Twilio message carrying the text rendered for that person', async () => {
    const label = await createLabel(db.sql)
    await db.sql`INSERT INTO public.authors (phone_number, name) VALUES (${ANA}, 'Ana Pérez')`
    await labelPhone(db.sql, label.id, ANA)
    const id = await createCampaign(db.sql, {
      runAt: new Date(Date.now() - 5 * 60_000),
      segments: { included: { id: label.id } },
      firstMessage: 'Hi {{first_name|neighbor}}, polls open at 7',
      secondMessage: null,
      recipientCount: 1,
    })
    await db.sql`SELECT public.check_and_run_campaigns(${new Date()})`

    // Missive acts after our timeout: the outcome is unknown, the SMS went out.
    fakes.missive.setLatency(600)
    expect((await callSendMessages(db.sql, fakes, {}, { MISSIVE_TIMEOUT_MS: '200' })).body).toMatchObject({
      unknown: 1,
    })
    await waitFor(() => fakes.twilio.messages().length === 1)
    fakes.missive.setLatency(0)
    const [sms] = fakes.twilio.messages()
    expect(sms!.body).toBe('Hi Ana, polls open at 7')

    const { status, body } = await settle(new Date(Date.now() + 3 * 60_000))
    expect(status).toBe(200)
    expect(body).toMatchObject({ checked: 1, resolvedSent: 1, resolvedNotSent: 0 })
    const [row] = await db.sql`SELECT state, twilio_id, sent_text FROM public.message_sends WHERE campaign_id = ${id}`
    expect(row).toEqual({ state: 'sent', twilio_id: sms!.sid, sent_text: 'Hi Ana, polls open at 7' })
  })
})
