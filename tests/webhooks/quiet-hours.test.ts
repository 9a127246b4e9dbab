import { describe, expect, it } from 'vitest'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { sendMessagesFunction } from '../../src/shared/sending/send-messages-function.ts'
import { adminActionFunction } from '../../src/shared/webhooks/admin-action-function.ts'
import { userActionFunction } from '../../src/shared/webhooks/user-action-function.ts'
import { createTestDeps, SECRET_KEY } from '../support/app.ts'
import { campaignPayload, createCampaign, enqueue, queueRows } from '../support/factories/sending.ts'
import { authorOf, createAuthorRow, deliver } from '../support/factories/webhooks.ts'
import { adminComment, CONTACT_PHONE, smsFromContact } from './fixtures/missive-events.ts'
import { useWebhookHarness } from './harness.ts'

// Issue 14 part 3: quiet hours hold broadcast and campaign texts only. What answers a person (the
// opt-out and opt-in confirmations) and what an admin's action posts go out at 23:00 as at noon,
// while a campaign text queued for the same person waits for 08:00.

const { db, fakes } = useWebhookHarness()

const NIGHT = new Date('2026-12-01T23:00:00-05:00')
const deps = () =>
  createTestDeps(db.sql, {
    env: { ...fakes.env, QUIET_HOURS: '21:00-08:00', BROADCAST_TIME_ZONE: 'America/Detroit' },
    now: () => NIGHT,
  })

async function drainAtNight() {
  const response = await createFunctionApp(sendMessagesFunction, deps()).request('/send-messages/', {
    method: 'POST',
    headers: { apikey: SECRET_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ isSecond: false }),
  })
  return await response.json() as Record<string, unknown>
}

describe('not held by quiet hours', () => {
  it('a STOP at 23:00 is confirmed at once, while the queued campaign text is held', async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: false })
    const campaignId = await createCampaign(db.sql, { secondMessage: null })
    await enqueue(db.sql, campaignPayload(campaignId, { recipient_phone_number: '+13135550177', second_message: null }))

    expect(await drainAtNight()).toMatchObject({ sent: 0, stoppedBy: 'quiet-hours' })
    expect(await queueRows(db.sql)).toHaveLength(1)

    const userAction = createFunctionApp(userActionFunction, deps())
    expect((await deliver(userAction, smsFromContact('STOP', NIGHT))).status).toBe(200)
    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
    expect(fakes.missive.posts.map((post) => post.text)).toEqual([
      `This phone number ${CONTACT_PHONE} has now been unsubscribed`,
    ])
    expect(fakes.missive.drafts).toHaveLength(0)
  })

  it('an opt-in at 23:00 is confirmed at once', async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: true })
    const userAction = createFunctionApp(userActionFunction, deps())
    expect((await deliver(userAction, smsFromContact('START', NIGHT))).status).toBe(200)
    expect(fakes.missive.posts.map((post) => post.text)).toEqual([
      `This phone number ${CONTACT_PHONE} has now been resubscribed`,
    ])
  })

  it("an admin's unsubscribe at 23:00 posts its note at once", async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE)
    const adminAction = createFunctionApp(adminActionFunction, deps())
    const delivery = await deliver(adminAction, adminComment('Unsubscribe'), {
      path: 'admin-action?action=unsubscribe',
    })
    expect(delivery.status).toBe(200)
    expect(fakes.missive.posts.map((post) => post.text)).toEqual([
      `This phone number ${CONTACT_PHONE} has now been unsubscribed by User 1.`,
    ])
  })
})
