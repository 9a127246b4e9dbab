// Reconcile cost: 10 000 message_statuses rows reconciled from 10 000 SMSs listed by the Twilio
// fake, through the real function: POST /reconcile-twilio-status/ {broadcastId} (the app the edge
// entry serves: secret gate, reconcilePass, the official twilio client, pages of 300, at most 5
// pages an invocation), called again as the per-minute job would until it answers done.
//
// Baseline, same run, alternating: what any reconcile must do at least — list the same pages
// from the same fake with the same client, then write the same statuses with one plain
// `UPDATE … FROM (VALUES …)` by primary key (ids known in advance, which the function cannot
// know). Goal: ≤ 2× that floor. The bare UPDATE is printed too, for scale.
// Two cases:
//   by order — rows have no Twilio SID yet: each page is staged, the last page pairs them all;
//   by SID   — rows already carry their SID (Missive webhook / status callback): one UPDATE per page.
// `npx tsx bench/reconcile.ts` (or `npm run bench -- reconcile`).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseEnvFile } from '../src/local/env-file.ts'
import { startTwilioFake } from '../src/local/fakes/twilio.ts'
import { cloneTemplate, startThrowawayCluster } from '../src/local/postgres/throwaway.ts'
import { parseConfig } from '../src/shared/config/env.ts'
import { createSql, type Sql } from '../src/shared/db/client.ts'
import { createFunctionApp } from '../src/shared/http/function-app.ts'
import { createLogger } from '../src/shared/log/logger.ts'
import { reconcileTwilioStatusFunction } from '../src/shared/reconcile/reconcile-function.ts'
import { PAGE_SIZE } from '../src/shared/reconcile/reconcile-pass.ts'
import { createDeps, type Deps } from '../src/shared/runtime/deps.ts'
import { reportFigure } from './support/report.ts'

const RECIPIENTS = 5_000 // × 2 phases = 10 000 rows and messages
const ROUNDS = 7
const GOAL = 2
const RUN_AT = new Date('2025-01-15T18:00:00Z')

const root = fileURLToPath(new URL('../', import.meta.url))
const exampleEnv = parseEnvFile(readFileSync(`${root}.env.example`, 'utf8'))
const SECRET_KEY = Object.values(JSON.parse(exampleEnv.SUPABASE_SECRET_KEYS!) as Record<string, string>)[0]!

const phoneOf = (i: number) => `+1313${String(i).padStart(7, '0')}`

async function seed(sql: Sql): Promise<number> {
  const [{ id }] = await sql<{ id: number }[]>`
    INSERT INTO public.broadcasts (run_at, editable, no_users, first_message, second_message)
    VALUES (${RUN_AT}, false, ${RECIPIENTS}, 'First', 'Second') RETURNING id`
  await sql`INSERT INTO public.authors (phone_number) SELECT '+1313' || lpad(i::text, 7, '0') FROM generate_series(1, ${RECIPIENTS}::int) i`
  await sql`
    INSERT INTO public.message_statuses (recipient_phone_number, missive_id, missive_conversation_id, broadcast_id, is_second, message, created_at)
    SELECT '+1313' || lpad(i::text, 7, '0'), gen_random_uuid(), gen_random_uuid(), ${id}, second, 'Text',
           ${RUN_AT}::timestamptz + make_interval(secs => i + CASE WHEN second THEN 900 ELSE 0 END)
    FROM generate_series(1, ${RECIPIENTS}::int) i CROSS JOIN (VALUES (false), (true)) AS phase(second)`
  await sql`VACUUM ANALYZE public.message_statuses`
  return id
}

async function resetRows(sql: Sql, broadcastId: number, withSids: boolean): Promise<void> {
  if (withSids) {
    await sql`
      UPDATE public.message_statuses SET twilio_sent_status = 'sent', twilio_sent_at = NULL, updated_at = NULL,
        twilio_id = CASE WHEN is_second THEN 'SMsecond' ELSE 'SMfirst' END || ltrim(substr(recipient_phone_number, 6), '0')`
  } else {
    await sql`UPDATE public.message_statuses SET twilio_id = NULL, twilio_sent_status = 'delivered', twilio_sent_at = NULL, updated_at = NULL`
  }
  await sql`UPDATE public.broadcasts SET twilio_paging = NULL WHERE id = ${broadcastId}`
  await sql`VACUUM ANALYZE public.message_statuses`
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await run()
  return performance.now() - started
}

/** The function as the per-minute job calls it, until its pass is done. */
async function reconcileThroughFunction(deps: Deps, broadcastId: number): Promise<number> {
  const app = createFunctionApp(reconcileTwilioStatusFunction, deps)
  for (let call = 1; call <= 100; call++) {
    const response = await app.request('/reconcile-twilio-status/', {
      method: 'POST',
      headers: { 'content-type': 'application/json', apikey: SECRET_KEY },
      body: JSON.stringify({ broadcastId: String(broadcastId) }),
    })
    const body = await response.json() as { done?: boolean }
    if (response.status !== 200) throw new Error(`reconcile answered ${response.status}: ${JSON.stringify(body)}`)
    if (body.done) return call
  }
  throw new Error('reconcile did not finish in 100 calls')
}

/** The floor: the same pages from the same fake and client, then one UPDATE of the same rows by id. */
async function floor(deps: Deps, values: [number, string, string, string][]): Promise<void> {
  let token: string | null = null
  do {
    const page = await deps.twilio.listMessagesPage({
      from: deps.config.BROADCAST_SOURCE_PHONE_NUMBER,
      dateSentAfter: RUN_AT,
      dateSentBefore: token ? undefined : new Date(RUN_AT.getTime() + 86_400_000),
      pageToken: token,
      pageSize: PAGE_SIZE,
    })
    token = page.nextPageToken
  } while (token)
  await plainBulkUpdate(deps.sql, values)
}

async function plainBulkUpdate(sql: Sql, values: [number, string, string, string][]): Promise<void> {
  await sql`
    UPDATE public.message_statuses ms SET
      twilio_id = v.sid, twilio_sent_status = v.status::public.twilio_status,
      twilio_sent_at = v.date_sent::timestamptz, updated_at = now()
    FROM (VALUES ${sql(values)}) AS v (id, sid, status, date_sent)
    WHERE ms.id = v.id::int`
}

async function check(sql: Sql): Promise<void> {
  const [row] = await sql<{ wrong: number }[]>`
    SELECT count(*)::int AS wrong FROM public.message_statuses
    WHERE twilio_id IS DISTINCT FROM (CASE WHEN is_second THEN 'SMsecond' ELSE 'SMfirst' END) || ltrim(substr(recipient_phone_number, 6), '0')
       OR twilio_sent_status::text <> CASE WHEN is_second THEN 'undelivered' ELSE 'delivered' END`
  if (row!.wrong !== 0) throw new Error(`${row!.wrong} rows reconciled wrongly`)
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function main() {
  const throwaway = await startThrowawayCluster()
  const twilio = await startTwilioFake({
    accountSid: exampleEnv.TWILIO_ACCOUNT_SID!,
    authToken: exampleEnv.TWILIO_AUTH_TOKEN!,
  })
  const url = await cloneTemplate(throwaway, 'bench_reconcile')
  const sql = createSql(url, { max: 2 })
  const config = parseConfig({
    ...exampleEnv,
    DB_POOL_URL: url,
    TWILIO_API_BASE_URL: twilio.baseUrl,
    LOG_LEVEL: 'error',
  })
  const deps = createDeps(config, { sql, log: createLogger({ bench: 'reconcile' }) })
  try {
    const broadcastId = await seed(sql)
    for (let i = 1; i <= RECIPIENTS; i++) {
      for (const [phase, status, offset] of [['first', 'delivered', 2], ['second', 'undelivered', 902]] as const) {
        twilio.addMessage({
          sid: `SM${phase}${i}`,
          to: phoneOf(i),
          from: config.BROADCAST_SOURCE_PHONE_NUMBER,
          status,
          dateSent: new Date(RUN_AT.getTime() + (i + offset) * 1000),
          body: 'Text',
        })
      }
    }
    const rows = await sql<{ id: number; phone: string; is_second: boolean }[]>`
      SELECT id, recipient_phone_number AS phone, is_second FROM public.message_statuses`
    const values: [number, string, string, string][] = rows.map((row) => {
      const i = Number(row.phone.slice(5))
      const sent = new Date(RUN_AT.getTime() + (i + (row.is_second ? 902 : 2)) * 1000)
      return [
        row.id,
        `${row.is_second ? 'SMsecond' : 'SMfirst'}${i}`,
        row.is_second ? 'undelivered' : 'delivered',
        sent.toISOString(),
      ]
    })

    const results = { byOrder: [] as number[], bySid: [] as number[], floor: [] as number[], plain: [] as number[] }
    let calls = 0
    // Warm-up, then alternate so drift on a noisy machine hits every variant alike.
    await resetRows(sql, broadcastId, false)
    await reconcileThroughFunction(deps, broadcastId)
    for (let round = 0; round < ROUNDS; round++) {
      await resetRows(sql, broadcastId, false)
      results.byOrder.push(await timed(async () => (calls = await reconcileThroughFunction(deps, broadcastId))))
      await check(sql)
      await resetRows(sql, broadcastId, true)
      results.bySid.push(await timed(() => reconcileThroughFunction(deps, broadcastId)))
      await check(sql)
      await resetRows(sql, broadcastId, false)
      results.floor.push(await timed(() => floor(deps, values)))
      await check(sql)
      await resetRows(sql, broadcastId, false)
      results.plain.push(await timed(() => plainBulkUpdate(sql, values)))
      await check(sql)
    }

    const base = median(results.floor)
    const pages = Math.ceil(rows.length / PAGE_SIZE)
    console.log(
      `${rows.length} rows, ${pages} Twilio pages of ${PAGE_SIZE} from the fake, ${calls} function calls a pass, median of ${ROUNDS} rounds, ratios per round`,
    )
    console.log(
      `floor (list the pages + one UPDATE … FROM (VALUES …)): ${base.toFixed(0)} ms (${
        results.floor.map((t) => t.toFixed(0)).join(', ')
      })`,
    )
    console.log(`  of which the bare UPDATE: ${median(results.plain).toFixed(0)} ms`)
    for (
      const [name, times] of [['paired by order', results.byOrder], ['matched by SID', results.bySid]] as const
    ) {
      // Each round's ratio to its own floor, then the median: a burst of load from the machine's
      // other work then spoils one round, not the comparison.
      const ratio = median(times.map((time, round) => time / results.floor[round]!))
      console.log(
        `reconcile function, ${name}: ${median(times).toFixed(0)} ms (${times.map((t) => t.toFixed(0)).join(', ')})`,
      )
      reportFigure({
        bench: 'reconcile',
        figure: `10 000 statuses through the function, ${name}, vs listing + one bulk UPDATE`,
        result: `${ratio.toFixed(2)}× (median of rounds; medians ${median(times).toFixed(0)} vs ${base.toFixed(0)} ms)`,
        goal: `≤ ${GOAL}×`,
        met: ratio <= GOAL,
      })
    }
  } finally {
    await sql.end()
    await twilio.close()
    await throwaway.destroy()
  }
}

await main()
