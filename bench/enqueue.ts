import { performance } from 'node:perf_hooks'
import { cloneTemplate, startThrowawayCluster } from '../src/local/postgres/throwaway.ts'
import { createSql, type Sql } from '../src/shared/db/client.ts'

// Enqueueing a 100 000-recipient broadcast: public.queue_broadcast_messages (segment query,
// eligibility join, de-duplication, one send_batch) against the floor, one plain bulk
// INSERT … SELECT of the same 100 000 payloads into the queue table. Both measured in this run on
// the same database, alternating, median of RUNS. Goal: ratio ≤ 2×.
//
//   npx tsx bench/enqueue.ts        (or: npm run bench -- enqueue)

const RECIPIENTS = 100_000
const RUNS = 7
const GOAL = 2

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now()
  await work()
  return performance.now() - start
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

async function prepare(sql: Sql): Promise<{ broadcastId: number; segmentId: number }> {
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
  const [broadcast] = await sql`
    INSERT INTO public.broadcasts (first_message, second_message, no_users, editable)
    VALUES ('Bench first message with a link https://example.com/story', 'Bench follow-up', ${RECIPIENTS}, true)
    RETURNING id`
  const [segment] = await sql`
    INSERT INTO public.audience_segments (name, description, query)
    VALUES ('Everyone', 'bench', 'SELECT a.phone_number FROM public.authors a') RETURNING id`
  await sql`INSERT INTO public.broadcasts_segments (broadcast_id, segment_id, ratio) VALUES (${broadcast.id}, ${segment.id}, 100)`
  await sql`VACUUM ANALYZE public.authors`
  return { broadcastId: broadcast.id, segmentId: segment.id }
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
      const { broadcastId, segmentId } = await prepare(sql)

      const viaFunction = () => sql`SELECT public.queue_broadcast_messages(${broadcastId}) AS queued`
      const plainInsert = () =>
        sql`
        INSERT INTO pgmq.q_broadcast_first_messages (vt, message)
        SELECT clock_timestamp(), jsonb_build_object(
          'recipient_phone_number', a.phone_number, 'broadcast_id', b.id, 'segment_id', ${segmentId}::int,
          'first_message', b.first_message, 'second_message', b.second_message, 'delay', b.delay)
        FROM public.authors a CROSS JOIN public.broadcasts b
        WHERE b.id = ${broadcastId} AND a.unsubscribed = false AND a.exclude = false`

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
      console.log(
        `  ratio                          ${ratio.toFixed(2)}×   (goal ≤ ${GOAL}×: ${
          ratio <= GOAL ? 'met' : 'NOT met'
        })`,
      )
    } finally {
      await sql.end({ timeout: 5 })
    }
  } finally {
    await throwaway.destroy()
  }
}

await main()
