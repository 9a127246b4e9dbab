import { describe, expect, it } from 'vitest'
import { signWebhookBody } from '../../src/shared/http/webhook-signature.ts'
import {
  authorOf,
  createMessageStatus,
  enqueueSecondMessage,
  pendingSecondMessages,
  webhookTableCounts,
} from '../support/factories/webhooks.ts'
import { CONTACT_PHONE, incomingSms, SMS_MESSAGE_ID, teamChange } from './fixtures/missive-events.ts'
import { useWebhookHarness } from './harness.ts'

// The webhook as a door: signatures, bad input, retries and redeliveries (DESIGN.md "Security
// model", "Upstream defects: Webhooks").

const { db, fakes, userAction } = useWebhookHarness()

const nothingWritten = async () => Object.values(await webhookTableCounts(db.sql)).every((count) => count === 0)

function stop() {
  const event = incomingSms()
  event.message.preview = 'STOP'
  event.message.delivered_at = Date.now() / 1000
  return event
}

describe('signature (401, nothing written)', () => {
  it('an unsigned request is refused', async () => {
    expect(await userAction(stop(), { signature: null })).toEqual({
      status: 401,
      body: { message: 'Missing signature header' },
    })
    expect(await nothingWritten()).toBe(true)
  })

  it('a request signed with another secret is refused', async () => {
    const raw = JSON.stringify(stop())
    const forged = await signWebhookBody('not-the-secret', raw)

    expect(await userAction(raw, { signature: forged })).toEqual({
      status: 401,
      body: { message: 'Invalid signature' },
    })
    expect(await nothingWritten()).toBe(true)
    expect(await authorOf(db.sql, CONTACT_PHONE)).toBeUndefined()
  })

  it('the signature covers the raw bytes: the same JSON re-serialised does not pass', async () => {
    const event = stop()
    const signedBytes = JSON.stringify(event)
    const signature = await signWebhookBody('local-missive-webhook-secret', signedBytes)

    expect((await userAction(JSON.stringify(event, null, 2), { signature })).status).toBe(401)
    expect(await nothingWritten()).toBe(true)
  })

  it('a bare hex signature (no `sha256=` prefix) is accepted, as upstream', async () => {
    const raw = JSON.stringify(teamChange())
    const signature = (await signWebhookBody('local-missive-webhook-secret', raw)).replace('sha256=', '')

    expect(await userAction(raw, { signature })).toEqual({ status: 200, body: {} })
  })

  it('the singular name answers too', async () => {
    expect(await userAction(teamChange(), { path: 'user-action' })).toEqual({ status: 200, body: {} })
  })
})

describe('bad input (4xx, recorded, nothing else written)', () => {
  it('malformed JSON is a 400, recorded in errors', async () => {
    expect(await userAction('{"rule": {"id": ')).toEqual({ status: 400, body: { message: 'Malformed JSON body' } })

    const counts = await webhookTableCounts(db.sql)
    expect(counts.errors).toBe(1)
    expect(Object.entries(counts).filter(([table, count]) => table !== 'errors' && count > 0)).toEqual([])
    expect(await db.sql`SELECT message, request_body FROM public.errors`).toEqual([
      { message: 'Malformed JSON body', request_body: '{"rule": {"id": ' },
    ])
  })

  // Issue 11: a 200 as upstream answered, so Missive does not retry it forever (was a 422).
  it('an unknown rule type is a 200: recorded in invoke_history and errors, nothing handled', async () => {
    const event = teamChange()
    event.rule.type = 'conversation_merged'

    expect(await userAction(event)).toEqual({
      status: 200,
      body: { message: 'Unhandled rule type: conversation_merged', ignored: true },
    })

    const counts = await webhookTableCounts(db.sql)
    expect(Object.entries(counts).filter(([, count]) => count > 0)).toEqual([['invoke_history', 1], ['errors', 1]])
    expect(await db.sql`SELECT rule_id, rule_type, message FROM public.errors`).toEqual([
      { rule_id: event.rule.id, rule_type: 'conversation_merged', message: 'Unhandled rule type: conversation_merged' },
    ])
  })

  it('an SMS event without its message is a 400 naming the field', async () => {
    const event = incomingSms() as Partial<ReturnType<typeof incomingSms>>
    delete event.message

    const result = await userAction(event)

    expect(result.status).toBe(400)
    expect(result.body.message).toMatch(/^Invalid incoming_twilio_message payload: \[message\]/)
    expect(await db.sql`SELECT 1 FROM public.twilio_messages`).toHaveLength(0)
    expect(await db.sql`SELECT 1 FROM public.errors`).toHaveLength(1)
  })

  it('a malformed conversation id is a 400, never a database error', async () => {
    const event = teamChange()
    event.conversation.id = 'not-a-uuid'

    const result = await userAction(event)

    expect(result.status).toBe(400)
    expect(result.body.message).toContain('[conversation,id] must be a UUID')
    expect(await db.sql`SELECT 1 FROM public.conversations`).toHaveLength(0)
  })

  it('a body without a rule is a 400', async () => {
    const result = await userAction({ conversation: teamChange().conversation })

    expect(result.status).toBe(400)
    expect(result.body.message).toContain('[rule]')
  })

  it('a minimal conversation event (only ids) is handled with defaults', async () => {
    const minimal = {
      rule: { id: teamChange().rule.id, type: 'label_change' },
      conversation: { id: teamChange().conversation.id },
    }

    expect(await userAction(minimal)).toEqual({ status: 200, body: {} })

    expect(await db.sql`SELECT web_url, messages_count, organization_id FROM public.conversations`).toEqual([
      { web_url: '', messages_count: 0, organization_id: null },
    ])
  })

  it('an event missing optional parts does not erase what an earlier one stored', async () => {
    await userAction(teamChange())
    const sparse = {
      rule: { id: teamChange().rule.id, type: 'label_change' },
      conversation: { id: teamChange().conversation.id, subject: 'renamed' },
    }

    await userAction(sparse)

    expect(await db.sql`SELECT subject, web_url, tasks_count, organization_id, team_id FROM public.conversations`)
      .toEqual([
        {
          subject: 'renamed',
          web_url: teamChange().conversation.web_url,
          tasks_count: 3,
          organization_id: teamChange().conversation.organization.id,
          team_id: teamChange().conversation.team.id,
        },
      ])
    // No labels in the event: the links are left as they were, not archived.
    expect(await db.sql`SELECT 1 FROM public.conversations_labels`).toHaveLength(0)
  })
})

describe('redeliveries and retries', () => {
  it('the same delivery twice changes nothing the second time and posts once', async () => {
    await createMessageStatus(db.sql, { recipient: CONTACT_PHONE, createdAt: new Date(Date.now() - 600_000) })
    const raw = JSON.stringify(stop())

    expect(await userAction(raw)).toEqual({ status: 200, body: {} })
    const after = await webhookTableCounts(db.sql)
    const rows = await db.sql`SELECT * FROM public.unsubscribed_messages`
    expect(await userAction(raw)).toEqual({ status: 200, body: {} })

    expect(await webhookTableCounts(db.sql)).toEqual({ ...after, invoke_history: after.invoke_history! + 1 })
    expect(await db.sql`SELECT * FROM public.unsubscribed_messages`).toEqual(rows)
    expect(fakes.missive.posts).toHaveLength(1)
  })

  it('two identical deliveries at once: one opt-out record, one post', async () => {
    const raw = JSON.stringify(stop())

    const results = await Promise.all([userAction(raw), userAction(raw)])

    expect(results.map((result) => result.status)).toEqual([200, 200])
    expect(await db.sql`SELECT twilio_message_id FROM public.unsubscribed_messages`).toEqual([{
      twilio_message_id: SMS_MESSAGE_ID,
    }])
    expect(fakes.missive.posts).toHaveLength(1)
  })

  it('a redelivery with different bytes (counters moved on) does not repeat the opt-out', async () => {
    await userAction(stop())
    const again = stop()
    again.conversation.messages_count = 162

    expect(await userAction(again)).toEqual({ status: 200, body: {} })

    expect(await db.sql`SELECT 1 FROM public.unsubscribed_messages`).toHaveLength(1)
    expect(fakes.missive.posts).toHaveLength(1)
    expect(await db.sql`SELECT messages_count FROM public.conversations`).toEqual([{ messages_count: 162 }])
  })

  it('a failed confirmation post answers 502; the retry posts it once', async () => {
    fakes.missive.failNext(1, 'unavailable')
    const raw = JSON.stringify(stop())

    const first = await userAction(raw)

    expect(first.status).toBe(502)
    expect(first.body.message).toMatch(/^Could not post the confirmation to Missive/)
    // The opt-out itself is committed: no text reaches the person meanwhile.
    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
    expect(fakes.missive.posts).toHaveLength(0)
    expect(await db.sql`SELECT 1 FROM public.errors`).toHaveLength(1)

    expect(await userAction(raw)).toEqual({ status: 200, body: {} })
    expect(fakes.missive.posts.map((post) => post.text)).toEqual([
      `This phone number ${CONTACT_PHONE} has now been unsubscribed`,
    ])
    expect(await db.sql`SELECT 1 FROM public.unsubscribed_messages`).toHaveLength(1)

    expect(await userAction(raw)).toEqual({ status: 200, body: {} })
    expect(fakes.missive.posts).toHaveLength(1)
  })

  it('a failure inside the handling answers 500, stores nothing, and the retry runs the STOP handling', async () => {
    // Upstream committed the message first, so a retry failed on the duplicate and the STOP was
    // never handled (spec §8.4 #21). Here the message and its consequences commit together.
    const followUp = await enqueueSecondMessage(db.sql, CONTACT_PHONE)
    await db.sql.unsafe(`
      CREATE FUNCTION pg_temp_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
      CREATE TRIGGER fail_once BEFORE INSERT ON public.unsubscribed_messages FOR EACH ROW EXECUTE FUNCTION pg_temp_fail();`)
    const raw = JSON.stringify(stop())

    expect(await userAction(raw)).toEqual({ status: 500, body: { message: 'Internal Server Error' } })
    expect(await db.sql`SELECT 1 FROM public.twilio_messages`).toHaveLength(0)
    expect(await authorOf(db.sql, CONTACT_PHONE)).toBeUndefined()
    expect(await pendingSecondMessages(db.sql)).toEqual([followUp])
    expect(await db.sql`SELECT message FROM public.errors`).toEqual([{ message: 'disk full' }])

    await db.sql.unsafe('DROP TRIGGER fail_once ON public.unsubscribed_messages; DROP FUNCTION pg_temp_fail();')
    expect(await userAction(raw)).toEqual({ status: 200, body: {} })

    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
    expect(await db.sql`SELECT 1 FROM public.unsubscribed_messages`).toHaveLength(1)
    expect(await pendingSecondMessages(db.sql)).toEqual([])
    expect(fakes.missive.posts).toHaveLength(1)
  })
})
