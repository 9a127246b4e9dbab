import { performance } from 'node:perf_hooks'
import { cloneTemplate, startThrowawayCluster } from '../src/local/postgres/throwaway.ts'
import { createSql, type Sql } from '../src/shared/db/client.ts'

import { reportFigure } from './support/report.ts'

// Enqueueing a 100 000-recipient broadcast from segments as real ones are written (upstream's
// seeds order by random(); newsroom segments join labels): a label segment ("Renters", 30 %), a
// readers segment (70 %) and the global 'Inactive' top-up, every one `ORDER BY random()`, through
// public.queue_broadcast_messages (each segment run as the restricted segment role, eligibility
// join, de-duplication, one send_batch). The floor is what the same segments cost at least: one
// plain INSERT … SELECT of the payloads straight from the same three queries (de-duplicated,
// eligible authors, capped at no_users) into the queue table. Both measured in this run on the
// same database, alternating, median of RUNS. Goal: ratio ≤ 2×.
//
//   npx tsx bench/enqueue.ts        (or: npm run bench -- enqueue)

const RECIPIENTS = 100_000
const RUNS = 7
const GOAL = 2
const LABELS = ['Renters', 'Homeowners', 'East side', 'West side', 'Seniors', 'Parents', 'Students', 'Veterans']

// Constant texts of this file, never values: they go into the floor's SQL as the function splices
// them into its own.
const SEGMENTS = {
  renters: `SELECT ca.author_phone_number AS phone_number
    FROM public.conversations_labels cl
    JOIN public.labels l ON l.id = cl.label_id
    JOIN public.conversations_authors ca ON ca.conversation_id = cl.conversation_id
    WHERE l.name = 'Renters' AND NOT cl.is_archived
    ORDER BY random()`,
  readers: `SELECT a.phone_number FROM public.authors a
    WHERE a.unsubscribed = false AND a.exclude = false AND a.added_via_file_upload IS NOT TRUE ORDER BY random()`,
  inactive: 'SELECT a.phone_number FROM public.authors a ORDER BY RANDOM()',
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now()
  await work()
  return performance.now() - start
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

async function prepare(sql: Sql): Promise<{ broadcastId: number; segmentIds: number[] }> {
  // The queue's insert trigger (sender slice) calls invoke_edge_function, which reads these; the
  // requests it queues are never delivered here.
  await sql`SELECT vault.create_secret('http://127.0.0.1:9/functions/v1/', 'edge_function_url')`
  await sql`SELECT vault.create_secret('sb_secret_bench', 'secret_key')`
  await sql`
    INSERT INTO public.authors (phone_number, name)
    SELECT '+1313' || lpad(g::text, 7, '0'), 'Bench ' || g FROM generate_series(1, ${RECIPIENTS}) AS g`
  // A few ineligible authors on top, so the eligibility filter has something to do.
  await sql`
    INSERT INTO public.authors (phone_number, unsubscribed, exclude)
    SELECT '+1248' || lpad(g::text, 7, '0'), g % 2 = 0, g % 2 = 1 FROM generate_series(1, 1000) AS g`
  // One SMS conversation per author, each with one or two of the newsroom's labels (an eighth
  // are Renters, some of them archived), as the webhooks write them.
  await sql`
    CREATE TEMP TABLE bench_people AS
    SELECT phone_number, gen_random_uuid() AS conversation_id, row_number() OVER (ORDER BY phone_number) AS idx
    FROM public.authors`
  await sql`
    INSERT INTO public.conversations (id, web_url, app_url)
    SELECT conversation_id, 'https://mail.missiveapp.com/#inbox/conversations/' || conversation_id,
           'missive://mail.missiveapp.com/#inbox/conversations/' || conversation_id
    FROM bench_people`
  await sql`
    INSERT INTO public.conversations_authors (conversation_id, author_phone_number)
    SELECT conversation_id, phone_number FROM bench_people`
  await sql`INSERT INTO public.labels (name, name_with_parent_names) SELECT name, name FROM unnest(${LABELS}::text[]) AS name`
  await sql`
    INSERT INTO public.conversations_labels (conversation_id, label_id, is_archived)
    SELECT p.conversation_id, l.id, p.idx % 40 = 0
    FROM bench_people p JOIN public.labels l
      ON l.name = (${LABELS}::text[])[1 + p.idx % ${LABELS.length}]
      OR (p.idx % 3 = 0 AND l.name = (${LABELS}::text[])[1 + (p.idx / 3) % ${LABELS.length}])`
  await sql`DROP TABLE bench_people`
  const [broadcast] = await sql`
    INSERT INTO public.broadcasts (first_message, second_message, no_users, editable)
    VALUES ('Bench first message with a link https://example.com/story', 'Bench follow-up', ${RECIPIENTS}, true)
    RETURNING id`
  const segmentIds: number[] = []
  for (
    const [name, query, ratio] of [
      ['Renters', SEGMENTS.renters, 30],
      ['Readers', SEGMENTS.readers, 70],
      ['Inactive', SEGMENTS.inactive, null],
    ] as const
  ) {
    const [segment] = await sql`
      INSERT INTO public.audience_segments (name, description, query) VALUES (${name}, 'bench', ${query}) RETURNING id`
    segmentIds.push(segment.id)
    if (ratio !== null) {
      await sql`INSERT INTO public.broadcasts_segments (broadcast_id, segment_id, ratio) VALUES (${broadcast.id}, ${segment.id}, ${ratio})`
    }
  }
  await sql`VACUUM ANALYZE`
  return { broadcastId: broadcast.id, segmentIds }
}

async function emptyQueue(sql: Sql): Promise<number> {
  const [{ count }] = await sql`SELECT count(*)::int AS count FROM pgmq.q_broadcast_first_messages`
  await sql`TRUNCATE pgmq.q_broadcast_first_messages`
  await sql`TRUNCATE net.http_request_queue`
  return count
}

async function main(): Promise<void> {
  const throwaway = await startThrowawayCluster('bench_template')
  try {
    const sql = createSql(await cloneTemplate(throwaway, 'bench_enqueue'), { max: 1 })
    try {
      const { broadcastId, segmentIds } = await prepare(sql)

      const viaFunction = () => sql`SELECT public.queue_broadcast_messages(${broadcastId}) AS queued`
      const [renters, readers, inactive] = segmentIds
      const plainInsert = () =>
        sql`
        INSERT INTO pgmq.q_broadcast_first_messages (vt, message)
        SELECT clock_timestamp(), jsonb_build_object(
          'recipient_phone_number', picked.phone_number, 'broadcast_id', b.id, 'segment_id', picked.segment_id,
          'first_message', b.first_message, 'second_message', b.second_message, 'delay', b.delay)
        FROM (
          SELECT DISTINCT ON (c.phone_number) c.phone_number, c.segment_id
          FROM (
            SELECT s.phone_number, ${renters}::int AS segment_id, 1 AS pass FROM (${sql.unsafe(SEGMENTS.renters)}) s
            UNION ALL SELECT s.phone_number, ${readers}::int, 2 FROM (${sql.unsafe(SEGMENTS.readers)}) s
            UNION ALL SELECT s.phone_number, ${inactive}::int, 3 FROM (${sql.unsafe(SEGMENTS.inactive)}) s
          ) c
          ORDER BY c.phone_number, c.pass
        ) picked
        JOIN public.authors a ON a.phone_number = picked.phone_number
        CROSS JOIN public.broadcasts b
        WHERE b.id = ${broadcastId} AND a.unsubscribed = false AND a.exclude = false AND a.added_via_file_upload IS NOT TRUE
        LIMIT ${RECIPIENTS}`

      // Warm-up (caches, plans), not counted.
      await viaFunction()
      await emptyQueue(sql)
      await plainInsert()
      await emptyQueue(sql)

      const functionTimes: number[] = []
      const insertTimes: number[] = []
      for (let run = 0; run < RUNS; run++) {
        functionTimes.push(await timed(viaFunction))
        const queued = await emptyQueue(sql)
        if (queued !== RECIPIENTS) throw new Error(`queue_broadcast_messages queued ${queued}, expected ${RECIPIENTS}`)
        insertTimes.push(await timed(plainInsert))
        const inserted = await emptyQueue(sql)
        if (inserted !== RECIPIENTS) throw new Error(`the plain insert wrote ${inserted}, expected ${RECIPIENTS}`)
      }

      const fn = median(functionTimes)
      const plain = median(insertTimes)
      const ratio = fn / plain
      console.log(`enqueue ${RECIPIENTS.toLocaleString('en-US')} recipients, median of ${RUNS} runs`)
      console.log(
        `  queue_broadcast_messages      ${fn.toFixed(0).padStart(6)} ms   (${
          functionTimes.map((t) => t.toFixed(0)).join(', ')
        })`,
      )
      console.log(
        `  plain INSERT … SELECT          ${plain.toFixed(0).padStart(6)} ms   (${
          insertTimes.map((t) => t.toFixed(0)).join(', ')
        })`,
      )
      reportFigure({
        bench: 'enqueue',
        figure:
          "queue_broadcast_messages, 100 000 from 3 random-ordered segments (label join, readers, Inactive) vs the same queries' plain INSERT … SELECT",
        result: `${ratio.toFixed(2)}× (${fn.toFixed(0)} vs ${plain.toFixed(0)} ms)`,
        goal: `≤ ${GOAL}×`,
        met: ratio <= GOAL,
      })
    } finally {
      await sql.end({ timeout: 5 })
    }
  } finally {
    await throwaway.destroy()
  }
}

await main()
