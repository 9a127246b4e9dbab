import { beforeEach, describe, expect, it } from 'vitest'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'
import { SECRET_KEY } from '../support/app.ts'
import {
  createAuthor,
  createAuthors,
  createBroadcast,
  createSegment,
  queuedFirstMessages,
} from '../support/factories/broadcasts.ts'

// public.queue_broadcast_messages (upstream-database.md §5.1, §9.1), with the defects of §14.11
// fixed: eligibility is enforced whatever the segment query says, a missing Inactive segment means
// no top-up, NULL-named segments count, and the whole audience goes out in one send_batch.

const db = useTestDatabase()

beforeEach(async () => {
  await resetDatabase(db.sql)
  // The queue's insert trigger (sender slice) calls invoke_edge_function, which reads these.
  await setVaultSecrets(db.sql, { edgeFunctionUrl: 'http://edge.test/functions/v1/', secretKey: SECRET_KEY })
})

const queue = async (broadcastId: number) => {
  const [{ queued }] = await db.sql`SELECT public.queue_broadcast_messages(${broadcastId}) AS queued`
  return queued as number
}

describe('queue_broadcast_messages', () => {
  it('queues each eligible number once, never unsubscribed, excluded (NULL too) or file-upload authors', async () => {
    const { sql } = db
    const eligible = await createAuthors(sql, 3)
    const unsubscribed = await createAuthor(sql, { unsubscribed: true })
    const excluded = await createAuthor(sql, { exclude: true })
    const excludeNull = await createAuthor(sql, { exclude: null })
    const fileUpload = await createAuthor(sql, { addedViaFileUpload: true })
    const broadcast = await createBroadcast(sql, {
      editable: true,
      noUsers: 100,
      firstMessage: 'Hi',
      secondMessage: 'Again',
    })
    // A careless segment query: everyone, every number twice, plus a number that is not an author.
    await createSegment(sql, {
      broadcastId: broadcast.id,
      query: `SELECT a.phone_number FROM public.authors a UNION ALL SELECT a.phone_number FROM public.authors a
              UNION ALL SELECT '+13135559999' AS phone_number;`,
    })

    expect(await queue(broadcast.id)).toBe(3)
    const phones = (await queuedFirstMessages(sql)).map((row) => row.message.recipient_phone_number)
    expect(phones.sort()).toEqual([...eligible].sort())
    for (const phone of [unsubscribed, excluded, excludeNull, fileUpload, '+13135559999']) {
      expect(phones).not.toContain(phone)
    }
  })

  it('writes exactly the §8.1 payload keys', async () => {
    const { sql } = db
    const [phone] = await createAuthors(sql, 1)
    const broadcast = await createBroadcast(sql, {
      editable: true,
      noUsers: 5,
      firstMessage: 'Test first message',
      secondMessage: 'Test second message',
      delay: 900,
    })
    const segmentId = await createSegment(sql, { broadcastId: broadcast.id })
    await queue(broadcast.id)
    const [row] = await queuedFirstMessages(sql)
    expect(row.message).toEqual({
      recipient_phone_number: phone,
      broadcast_id: broadcast.id,
      segment_id: segmentId,
      first_message: 'Test first message',
      second_message: 'Test second message',
      delay: 900,
    })
  })

  it('splits no_users by ratio, de-duplicates across segments and tops up from the global Inactive segment', async () => {
    const { sql } = db
    const phones = await createAuthors(sql, 10)
    const broadcast = await createBroadcast(sql, { editable: true, noUsers: 8 })
    const list = (numbers: string[]) =>
      `SELECT phone_number FROM public.authors WHERE phone_number IN (${
        numbers.map((p) => `'${p}'`).join(',')
      }) ORDER BY phone_number`
    // A: 50% of 8 = 4 from phones 0..5; B: 25% of 8 = 2 from phones 0..3 (already taken) and 6..7.
    const a = await createSegment(sql, {
      name: 'A',
      broadcastId: broadcast.id,
      ratio: 50,
      query: list(phones.slice(0, 6)),
    })
    const b = await createSegment(sql, {
      name: null,
      broadcastId: broadcast.id,
      ratio: 25,
      query: list([...phones.slice(0, 4), ...phones.slice(6, 8)]),
    })
    // Not linked: tops up the remaining 2.
    const inactive = await createSegment(sql, { name: 'Inactive', query: list(phones) })

    expect(await queue(broadcast.id)).toBe(8)
    const messages = (await queuedFirstMessages(sql)).map((row) => row.message)
    const bySegment = (id: number) => messages.filter((m) => m.segment_id === id).map((m) => m.recipient_phone_number)
    expect(bySegment(a)).toEqual(phones.slice(0, 4))
    // Upstream limited B before de-duplicating (yielding nothing here) and skipped it for its NULL name.
    expect(bySegment(b)).toEqual(phones.slice(6, 8))
    expect(bySegment(inactive)).toEqual([phones[4], phones[5]])
    expect(new Set(messages.map((m) => m.recipient_phone_number)).size).toBe(8)
  })

  it('without an Inactive segment there is simply no top-up (upstream: syntax error)', async () => {
    const { sql } = db
    await createAuthors(sql, 4)
    const broadcast = await createBroadcast(sql, { editable: true, noUsers: 10 })
    await createSegment(sql, { broadcastId: broadcast.id, ratio: 20 })
    expect(await queue(broadcast.id)).toBe(2)
  })

  it('enqueues the whole audience with one INSERT statement (one sender kick)', async () => {
    const { sql } = db
    await createAuthors(sql, 250)
    const broadcast = await createBroadcast(sql, { editable: true, noUsers: 250 })
    await createSegment(sql, { broadcastId: broadcast.id })
    await sql`CREATE TABLE public.test_statement_count (n int)`
    await sql`CREATE FUNCTION public.test_count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO public.test_statement_count VALUES (1); RETURN NULL; END $$`
    await sql`CREATE TRIGGER test_count_statement AFTER INSERT ON pgmq.q_broadcast_first_messages
      FOR EACH STATEMENT EXECUTE FUNCTION public.test_count_statement()`
    try {
      expect(await queue(broadcast.id)).toBe(250)
      const [{ count }] = await sql`SELECT count(*)::int AS count FROM public.test_statement_count`
      // Upstream sent batches of 100: three statements, three kicks.
      expect(count).toBe(1)
    } finally {
      await sql`DROP TRIGGER test_count_statement ON pgmq.q_broadcast_first_messages`
      await sql`DROP FUNCTION public.test_count_statement()`
      await sql`DROP TABLE public.test_statement_count`
    }
  })

  it('can run twice in one transaction and again on the same pooled session (temp table reuse)', async () => {
    const { sql } = db
    await createAuthors(sql, 3)
    const first = await createBroadcast(sql, { editable: false, noUsers: 3 })
    const second = await createBroadcast(sql, { editable: false, noUsers: 3 })
    await createSegment(sql, { broadcastId: first.id })
    await createSegment(sql, { name: 'Other', broadcastId: second.id })
    const counts = await sql.begin(async (tx) => {
      const [a] = await tx`SELECT public.queue_broadcast_messages(${first.id}) AS queued`
      const [b] = await tx`SELECT public.queue_broadcast_messages(${second.id}) AS queued`
      return [a.queued, b.queued]
    })
    expect(counts).toEqual([3, 3])
    expect(await queue(first.id)).toBe(3)
    expect(await queuedFirstMessages(sql)).toHaveLength(9)
  })

  it('caps the audience at no_users when ratios add up to more than 100', async () => {
    const { sql } = db
    await createAuthors(sql, 10)
    const broadcast = await createBroadcast(sql, { editable: true, noUsers: 5 })
    await createSegment(sql, { name: 'A', broadcastId: broadcast.id, ratio: 100 })
    await createSegment(sql, { name: 'B', broadcastId: broadcast.id, ratio: 100 })
    expect(await queue(broadcast.id)).toBe(5)
  })

  it('fails for an unknown broadcast and queues nothing when a segment query is broken', async () => {
    const { sql } = db
    await createAuthors(sql, 3)
    await expect(queue(999)).rejects.toThrow(/broadcast 999 does not exist/)
    const broadcast = await createBroadcast(sql, { editable: true, noUsers: 3 })
    await createSegment(sql, { name: 'ok', broadcastId: broadcast.id, ratio: 50 })
    await createSegment(sql, {
      name: 'broken',
      broadcastId: broadcast.id,
      ratio: 50,
      // Passes the write-time check (docs/security.md); divides by zero only when it runs.
      query: 'SELECT (1 / (count(*) - count(*)))::text AS phone_number FROM public.authors',
    })
    await expect(queue(broadcast.id)).rejects.toThrow(/audience segment \d+ \(broken\) failed: division by zero/)
    expect(await queuedFirstMessages(sql)).toHaveLength(0)
  })
})
