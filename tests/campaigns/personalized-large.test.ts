import { beforeEach, describe, expect, it } from 'vitest'
import type { Db } from '../../src/shared/db/client.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import {
  addConversationAuthor,
  createAuthor,
  createConversation,
  latestCampaign,
  ledger,
  queuedFirstMessages,
} from '../support/factories/campaigns.ts'

// Issue 15 #3: a large personalized INSERT is turned into its campaign by a few set operations
// (migration 20261204000100): one sort merges the rows, one streaming INSERT … SELECT writes every
// payload into the queue table, so one backend never holds every payload at once (the bench checks
// the memory). The guarantees stay those of personalized.test.ts; here: exactly one queue message
// per recipient, written by ONE statement (so one kick of the sender), skipped rows
// kept out of the queue, and each payload carrying its number's latest conversation.

const db = useTestDatabase()
beforeEach(() => resetDatabase(db.sql))

/** Inserts the rows in one statement; returns how many statements wrote into the first-message queue. */
async function insertCountingEnqueues(rows: Array<[string, string]>): Promise<number> {
  await db.sql`CREATE TABLE IF NOT EXISTS public.test_enqueue_statements (n integer)`
  await db.sql`
    CREATE OR REPLACE FUNCTION public.test_count_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO public.test_enqueue_statements VALUES (1); RETURN NULL; END $$`
  await db.sql`
    CREATE OR REPLACE TRIGGER test_count_enqueue AFTER INSERT ON pgmq.q_broadcast_first_messages
    FOR EACH STATEMENT EXECUTE FUNCTION public.test_count_enqueue()`
  try {
    await db.sql`
      INSERT INTO public.campaign_personalized_recipients (phone_number, message)
      SELECT r->>0, r->>1 FROM jsonb_array_elements(${db.sql.json(rows)}::jsonb) AS r`
    const [{ n }] = await db.sql`SELECT count(*)::int AS n FROM public.test_enqueue_statements`
    return n as number
  } finally {
    await db.sql`DROP TRIGGER test_count_enqueue ON pgmq.q_broadcast_first_messages`
    await db.sql`DROP TABLE public.test_enqueue_statements`
    await db.sql`DROP FUNCTION public.test_count_enqueue()`
  }
}

const phone = (n: number) => `+1313${2_000_000 + n}`

async function expectExactlyOnce(sql: Db, expected: Map<string, string>): Promise<void> {
  const campaign = await latestCampaign(sql)
  const queued = await queuedFirstMessages(sql, campaign.id)
  expect(queued).toHaveLength(expected.size)
  expect(campaign.recipient_count).toBe(expected.size)
  const phones = queued.map((m) => m.message.recipient_phone_number)
  expect(new Set(phones).size).toBe(expected.size)
  // Every expected number, in whatever order the merge wrote them (migration 20261205000100).
  expect([...phones].sort()).toEqual([...expected.keys()].sort())
  for (const m of queued) expect(m.message.first_message).toBe(expected.get(m.message.recipient_phone_number))
}

describe('a large personalized INSERT', () => {
  it('queues 20 000 recipients exactly once, with one enqueue statement, the first row of a repeated number winning', async () => {
    const rows: Array<[string, string]> = []
    const expected = new Map<string, string>()
    for (let n = 0; n < 20_000; n++) {
      // Numbers as editors paste them, in reverse order, so the merge's sort has work to do.
      const digits = String(2_000_000 + 19_999 - n)
      rows.push([`313-${digits.slice(0, 3)}-${digits.slice(3)}`, `hello ${n}`])
      expected.set(phone(19_999 - n), `hello ${n}`)
    }
    rows.push([phone(5), 'a repeat, merged into the first row'])
    rows.push([`(313) ${String(2_010_000).slice(0, 3)} ${String(2_010_000).slice(3)}`, 'a repeat written another way'])

    const enqueues = await insertCountingEnqueues(rows)

    expect(enqueues).toBe(1)
    await expectExactlyOnce(db.sql, expected)
    const [left] = await db.sql`SELECT count(*)::int AS n FROM public.campaign_personalized_recipients`
    expect(left.n).toBe(0)
  })

  it('records unsubscribed, excluded and invalid rows as skipped, never queued nor counted', async () => {
    await createAuthor(db.sql, phone(3), { unsubscribed: true })
    await createAuthor(db.sql, phone(8), { exclude: true })
    const rows: Array<[string, string]> = []
    const expected = new Map<string, string>()
    for (let n = 1; n <= 16; n++) {
      rows.push([phone(n), `text ${n}`])
      if (n !== 3 && n !== 8) expected.set(phone(n), `text ${n}`)
    }
    rows.push(['not a number', 'invalid'])
    rows.push(['  ', 'blank'])
    rows.push([`${phone(8)}`, 'the excluded number again'])

    expect(await insertCountingEnqueues(rows)).toBe(1)

    await expectExactlyOnce(db.sql, expected)
    const campaign = await latestCampaign(db.sql)
    const skipped = (await ledger(db.sql, campaign.id)).filter((row) => row.state === 'skipped')
    expect(skipped.map((row) => [row.phone, row.detail]).sort()).toEqual([
      ['(empty)', 'invalid phone number'],
      [phone(3), 'unsubscribed'],
      [phone(8), 'excluded'],
      ['not a number', 'invalid phone number'],
    ])
  })

  it("puts each number's latest conversation in its payload, none for a number without one", async () => {
    await createAuthor(db.sql, phone(1))
    await createAuthor(db.sql, phone(2))
    const older = await createConversation(db.sql)
    const newer = await createConversation(db.sql)
    const sameTimeFirst = await createConversation(db.sql)
    const sameTimeSecond = await createConversation(db.sql)
    await addConversationAuthor(db.sql, newer, phone(1), new Date('2026-03-01T00:00:00Z'))
    await addConversationAuthor(db.sql, older, phone(1), new Date('2026-01-01T00:00:00Z'))
    // Same created_at: the later row (higher id) wins, as in campaign_message_payload.
    await addConversationAuthor(db.sql, sameTimeFirst, phone(2), new Date('2026-02-01T00:00:00Z'))
    await addConversationAuthor(db.sql, sameTimeSecond, phone(2), new Date('2026-02-01T00:00:00Z'))

    await insertCountingEnqueues([[phone(1), 'one'], [phone(2), 'two'], [phone(3), 'three']])

    const campaign = await latestCampaign(db.sql)
    const queued = await queuedFirstMessages(db.sql, campaign.id)
    expect(queued.map((m) => [m.message.recipient_phone_number, m.message.conversation_id])).toEqual([
      [phone(1), newer],
      [phone(2), sameTimeSecond],
      [phone(3), null],
    ])
  })
})
