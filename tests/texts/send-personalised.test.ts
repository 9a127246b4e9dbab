import { beforeEach, describe, expect, it } from 'vitest'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { useFakes } from '../support/fakes.ts'
import {
  broadcastPayload,
  createBroadcast,
  createCampaign,
  enqueue,
  ledgerRows,
  makeVisible,
  queueRows,
  SECOND_MESSAGES_QUEUE,
  statusRows,
} from '../support/factories/sending.ts'
import { callSendMessages, drafts } from '../sending/helpers.ts'

// Issue 14: texts are rendered per recipient inside the sender, from that recipient's authors row,
// and the text actually sent is what the ledger and message_statuses record.

const db = useTestDatabase()
const fakes = useFakes()
beforeEach(() => resetDatabase(db.sql))

const phone = (i: number) => `+1313555${String(i).padStart(4, '0')}`
// Rate windows wide open: this file tests rendering, not pacing (pacing has its own tests).
const OPEN = { MISSIVE_MAX_PER_MINUTE: '100000', MISSIVE_MAX_PER_15_MINUTES: '100000', SEND_DRAIN_SECONDS: '60' }

async function drainAll(isSecond: boolean, env: Record<string, string> = {}) {
  for (let round = 0; round < 20; round++) {
    const response = await callSendMessages(db.sql, fakes, { isSecond }, { ...OPEN, ...env })
    expect(response.status).toBe(200)
    if ((await queueRows(db.sql, isSecond ? SECOND_MESSAGES_QUEUE : undefined)).length === 0) return
  }
  throw new Error('queue did not drain')
}

async function author(phoneNumber: string, name: string | null, zipcode: string | null) {
  await db.sql`INSERT INTO public.authors (phone_number, name, zipcode) VALUES (${phoneNumber}, ${name}, ${zipcode})`
}

describe('personalised sends', () => {
  it('1 000 messages: every body carries its own recipient’s name, and the records say so', async () => {
    const ids = await createBroadcast(db.sql)
    const template = 'Hi {{first_name|neighbor}}! News for {{name}} in {{zipcode|Detroit}}.'
    const expected = new Map<string, string>()
    const people = Array.from({ length: 1000 }, (_, i) => ({
      phone: phone(i),
      // Every 10th person has no name and no zipcode: the fallbacks apply.
      name: i % 10 === 9 ? null : `Reader${i} Family${i}`,
      zipcode: i % 10 === 9 ? null : String(48000 + i),
    }))
    await db.sql`INSERT INTO public.authors ${
      db.sql(people.map((p) => ({ phone_number: p.phone, name: p.name, zipcode: p.zipcode })))
    }`
    people.forEach((p, i) =>
      expected.set(
        p.phone,
        p.name ? `Hi Reader${i}! News for ${p.name} in ${p.zipcode}.` : 'Hi neighbor! News for in Detroit.',
      )
    )
    const payloads = people.map((p) =>
      broadcastPayload(ids, { recipient_phone_number: p.phone, first_message: template, second_message: null })
    )
    await db.sql`SELECT pgmq.send_batch('broadcast_first_messages',
                   ARRAY(SELECT jsonb_array_elements(${db.sql.json(payloads as never)}::jsonb)))`

    await drainAll(false)

    const sent = drafts(fakes)
    const bodies = fakes.missive.drafts
    expect(bodies).toHaveLength(1000)
    for (const draft of bodies) expect(draft.body).toBe(expected.get(draft.to))
    expect(new Set(bodies.map((d) => d.to)).size).toBe(1000)
    expect(sent).toHaveLength(1000)

    const statuses = await statusRows(db.sql)
    expect(statuses).toHaveLength(1000)
    for (const status of statuses) expect(status.message).toBe(expected.get(status.recipient_phone_number))
    const ledger = await db.sql<{ recipient_phone_number: string; state: string; sent_text: string }[]>`
      SELECT recipient_phone_number, state, sent_text FROM public.message_sends`
    expect(ledger).toHaveLength(1000)
    for (const row of ledger) {
      expect(row.state).toBe('sent')
      expect(row.sent_text).toBe(expected.get(row.recipient_phone_number))
    }
  }, 180_000)

  it('the follow-up is rendered too, from the row as it is when the follow-up goes out', async () => {
    const campaignId = await createCampaign(db.sql, { firstMessage: 'x', secondMessage: 'x', delay: 1 })
    await author(phone(1), 'Ana María', '48201')
    await enqueue(db.sql, {
      recipient_phone_number: phone(1),
      campaign_id: campaignId,
      first_message: 'Hi {{first_name}}, how are you?',
      second_message: 'Thanks {{first_name|friend}} ({{zipcode}})',
      delay: 0,
      label_ids: [],
      campaign_segments: null,
      conversation_id: null,
      created_at: Math.floor(Date.now() / 1000),
    })
    await drainAll(false)
    await db.sql`UPDATE public.authors SET name = NULL WHERE phone_number = ${phone(1)}`
    await makeVisible(db.sql, SECOND_MESSAGES_QUEUE)
    await drainAll(true)
    expect(fakes.missive.drafts.map((d) => d.body)).toEqual(['Hi Ana, how are you?', 'Thanks friend (48201)'])
    expect((await statusRows(db.sql)).map((s) => s.message)).toEqual(['Hi Ana, how are you?', 'Thanks friend (48201)'])
  })

  it('a missing value without fallback drops out with its spacing; no authors row uses the fallbacks', async () => {
    const ids = await createBroadcast(db.sql)
    await author(phone(2), null, null)
    await enqueue(
      db.sql,
      broadcastPayload(ids, { recipient_phone_number: phone(2), first_message: 'Hi {{first_name}}, news!' }),
    )
    await drainAll(false)
    expect(fakes.missive.drafts.map((d) => d.body)).toEqual(['Hi, news!'])
  })

  it('a personalized campaign’s own text is sent as written, never templated', async () => {
    const campaignId = await createCampaign(db.sql, { secondMessage: null, delay: 600 })
    await author(phone(3), 'Ana', '48201')
    const [payload] = await db.sql<{ p: Record<string, unknown> }[]>`
      SELECT public.campaign_message_payload(c, ${phone(3)}, 'Dear {{name}}, see you at 7') AS p
      FROM public.campaigns c WHERE c.id = ${campaignId}`
    expect(payload!.p.personalized).toBe(true)
    await enqueue(db.sql, payload!.p)
    await drainAll(false)
    expect(fakes.missive.drafts.map((d) => d.body)).toEqual(['Dear {{name}}, see you at 7'])
  })

  it('rows inserted into campaign_personalized_recipients are queued marked personalized and sent as written', async () => {
    await author(phone(8), 'Ana', '48201')
    await db.sql`INSERT INTO public.campaign_personalized_recipients (phone_number, message)
                 VALUES (${phone(8)}, 'Dear {{first_name}}, your ballot is ready')`
    const [queued] = await queueRows(db.sql)
    expect(queued!.message.personalized).toBe(true)
    await drainAll(false)
    expect(fakes.missive.drafts.map((d) => d.body)).toEqual(['Dear {{first_name}}, your ballot is ready'])
  })

  it('a segment campaign’s payload is not marked personalized', async () => {
    const campaignId = await createCampaign(db.sql)
    const [payload] = await db.sql<{ p: Record<string, unknown> }[]>`
      SELECT public.campaign_message_payload(c, ${phone(4)}) AS p FROM public.campaigns c WHERE c.id = ${campaignId}`
    expect(payload!.p.personalized).toBe(false)
  })

  it('texts without placeholders go out exactly as written', async () => {
    const ids = await createBroadcast(db.sql)
    await author(phone(5), 'Ana', null)
    const text = '  Hello {there} ,  see https://example.org/a?b=1  '
    await enqueue(db.sql, broadcastPayload(ids, { recipient_phone_number: phone(5), first_message: text }))
    await drainAll(false)
    expect(fakes.missive.drafts.map((d) => d.body)).toEqual([text])
  })

  it('an unknown outcome keeps the rendered text in the ledger, which the reconcile matches against', async () => {
    const ids = await createBroadcast(db.sql)
    await author(phone(6), 'Ana Pérez', null)
    fakes.missive.failNext(1, 'unavailable', { path: '/v1/drafts' })
    await enqueue(
      db.sql,
      broadcastPayload(ids, { recipient_phone_number: phone(6), first_message: 'Hi {{first_name}}!' }),
    )
    await callSendMessages(db.sql, fakes, { isSecond: false }, OPEN)
    const [row] = await ledgerRows(db.sql)
    expect(row).toMatchObject({ state: 'unknown' })
    const [text] = await db.sql`SELECT sent_text, public.message_send_text(id) AS reconciled FROM public.message_sends`
    expect(text).toEqual({ sent_text: 'Hi Ana!', reconciled: 'Hi Ana!' })
  })

  it('SMS_SMART_ENCODING=true replaces look-alikes before sending (and records what was sent)', async () => {
    const ids = await createBroadcast(db.sql)
    await author(phone(7), 'Ana', null)
    await enqueue(
      db.sql,
      broadcastPayload(ids, { recipient_phone_number: phone(7), first_message: '“Hi {{first_name}}” — it’s time…' }),
    )
    await drainAll(false, { SMS_SMART_ENCODING: 'true' })
    expect(fakes.missive.drafts.map((d) => d.body)).toEqual(['"Hi Ana" - it\'s time...'])
    expect((await statusRows(db.sql))[0]!.message).toBe('"Hi Ana" - it\'s time...')
  })
})
