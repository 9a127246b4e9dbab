import { beforeEach, describe, expect, it } from 'vitest'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { reconcileTwilioStatusFunction } from '../../src/shared/reconcile/reconcile-function.ts'
import { callSendMessages } from '../sending/helpers.ts'
import { createTestDeps, SECRET_KEY } from '../support/app.ts'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'
import { createCampaign, createLabel, labelPhone } from '../support/factories/campaigns.ts'
import { useFakes } from '../support/fakes.ts'

// Issue 9 #5: an `unknown` send is settled within minutes, not only by the hourly/daily reconcile:
// one that went out gets its follow-up while that is still timely; one proven not sent is retried.

const db = useTestDatabase()
const fakes = useFakes()

beforeEach(async () => {
  await resetDatabase(db.sql)
  await setVaultSecrets(db.sql, { edgeFunctionUrl: 'http://edge.test/functions/v1/', secretKey: SECRET_KEY })
})

const ALICE = '+13135550101'
const BOB = '+13135550102'
const minutesFromNow = (minutes: number) => new Date(Date.now() + minutes * 60_000)

async function settle(now: Date) {
  const deps = createTestDeps(db.sql, { env: fakes.env, now: () => now })
  const response = await createFunctionApp(reconcileTwilioStatusFunction, deps).request(
    '/reconcile-twilio-status/settle-unknown/',
    { method: 'POST', headers: { 'content-type': 'application/json', apikey: SECRET_KEY }, body: '{}' },
  )
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

/** A campaign with a follow-up (delay 600 s), due 5 minutes ago and run: its recipients are queued. */
async function runCampaign(phones: string[]): Promise<number> {
  const label = await createLabel(db.sql)
  for (const phone of phones) {
    await db.sql`INSERT INTO public.authors (phone_number) VALUES (${phone})`
    await labelPhone(db.sql, label.id, phone)
  }
  const id = await createCampaign(db.sql, {
    runAt: new Date(Date.now() - 5 * 60_000),
    segments: { included: { id: label.id } },
    secondMessage: 'Reply YES for more',
    delay: 600,
    recipientCount: phones.length,
  })
  await db.sql`SELECT public.check_and_run_campaigns(${new Date()})`
  return id
}

const ledgerOf = async (campaignId: number) =>
  db.sql<{ phone: string; is_second: boolean; state: string; detail: string | null; twilio_id: string | null }[]>`
    SELECT recipient_phone_number AS phone, is_second, state, detail, twilio_id
    FROM public.message_sends WHERE campaign_id = ${campaignId} ORDER BY recipient_phone_number, is_second`

const followUps = () =>
  db.sql<{ phone: string; due_in: number }[]>`
    SELECT message->>'recipient_phone_number' AS phone, extract(epoch FROM vt - now())::int AS due_in
    FROM pgmq.q_broadcast_second_messages ORDER BY msg_id`

async function waitFor(condition: () => boolean, timeoutMs = 3_000) {
  const until = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('settling unknown sends within minutes (issue 9 #5)', () => {
  it('a send that went out (Missive acted after our timeout) is confirmed and its follow-up queued in time', async () => {
    const id = await runCampaign([ALICE])
    fakes.missive.setLatency(600)
    expect((await callSendMessages(db.sql, fakes, {}, { MISSIVE_TIMEOUT_MS: '200' })).body).toMatchObject({
      unknown: 1,
    })
    await waitFor(() => fakes.twilio.messages().length === 1)
    fakes.missive.setLatency(0)
    expect(await followUps()).toEqual([])

    // Three minutes later, the per-minute job runs (no reconcile pass is due for hours).
    const { status, body } = await settle(minutesFromNow(3))

    expect(status).toBe(200)
    expect(body).toMatchObject({ checked: 1, resolvedSent: 1, followUpsQueued: 1, resolvedNotSent: 0 })
    const [row] = await ledgerOf(id)
    expect(row).toMatchObject({ phone: ALICE, state: 'sent', twilio_id: fakes.twilio.messages()[0]!.sid })
    expect(row!.detail).toMatch(/^confirmed by Twilio lookup .*follow-up queued as \d+/)
    // Due 600 s after the first SMS: the job's clock says 3 minutes have passed, so 420 s from now.
    const [followUp] = await followUps()
    expect(followUp!.phone).toBe(ALICE)
    expect(followUp!.due_in).toBeGreaterThan(400)
    expect(followUp!.due_in).toBeLessThanOrEqual(420)
  })

  it('a follow-up is not queued once it would be late (delay + 30 min grace), nor after the person replied', async () => {
    const id = await runCampaign([ALICE, BOB])
    fakes.missive.setLatency(600)
    await callSendMessages(db.sql, fakes, {}, { MISSIVE_TIMEOUT_MS: '200' })
    await waitFor(() => fakes.twilio.messages().length === 2)
    fakes.missive.setLatency(0)
    await db.sql`
      INSERT INTO public.twilio_messages (preview, delivered_at, "references", from_field, to_field, is_reply)
      VALUES ('Who is this?', now() + interval '1 second', '{}', ${BOB}, ${BOB}, true)`

    const early = await settle(minutesFromNow(3))
    expect(early.body).toMatchObject({ resolvedSent: 2, followUpsQueued: 1 })
    expect((await followUps()).map((f) => f.phone)).toEqual([ALICE])
    expect((await ledgerOf(id)).find((r) => r.phone === BOB)!.detail).toMatch(/follow-up not queued: replied/)

    await resetDatabase(db.sql)
    fakes.twilio.reset()
    const late = await runCampaign([ALICE])
    fakes.missive.setLatency(600)
    await callSendMessages(db.sql, fakes, {}, { MISSIVE_TIMEOUT_MS: '200' })
    await waitFor(() => fakes.twilio.messages().length === 1)
    fakes.missive.setLatency(0)
    expect((await settle(minutesFromNow(41))).body).toMatchObject({ resolvedSent: 1, followUpsQueued: 0 })
    expect((await ledgerOf(late))[0]!.detail).toMatch(/too late/)
    expect(await followUps()).toEqual([])
  })

  it('a send Missive never acted on is proven not sent within minutes and retried, exactly once', async () => {
    const id = await runCampaign([ALICE])
    fakes.missive.failNext(1, 'hang', { path: '/v1/drafts', hangMs: 1_000 })
    expect((await callSendMessages(db.sql, fakes, {}, { MISSIVE_TIMEOUT_MS: '300' })).body).toMatchObject({
      unknown: 1,
    })
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    expect(fakes.twilio.messages()).toHaveLength(0)

    // Too early to call it lost: Missive might still hand it to Twilio.
    expect((await settle(minutesFromNow(3))).body).toMatchObject({ checked: 1, resolvedNotSent: 0 })
    expect((await ledgerOf(id))[0]).toMatchObject({ state: 'unknown' })

    const { body } = await settle(minutesFromNow(11))
    expect(body).toMatchObject({ resolvedNotSent: 1, requeued: 1 })
    expect((await ledgerOf(id))[0]!.detail).toMatch(/not found at Twilio .*re-queued as \d+/)

    expect((await callSendMessages(db.sql, fakes)).body).toMatchObject({ sent: 1 })
    // The first request hung without Missive acting on it: one draft and one SMS in all.
    expect(fakes.missive.drafts.filter((d) => d.to === ALICE)).toHaveLength(1)
    expect(fakes.twilio.messages().filter((m) => m.to === ALICE)).toHaveLength(1)
    expect((await ledgerOf(id))[0]).toMatchObject({ state: 'sent' })
    expect((await settle(minutesFromNow(30))).body).toMatchObject({ checked: 0 })
  })

  it('the per-minute job calls the function only while an unknown send is due for a lookup', async () => {
    const [{ jobs }] = await db.sql`
      SELECT count(*)::int AS jobs FROM cron.job WHERE jobname = 'settle-unknown-sends' AND schedule = '* * * * *'`
    expect(jobs).toBe(1)
    const tick = async (now: Date) =>
      (await db.sql`SELECT public.settle_unknown_sends_tick(${now}) AS called`)[0]!.called
    expect(await tick(new Date())).toBe(false)

    await runCampaign([ALICE])
    fakes.missive.failNext(1, 'hang', { path: '/v1/drafts', hangMs: 1_000 })
    await callSendMessages(db.sql, fakes, {}, { MISSIVE_TIMEOUT_MS: '300' })
    expect(await tick(new Date())).toBe(false)
    expect(await tick(minutesFromNow(3))).toBe(true)
    const requests = await db.sql`SELECT url FROM net.http_request_queue WHERE url LIKE '%settle-unknown%'`
    expect(requests.map((r) => r.url)).toEqual([
      'http://edge.test/functions/v1/reconcile-twilio-status/settle-unknown/',
    ])
  })
})
