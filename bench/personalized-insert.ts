import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { cloneTemplate, startThrowawayCluster } from '../src/local/postgres/throwaway.ts'
import { createSql, type Sql } from '../src/shared/db/client.ts'
import { measureBackend, type MemoryPeak } from './support/backend-memory.ts'
import { reportFigure } from './support/report.ts'
import { alternateRounds } from './support/rounds.ts'

// A 1 000 000-row personalized INSERT (issue 15 #3): one INSERT … SELECT into
// campaign_personalized_recipients, which the statement trigger turns into one campaign (authors
// created, numbers normalised and merged, one queue message per recipient), against the floor: a
// plain bulk INSERT … SELECT of the same number of payloads straight into the queue table. Both in
// this run, on the same database, each on a fresh connection whose backend's peak memory is read
// from /proc. Goals: personalized time ≤ 2× the plain insert; peak backend memory < 512 MB. Both
// measure the same rows' worth of queue payloads and both fire the queue table's insert trigger
// (one kick of the sender each); the personalized side also pays for what the floor does not do:
// storing and deleting the inbox rows, normalising, merging, reading the authors, creating the
// new ones. The load average is printed with the figures: the machine is shared.
//
//   npx tsx bench/personalized-insert.ts [rows]     (or: npm run bench -- personalized)

const ROWS = Number(process.argv[2] ?? 1_000_000)
const TIME_GOAL = 2
const MEMORY_GOAL_MB = 512
const RUNS = 3

interface Measured {
  ms: number
  peak: MemoryPeak
}

const medianRun = (runs: Measured[]) => [...runs].sort((a, b) => a.ms - b.ms)[Math.floor(runs.length / 2)]

async function onFreshBackend(url: string, work: (sql: Sql) => Promise<unknown>): Promise<Measured> {
  const sql = createSql(url, { max: 1 })
  try {
    const [{ pid }] = await sql`SELECT pg_backend_pid() AS pid`
    const start = performance.now()
    const { peak } = await measureBackend(pid as number, () => work(sql))
    return { ms: performance.now() - start, peak }
  } finally {
    await sql.end({ timeout: 5 })
  }
}

function line(label: string, m: Measured): string {
  return `  ${label.padEnd(34)} ${m.ms.toFixed(0).padStart(7)} ms   peak backend memory: VmHWM ${
    m.peak.hwmMb.toFixed(0)
  } MB, private ${m.peak.anonPeakMb.toFixed(0)} MB`
}

async function main(): Promise<void> {
  const throwaway = await startThrowawayCluster('bench_template')
  try {
    const url = await cloneTemplate(throwaway, 'bench_personalized')
    const admin = createSql(url, { max: 1 })
    try {
      // The queue's insert trigger kicks the sender through invoke_edge_function, which reads these;
      // the requests it queues are never delivered here.
      await admin`SELECT vault.create_secret('http://127.0.0.1:9/functions/v1/', 'edge_function_url')`
      await admin`SELECT vault.create_secret('sb_secret_bench', 'secret_key')`

      // The audience already exists (a newsroom texts its readers): the authors of all but 1 in 20
      // numbers. Creating the others is work the floor does not do (~9 s per million new numbers).
      await admin`
        INSERT INTO public.authors (phone_number)
        SELECT '+1313' || lpad((g / 10000)::text, 3, '0') || lpad((g % 10000)::text, 4, '0')
        FROM generate_series(0, 979999) AS g WHERE g % 20 <> 0`
      await admin`VACUUM ANALYZE public.authors`

      // The floor: the same number of payloads of the same shape, inserted in one statement.
      const plainOnce = async () => {
        const plain = await onFreshBackend(url, (sql) =>
          sql`
          INSERT INTO pgmq.q_broadcast_first_messages (vt, message)
          SELECT clock_timestamp(), jsonb_build_object(
            'recipient_phone_number', '+1313' || lpad(g::text, 7, '0'), 'campaign_id', 1,
            'first_message', 'Hi neighbour ' || g || ', your ballot drop-off is open until 8 pm https://example.com/vote',
            'second_message', NULL, 'title', 'Personalized Campaign', 'delay', 600, 'label_ids', '[]'::jsonb,
            'campaign_segments', NULL, 'conversation_id', NULL, 'created_at', floor(extract(epoch FROM now()))::bigint)
          FROM generate_series(1, ${ROWS}) AS g`)
        const [{ queued }] = await admin`SELECT count(*)::int AS queued FROM pgmq.q_broadcast_first_messages`
        if (queued !== ROWS) throw new Error(`the plain insert wrote ${queued}, expected ${ROWS}`)
        return plain
      }

      // The real thing: numbers as editors paste them (dashes), one in 50 repeated, so the
      // normalisation and the merge have work to do.
      let queued = 0
      const personalizedOnce = async () => {
        const personalized = await onFreshBackend(url, (sql) =>
          sql`
          INSERT INTO public.campaign_personalized_recipients (phone_number, message)
          SELECT '313-' || lpad((g % 980000 / 10000)::text, 3, '0') || '-' || lpad((g % 10000)::text, 4, '0'),
                 'Hi neighbour ' || g || ', your ballot drop-off is open until 8 pm https://example.com/vote'
          FROM generate_series(1, ${ROWS}) AS g`)
        const [campaign] = await admin`
          SELECT id, recipient_count FROM public.campaigns WHERE title = 'Personalized Campaign' ORDER BY id DESC LIMIT 1`
        const [counts] = await admin`
          SELECT count(*)::int AS queued, count(DISTINCT message->>'recipient_phone_number')::int AS distinct
          FROM pgmq.q_broadcast_first_messages WHERE message->>'campaign_id' = ${String(campaign.id)}`
        if (counts.queued !== counts.distinct || counts.queued !== campaign.recipient_count) {
          throw new Error(
            `personalized: ${counts.queued} queued, ${counts.distinct} distinct, recipient_count ${campaign.recipient_count}`,
          )
        }
        queued = counts.queued
        return personalized
      }

      // Alternating from the same state after a discarded warm-up round (alternateRounds).
      const reset = async () => {
        await admin`TRUNCATE pgmq.q_broadcast_first_messages`
        await admin`TRUNCATE net.http_request_queue`
        await admin`DELETE FROM public.message_sends`
        await admin`DELETE FROM public.campaigns`
        await admin`DELETE FROM public.authors WHERE added_via_file_upload`
        await admin`VACUUM ANALYZE public.authors`
        await admin`VACUUM ANALYZE pgmq.q_broadcast_first_messages`
        await admin`CHECKPOINT`
      }
      const { floor: plainRuns, subject: personalizedRuns } = await alternateRounds({
        runs: RUNS,
        floor: plainOnce,
        subject: personalizedOnce,
        reset,
      })
      const plain = medianRun(plainRuns)
      const personalized = medianRun(personalizedRuns)

      const ratio = personalized.ms / plain.ms
      // Memory: the worst of the runs, not the median.
      const peakMb = Math.max(...personalizedRuns.map((run) => Math.max(run.peak.hwmMb, run.peak.anonPeakMb)))
      console.log(
        `personalized INSERT of ${ROWS.toLocaleString('en-US')} rows (${
          queued.toLocaleString('en-US')
        } distinct numbers queued); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      )
      console.log(line('personalized INSERT (trigger)', personalized))
      console.log(line('plain INSERT into the queue table', plain))
      reportFigure({
        bench: 'personalized',
        figure: `${ROWS.toLocaleString('en-US')}-row personalized INSERT / plain queue INSERT`,
        result: `${ratio.toFixed(2)}× (${(personalized.ms / 1000).toFixed(1)} s / ${
          (plain.ms / 1000).toFixed(1)
        } s, median of ${RUNS})`,
        goal: `≤ ${TIME_GOAL}×`,
        met: ratio <= TIME_GOAL,
      })
      reportFigure({
        bench: 'personalized',
        figure: `${ROWS.toLocaleString('en-US')}-row personalized INSERT peak backend memory`,
        result: `${peakMb.toFixed(0)} MB`,
        goal: `< ${MEMORY_GOAL_MB} MB`,
        met: peakMb < MEMORY_GOAL_MB,
      })
    } finally {
      await admin.end({ timeout: 5 })
    }
  } finally {
    await throwaway.destroy()
  }
}

await main()
