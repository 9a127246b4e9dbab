// Webhook ingest on the production path: signed `incoming_twilio_message` deliveries to
// user-actions, sustained for ~10 s on loopback by concurrent clients in a child process, with
// everything production does per event switched on:
//   - the lookup cache refresh (LOOKUP_URL set) against a fake lookup service answering in 50 ms;
//   - 5 % of the texts are "STOP": the author is unsubscribed and a confirmation is posted through
//     the fake Missive (50 ms latency);
//   - a fifth of the people got a broadcast 10 minutes ago with a follow-up queued: their text is a
//     reply that cancels it (every event comes from a different person, so each reply cancels one).
// The fakes run in a second child process, so the function server's process (this one) does only
// the function's work: its CPU time per event is the cost of the function itself.
// Reported against the same server answering an empty route under the same load (same run).
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
import { delay } from '../src/local/fakes/fake-server.ts'
import { cloneTemplate, startThrowawayCluster } from '../src/local/postgres/throwaway.ts'
import { parseConfig } from '../src/shared/config/env.ts'
import { createFunctionApp } from '../src/shared/http/function-app.ts'
import { signWebhookBody } from '../src/shared/http/webhook-signature.ts'
import { createDeps } from '../src/shared/runtime/deps.ts'
import { userActionFunction } from '../src/shared/webhooks/user-action-function.ts'
import { reportFigure } from './support/report.ts'
import { incomingSms } from '../tests/webhooks/fixtures/missive-events.ts'

const DURATION_MS = 10_000
const WARMUP_MS = 1_500
// Missive delivers rule webhooks in parallel; enough clients that the server, not the 50 ms
// waits, is what limits the rate.
const CONCURRENCY = 48
const PEOPLE = 30_000 // more than the events of a run: every event is a new person
const FOLLOW_UP_EVERY = 5 // people 0, 5, 10, … have a follow-up queued
const OPT_OUT_EVERY = 20 // events 7, 27, 47, … say STOP
const PROVIDER_LATENCY_MS = 50
const OUTLIER = '+18005550100'
// Goals, and why they are honest on the 2-core development machine. It is shared with other
// work and its load swings (2 to 20+): absolute rates and even CPU times move with it (the empty
// route's CPU per request went from 0.2 to 1.4 ms between two runs), so the goals are same-run
// ratios where they can be, with margins taken from runs at load ~5 and ~12:
// - GOAL_SHARE: ingest's rate as a share of the empty route's on the same server, both saturated
//   by 48 clients. Measured 4.5–10 %; 3 % means one event costs at most ~33 empty requests, and
//   fails if the path got markedly more expensive.
// - GOAL_CPU_MS: CPU of the function's process per event (zod, HMAC, ~15 SQL round trips, the
//   lookup and Missive calls). Measured 8.5 ms at load ~5, 11 ms at load 12+; 15 ms keeps one
//   core good for ~65 events/s, ten times the few replies a second a 5 000-person broadcast draws
//   at its peak.
// - GOAL_P99_MS at a steady half of the saturated rate (latency below saturation, whatever the
//   machine gives this run; under saturation the p99 is only the queue, 48 clients ÷ the rate,
//   so it is printed, not judged). What must hold is Missive's 15 s webhook timeout; every event
//   waits for the 50 ms lookup refresh (a STOP also for the 50 ms Missive post) by design, and the
//   shared machine stalls processes for hundreds of ms; 2 s keeps 7× inside the timeout.
const GOAL_SHARE = 0.03
const GOAL_CPU_MS = 15
const GOAL_P99_MS = 2_000

const root = fileURLToPath(new URL('../', import.meta.url))
const exampleEnv = parseEnvFile(readFileSync(`${root}.env.example`, 'utf8'))

const phoneOf = (i: number) => `+1313${String(5_000_000 + i).padStart(7, '0')}`
const conversationOf = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`
const isOptOut = (n: number) => n % OPT_OUT_EVERY === 7
const hasFollowUp = (i: number) => i % FOLLOW_UP_EVERY === 0

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
  /** People whose event was answered 2xx. */
  okPeople: number[]
  elapsedMs: number
  failures: Record<string, number>
}

/**
 * Child process: drives `url` for `durationMs`, each request a new person's signed event. With
 * `perSecond` 0, CONCURRENCY clients send back to back (the most the server can take); otherwise
 * events arrive at that fixed rate whatever the answers (a steady stream, for its latency).
 */
async function drive(
  url: string,
  durationMs: number,
  firstPerson: number,
  perSecond: number,
  secret: string,
): Promise<DriverResult> {
  const latencies: number[] = []
  const okPeople: number[] = []
  const failures: Record<string, number> = {}
  let next = firstPerson
  const started = performance.now()
  const deadline = started + durationMs
  const texts = ['Thanks for the info', 'What about my street?', 'ok', 'Is this still open?', 'Great, thank you']
  const one = async () => {
    const n = next++
    if (n >= PEOPLE) throw new Error(`more than ${PEOPLE} events: raise PEOPLE`)
    const body = incomingEvent(n, isOptOut(n) ? 'STOP' : texts[n % texts.length]!)
    const signature = await signWebhookBody(secret, body)
    const sentAt = performance.now()
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hook-signature': signature },
        body,
      })
      await response.arrayBuffer()
      if (response.ok) {
        latencies.push(performance.now() - sentAt)
        okPeople.push(n)
      } else failures[response.status] = (failures[response.status] ?? 0) + 1
    } catch (error) {
      const key = error instanceof Error ? error.message : String(error)
      failures[key] = (failures[key] ?? 0) + 1
    }
  }
  if (perSecond > 0) {
    const pending: Promise<void>[] = []
    for (let i = 0; started + (i * 1000) / perSecond < deadline; i++) {
      const due = started + (i * 1000) / perSecond
      const wait = due - performance.now()
      if (wait > 0) await delay(wait)
      pending.push(one())
    }
    await Promise.all(pending)
  } else {
    const client = async () => {
      while (performance.now() < deadline) await one()
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, client))
  }
  return { latencies, okPeople, elapsedMs: performance.now() - started, failures }
}

function child(args: string[]) {
  return fork(fileURLToPath(import.meta.url), args, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
}

function runDriver(url: string, durationMs: number, firstPerson: number, perSecond = 0): Promise<DriverResult> {
  return new Promise((resolve, reject) => {
    const driver = child(['--driver', url, String(durationMs), String(firstPerson), String(perSecond)])
    driver.once('message', (message) => resolve(message as DriverResult))
    driver.once('error', reject)
    driver.once('exit', (code) => {
      if (code !== 0) reject(new Error(`load driver exited with ${code}`))
    })
  })
}

interface FakeUrls {
  missive: string
  lookup: string
}
interface FakeStats {
  posts: number
  lookups: number
}

/** Child process: the fake Missive and a fake lookup service, both answering in PROVIDER_LATENCY_MS. */
async function serveFakes(): Promise<void> {
  const missive = await startMissiveFake({
    tokens: [
      exampleEnv.MISSIVE_SECRET_BROADCAST_FIRST_MESSAGES!,
      exampleEnv.MISSIVE_SECRET_BROADCAST_SECOND_MESSAGES!,
      exampleEnv.MISSIVE_SECRET_NON_BROADCAST!,
      exampleEnv.MISSIVE_SECRET_CAMPAIGN_READ_CONVERSATION!,
    ],
    organizationId: exampleEnv.MISSIVE_ORGANIZATION_ID,
    latencyMs: PROVIDER_LATENCY_MS,
  })
  // Missive knows every person's conversation (a confirmation to an unknown one is a 404).
  for (let i = 0; i < PEOPLE; i++) missive.setConversationLabels(conversationOf(i), [])
  let lookups = 0
  const lookup = new Hono()
  lookup.get('/refresh-summary/:conversation', async (c) => {
    lookups++
    await delay(PROVIDER_LATENCY_MS)
    return c.json({ ok: true })
  })
  const lookupPort = await new Promise<number>((resolve) => {
    serve({ fetch: lookup.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => resolve(info.port))
  })
  process.on('message', (message) => {
    if (message === 'stats') process.send!({ posts: missive.posts.length, lookups } satisfies FakeStats)
    if (message === 'close') process.exit(0)
  })
  process.send!({ missive: missive.baseUrl, lookup: `http://127.0.0.1:${lookupPort}` } satisfies FakeUrls)
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
  const fakes = child(['--fakes'])
  const urls = await new Promise<FakeUrls>((resolve) => fakes.once('message', (m) => resolve(m as FakeUrls)))
  let server: Server | undefined
  const config = parseConfig({
    ...exampleEnv,
    DB_POOL_URL: await cloneTemplate(throwaway, 'bench_webhooks'),
    MISSIVE_API_BASE_URL: urls.missive,
    LOOKUP_URL: urls.lookup,
    LOOKUP_SECRET: 'bench-lookup-secret',
    LOG_LEVEL: 'error',
    // `DB_POOL_MAX=10 npx tsx bench/webhook-ingest.ts` to see what a bigger pool changes.
    ...(process.env.DB_POOL_MAX ? { DB_POOL_MAX: process.env.DB_POOL_MAX } : {}),
  })
  const deps = createDeps(config)
  try {
    // Every person is a known author; a fifth got a broadcast 10 minutes ago with a follow-up
    // waiting, which their reply cancels.
    const [{ id: broadcastId }] = await deps.sql<{ id: number }[]>`
      INSERT INTO public.broadcasts (first_message, second_message, no_users, run_at)
      VALUES ('First', 'Second', ${PEOPLE / FOLLOW_UP_EVERY}, now() - interval '10 minutes') RETURNING id`
    await deps.sql`
      INSERT INTO public.authors (phone_number, name)
      SELECT '+1313' || (5000000 + i)::text, NULL FROM generate_series(0, ${PEOPLE - 1}::int) i`
    await deps.sql`
      WITH queued AS (
        SELECT i, pgmq.send('broadcast_second_messages', jsonb_build_object('recipient_phone_number', '+1313' || (5000000 + i)::text,
          'broadcast_id', ${broadcastId}::int, 'first_message', 'First', 'second_message', 'Second', 'delay', 3600), 3600) AS msg_id
        FROM generate_series(0, ${PEOPLE - 1}::int, ${FOLLOW_UP_EVERY}::int) i
      )
      INSERT INTO public.message_statuses (recipient_phone_number, missive_id, missive_conversation_id, broadcast_id, is_second,
        message, second_message_queue_id, created_at)
      SELECT '+1313' || (5000000 + i)::text, gen_random_uuid(), gen_random_uuid(), ${broadcastId}, false, 'First', msg_id,
        now() - interval '10 minutes'
      FROM queued`
    await deps.sql`VACUUM ANALYZE`

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
      } s per run, DB pool ${config.DB_POOL_MAX}; ` +
        `lookup refresh and Missive answer in ${PROVIDER_LATENCY_MS} ms (fakes in another process)`,
    )
    const warmup = await runDriver(`${base}/user-actions/`, WARMUP_MS, 0)
    const cpuEmptyBefore = process.cpuUsage()
    const emptyRun = await runDriver(`${base}/empty`, DURATION_MS, 0)
    const cpuEmpty = process.cpuUsage(cpuEmptyBefore)
    const baseline = summarise('baseline, empty route', emptyRun)
    const firstPerson = Math.max(...warmup.okPeople, 0) + CONCURRENCY + 1
    const cpuBefore = process.cpuUsage()
    const ingestRun = await runDriver(`${base}/user-actions/`, DURATION_MS, firstPerson)
    const cpu = process.cpuUsage(cpuBefore)
    const ingest = summarise('user-actions, incoming SMS (production path), saturated', ingestRun)
    const pacedFirst = Math.max(...ingestRun.okPeople, firstPerson) + CONCURRENCY + 1
    const steadyRate = Math.max(1, Math.floor(ingest.rate / 2))
    const pacedRun = await runDriver(`${base}/user-actions/`, DURATION_MS, pacedFirst, steadyRate)
    const paced = summarise(`user-actions, a steady ${steadyRate} events/s (half the saturated rate)`, pacedRun)
    const cpuMs = (usage: NodeJS.CpuUsage, events: number) => (usage.user + usage.system) / 1000 / Math.max(1, events)
    const cpuPerEvent = cpuMs(cpu, ingestRun.latencies.length)
    console.log(
      `function server CPU: ${cpuPerEvent.toFixed(2)} ms per event (empty route: ${
        cpuMs(cpuEmpty, emptyRun.latencies.length).toFixed(2)
      } ms per request)`,
    )

    // Every answered event did what production needs: stored, STOPs unsubscribed and confirmed,
    // follow-ups of replying people cancelled, the lookup refreshed.
    const answered = [...warmup.okPeople, ...ingestRun.okPeople, ...pacedRun.okPeople]
    const optOuts = answered.filter(isOptOut)
    const cancelling = answered.filter(hasFollowUp)
    fakes.send('stats')
    const stats = await new Promise<FakeStats>((resolve) => fakes.once('message', (m) => resolve(m as FakeStats)))
    const [stored] = await deps.sql<{ messages: number; unsubscribed: number; queued: number }[]>`
      SELECT (SELECT count(*)::int FROM public.twilio_messages) AS messages,
             (SELECT count(*)::int FROM public.authors WHERE unsubscribed) AS unsubscribed,
             (SELECT count(*)::int FROM pgmq.q_broadcast_second_messages) AS queued`
    const expected = {
      messages: answered.length,
      unsubscribed: optOuts.length,
      posts: optOuts.length,
      queued: PEOPLE / FOLLOW_UP_EVERY - cancelling.length,
      lookups: answered.length,
    }
    const seen = {
      messages: stored!.messages,
      unsubscribed: stored!.unsubscribed,
      posts: stats.posts,
      queued: stored!.queued,
      lookups: stats.lookups,
    }
    console.log(
      `answered ${answered.length} events: stored ${seen.messages}, unsubscribed ${seen.unsubscribed} of ${optOuts.length} STOPs, ` +
        `${seen.posts} confirmations posted, ${
          PEOPLE / FOLLOW_UP_EVERY - seen.queued
        } follow-ups cancelled of ${cancelling.length} replies, ` +
        `${seen.lookups} lookup refreshes`,
    )
    const wrong = (Object.keys(expected) as (keyof typeof expected)[]).filter((key) => expected[key] !== seen[key])

    const share = ingest.rate / baseline.rate
    reportFigure({
      bench: 'webhook-ingest',
      figure: 'incoming SMS (lookup, 5 % STOP, replies cancelling follow-ups) vs the empty route, saturated',
      result: `${(share * 100).toFixed(1)} % (${ingest.rate.toFixed(0)}/s vs ${baseline.rate.toFixed(0)}/s)`,
      goal: `≥ ${GOAL_SHARE * 100} %`,
      met: share >= GOAL_SHARE,
    })
    reportFigure({
      bench: 'webhook-ingest',
      figure: 'p99 latency at a steady half of the saturated rate',
      result: `${paced.p99.toFixed(0)} ms at ${steadyRate}/s (p50 ${paced.p50.toFixed(0)} ms; saturated p99 ${
        ingest.p99.toFixed(0)
      } ms)`,
      goal: `< ${GOAL_P99_MS} ms`,
      met: paced.p99 < GOAL_P99_MS && paced.rate >= steadyRate * 0.95,
    })
    reportFigure({
      bench: 'webhook-ingest',
      figure: "CPU per event, function server's process",
      result: `${cpuPerEvent.toFixed(2)} ms (empty route ${cpuMs(cpuEmpty, emptyRun.latencies.length).toFixed(2)} ms)`,
      goal: `≤ ${GOAL_CPU_MS} ms`,
      met: cpuPerEvent <= GOAL_CPU_MS,
    })
    reportFigure({
      bench: 'webhook-ingest',
      figure: 'failed events and missing effects',
      result: `${ingest.failed + paced.failed} failed${
        wrong.length ? `; wrong: ${wrong.map((k) => `${k} ${seen[k]} ≠ ${expected[k]}`).join(', ')}` : ''
      }`,
      goal: '0',
      met: ingest.failed + paced.failed === 0 && Object.keys(warmup.failures).length === 0 && wrong.length === 0,
    })
  } finally {
    await new Promise<void>((resolve) => {
      if (!server) return resolve()
      server.close(() => resolve())
      server.closeAllConnections()
    })
    await deps.sql.end()
    fakes.send('close')
    await throwaway.destroy()
  }
}

if (process.argv[2] === '--driver') {
  const [url, durationMs, firstPerson, perSecond] = process.argv.slice(3)
  const result = await drive(url!, Number(durationMs), Number(firstPerson), Number(perSecond), exampleEnv.HMAC_SECRET!)
  process.send!(result, () => process.exit(0))
} else if (process.argv[2] === '--fakes') {
  await serveFakes()
} else {
  await main()
}
