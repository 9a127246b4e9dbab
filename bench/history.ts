// Cost grows with the page or the audience, never with the history (issue 15 #2).
// Two databases on one throwaway cluster: five years of history (src/local/history/seed-history.ts)
// at 1 % and at 100 %, each with the same "today" on top (a 5 000-reader label audience, a 5 000-text
// campaign sent three hours ago and waiting for its Twilio reconcile, a 1 000-reader broadcast sent
// this morning with some failures). Every figure goes through the real function (its hono app,
// in-process, a staff JWT or the secret key as the callers send them) and is measured on both
// databases, alternating, so the ratio 100 % / 1 % is what the history costs. Goal: ≤ 2×.
// Pages compared hold the same number of rows (3: the 1 % history has 4 past broadcasts and 7 past
// campaigns); what still differs is the audience of each historic broadcast / campaign (3 860 /
// 666 statuses at 1 %, where the seed runs out of readers, against 6 152 / 1 000 at 100 %).
// Before each failure-job run the numbers the history itself leaves to them were handled on
// "earlier days" (excluded, as the job does), so both sides have the same 20 / 40 to post.
// `npm run bench -- history` (or `npx tsx bench/history.ts [--scale 1] [--reps 25]`);
// `--hold` seeds and waits with the two databases' URLs printed (for EXPLAIN);
// `--log-slow 100 --log-to file` keeps the server log of statements slower than 100 ms.
import { copyFileSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Hono } from 'hono'
import { parseEnvFile } from '../src/local/env-file.ts'
import { type MissiveFake, startMissiveFake } from '../src/local/fakes/missive.ts'
import { startTwilioFake, type TwilioFake } from '../src/local/fakes/twilio.ts'
import { seedHistory } from '../src/local/history/seed-history.ts'
import { cloneTemplate, startThrowawayCluster } from '../src/local/postgres/throwaway.ts'
import { mintUserToken } from '../src/local/token.ts'
import { makeFunction } from '../src/shared/broadcasts/make-function.ts'
import { broadcastSettingFunction } from '../src/shared/broadcasts/settings-function.ts'
import { broadcastSidebarFunction } from '../src/shared/broadcasts/sidebar-function.ts'
import { campaignFunction } from '../src/shared/campaigns/campaign-function.ts'
import { parseConfig } from '../src/shared/config/env.ts'
import { createSql, type Sql } from '../src/shared/db/client.ts'
import { createFunctionApp, type FunctionDefinition } from '../src/shared/http/function-app.ts'
import { archiveDoubleFailuresFunction } from '../src/shared/hygiene/archive-double-failures-function.ts'
import { handleFailedDeliveriesFunction } from '../src/shared/hygiene/failed-deliveries-function.ts'
import { failedDeliveryEpisodes } from '../src/shared/hygiene/failed-deliveries-queries.ts'
import { createLogger } from '../src/shared/log/logger.ts'
import { reconcileTwilioStatusFunction } from '../src/shared/reconcile/reconcile-function.ts'
import { createDeps } from '../src/shared/runtime/deps.ts'
import { reportFigure } from './support/report.ts'

const { values: args } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    reps: { type: 'string', default: '25' },
    // Seeds, prints the two databases' URLs and waits (Ctrl-C) instead of measuring: for EXPLAIN.
    hold: { type: 'boolean', default: false },
    // Logs statements slower than this many ms and copies the server log to this path at the end.
    'log-slow': { type: 'string' },
    'log-to': { type: 'string', default: 'history-bench-postgres.log' },
  },
})
const FULL_SCALE = Number(args.scale)
const SMALL_SCALE = FULL_SCALE / 100
/** Repetitions of the cheap reads; the heavy runs (make, reconcile, failure jobs) get fewer. */
const REPS = Number(args.reps)
const HEAVY_REPS = Math.max(5, Math.round(REPS / 2))
const GOAL = 2

const root = fileURLToPath(new URL('../', import.meta.url))
const exampleEnv = parseEnvFile(readFileSync(`${root}.env.example`, 'utf8'))
const SECRET_KEY = JSON.parse(exampleEnv.SUPABASE_SECRET_KEYS).default as string

const AUDIENCE = 5_000
const TODAY_READERS = 1_000
/** Today's readers whose three latest texts failed (handle-failed-deliveries) … */
const THREE_FAILURES = 20
/** … and, after them, those whose two texts of this morning's broadcast failed (archive-double-failures). */
const TWO_FAILURES = 20
const AUDIENCE_LABEL = '00000000-0000-4000-8000-00000000be01'
const CLOSING_LABEL = '00000000-0000-4000-8000-0000000c1051'
const audiencePhone = (i: number) => `+1586${String(1_000_000 + i)}`
const todayPhone = (i: number) => `+1734${String(1_000_000 + i)}`
/** Rows per sidebar / campaign-list page compared (see prepareToday). */
const PAGE = 3

interface Side {
  name: string
  scale: number
  sql: Sql
  apps: Record<string, Hono>
  /** Filled by prepareToday. */
  fixture: Fixture
}

interface Fixture {
  reconcileCampaignId: number
  deepCursor: number
  deepCampaignPage: number
  upcomingBroadcastId: number
  todayConversations: string[]
  pages: number
}

const now = new Date()

/** The "today" both databases share, whatever their history. */
async function prepareToday(sql: Sql, twilioMessages: boolean, twilio: TwilioFake, missive: MissiveFake) {
  // Numbers whose three latest texts failed in the history were handled on earlier days: the job
  // excluded them (what it does after its post), so both databases start from a settled state.
  const settled = failedDeliveryEpisodes(exampleEnv.MISSIVE_REPLY_LABEL_ID, now)
  await sql`UPDATE public.authors SET exclude = true WHERE phone_number IN (SELECT e.phone FROM (${settled(sql)}) e)`

  // The weekly schedule, saved a few times over the years (each save deactivates the previous row).
  await sql`
    INSERT INTO public.broadcast_settings (mon, tue, wed, thu, fri, sat, sun, active)
    SELECT NULL, '11:00', NULL, '11:00', NULL, NULL, NULL, g = 20 FROM generate_series(0, 20) AS g`

  // The audience: 5 000 readers, one conversation each, all with one label.
  await sql`INSERT INTO public.labels (id, name, name_with_parent_names, share_with_organization)
            VALUES (${AUDIENCE_LABEL}, 'Bench audience', 'Bench audience', true)`
  await sql`
    WITH people AS (
      SELECT '+1586' || (1000000 + g) AS phone, gen_random_uuid() AS conversation_id
      FROM generate_series(0, ${AUDIENCE - 1}) g
    ), a AS (
      INSERT INTO public.authors (phone_number, name, created_at) SELECT phone, 'Audience ' || phone, ${now}::timestamptz - interval '30 days' FROM people
    ), c AS (
      INSERT INTO public.conversations (id, created_at, messages_count, subject, web_url, app_url)
      SELECT conversation_id, ${now}::timestamptz - interval '30 days', 1, 'SMS with ' || phone,
             'https://mail.missiveapp.com/#inbox/conversations/' || conversation_id, 'missive://mail.missiveapp.com/#inbox/conversations/' || conversation_id
      FROM people
    ), ca AS (
      INSERT INTO public.conversations_authors (conversation_id, author_phone_number)
      SELECT conversation_id, phone FROM people
    )
    INSERT INTO public.conversations_labels (conversation_id, label_id, created_at)
    SELECT conversation_id, ${AUDIENCE_LABEL}, ${now}::timestamptz - interval '29 days' FROM people`
  // A label segment as editors write them (joins, random order), selecting that audience.
  const [segment] = await sql<{ id: number }[]>`
    INSERT INTO public.audience_segments (name, description, query)
    VALUES ('Bench audience', 'Readers labelled "Bench audience"',
      ${`SELECT ca.author_phone_number AS phone_number FROM public.conversations_labels cl JOIN public.conversations_authors ca ON ca.conversation_id = cl.conversation_id WHERE cl.label_id = '${AUDIENCE_LABEL}' AND NOT cl.is_archived ORDER BY random()`})
    RETURNING id`
  // The upcoming broadcast goes to that audience only.
  const [upcoming] = await sql<{ id: number }[]>`
    UPDATE public.broadcasts SET no_users = ${AUDIENCE}, run_at = NULL WHERE editable RETURNING id`
  await sql`DELETE FROM public.broadcasts_segments WHERE broadcast_id = ${upcoming.id}`
  await sql`INSERT INTO public.broadcasts_segments (broadcast_id, segment_id, ratio) VALUES (${upcoming.id}, ${segment.id}, 100)`

  // A 5 000-text campaign sent three hours ago, its statuses not yet reconciled.
  const runAt = new Date(now.getTime() - 3 * 3_600_000)
  const [campaign] = await sql<{ id: number }[]>`
    INSERT INTO public.campaigns (title, first_message, run_at, created_at, processed, status, recipient_count, label_ids, segments, delay)
    VALUES ('Bench campaign', 'Bench campaign: tell us about your block', ${runAt}, ${runAt}, true, 'sent', ${AUDIENCE},
            ARRAY[${AUDIENCE_LABEL}], ${sql.json({ included: [{ id: AUDIENCE_LABEL }] })}, 600)
    RETURNING id`
  await sql`
    WITH s AS (
      INSERT INTO public.message_statuses (created_at, recipient_phone_number, missive_id, missive_conversation_id, campaign_id, is_second, message)
      SELECT ${runAt}::timestamptz + make_interval(secs => i * 1.2), ca.author_phone_number, gen_random_uuid(), ca.conversation_id,
             ${campaign.id}, false, 'Bench campaign: tell us about your block'
      FROM (SELECT author_phone_number, conversation_id, row_number() OVER (ORDER BY author_phone_number) - 1 AS i
            FROM public.conversations_authors WHERE author_phone_number LIKE '+1586%') ca(author_phone_number, conversation_id, i)
      RETURNING id, recipient_phone_number, missive_id, missive_conversation_id, created_at
    )
    INSERT INTO public.message_sends (campaign_id, recipient_phone_number, is_second, state, queue_name, attempts, missive_id,
                                      missive_conversation_id, message_status_id, last_http_status, created_at, updated_at)
    SELECT ${campaign.id}, recipient_phone_number, false, 'sent', 'broadcast_first_messages', 1, missive_id, missive_conversation_id, id, 201,
           created_at, created_at
    FROM s`
  if (twilioMessages) {
    // What Twilio lists for it: one SMS per reader, 5 % undelivered.
    for (let i = 0; i < AUDIENCE; i++) {
      twilio.addMessage({
        sid: `SMbench${String(i).padStart(6, '0')}`,
        from: exampleEnv.BROADCAST_SOURCE_PHONE_NUMBER,
        to: audiencePhone(i),
        status: i % 20 === 7 ? 'undelivered' : 'delivered',
        dateSent: new Date(runAt.getTime() + i * 1200 + 2000),
        body: 'Bench campaign: tell us about your block',
      })
    }
  }

  // This morning's broadcast to 1 000 other readers, reconciled: some of them failed twice today,
  // some of those also failed in a campaign three days ago.
  await sql`INSERT INTO public.lookup_template (name, content, type) VALUES ('missive_broadcast_post_closing_label_id', ${CLOSING_LABEL}, 'text')`
  const morning = new Date(now.getTime() - 4 * 3_600_000)
  const [broadcast] = await sql<{ id: number }[]>`
    INSERT INTO public.broadcasts (run_at, delay, editable, no_users, first_message, second_message, created_at)
    VALUES (${morning}, 600, false, ${TODAY_READERS}, 'Good morning from Outlier', 'Reply to learn more', ${morning}) RETURNING id`
  const [earlier] = await sql<{ id: number }[]>`
    INSERT INTO public.campaigns (title, first_message, run_at, created_at, processed, status, recipient_count, delay)
    VALUES ('Earlier campaign', 'Earlier campaign text', ${new Date(now.getTime() - 3 * 86_400_000)},
            ${new Date(now.getTime() - 4 * 86_400_000)}, true, 'sent', ${THREE_FAILURES}, 600) RETURNING id`
  const conversations = await sql<{ conversation_id: string }[]>`
    WITH people AS (
      SELECT g AS i, '+1734' || (1000000 + g) AS phone, gen_random_uuid() AS conversation_id
      FROM generate_series(0, ${TODAY_READERS - 1}) g
    ), a AS (
      INSERT INTO public.authors (phone_number, name, created_at) SELECT phone, 'Reader ' || phone, ${now}::timestamptz - interval '60 days' FROM people
    ), c AS (
      INSERT INTO public.conversations (id, created_at, messages_count, subject, web_url, app_url)
      SELECT conversation_id, ${now}::timestamptz - interval '60 days', 3, 'SMS with ' || phone,
             'https://mail.missiveapp.com/#inbox/conversations/' || conversation_id, 'missive://mail.missiveapp.com/#inbox/conversations/' || conversation_id
      FROM people
    ), ca AS (
      INSERT INTO public.conversations_authors (conversation_id, author_phone_number) SELECT conversation_id, phone FROM people
    ), earlier AS (
      INSERT INTO public.message_statuses (created_at, recipient_phone_number, missive_id, missive_conversation_id, campaign_id,
                                           is_second, message, twilio_id, twilio_sent_status, twilio_sent_at)
      SELECT ${now}::timestamptz - interval '3 days' + make_interval(secs => i), phone, gen_random_uuid(), conversation_id, ${earlier.id},
             false, 'Earlier campaign text', 'SMearlier' || i, 'failed', ${now}::timestamptz - interval '3 days' + make_interval(secs => i + 3)
      FROM people WHERE i < ${THREE_FAILURES}
    ), today AS (
      INSERT INTO public.message_statuses (created_at, recipient_phone_number, missive_id, missive_conversation_id, broadcast_id,
                                           is_second, message, twilio_id, twilio_sent_status, twilio_sent_at)
      SELECT ${morning}::timestamptz + make_interval(secs => i * 1.2 + CASE WHEN second THEN 600 ELSE 0 END), phone, gen_random_uuid(),
             conversation_id, ${broadcast.id}, second, CASE WHEN second THEN 'Reply to learn more' ELSE 'Good morning from Outlier' END,
             'SMtoday' || i || second,
             (CASE WHEN i < ${THREE_FAILURES + TWO_FAILURES} THEN 'undelivered'
                   WHEN (i * 7 + second::int) % 40 = 3 THEN 'failed' ELSE 'delivered' END)::public.twilio_status,
             ${morning}::timestamptz + make_interval(secs => i * 1.2 + 5)
      FROM people CROSS JOIN (VALUES (false), (true)) AS phase(second)
    )
    SELECT conversation_id FROM people ORDER BY i`
  await sql`VACUUM ANALYZE`
  for (const row of conversations) missive.setConversationLabels(row.conversation_id, [])

  // Pages of the same size on both sides (the 1 % history has only 4 past broadcasts and 7 past
  // campaigns): the deep ones from the middle of the history, or as deep as a full page allows.
  const [{ deep }] = await sql<{ deep: number }[]>`
    SELECT floor(extract(epoch FROM run_at))::bigint AS deep FROM public.broadcasts WHERE NOT editable
    ORDER BY run_at DESC
    OFFSET (SELECT greatest(0, least(count(*) / 2, count(*) - ${PAGE} - 1)) FROM public.broadcasts WHERE NOT editable) LIMIT 1`
  const [{ pages }] = await sql<{ pages: number }[]>`
    SELECT ceil(count(*) / ${PAGE}::numeric)::int AS pages FROM public.campaigns WHERE run_at <= ${now} OR status = 'cancelled'`
  return {
    reconcileCampaignId: campaign.id,
    deepCursor: Number(deep),
    deepCampaignPage: Math.max(1, Math.ceil(pages / 2)),
    pages,
    upcomingBroadcastId: upcoming.id,
    todayConversations: conversations.map((row) => row.conversation_id),
  }
}

function appsFor(sql: Sql, missive: MissiveFake, twilio: TwilioFake): Record<string, Hono> {
  const config = parseConfig({
    ...exampleEnv,
    DB_POOL_URL: 'postgresql://unused',
    LOG_LEVEL: 'error',
    MISSIVE_API_BASE_URL: missive.baseUrl,
    TWILIO_API_BASE_URL: twilio.baseUrl,
    // The failure jobs' posts unpaced, and the Missive windows out of the way: the repetitions
    // would otherwise wait for the per-token budget, which is not what is measured here.
    FAILURE_JOBS_POST_INTERVAL_MS: '0',
    MISSIVE_MAX_CONCURRENT: '1000',
    MISSIVE_MAX_PER_MINUTE: '1000000',
    MISSIVE_MAX_PER_15_MINUTES: '1000000',
  })
  const deps = createDeps(config, { sql, log: createLogger() })
  const defs: FunctionDefinition[] = [
    broadcastSidebarFunction,
    broadcastSettingFunction,
    campaignFunction,
    makeFunction,
    reconcileTwilioStatusFunction,
    handleFailedDeliveriesFunction,
    archiveDoubleFailuresFunction,
  ]
  return Object.fromEntries(defs.map((def) => [def.name, createFunctionApp(def, deps)]))
}

let staffToken = ''

async function call(
  side: Side,
  fn: string,
  path: string,
  init: { method?: string; body?: unknown; gate?: 'user' | 'secret' } = {},
): Promise<any> {
  const headers: Record<string, string> = init.gate === 'secret'
    ? { apikey: SECRET_KEY }
    : { authorization: `Bearer ${staffToken}` }
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  const response = await side.apps[fn]!.request(`/${fn}${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  })
  const text = await response.text()
  if (response.status !== 200) throw new Error(`${side.name}: ${fn}${path} answered ${response.status}: ${text}`)
  return JSON.parse(text)
}

const utcMinute = (date: Date) => date.toISOString().slice(0, 16).replace('T', ' ')

/** Puts the upcoming broadcast back as it was before `make` handed it over. */
async function undoMake(side: Side, made: { broadcastId: number; nextBroadcastId: number }) {
  await side.sql.begin(async (tx) => {
    await tx`DELETE FROM pgmq.q_broadcast_first_messages`
    await tx`DELETE FROM net.http_request_queue`
    await tx`SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE ${`%broadcast-${made.broadcastId}%`}`
    await tx`DELETE FROM public.broadcasts_segments WHERE broadcast_id = ${made.nextBroadcastId}`
    await tx`DELETE FROM public.broadcasts WHERE id = ${made.nextBroadcastId}`
    await tx`UPDATE public.broadcasts SET editable = true, run_at = NULL WHERE id = ${made.broadcastId}`
  })
}

async function resetReconcile(side: Side) {
  const id = side.fixture.reconcileCampaignId
  await side
    .sql`UPDATE public.message_statuses SET twilio_id = NULL, twilio_sent_status = 'delivered', twilio_sent_at = NULL, updated_at = NULL
                 WHERE campaign_id = ${id}`
  await side.sql`UPDATE public.message_sends SET twilio_id = NULL, twilio_status = NULL WHERE campaign_id = ${id}`
  await side.sql`UPDATE public.campaigns SET twilio_paging = NULL WHERE id = ${id}`
  await side.sql`DELETE FROM public.twilio_reconcile_messages WHERE target_kind = 'campaign' AND target_id = ${id}`
  await side.sql`DELETE FROM public.twilio_reconcile_passes WHERE target_kind = 'campaign' AND target_id = ${id}`
}

async function resetHygiene(side: Side) {
  await side.sql`DELETE FROM public.delivery_hygiene_actions`
  await side.sql`DELETE FROM public.missive_requests`
  await side.sql`UPDATE public.authors SET exclude = false WHERE phone_number = ANY (${
    Array.from({ length: THREE_FAILURES + TWO_FAILURES }, (_, i) => todayPhone(i))
  }::text[]) AND exclude`
  await side.sql`UPDATE public.message_statuses SET closed = false
                 WHERE missive_conversation_id = ANY (${
    side.fixture.todayConversations.slice(0, THREE_FAILURES + TWO_FAILURES)
  }::uuid[]) AND closed`
}

interface Measurement {
  figure: string
  what: string
  times: Record<string, number[]>
  check: Record<string, string>
}

const quantile = (xs: number[], q: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
}

async function measure(
  sides: Side[],
  figure: string,
  what: string,
  run: (side: Side) => Promise<unknown>,
  options: { reps?: number; warmup?: number; reset?: (side: Side, last: unknown) => Promise<void> } = {},
): Promise<Measurement> {
  const reps = options.reps ?? REPS
  const times: Record<string, number[]> = {}
  const check: Record<string, string> = {}
  const once = async (side: Side, record: boolean) => {
    const started = performance.now()
    const result = await run(side)
    const elapsed = performance.now() - started
    if (record) (times[side.name] ??= []).push(elapsed)
    check[side.name] = summarize(result)
    await options.reset?.(side, result)
  }
  for (let i = 0; i < (options.warmup ?? 3); i++) for (const side of sides) await once(side, false)
  // Alternating (and swapping who goes first), so drift on a shared machine hits both alike.
  for (let i = 0; i < reps; i++) for (const side of i % 2 ? [...sides].reverse() : sides) await once(side, true)
  return { figure, what, times, check }
}

function summarize(result: unknown): string {
  if (!result || typeof result !== 'object') return String(result)
  const r = result as Record<string, any>
  if ('past' in r && Array.isArray(r.past)) return `${r.past.length} past${r.upcoming ? ' + upcoming' : ''}`
  if ('past' in r && r.past?.items) return `${r.upcoming.length} upcoming, ${r.past.items.length} past`
  if ('recipient_count' in r) return `${r.recipient_count} recipients`
  if ('total' in r && 'delivered' in r) return `${r.total} total, ${r.delivered} delivered`
  if ('queued' in r) return `${r.queued} queued`
  if ('posted' in r) return `${r.posted} posted, ${r.remaining} left`
  if ('total' in r && 'delivered' in r) return `${r.total} total, ${r.delivered} delivered`
  if ('messages' in r && 'calls' in r) return `${r.messages} messages in ${r.calls} calls`
  if (Array.isArray(result)) return `${result.length} rows`
  if ('schedule' in r) return `schedule, batch of ${r.batchSize}`
  return Object.keys(r).slice(0, 3).join(',')
}

async function main() {
  const started = performance.now()
  staffToken = await mintUserToken(exampleEnv.SUPABASE_JWT_SECRET)
  const throwaway = await startThrowawayCluster()
  const twilio = await startTwilioFake({
    accountSid: exampleEnv.TWILIO_ACCOUNT_SID,
    authToken: exampleEnv.TWILIO_AUTH_TOKEN,
  })
  const missive = await startMissiveFake({
    tokens: [
      exampleEnv.MISSIVE_SECRET_BROADCAST_FIRST_MESSAGES,
      exampleEnv.MISSIVE_SECRET_BROADCAST_SECOND_MESSAGES,
      exampleEnv.MISSIVE_SECRET_NON_BROADCAST,
      exampleEnv.MISSIVE_SECRET_CAMPAIGN_READ_CONVERSATION,
    ],
    organizationId: exampleEnv.MISSIVE_ORGANIZATION_ID,
  })
  const sides: Side[] = []
  try {
    for (const [name, scale] of [['1 %', SMALL_SCALE], ['100 %', FULL_SCALE]] as const) {
      const database = `history_${name === '1 %' ? 'small' : 'full'}`
      const url = await cloneTemplate(throwaway, database)
      if (args['log-slow']) {
        const admin = createSql(url, { max: 1 })
        await admin.unsafe(`ALTER DATABASE ${database} SET log_min_duration_statement = ${Number(args['log-slow'])}`)
        await admin.end()
      }
      const sql = createSql(url, { max: 4 })
      const seedStart = performance.now()
      const summary = await seedHistory(sql, { scale, now })
      await sql`VACUUM ANALYZE`
      const seeded = performance.now()
      // The same Twilio list serves both databases: their "today" is identical.
      const fixture = await prepareToday(sql, sides.length === 0, twilio, missive)
      console.log(
        `${name}: ${summary.statuses.toLocaleString('en-US')} statuses, ${
          summary.authors.toLocaleString('en-US')
        } authors, ${summary.broadcasts} broadcasts, ${summary.campaigns} campaigns seeded in ${
          ((seeded - seedStart) / 1000).toFixed(0)
        } s (+ today in ${((performance.now() - seeded) / 1000).toFixed(0)} s)`,
      )
      sides.push({ name, scale, sql, apps: appsFor(sql, missive, twilio), fixture })
    }
    if (args.hold) {
      for (const side of sides) {
        console.log(`${side.name}: ${throwaway.url(`history_${side.scale === FULL_SCALE ? 'full' : 'small'}`)}`)
      }
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()))
      return
    }
    const measureStart = performance.now()

    const results: Measurement[] = []
    const add = async (m: Promise<Measurement>) => {
      const done = await m
      results.push(done)
      const [small, full] = sides.map((side) => done.times[side.name]!)
      console.log(
        `  ${done.figure.padEnd(34)} p50 ${quantile(small!, 0.5).toFixed(1)} → ${
          quantile(full!, 0.5).toFixed(1)
        } ms, p95 ${quantile(small!, 0.95).toFixed(1)} → ${quantile(full!, 0.95).toFixed(1)} ms`,
      )
    }

    await add(
      measure(
        sides,
        'sidebar first page',
        'GET /broadcast-sidebar/',
        (s) => call(s, 'broadcast-sidebar', `/?limit=${PAGE}`),
      ),
    )
    await add(measure(
      sides,
      'sidebar deep cursor page',
      'GET /broadcast-sidebar/?cursor=<mid-history>',
      (s) => call(s, 'broadcast-sidebar', `/?limit=${PAGE}&cursor=${s.fixture.deepCursor}`),
    ))
    await add(measure(sides, 'weekly settings', 'GET /broadcast-setting/', (s) => call(s, 'broadcast-setting', '/')))
    await add(
      measure(
        sides,
        'campaign list, page 1',
        'GET /campaign/ (upcoming + past page 1)',
        (s) => call(s, 'campaign', `/?pageSize=${PAGE}`),
      ),
    )
    await add(measure(
      sides,
      'campaign list, deep page',
      'GET /campaign/?page=<mid-history>',
      (s) => call(s, 'campaign', `/?pageSize=${PAGE}&page=${s.fixture.deepCampaignPage}`),
    ))
    await add(measure(
      sides,
      'campaign progress',
      'GET /campaign/<5 000-text campaign>/progress',
      (s) => call(s, 'campaign', `/${s.fixture.reconcileCampaignId}/progress`),
    ))
    await add(measure(
      sides,
      'recipient-count, label segment',
      'POST /campaign/recipient-count (5 000-reader label)',
      (s) =>
        call(s, 'campaign', '/recipient-count', {
          method: 'POST',
          body: { segments: { included: [{ id: AUDIENCE_LABEL }] } },
        }),
    ))
    await add(measure(sides, 'segments', 'GET /campaign/segments', (s) => call(s, 'campaign', '/segments')))
    await add(measure(
      sides,
      'make, 5 000 recipients',
      'POST /make/ (label segment of 5 000)',
      (s) => call(s, 'make', '/', { method: 'POST', gate: 'secret', body: { run_at_utc: utcMinute(new Date()) } }),
      {
        reps: HEAVY_REPS,
        warmup: 1,
        reset: (side, made) => undoMake(side, made as { broadcastId: number; nextBroadcastId: number }),
      },
    ))
    await add(measure(
      sides,
      'reconcile pass, 5 000 messages',
      'POST /reconcile-twilio-status/ until done',
      async (s) => {
        let calls = 0
        let messages = 0
        for (;;) {
          const summary = await call(s, 'reconcile-twilio-status', '/', {
            method: 'POST',
            gate: 'secret',
            body: { campaignId: s.fixture.reconcileCampaignId },
          })
          calls++
          messages += summary.messages
          if (summary.done) return { messages, calls }
          if (calls > 50) throw new Error('reconcile pass did not finish')
        }
      },
      { reps: HEAVY_REPS, warmup: 1, reset: (side) => resetReconcile(side) },
    ))
    for (const side of sides) await resetHygiene(side)
    await add(measure(
      sides,
      'handle-failed-deliveries',
      `GET /handle-failed-deliveries/ (${THREE_FAILURES} to close)`,
      (s) => call(s, 'handle-failed-deliveries', '/', { gate: 'secret' }),
      { reps: HEAVY_REPS, warmup: 1, reset: (side) => resetHygiene(side) },
    ))
    await add(measure(
      sides,
      'archive-double-failures',
      `POST /archive-double-failures/ (${THREE_FAILURES + TWO_FAILURES} to archive)`,
      (s) => call(s, 'archive-double-failures', '/', { method: 'POST', gate: 'secret', body: {} }),
      { reps: HEAVY_REPS, warmup: 1, reset: (side) => resetHygiene(side) },
    ))

    const [small, full] = sides as [Side, Side]
    console.log(
      `\nHistory ${small.name} vs ${full.name}, median and p95 of ${REPS} (heavy runs ${HEAVY_REPS}) alternating runs each:`,
    )
    console.log(
      `${'figure'.padEnd(34)} ${'p50 1 %'.padStart(9)} ${'p50 100 %'.padStart(10)} ${'p95 1 %'.padStart(9)} ${
        'p95 100 %'.padStart(10)
      } ${'×p50'.padStart(6)} ${'×p95'.padStart(6)}  result (1 % | 100 %)`,
    )
    for (const m of results) {
      const s = m.times[small.name]!
      const f = m.times[full.name]!
      const [s50, f50, s95, f95] = [quantile(s, 0.5), quantile(f, 0.5), quantile(s, 0.95), quantile(f, 0.95)]
      console.log(
        `${m.figure.padEnd(34)} ${s50.toFixed(1).padStart(9)} ${f50.toFixed(1).padStart(10)} ${
          s95.toFixed(1).padStart(9)
        } ${f95.toFixed(1).padStart(10)} ${(f50 / s50).toFixed(2).padStart(6)} ${(f95 / s95).toFixed(2).padStart(6)}  ${
          m.check[small.name]
        } | ${m.check[full.name]}`,
      )
    }
    console.log('')
    for (const m of results) {
      const s = m.times[small.name]!
      const f = m.times[full.name]!
      const [s50, f50, s95, f95] = [quantile(s, 0.5), quantile(f, 0.5), quantile(s, 0.95), quantile(f, 0.95)]
      const ratio = f50 / s50
      const tail = f95 / s95
      reportFigure({
        bench: 'history',
        figure: `${m.figure}, 100 % / 1 % history`,
        result: `${ratio.toFixed(2)}× (p50 ${s50.toFixed(1)}→${f50.toFixed(1)} ms, p95 ${s95.toFixed(1)}→${
          f95.toFixed(1)
        } ms = ${tail.toFixed(2)}×)`,
        goal: `≤ ${GOAL}×`,
        met: ratio <= GOAL && tail <= GOAL,
      })
    }
    console.log(
      `bench runtime ${((performance.now() - started) / 1000).toFixed(0)} s (measuring ${
        ((performance.now() - measureStart) / 1000).toFixed(0)
      } s)`,
    )
  } finally {
    if (args['log-slow'] && sides[0]) {
      const [{ data_directory: dataDir }] = await sides[0].sql`SHOW data_directory`
      copyFileSync(`${dirname(dataDir)}/postgres.log`, args['log-to']!)
    }
    for (const side of sides) await side.sql.end({ timeout: 5 })
    await missive.close()
    await twilio.close()
    await throwaway.destroy()
  }
}

await main()
