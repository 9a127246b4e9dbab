import { beforeEach, describe, expect, it } from 'vitest'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import {
  addConversationAuthor,
  campaignRow,
  createAuthor,
  createCampaign,
  createConversation,
  createLabel,
  labelConversation,
  ledger,
  queuedFirstMessages,
} from '../support/factories/campaigns.ts'

// The pgTAP files get_campaign_recipient_count.sql (§11.3), queue_campaign_messages.sql (§11.4),
// campaign_message_fields.sql (§11.5) and label_ids_in_campaign_messages.sql (§11.6), as tests.

const db = useTestDatabase()
beforeEach(() => resetDatabase(db.sql))

const L = (n: number) => `00000001-0000-0000-0000-00000000000${n}`
const C = (n: number) => `00000002-0000-0000-0000-${String(n).padStart(12, '0')}`
const S = (id: string, since?: number) => (since === undefined ? { id } : { id, since })

async function count(segments: unknown): Promise<number> {
  const [row] = await db.sql`SELECT public.get_campaign_recipient_count(${db.sql.json(segments as any)}::jsonb) AS n`
  return row.n
}

async function link(
  conversation: number,
  label: string,
  phone: string,
  options: { archived?: boolean; labelledAt?: Date } = {},
) {
  await createConversation(db.sql, C(conversation))
  await labelConversation(db.sql, C(conversation), label, { archived: options.archived, createdAt: options.labelledAt })
  await addConversationAuthor(db.sql, C(conversation), phone)
}

async function queue(campaignId: number): Promise<number> {
  const [row] = await db.sql`SELECT public.queue_campaign_messages(${campaignId}) AS n`
  return row.n
}

describe('get_campaign_recipient_count (get_campaign_recipient_count.sql)', () => {
  beforeEach(async () => {
    for (let n = 1; n <= 4; n++) await createLabel(db.sql, { id: L(n), name: `L${n}` })
    for (const phone of ['+9991111111', '+9992222222', '+9993333333', '+9994444444', '+9997777777']) {
      await createAuthor(db.sql, phone)
    }
    await createAuthor(db.sql, '+9995555555', { unsubscribed: true })
    await createAuthor(db.sql, '+9996666666', { exclude: true })
    await link(1, L(1), '+9991111111')
    await link(2, L(1), '+9992222222')
    await link(3, L(1), '+9993333333')
    await link(4, L(1), '+9994444444', { archived: true })
    await link(5, L(2), '+9991111111')
    await link(6, L(2), '+9994444444')
    await link(7, L(3), '+9995555555')
    await link(8, L(3), '+9996666666')
  })

  it('counts the cases of the pgTAP file', async () => {
    expect(await count({ included: S(L(1)) })).toBe(3) // C4 is archived
    expect(await count({ included: [S(L(1)), S(L(2))] })).toBe(4)
    expect(await count({ included: S(L(1)), excluded: S(L(2)) })).toBe(2)
    expect(await count({ included: S(L(3)) })).toBe(0) // unsubscribed and excluded only

    await link(9, L(1), '+9994444444')
    expect(await count({ included: [[S(L(1)), S(L(2))]] })).toBe(2) // labels on different conversations

    await link(10, L(2), '+9997777777')
    await link(11, L(3), '+9997777777')
    expect(await count({ included: [[S(L(1)), S(L(2))], [S(L(2)), S(L(3))]] })).toBe(3)

    expect(await count({ included: S('00000001-0000-0000-0000-000000000999') })).toBe(0)
  })

  it('applies `since` to when the label was put on the conversation', async () => {
    await db.sql`DELETE FROM public.conversations_labels WHERE label_id = ${L(1)}`
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000)
    await db.sql`DELETE FROM public.conversations_authors`
    for (const [conversation, phone] of [[21, '+9991111111'], [22, '+9992222222'], [23, '+9993333333']] as const) {
      await link(conversation, L(1), phone, { labelledAt: twoHoursAgo })
    }
    await link(24, L(1), '+9997777777')
    const oneHourAgo = Math.floor((Date.now() - 3600_000) / 1000)
    expect(await count({ included: { id: L(1), since: oneHourAgo } })).toBe(1)
    expect(await count({ included: { id: L(1), since: 0 } })).toBe(4) // the sidebar sends 0 for "any time"
  })

  it('leaves unsubscribed and excluded authors out', async () => {
    await link(13, L(1), '+9996666666')
    expect(await count({ included: S(L(1)) })).toBe(3)
    await link(14, L(1), '+9995555555')
    expect(await count({ included: S(L(1)) })).toBe(3)
    await link(15, L(4), '+9991111111')
    await link(16, L(4), '+9995555555')
    await link(17, L(4), '+9996666666')
    expect(await count({ included: S(L(4)) })).toBe(1)
  })

  it('treats a NULL exclude as excluded, as upstream', async () => {
    await createAuthor(db.sql, '+9998888888', { exclude: null })
    await link(18, L(4), '+9998888888')
    expect(await count({ included: S(L(4)) })).toBe(0)
  })

  // Fixes of upstream-database.md §9.2 / §14.13: each needs its own expectation.
  it('ignores a JSON null `excluded` (upstream raised "cannot extract elements from a scalar")', async () => {
    expect(await count({ included: S(L(1)), excluded: null })).toBe(3)
  })

  it('matches each occurrence of a label with its own `since` (upstream leaked one into the other)', async () => {
    const future = Math.floor(Date.now() / 1000) + 3600
    // L1 "since the future" alone matches nobody, and the plain L2 next to it must not change that.
    expect(await count({ included: [[S(L(1), future)], S(L(2))] })).toBe(2)
  })

  it('matches an AND group that lists the same label twice (upstream counted distinct ids)', async () => {
    expect(await count({ included: [[S(L(1)), S(L(1))]] })).toBe(3)
  })

  it('never splices the config into SQL: quotes in it are harmless', async () => {
    expect(await count({ included: S(L(1)), note: "it's" })).toBe(3)
    expect(await count({ included: { id: "x'; DROP TABLE public.authors; --" } })).toBe(0)
    const [authors] = await db.sql`SELECT count(*)::integer AS n FROM public.authors`
    expect(authors.n).toBe(7)
  })
})

describe('queue_campaign_messages (queue_campaign_messages.sql)', () => {
  beforeEach(async () => {
    for (let n = 1; n <= 4; n++) await createLabel(db.sql, { id: L(n), name: `L${n}` })
    for (const phone of ['+9991111111', '+9992222222', '+9993333333', '+9994444444']) await createAuthor(db.sql, phone)
    await createAuthor(db.sql, '+9995555555', { unsubscribed: true })
    await createAuthor(db.sql, '+9996666666', { exclude: true })
    await link(1, L(1), '+9991111111')
    await link(2, L(1), '+9992222222')
    await link(3, L(1), '+9993333333')
  })

  const campaign = (id: number, segments: unknown) =>
    createCampaign(db.sql, { id, segments, firstMessage: 'First message text', secondMessage: 'Second message text' })

  it('queues each recipient once, with the counts of the pgTAP file', async () => {
    await campaign(10001, { included: S(L(1)) })
    expect(await queue(10001)).toBe(3)
    expect(await queuedFirstMessages(db.sql, 10001)).toHaveLength(3)

    await link(4, L(2), '+9993333333')
    await link(5, L(2), '+9994444444')
    await campaign(10002, { included: [S(L(1)), S(L(2))] })
    await queue(10002)
    expect(await queuedFirstMessages(db.sql, 10002)).toHaveLength(4)

    await campaign(10003, { included: S(L(1)), excluded: S(L(2)) })
    await queue(10003)
    const third = await queuedFirstMessages(db.sql, 10003)
    expect(third.map((m) => m.message.recipient_phone_number).sort()).toEqual(['+9991111111', '+9992222222'])
    expect((await campaignRow(db.sql, 10003)).recipient_count).toBe(2)

    await link(6, L(3), '+9995555555')
    await campaign(10004, { included: S(L(3)) })
    expect(await queue(10004)).toBe(0)
    expect(await queuedFirstMessages(db.sql, 10004)).toHaveLength(0)

    await link(7, L(4), '+9991111111')
    await link(8, L(4), '+9995555555')
    await link(9, L(4), '+9996666666')
    await campaign(10005, { included: S(L(4)) })
    await queue(10005)
    expect((await queuedFirstMessages(db.sql, 10005)).map((m) => m.message.recipient_phone_number)).toEqual([
      '+9991111111',
    ])
  })

  it('can run twice in one transaction (upstream: "relation campaign_recipients_temp already exists")', async () => {
    await campaign(10001, { included: S(L(1)) })
    await campaign(10002, { included: S(L(1)) })
    const [row] = await db
      .sql`SELECT public.queue_campaign_messages(10001) + public.queue_campaign_messages(10002) AS n`
    expect(row.n).toBe(6)
  })

  it('enqueues the whole audience with one statement', async () => {
    await db.sql`CREATE TABLE public.test_enqueue_statements (n integer)`
    await db.sql`
      CREATE FUNCTION public.test_count_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO public.test_enqueue_statements VALUES (1); RETURN NULL; END $$`
    await db.sql`
      CREATE TRIGGER test_count_enqueue AFTER INSERT ON pgmq.q_broadcast_first_messages
      FOR EACH STATEMENT EXECUTE FUNCTION public.test_count_enqueue()`
    for (let i = 0; i < 250; i++) {
      const phone = `+1313555${String(i).padStart(4, '0')}`
      await createAuthor(db.sql, phone)
      await link(100 + i, L(1), phone)
    }
    await campaign(10001, { included: S(L(1)) })
    expect(await queue(10001)).toBe(253)
    const [statements] = await db.sql`SELECT count(*)::integer AS n FROM public.test_enqueue_statements`
    expect(statements.n).toBe(1) // upstream: one send_batch per 100 recipients
  })

  it("takes a file campaign's uploaded numbers, records the ineligible ones as skipped, and clears the upload", async () => {
    const id = await createCampaign(db.sql, { segments: null, recipientFileUrl: 'file:///x/campaign-1.csv' })
    for (const phone of ['+9991111111', '+9995555555', '+9996666666']) {
      await db.sql`INSERT INTO public.campaign_file_recipients (phone_number, campaign_id) VALUES (${phone}, ${id})`
    }
    expect(await queue(id)).toBe(1)
    expect((await queuedFirstMessages(db.sql, id)).map((m) => m.message.recipient_phone_number)).toEqual([
      '+9991111111',
    ])
    expect(await ledger(db.sql, id)).toEqual([
      { phone: '+9995555555', state: 'skipped', detail: 'unsubscribed', is_second: false },
      { phone: '+9996666666', state: 'skipped', detail: 'excluded', is_second: false },
    ])
    const [left] = await db
      .sql`SELECT count(*)::integer AS n FROM public.campaign_file_recipients WHERE campaign_id = ${id}`
    expect(left.n).toBe(0)
  })

  it('treats a campaign without segments as file-based even without a file URL (upstream raised "EXECUTE of NULL")', async () => {
    const id = await createCampaign(db.sql, { segments: null })
    await db.sql`INSERT INTO public.campaign_file_recipients (phone_number, campaign_id) VALUES ('+9992222222', ${id})`
    expect(await queue(id)).toBe(1)
  })

  it('does not queue a phone that already has a first-message ledger row for the campaign', async () => {
    await campaign(10001, { included: S(L(1)) })
    await db.sql`
      INSERT INTO public.message_sends (campaign_id, recipient_phone_number, is_second, state, queue_name)
      VALUES (10001, '+9991111111', false, 'sent', 'broadcast_first_messages')`
    expect(await queue(10001)).toBe(2)
  })

  it('raises for an unknown campaign, as upstream', async () => {
    await expect(queue(424242)).rejects.toThrow('Campaign with ID 424242 not found')
  })
})

describe('queued message fields (campaign_message_fields.sql, label_ids_in_campaign_messages.sql)', () => {
  it('carries every key the sender reads', async () => {
    const label = 'ffffffff-1111-2222-3333-444444444444'
    await createLabel(db.sql, { id: label })
    await createAuthor(db.sql, '+66661111111')
    const conversation = 'deadbeef-5555-6666-7777-888888888888'
    await createConversation(db.sql, conversation)
    await labelConversation(db.sql, conversation, label)
    await addConversationAuthor(db.sql, conversation, '+66661111111')
    await createCampaign(db.sql, {
      id: 30001,
      title: 'Message Field Test Campaign',
      firstMessage: 'First message for field test',
      secondMessage: 'Second message for field test',
      segments: {
        included: { id: label },
        excluded: [{ id: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', since: 1234567890 }],
      },
      delay: 450,
      labelIds: ['field-label-1', 'field-label-2', 'field-label-3'],
    })
    await queue(30001)
    const [{ message }] = await queuedFirstMessages(db.sql, 30001)
    expect(Object.keys(message).sort()).toEqual([
      'campaign_id',
      'campaign_segments',
      'conversation_id',
      'created_at',
      'delay',
      'first_message',
      'label_ids',
      // Issue 14: false for a segment/CSV campaign (templated), true for a personalized one.
      'personalized',
      'recipient_phone_number',
      'second_message',
      'title',
    ])
    expect(message).toMatchObject({
      personalized: false,
      recipient_phone_number: '+66661111111',
      campaign_id: 30001,
      first_message: 'First message for field test',
      second_message: 'Second message for field test',
      title: 'Message Field Test Campaign',
      delay: 450,
      label_ids: ['field-label-1', 'field-label-2', 'field-label-3'],
      campaign_segments: {
        included: { id: label },
        excluded: [{ id: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', since: 1234567890 }],
      },
      conversation_id: conversation,
    })
    expect(Math.abs(message.created_at - Date.now() / 1000)).toBeLessThan(60)
    const [rendered] = await db
      .sql`SELECT message->'campaign_segments'->>'included' AS included FROM pgmq.q_broadcast_first_messages`
    expect(rendered.included).toBe('{"id": "ffffffff-1111-2222-3333-444444444444"}')
  })

  it('uses the latest conversation of the phone', async () => {
    const label = (await createLabel(db.sql)).id
    await createAuthor(db.sql, '+66662222222')
    await link(1, label, '+66662222222')
    const later = await createConversation(db.sql)
    await addConversationAuthor(db.sql, later, '+66662222222', new Date(Date.now() + 60_000))
    const id = await createCampaign(db.sql, { segments: { included: S(label) } })
    await queue(id)
    expect((await queuedFirstMessages(db.sql, id))[0].message.conversation_id).toBe(later)
  })

  it('copies label_ids as a JSON array, empty when the campaign has none', async () => {
    const label = '00000005-0000-0000-0000-000000000001'
    await createLabel(db.sql, { id: label })
    await createAuthor(db.sql, '+88881111111')
    await link(1, label, '+88881111111')
    await createCampaign(db.sql, { id: 20001, segments: { included: S(label) }, labelIds: [label] })
    await createCampaign(db.sql, { id: 20002, segments: { included: S(label) }, labelIds: [] })
    await queue(20001)
    await queue(20002)
    expect((await queuedFirstMessages(db.sql, 20001))[0].message.label_ids).toEqual([label])
    expect((await queuedFirstMessages(db.sql, 20002))[0].message.label_ids).toEqual([])
  })
})
