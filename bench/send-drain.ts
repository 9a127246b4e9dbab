import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseEnvFile } from '../src/local/env-file.ts'
import { startMissiveFake } from '../src/local/fakes/missive.ts'
import { cloneTemplate, startThrowawayCluster } from '../src/local/postgres/throwaway.ts'
import { parseConfig } from '../src/shared/config/env.ts'
import { createSql } from '../src/shared/db/client.ts'
import { createLogger } from '../src/shared/log/logger.ts'
import { createDeps } from '../src/shared/runtime/deps.ts'
import { drainQueue } from '../src/shared/sending/drain.ts'
import { rateBudget } from '../src/shared/sending/rate-budget.ts'

// `npx tsx bench/send-drain.ts`: does the sender go as fast as Missive's windows allow, and no
// faster, with 10 % of draft requests failing (5 % 429, 5 % proxy 503)? Is every message sent at
// most once, and is none lost?
//
// A 1-minute window cannot be watched for long in a benchmark of under a minute, so the window is
// put in steady state first: 1200 requests are recorded over the last 60 s (what a sender at the
// configured 20/s leaves behind). From then on, one slot frees every 50 ms: the sender may make
// exactly 20 requests per second, and the figure is how close it gets. Two drains run at once,
// as when the trigger's kick and the per-minute job overlap.

const CONFIGURED_PER_SECOND = 20
const LIMITS = { maxConcurrent: 5, perMinute: CONFIGURED_PER_SECOND * 60, per15Minutes: CONFIGURED_PER_SECOND * 900 }
const DRAIN_SECONDS = 25
const MESSAGES = 800 // more than the window allows during the drain, so the queue never runs dry
const FAULT_SHARE = 0.05 // each of 429 and 503

const root = fileURLToPath(new URL('../', import.meta.url))
const started = Date.now()
const throwaway = await startThrowawayCluster('bench_send_template')
const exampleEnv = parseEnvFile(readFileSync(`${root}.env.example`, 'utf8'))
// The fake enforces the same limits and answers 429 beyond them, as Missive does.
const fake = await startMissiveFake({
  tokens: [exampleEnv.MISSIVE_SECRET_BROADCAST_FIRST_MESSAGES!, exampleEnv.MISSIVE_SECRET_CAMPAIGN_READ_CONVERSATION!],
  rateLimits: LIMITS,
  latencyMs: 40,
})
const env = {
  ...exampleEnv,
  MISSIVE_API_BASE_URL: fake.baseUrl,
  MISSIVE_MAX_CONCURRENT: String(LIMITS.maxConcurrent),
  MISSIVE_MAX_PER_MINUTE: String(LIMITS.perMinute),
  MISSIVE_MAX_PER_15_MINUTES: String(LIMITS.per15Minutes),
  SEND_DRAIN_SECONDS: String(DRAIN_SECONDS),
  LOG_LEVEL: 'error',
}

const url = await cloneTemplate(throwaway, 'bench_send')
const sql = createSql(url, { max: 20 })
const config = parseConfig({ ...env, DB_POOL_URL: url })
const deps = createDeps(config, { sql, log: createLogger({ bench: 'send-drain' }) })

try {
  // Recipients and their queue messages (one statement: one kick, which nothing delivers here).
  const [broadcast] = await sql<{ id: number }[]>`
    INSERT INTO public.broadcasts (run_at, editable, first_message, second_message, delay)
    VALUES (now(), false, 'Bench first', '', 600) RETURNING id`
  await sql`
    INSERT INTO public.authors (phone_number)
    SELECT '+1313' || lpad(i::text, 7, '0') FROM generate_series(1, ${MESSAGES}) AS i`
  await sql`
    SELECT pgmq.send_batch('broadcast_first_messages', ARRAY(
      SELECT jsonb_build_object('recipient_phone_number', '+1313' || lpad(i::text, 7, '0'), 'broadcast_id', ${
    broadcast!.id
  }::integer,
                                'first_message', 'Bench first', 'second_message', '', 'delay', 600)
      FROM generate_series(1, ${MESSAGES}) AS i))`

  // Steady state: a full minute window, its oldest request leaving it right now.
  const budget = await rateBudget(config, 'first-messages')
  const [seed] = await sql<{ t0: Date }[]>`
    WITH t AS (SELECT clock_timestamp() AS t0)
    INSERT INTO public.missive_requests (token_key, purpose, started_at, lease_until, finished_at)
    SELECT ${budget.tokenKey}, 'bench-history', stamp, stamp, stamp
    FROM t, LATERAL (SELECT t.t0 - interval '60 seconds' + make_interval(secs => i / ${CONFIGURED_PER_SECOND}::double precision) AS stamp
                     FROM generate_series(0, ${LIMITS.perMinute - 1}) AS i) s
    RETURNING (SELECT t0 FROM t) AS t0`
  const t0 = seed!.t0

  fake.failShare(FAULT_SHARE, 'rate-limit', { path: '/v1/drafts', retryAfterSeconds: 1 })
  fake.failShare(FAULT_SHARE, 'unavailable', { path: '/v1/drafts' })
  const summaries = await Promise.all([drainQueue(deps, false), drainQueue(deps, false)])
  const [end] = await sql<{ t: Date }[]>`SELECT clock_timestamp() AS t`
  const seconds = (end!.t.getTime() - t0.getTime()) / 1000

  const [made] = await sql<{ n: number }[]>`
    SELECT count(*)::integer AS n FROM public.missive_requests WHERE purpose = 'first-messages' AND started_at >= ${t0}`
  const [window] = await sql<{ max: number }[]>`
    WITH stamps AS (SELECT coalesce(finished_at, started_at) AS seeded, started_at, purpose FROM public.missive_requests
                    WHERE token_key = ${budget.tokenKey}),
         points AS (SELECT CASE WHEN purpose = 'bench-history' THEN seeded ELSE started_at END AS at FROM stamps)
    SELECT max((SELECT count(*) FROM points q WHERE q.at > p.at - interval '60 seconds' AND q.at <= p.at))::integer AS max
    FROM points p WHERE p.at >= ${t0}`
  const [flight] = await sql<{ max: number }[]>`
    SELECT coalesce(max(n), 0)::integer AS max FROM (
      SELECT sum(delta) OVER (ORDER BY at, delta ROWS UNBOUNDED PRECEDING) AS n FROM (
        SELECT started_at AS at, 1 AS delta FROM public.missive_requests WHERE purpose = 'first-messages'
        UNION ALL SELECT finished_at, -1 FROM public.missive_requests WHERE purpose = 'first-messages') e) r`

  // Then let every message finish: backoffs "elapse", the seeded history goes, drains repeat.
  fake.clearFaults()
  await sql`DELETE FROM public.missive_requests WHERE purpose = 'bench-history'`
  for (let round = 0; round < 10; round++) {
    const [left] = await sql<{ n: number }[]>`SELECT count(*)::integer AS n FROM pgmq.q_broadcast_first_messages`
    if (left!.n === 0) break
    await sql`UPDATE pgmq.q_broadcast_first_messages SET vt = clock_timestamp()`
    await drainQueue(deps, false)
  }

  const perRecipient = new Map<string, number>()
  for (const draft of fake.drafts) perRecipient.set(draft.to, (perRecipient.get(draft.to) ?? 0) + 1)
  const duplicates = [...perRecipient.values()].reduce((sum, n) => sum + (n - 1), 0)
  const [accounted] = await sql<{ sent: number; dead: number; queued: number; unrecorded: number }[]>`
    SELECT (SELECT count(*) FROM public.message_sends WHERE state = 'sent')::integer AS sent,
           (SELECT count(*) FROM public.message_sends s WHERE state IN ('failed', 'unknown')
              AND EXISTS (SELECT 1 FROM pgmq.a_broadcast_first_messages a
                          WHERE a.message->>'recipient_phone_number' = s.recipient_phone_number))::integer AS dead,
           (SELECT count(*) FROM pgmq.q_broadcast_first_messages)::integer AS queued,
           (SELECT count(*) FROM public.message_sends s WHERE state = 'sent'
              AND NOT EXISTS (SELECT 1 FROM public.message_statuses m WHERE m.id = s.message_status_id))::integer AS unrecorded`
  const delivered = perRecipient.size
  const lost = MESSAGES - delivered - accounted!.dead - accounted!.queued

  const achieved = made!.n / seconds
  const ratio = achieved / CONFIGURED_PER_SECOND
  const sum = (key: 'sent' | 'deferred' | 'retrying' | 'failed' | 'unknown') =>
    summaries.reduce((total, s) => total + s[key], 0)
  console.log(
    `drain: 2 concurrent drains of ${DRAIN_SECONDS} s over ${MESSAGES} queued, 5 % 429 + 5 % 503 injected; outcomes sent ${
      sum('sent')
    }, deferred ${sum('deferred')}, retrying ${sum('retrying')}, failed ${sum('failed')}, unknown ${sum('unknown')}`,
  )
  console.log(
    `rate: achieved ${achieved.toFixed(2)} requests/s vs configured ${CONFIGURED_PER_SECOND}/s = ${
      (ratio * 100).toFixed(1)
    } % (goal >= 95 %, <= 100 %) ${ratio >= 0.95 && ratio <= 1.005 ? 'OK' : 'MISS'}`,
  )
  console.log(
    `limits: max ${window!.max} requests in any 60 s window (limit ${LIMITS.perMinute}), max ${
      flight!.max
    } in flight (limit ${LIMITS.maxConcurrent}) ${
      window!.max <= LIMITS.perMinute && flight!.max <= LIMITS.maxConcurrent ? 'OK' : 'MISS'
    }`,
  )
  console.log(`duplicates: ${duplicates} (goal 0) ${duplicates === 0 ? 'OK' : 'MISS'}`)
  console.log(
    `lost: ${lost} of ${MESSAGES} (goal 0; sent ${delivered}, dead-lettered with a ledger reason ${
      accounted!.dead
    }, still queued ${accounted!.queued}, sent but unrecorded ${accounted!.unrecorded}) ${
      lost === 0 && accounted!.unrecorded === 0 ? 'OK' : 'MISS'
    }`,
  )
  console.log(`total bench time ${((Date.now() - started) / 1000).toFixed(1)} s`)
  process.exitCode = ratio >= 0.95 && duplicates === 0 && lost === 0 ? 0 : 1
} finally {
  await sql.end({ timeout: 5 })
  await fake.close()
  await throwaway.destroy()
}
