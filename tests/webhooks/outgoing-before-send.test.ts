import { describe, expect, it } from 'vitest'
import { broadcastPayload, createAuthor, createBroadcast, enqueue, PHONE } from '../support/factories/sending.ts'
import { callSendMessages } from '../sending/helpers.ts'
import { outgoingSms } from './fixtures/missive-events.ts'
import { useWebhookHarness } from './harness.ts'

// Issue 9 item 10: Missive's outgoing-SMS webhook can arrive between Missive accepting our draft
// and the sender committing the send. It found no message_statuses row and dropped the SID; the
// row then waited for the reconcile. Now the webhook is kept and attached when the send commits.

const { db, fakes, userAction } = useWebhookHarness()

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting until ${what}`)
    await sleep(20)
  }
}

/**
 * Sends one broadcast message while the send's recording is held back, and delivers the outgoing
 * webhook for the draft in between: the order the race produces.
 */
async function webhookBeforeTheSendCommits(payloadSid: (sid: string) => string | null) {
  await createAuthor(db.sql, PHONE)
  await enqueue(db.sql, broadcastPayload(await createBroadcast(db.sql)))
  const blocker = await db.sql.reserve()
  await blocker`BEGIN`
  await blocker`LOCK TABLE public.message_statuses IN SHARE ROW EXCLUSIVE MODE`
  const drain = callSendMessages(db.sql, fakes, { isSecond: false })
  await until('Missive has the draft', () => fakes.missive.drafts.length === 1)
  const draft = fakes.missive.drafts[0]!

  const event = outgoingSms()
  event.message.id = draft.id
  event.message.external_id = payloadSid(draft.externalId!) as string
  const webhook = await userAction(event)

  await blocker`COMMIT`
  blocker.release()
  const sent = await drain
  return { draft, webhook, sent }
}

const statusRow = async () =>
  (await db.sql`SELECT missive_id, twilio_id, twilio_sent_status FROM public.message_statuses`)[0]

describe('an outgoing-SMS webhook that arrives before the send is recorded', () => {
  it('keeps the SID it carries and attaches it when the send commits', async () => {
    const { draft, webhook, sent } = await webhookBeforeTheSendCommits((sid) => sid)

    expect(webhook.status).toBe(200)
    expect(sent.body).toMatchObject({ sent: 1 })
    expect(await statusRow()).toMatchObject({ missive_id: draft.id, twilio_id: draft.externalId })
    expect(await db.sql`SELECT 1 FROM public.outgoing_sms_early`).toHaveLength(0)
  })

  it('without a SID in the webhook, asks Missive for it once the send commits', async () => {
    const { draft, sent } = await webhookBeforeTheSendCommits(() => null)

    expect(sent.body).toMatchObject({ sent: 1 })
    expect(await statusRow()).toMatchObject({ missive_id: draft.id, twilio_id: draft.externalId })
    expect(fakes.missive.requests.filter((r) => r.path === `/v1/messages/${draft.id}`).length).toBeGreaterThan(0)
  })

  it('a webhook for a message that is not ours is kept only for a while and changes nothing', async () => {
    await userAction(outgoingSms())

    expect(fakes.missive.requests).toHaveLength(0)
    expect(await db.sql`SELECT 1 FROM public.message_statuses`).toHaveLength(0)
    await db.sql`UPDATE public.outgoing_sms_early SET received_at = now() - interval '2 days'`
    const other = outgoingSms()
    other.message.id = crypto.randomUUID()
    await userAction(other)
    expect(await db.sql`SELECT missive_message_id FROM public.outgoing_sms_early`).toEqual([
      { missive_message_id: other.message.id },
    ])
  })
})
