import { beforeEach, describe, expect, it } from 'vitest'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'
import {
  campaignCount,
  createAuthor,
  latestCampaign,
  ledger,
  queuedFirstMessages,
} from '../support/factories/campaigns.ts'

// The personalized-campaign trigger (upstream-database.md §6.3, §8.3; pgTAP
// personalized_campaign_trigger.sql, §11.7) with the fixes of DESIGN.md "Personalized campaigns".

const db = useTestDatabase()
beforeEach(() => resetDatabase(db.sql))

async function insertRows(rows: Array<[string, string]>): Promise<void> {
  await db.sql`
    INSERT INTO public.campaign_personalized_recipients (phone_number, message)
    SELECT r->>0, r->>1 FROM jsonb_array_elements(${db.sql.json(rows)}::jsonb) AS r`
}

describe('INSERT into campaign_personalized_recipients', () => {
  it('creates one campaign, queues each row with a +-normalised number, and removes the rows (pgTAP §11.7)', async () => {
    await insertRows([
      ['+15551234567', 'Test message with + prefix'],
      ['15552345678', 'Test message without + prefix'],
    ])
    const campaign = await latestCampaign(db.sql)
    expect(campaign).toMatchObject({
      title: 'Personalized Campaign',
      first_message: 'Personalized campaign',
      processed: true,
      status: 'sending',
      recipient_count: 2,
      segments: null,
      second_message: null,
      delay: 600,
    })
    const queued = await queuedFirstMessages(db.sql, campaign.id)
    expect(queued).toHaveLength(2)
    expect(queued.every((m) => m.message.recipient_phone_number.startsWith('+'))).toBe(true)
    expect(queued.map((m) => [m.message.recipient_phone_number, m.message.first_message]).sort()).toEqual([
      ['+15551234567', 'Test message with + prefix'],
      ['+15552345678', 'Test message without + prefix'],
    ])
    const [left] = await db.sql`SELECT count(*)::integer AS n FROM public.campaign_personalized_recipients`
    expect(left.n).toBe(0)
  })

  it('queues the payload the sender reads (§8.3), with the keys of a campaign message', async () => {
    await insertRows([['+15551234567', 'Hi Ana, your ballot is ready']])
    const campaign = await latestCampaign(db.sql)
    const [{ message }] = await queuedFirstMessages(db.sql, campaign.id)
    expect(message).toMatchObject({
      recipient_phone_number: '+15551234567',
      campaign_id: campaign.id,
      first_message: 'Hi Ana, your ballot is ready',
      second_message: null,
      title: 'Personalized Campaign',
      delay: 600,
      label_ids: [],
      campaign_segments: null,
      conversation_id: null,
    })
    expect(typeof message.created_at).toBe('number')
  })

  it('creates the author of a new number (upstream: the status row then failed its foreign key)', async () => {
    await createAuthor(db.sql, '+13135550100', { addedViaFileUpload: false })
    await insertRows([['313-555-0100', 'known'], ['(313) 555-0199', 'new']])
    const authors = await db.sql`SELECT phone_number, added_via_file_upload FROM public.authors ORDER BY phone_number`
    expect(authors).toEqual([
      { phone_number: '+13135550100', added_via_file_upload: false },
      { phone_number: '+13135550199', added_via_file_upload: true },
    ])
  })

  it('records unsubscribed, excluded and invalid rows as skipped and never queues them (upstream sent to everyone)', async () => {
    await createAuthor(db.sql, '+13135550101', { unsubscribed: true })
    await createAuthor(db.sql, '+13135550102', { exclude: true })
    await insertRows([
      ['+13135550101', 'to an unsubscribed author'],
      ['+13135550102', 'to an excluded author'],
      ['555-0100', 'to a number without area code'],
      ['+13135550103', 'to an eligible author'],
    ])
    const campaign = await latestCampaign(db.sql)
    expect((await queuedFirstMessages(db.sql, campaign.id)).map((m) => m.message.recipient_phone_number)).toEqual([
      '+13135550103',
    ])
    expect(campaign.recipient_count).toBe(1)
    expect(await ledger(db.sql, campaign.id)).toEqual([
      { phone: '+13135550101', state: 'skipped', detail: 'unsubscribed', is_second: false },
      { phone: '+13135550102', state: 'skipped', detail: 'excluded', is_second: false },
      { phone: '555-0100', state: 'skipped', detail: 'invalid phone number', is_second: false },
    ])
  })

  it('merges rows of the same number: one message, from the first row', async () => {
    await insertRows([['+13135550100', 'first'], ['3135550100', 'second'], ['1 313 555 0100', 'third']])
    const campaign = await latestCampaign(db.sql)
    const queued = await queuedFirstMessages(db.sql, campaign.id)
    expect(queued.map((m) => m.message.first_message)).toEqual(['first'])
  })

  it('creates no campaign for an INSERT of no rows (upstream created an empty one)', async () => {
    await db
      .sql`INSERT INTO public.campaign_personalized_recipients (phone_number, message) SELECT 'x', 'y' WHERE false`
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it('two INSERTs in one transaction make two campaigns', async () => {
    await db.sql.begin(async (tx) => {
      await tx`INSERT INTO public.campaign_personalized_recipients (phone_number, message) VALUES ('+13135550100', 'a')`
      await tx`INSERT INTO public.campaign_personalized_recipients (phone_number, message) VALUES ('+13135550100', 'b')`
    })
    expect(await campaignCount(db.sql)).toBe(2)
    expect(await queuedFirstMessages(db.sql)).toHaveLength(2)
  })

  it('turns a 10 000-row INSERT into one campaign and one queue batch, respecting eligibility', async () => {
    await setVaultSecrets(db.sql, { edgeFunctionUrl: 'http://functions.test/functions/v1/', secretKey: 'test-secret' })
    await db.sql`CREATE TABLE public.test_enqueue_statements (n integer)`
    await db.sql`
      CREATE FUNCTION public.test_count_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO public.test_enqueue_statements VALUES (1); RETURN NULL; END $$`
    await db.sql`
      CREATE TRIGGER test_count_enqueue AFTER INSERT ON pgmq.q_broadcast_first_messages
      FOR EACH STATEMENT EXECUTE FUNCTION public.test_count_enqueue()`
    // Every 100th number has unsubscribed, every 250th is excluded.
    await db.sql`
      INSERT INTO public.authors (phone_number, unsubscribed, exclude)
      SELECT '+1313' || lpad(i::text, 7, '0'), i % 100 = 0, i % 250 = 0 AND i % 100 <> 0
      FROM generate_series(1, 10000) AS i WHERE i % 100 = 0 OR i % 250 = 0`

    const started = Date.now()
    await db.sql`
      INSERT INTO public.campaign_personalized_recipients (phone_number, message)
      SELECT CASE WHEN i % 2 = 0 THEN '313' || lpad(i::text, 7, '0') ELSE '+1313' || lpad(i::text, 7, '0') END,
             'Message for number ' || i
      FROM generate_series(1, 10000) AS i`
    const elapsed = Date.now() - started

    expect(await campaignCount(db.sql)).toBe(1)
    const campaign = await latestCampaign(db.sql)
    const unsubscribed = 100
    const excluded = 40 - 20 // multiples of 250 that are not multiples of 100 (500, 1000, … are both)
    expect(campaign.recipient_count).toBe(10000 - unsubscribed - excluded)
    const [queued] = await db.sql`
      SELECT count(*)::integer AS n, count(DISTINCT message->>'recipient_phone_number')::integer AS phones,
             bool_and(message->>'recipient_phone_number' LIKE '+1313%') AS normalised,
             bool_and(message->>'first_message' = 'Message for number ' || ltrim(right(message->>'recipient_phone_number', 7), '0')) AS own_text
      FROM pgmq.q_broadcast_first_messages WHERE message->>'campaign_id' = ${String(campaign.id)}`
    expect(queued).toEqual({ n: 9880, phones: 9880, normalised: true, own_text: true })
    const [statements] = await db.sql`SELECT count(*)::integer AS n FROM public.test_enqueue_statements`
    expect(statements.n).toBe(1)
    // …and so one call to the sender, not one per row or per 100.
    const kicks = await db.sql`SELECT url FROM net.http_request_queue`
    expect(kicks.map((kick) => kick.url)).toEqual(['http://functions.test/functions/v1/send-messages/'])
    const [skipped] = await db.sql`
      SELECT count(*) FILTER (WHERE detail = 'unsubscribed')::integer AS unsubscribed,
             count(*) FILTER (WHERE detail = 'excluded')::integer AS excluded
      FROM public.message_sends WHERE campaign_id = ${campaign.id} AND state = 'skipped'`
    expect(skipped).toEqual({ unsubscribed, excluded })
    const [left] = await db.sql`SELECT count(*)::integer AS n FROM public.campaign_personalized_recipients`
    expect(left.n).toBe(0)
    const [authors] = await db.sql`SELECT count(*)::integer AS n FROM public.authors`
    expect(authors.n).toBe(10000)
    expect(elapsed).toBeLessThan(15_000)
  })
})
