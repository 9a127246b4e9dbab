import { describe, expect, it } from 'vitest'
import {
  addConversationAuthor,
  createAuthor,
  createCampaign,
  createCampaignMessageStatus,
  createConversation,
  createLabel,
  createTwilioReply,
  DAY_MS,
  labelPhone,
} from '../support/factories/campaigns.ts'
import { useCampaignApi } from './harness.ts'

// GET /campaigns/, GET /campaigns/segments/, POST /campaigns/recipient-count/: upstream's cases
// #30–#45 (upstream-functions.md §7.7).

const { db, api } = useCampaignApi()
const at = (offsetMs: number) => new Date(Math.floor((Date.now() + offsetMs) / 1000) * 1000)

describe('GET /campaigns/ (upstream #30–#36)', () => {
  it('#30 answers the empty shape', async () => {
    const { status, body } = await api().get('/')
    expect(status).toBe(200)
    expect(body).toEqual({
      past: { items: [], pagination: { page: 1, pageSize: 20, totalItems: 0, totalPages: 0 } },
      upcoming: [],
    })
  })

  it('#31 lists upcoming campaigns by run time and pages the past ones', async () => {
    const tomorrow = await createCampaign(db.sql, { title: 'Tomorrow Campaign', runAt: at(DAY_MS) })
    const nextWeek = await createCampaign(db.sql, { title: 'Next Week Campaign', runAt: at(7 * DAY_MS) })
    const past = await createCampaign(db.sql, { title: 'Past Campaign', runAt: at(-DAY_MS) })
    const { body } = await api().get('/')
    expect(body.upcoming.map((c: any) => [c.id, c.title])).toEqual([[tomorrow, 'Tomorrow Campaign'], [
      nextWeek,
      'Next Week Campaign',
    ]])
    expect(body.past.items.map((c: any) => c.id)).toEqual([past])
    expect(body.past.pagination).toEqual({ totalItems: 1, page: 1, pageSize: 20, totalPages: 1 })
  })

  it('#32 #33 #35 render null fields and whole-second run times', async () => {
    const first = at(DAY_MS)
    const second = at(2 * DAY_MS)
    await createCampaign(db.sql, { title: 'Campaign 1', firstMessage: 'First message', runAt: first })
    await createCampaign(db.sql, { firstMessage: 'First message 2', secondMessage: 'Second message 2', runAt: second })
    const { body } = await api().get('/')
    expect(body.upcoming).toHaveLength(2)
    expect(body.upcoming[0]).toMatchObject({
      title: 'Campaign 1',
      firstMessage: 'First message',
      secondMessage: null,
      runAt: first.getTime() / 1000,
    })
    expect(body.upcoming[1]).toMatchObject({
      title: null,
      secondMessage: 'Second message 2',
      runAt: second.getTime() / 1000,
    })
    expect(Object.keys(body.upcoming[0]).sort()).toEqual([
      'delay',
      'firstMessage',
      'id',
      'labelIds',
      'recipientCount',
      'runAt',
      'secondMessage',
      'segments',
      'status',
      'statusDetail',
      'title',
    ])
    expect(body.upcoming[0].recipientCount).toBe(0) // never null: the sidebar calls toLocaleString() on it
    expect(body.past).toEqual({ items: [], pagination: { totalItems: 0, page: 1, pageSize: 20, totalPages: 0 } })
  })

  it('#34 #36 report per-campaign delivery stats as numbers', async () => {
    const id = await createCampaign(db.sql, { title: 'Past', runAt: at(-DAY_MS), processed: true })
    const [a1, a2] = [await createAuthor(db.sql, '+12345678901'), await createAuthor(db.sql, '+12345678902')]
    const conversation = await createConversation(db.sql)
    await addConversationAuthor(db.sql, conversation, a1)
    await addConversationAuthor(db.sql, conversation, a2)
    await createCampaignMessageStatus(db.sql, { campaignId: id, phone: a1, twilioSentStatus: 'delivered' })
    const unsubscribedFrom = await createCampaignMessageStatus(db.sql, {
      campaignId: id,
      phone: a1,
      isSecond: true,
      twilioSentStatus: 'delivered',
    })
    await createCampaignMessageStatus(db.sql, { campaignId: id, phone: a2, twilioSentStatus: 'failed' })
    await createAuthor(db.sql, '+12345678903')
    await createAuthor(db.sql, '+19876543210')
    await createTwilioReply(db.sql, { from: a1, to: '+19876543210', campaignId: id })
    await createTwilioReply(db.sql, { from: a2, to: '+19876543210', campaignId: id })
    await createTwilioReply(db.sql, { from: a2, to: '+19876543210', campaignId: id })
    const [reply] = await db.sql`SELECT id FROM public.twilio_messages LIMIT 1`
    await db
      .sql`INSERT INTO public.unsubscribed_messages (twilio_message_id, reply_to) VALUES (${reply.id}, ${unsubscribedFrom})`

    const { body } = await api().get('/')
    expect(body.past.items[0]).toMatchObject({
      id,
      firstMessageCount: 2,
      secondMessageCount: 1,
      failedDeliveries: 1,
      unsubscribes: 1,
      totalReplies: 2,
      status: 'sent',
    })
  })

  it('pages the past list', async () => {
    for (let i = 1; i <= 5; i++) await createCampaign(db.sql, { title: `Past ${i}`, runAt: at(-i * DAY_MS) })
    const { body } = await api().get('/?page=2&pageSize=2')
    expect(body.past.items.map((c: any) => c.title)).toEqual(['Past 3', 'Past 4'])
    expect(body.past.pagination).toEqual({ totalItems: 5, page: 2, pageSize: 2, totalPages: 3 })
  })

  it('answers 400 for paging that makes no sense (upstream: 500)', async () => {
    for (const query of ['?page=0', '?page=abc', '?pageSize=-1', '?pageSize=1.5', '?pageSize=1000']) {
      const { status, body } = await api().get(`/${query}`)
      expect(status).toBe(400)
      expect(body.message).toMatch(/^Validation error: \[(page|pageSize)\] must be an integer from 1 to/)
    }
  })

  it('lists a campaign cancelled before it ran with the past ones, no longer upcoming', async () => {
    const id = await createCampaign(db.sql, { runAt: at(DAY_MS), status: 'cancelled' })
    const { body } = await api().get('/')
    expect(body.upcoming).toEqual([])
    expect(body.past.items.map((c: any) => [c.id, c.status])).toEqual([[id, 'cancelled']])
  })
})

describe('GET /campaigns/segments/ (upstream #37–#40)', () => {
  it('#37 lists every label as {id, name}, in creation order', async () => {
    const a = await createLabel(db.sql, { name: 'Label A' })
    const b = await createLabel(db.sql, { name: 'Label B' })
    await createAuthor(db.sql, '+13135550100')
    await labelPhone(db.sql, a.id, '+13135550100')
    const { status, body } = await api().get('/segments/')
    expect(status).toBe(200)
    expect(body).toEqual([{ id: a.id, name: 'Label A' }, { id: b.id, name: 'Label B' }])
  })

  it('#38 #39 #40 lists labels without conversations, with only archived links, or only ineligible authors', async () => {
    await createLabel(db.sql, { name: 'Empty Label' })
    const archived = await createLabel(db.sql, { name: 'Archived Label' })
    await createAuthor(db.sql, '+13135550100')
    await labelPhone(db.sql, archived.id, '+13135550100', { archived: true })
    const ineligible = await createLabel(db.sql, { name: 'Test Label' })
    await createAuthor(db.sql, '+13135550101', { unsubscribed: true })
    await labelPhone(db.sql, ineligible.id, '+13135550101')
    const { body } = await api().get('/segments/')
    expect(body.map((segment: any) => segment.name)).toEqual(['Empty Label', 'Archived Label', 'Test Label'])
  })
})

describe('POST /campaigns/recipient-count/ (upstream #41–#45)', () => {
  it('#41 counts recipients of a segment config without creating anything', async () => {
    const [l1, l2, l3] = [await createLabel(db.sql), await createLabel(db.sql), await createLabel(db.sql)]
    const [a1, a2, a3, a4] = ['+1111111111', '+2222222222', '+3333333333', '+4444444444']
    for (const phone of [a1, a2, a3, a4]) await createAuthor(db.sql, phone)
    const a5 = await createAuthor(db.sql, '+5555555555', { unsubscribed: true })
    await labelPhone(db.sql, l1.id, a1)
    await labelPhone(db.sql, l1.id, a2)
    await labelPhone(db.sql, l1.id, a3)
    await labelPhone(db.sql, l2.id, a3)
    await labelPhone(db.sql, l2.id, a4)
    await labelPhone(db.sql, l3.id, a5)
    const count = async (segments: unknown) => {
      const { status, body } = await api().post('/recipient-count/', { segments })
      expect(status).toBe(200)
      return body
    }
    expect(await count({ included: { id: l1.id } })).toEqual({ recipient_count: 3 })
    expect(await count({ included: [{ id: l1.id }, { id: l2.id }] })).toEqual({ recipient_count: 4 })
    expect(await count({ included: { id: l1.id }, excluded: { id: l2.id } })).toEqual({ recipient_count: 2 })
    expect(await count({ included: { id: l3.id } })).toEqual({ recipient_count: 0 })
    const [campaigns] = await db.sql`SELECT count(*)::integer AS n FROM public.campaigns`
    expect(campaigns.n).toBe(0)
  })

  it('#42 #43 #45 answer 400 naming the problem', async () => {
    const label = await createLabel(db.sql)
    const cases: Array<[unknown, string]> = [
      [
        { segments: { included: { id: 'not-a-uuid' } } },
        'Validation error:  [segments,included,id] - Invalid segment ID format. Must be a UUID.',
      ],
      [{}, 'Validation error:  [segments] - Required'],
      [
        { segments: { included: { id: label.id }, excluded: null } },
        'Validation error:  [segments,excluded] - Invalid input',
      ],
      [
        { segments: { included: { id: label.id } }, extra: 1 },
        "Validation error:  [] - Unrecognized key(s) in object: 'extra'",
      ],
    ]
    for (const [body, message] of cases) {
      const response = await api().post('/recipient-count/', body)
      expect(response).toMatchObject({ status: 400, body: { message } })
    }
    const malformed = await api().send('POST', '/recipient-count/', { json: '{' })
    expect(malformed).toMatchObject({ status: 400, body: { message: 'Malformed JSON body' } }) // upstream: 500
  })

  it('#44 counts AND groups', async () => {
    const [l1, l2] = [await createLabel(db.sql), await createLabel(db.sql)]
    const [a1, a2, a3] = ['+1111111111', '+2222222222', '+3333333333']
    for (const phone of [a1, a2, a3]) await createAuthor(db.sql, phone)
    await labelPhone(db.sql, l1.id, a1)
    await labelPhone(db.sql, l2.id, a1)
    await labelPhone(db.sql, l1.id, a2)
    await labelPhone(db.sql, l2.id, a3)
    const { body } = await api().post('/recipient-count/', { segments: { included: [[{ id: l1.id }, { id: l2.id }]] } })
    expect(body).toEqual({ recipient_count: 1 })
  })

  it('refuses more than 100 segments with a 400 naming the field (issue 11: 1.5 M ids ran ~35 s of SQL)', async () => {
    const label = await createLabel(db.sql)
    const many = (n: number) => Array.from({ length: n }, () => ({ id: label.id }))
    for (
      const segments of [
        { included: many(101) },
        { included: [many(60), many(41)] },
        { included: many(50), excluded: many(51) },
        { included: many(1_500_000 / 100) },
      ]
    ) {
      const response = await api().post('/recipient-count/', { segments })
      expect(response.status).toBe(400)
      expect(response.body.message).toMatch(/\[segments\].*at most 100/)
    }
    expect((await api().post('/recipient-count/', { segments: { included: many(50), excluded: many(50) } })).status)
      .toBe(200)
  })
})
