// Webhook ingest throughput: signed `incoming_twilio_message` deliveries to user-actions, sustained
// for ~10 s on loopback by concurrent clients in a child process, against a baseline of the same
// server answering an empty route under the same load. Goals: ≥ 300 events/s, p99 < 100 ms.
// Each event is a new SMS (distinct Missive message id) from one of 500 people in 500
// conversations, a fifth of them replies to a broadcast sent 10 minutes earlier (so the reply
// window lookup and the second-message cancellation run too). The function runs with the
// production pool size (DB_POOL_MAX, 5) and the lookup refresh off (LOOKUP_URL unset).
// `npx tsx bench/webhook-ingest.ts` (or `npm run bench -- webhook`).
import { fork } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { parseEnvFile } from '../src/local/env-file.ts'
import { startMissiveFake } from '../src/local/fakes/missive.ts'
import { cloneTemplate, startThrowawayCluster } from '../src/local/postgres/throwaway.ts'
import { parseConfig } from '../src/shared/config/env.ts'
import { createFunctionApp } from '../src/shared/http/function-app.ts'
import { signWebhookBody } from '../src/shared/http/webhook-signature.ts'
import { createDeps } from '../src/shared/runtime/deps.ts'
import { userActionFunction } from '../src/shared/webhooks/user-action-function.ts'
import { incomingSms } from '../tests/webhooks/fixtures/missive-events.ts'

const DURATION_MS = 10_000
const WARMUP_MS = 1_500
const CONCURRENCY = 16
const PEOPLE = 500
const OUTLIER = '+18005550100'
const GOAL_RATE = 300
const GOAL_P99_MS = 100

const root = fileURLToPath(new URL('../', import.meta.url))
const exampleEnv = parseEnvFile(readFileSync(`${root}.env.example`, 'utf8'))

const phoneOf = (i: number) => `+1313${String(5_000_000 + i).padStart(7, '0')}`
const conversationOf = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`

/** The reference's incoming-SMS fixture, re-addressed to person `i`. */
function incomingEvent(i: number, text: string): string {
  const phone = phoneOf(i)
  const conversation = conversationOf(i)
  const now = Math.floor(Date.now() / 1000)
  const event = incomingSms()
  Object.assign(event.conversation, {
    id: conversation,
    created_at: now - 86_400,
    latest_message_subject: `SMS with ${phone}`,
    authors: [{ name: OUTLIER, phone_number: OUTLIER }, { name: phone, phone_number: phone }],
    external_authors: [{ name: phone, phone_number: phone }],
    web_url: `https://mail.missiveapp.com/#inbox/conversations/${conversation}`,
    app_url: `missive://mail.missiveapp.com/#inbox/conversations/${conversation}`,
  })
  Object.assign(event.message, {
    id: randomUUID(),
    preview: text,
    delivered_at: now,
    updated_at: now,
    created_at: now,
    references: [`${OUTLIER}${phone}`],
    from_field: { id: phone, name: phone, username: null },
    to_fields: [{ id: OUTLIER, name: OUTLIER, username: null }],
    account_author: { id: phone, name: phone, username: null },
    account_recipients: [{ id: OUTLIER, name: OUTLIER, username: null }],
    external_id: `SM${randomUUID().replace(/-/g, '')}`,
  })
  return JSON.stringify(event)
}

interface DriverResult {
  latencies: number[]
  elapsedMs: number
  failures: Record<string, number>
}

/** Child process: drives `url` with CONCURRENCY clients for `durationMs`, each request a new signed event. */
async function drive(url: string, durationMs: number, secret: string): Promise<DriverResult> {
  const latencies: number[] = []
  const failures: Record<string, number> = {}
  let next = 0
  const started = performance.now()
  const deadline = started + durationMs
  const texts = ['Thanks for the info', 'What about my street?', 'ok', 'Is this still open?', 'Great, thank you']
  const client = async () => {
    while (performance.now() < deadline) {
      const n = next++
      const body = incomingEvent(n % PEOPLE, texts[n % texts.length]!)
      const signature = await signWebhookBody(secret, body)
      const sentAt = performance.now()
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-hook-signature': signature },
          body,
        })
        await response.arrayBuffer()
        if (response.ok) latencies.push(performance.now() - sentAt)
        else failures[response.status] = (failures[response.status] ?? 0) + 1
      } catch (error) {
        const key = error instanceof Error ? error.message : String(error)
        failures[key] = (failures[key] ?? 0) + 1
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, client))
  return { latencies, elapsedMs: performance.now() - started, failures }
}

function runDriver(url: string, durationMs: number): Promise<DriverResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--driver', url, String(durationMs)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    child.once('message', (message) => resolve(message as DriverResult))
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`load driver exited with ${code}`))
    })
  })
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN

function summarise(name: string, result: DriverResult) {
  const sorted = [...result.latencies].sort((a, b) => a - b)
  const rate = result.latencies.length / (result.elapsedMs / 1000)
  const p50 = percentile(sorted, 0.5)
  const p99 = percentile(sorted, 0.99)
  const failed = Object.entries(result.failures).map(([reason, count]) => `${count}× ${reason}`).join(', ')
  console.log(
    `${name}: ${rate.toFixed(0)} events/s, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms` +
      ` (${result.latencies.length} ok in ${(result.elapsedMs / 1000).toFixed(1)} s${
        failed ? `; failed: ${failed}` : ''
      })`,
  )
  return { rate, p50, p99, failed: Object.values(result.failures).reduce((a, b) => a + b, 0) }
}

async function main() {
  const throwaway = await startThrowawayCluster()
  const missive = await startMissiveFake({
    tokens: [exampleEnv.MISSIVE_SECRET_NON_BROADCAST!, exampleEnv.MISSIVE_SECRET_CAMPAIGN_READ_CONVERSATION!],
  })
  let server: Server | undefined
  const config = parseConfig({
    ...exampleEnv,
    DB_POOL_URL: await cloneTemplate(throwaway, 'bench_webhooks'),
    MISSIVE_API_BASE_URL: missive.baseUrl,
    LOOKUP_URL: '',
    LOG_LEVEL: 'error',
    // `DB_POOL_MAX=10 npx tsx bench/webhook-ingest.ts` to see what a bigger pool changes.
    ...(process.env.DB_POOL_MAX ? { DB_POOL_MAX: process.env.DB_POOL_MAX } : {}),
  })
  const deps = createDeps(config)
  try {
    // A fifth of the people got a broadcast 10 minutes ago with a follow-up waiting: their SMS is
    // a reply that cancels it.
    const [{ id: broadcastId }] = await deps.sql<{ id: number }[]>`
      INSERT INTO public.broadcasts (first_message, second_message, no_users, run_at)
      VALUES ('First', 'Second', ${PEOPLE}, now() - interval '10 minutes') RETURNING id`
    await deps.sql`
      INSERT INTO public.authors (phone_number, name)
      SELECT '+1313' || (5000000 + i)::text, NULL FROM generate_series(0, ${PEOPLE - 1}::int) i`
    await deps.sql`
      WITH queued AS (
        SELECT i, pgmq.send('broadcast_second_messages', jsonb_build_object('recipient_phone_number', '+1313' || (5000000 + i)::text,
          'broadcast_id', ${broadcastId}::int, 'first_message', 'First', 'second_message', 'Second', 'delay', 3600), 3600) AS msg_id
        FROM generate_series(0, ${PEOPLE - 1}::int, 5) i
      )
      INSERT INTO public.message_statuses (recipient_phone_number, missive_id, missive_conversation_id, broadcast_id, is_second,
        message, second_message_queue_id, created_at)
      SELECT '+1313' || (5000000 + i)::text, gen_random_uuid(), gen_random_uuid(), ${broadcastId}, false, 'First', msg_id,
        now() - interval '10 minutes'
      FROM queued`

    const app = new Hono({ strict: false })
    app.post('/empty', (c) => c.json({}))
    app.route('/', createFunctionApp(userActionFunction, deps))
    const port = await new Promise<number>((resolve) => {
      server = serve(
        { fetch: app.fetch, port: 0, hostname: '127.0.0.1' },
        (info: AddressInfo) => resolve(info.port),
      ) as Server
    })
    const base = `http://127.0.0.1:${port}`

    console.log(
      `${CONCURRENCY} concurrent clients (child process), ${
        DURATION_MS / 1000
      } s per run, DB pool ${config.DB_POOL_MAX}`,
    )
    await runDriver(`${base}/user-actions/`, WARMUP_MS)
    const baseline = summarise('baseline, empty route', await runDriver(`${base}/empty`, DURATION_MS))
    const cpuBefore = process.cpuUsage()
    const ingestRun = await runDriver(`${base}/user-actions/`, DURATION_MS)
    const cpu = process.cpuUsage(cpuBefore)
    const ingest = summarise('user-actions, incoming SMS', ingestRun)
    console.log(
      `function server CPU: ${
        ((cpu.user + cpu.system) / 1000 / Math.max(1, ingestRun.latencies.length)).toFixed(2)
      } ms per event`,
    )
    console.log(
      `ingest / baseline: ${(ingest.rate / baseline.rate * 100).toFixed(1)}% of the empty route's rate, ` +
        `p99 ${(ingest.p99 / baseline.p99).toFixed(1)}×`,
    )

    const [stored] = await deps.sql<{ messages: number; replies: number; queued: number }[]>`
      SELECT (SELECT count(*)::int FROM public.twilio_messages) AS messages,
             (SELECT count(*)::int FROM public.twilio_messages WHERE is_reply) AS replies,
             (SELECT count(*)::int FROM pgmq.q_broadcast_second_messages) AS queued`
    console.log(
      `stored ${stored!.messages} messages (${stored!.replies} replies); follow-ups left in the queue: ${
        stored!.queued
      }`,
    )
    const met = ingest.rate >= GOAL_RATE && ingest.p99 < GOAL_P99_MS && ingest.failed === 0
    console.log(
      met
        ? `goal met (≥ ${GOAL_RATE} events/s, p99 < ${GOAL_P99_MS} ms)`
        : `GOAL NOT MET (≥ ${GOAL_RATE} events/s, p99 < ${GOAL_P99_MS} ms, no failures)`,
    )
  } finally {
    await new Promise<void>((resolve) => {
      if (!server) return resolve()
      server.close(() => resolve())
      server.closeAllConnections()
    })
    await deps.sql.end()
    await missive.close()
    await throwaway.destroy()
  }
}

if (process.argv[2] === '--driver') {
  const result = await drive(process.argv[3]!, Number(process.argv[4]), exampleEnv.HMAC_SECRET!)
  process.send!(result, () => process.exit(0))
} else {
  await main()
}
