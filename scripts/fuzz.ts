import { createGateway } from '../src/local/gateway.ts'
import { startMissiveFake } from '../src/local/fakes/missive.ts'
import { startTwilioFake } from '../src/local/fakes/twilio.ts'
import { fuzzRoutes, installWriteCounter } from '../src/local/fuzz/edge-fuzz.ts'
import { cloneTemplate, startThrowawayCluster } from '../src/local/postgres/throwaway.ts'
import { diskRecipientFiles } from '../src/local/recipient-files.ts'
import { parseEnvFile } from '../src/local/env-file.ts'
import { parseConfig } from '../src/shared/config/env.ts'
import { createSql } from '../src/shared/db/client.ts'
import { functionDefinitions } from '../src/shared/functions/registry.ts'
import { createLogger, setLogLevel } from '../src/shared/log/logger.ts'
import { createDeps } from '../src/shared/runtime/deps.ts'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'

// `npm run fuzz [-- --runs N --seed S --only <route label part>]`: the HTTP edge under generated
// input (src/local/fuzz/edge-fuzz.ts), against a throwaway PostgreSQL seeded like `npm run dev`
// and the sandbox Missive/Twilio fakes. Prints per-route figures; exits 1 on any failure. A
// failure replays with the same --seed (and --only to narrow it to its route).

const args = process.argv.slice(2)
const arg = (name: string) => {
  const index = args.indexOf(`--${name}`)
  return index >= 0 ? args[index + 1] : undefined
}
const runsPerRoute = Number(arg('runs') ?? 1000)
const seed = Number(arg('seed') ?? 20261130)
const only = arg('only')

const root = new URL('../', import.meta.url)
const env = parseEnvFile(readFileSync(new URL('.env.example', root), 'utf8'))
const throwaway = await startThrowawayCluster('txt_fuzz_template')
const fileDir = mkdtempSync(`${tmpdir()}/fuzz-files-`)
let exitCode = 1
try {
  const url = await cloneTemplate(throwaway, 'txt_fuzz')
  const sql = createSql(url, { max: 4 })
  await sql.unsafe(readFileSync(new URL('supabase/seed.sql', root), 'utf8'))
  // Something for the id routes to find: a label, and campaigns 1 (upcoming) and 2 (already run).
  await sql`
    INSERT INTO public.labels (id, name, name_with_parent_names)
    VALUES ('00000000-0000-4000-8000-000000000001', 'fuzz', 'fuzz') ON CONFLICT DO NOTHING`
  await sql`
    INSERT INTO public.campaigns (id, title, first_message, run_at, segments, processed)
    VALUES
      (1, 'upcoming', 'Hello', now() + interval '1 day',
       ${sql.json({ included: { id: '00000000-0000-4000-8000-000000000001' } })}, false),
      (2, 'past', 'Hello', now() - interval '1 day',
       ${sql.json({ included: { id: '00000000-0000-4000-8000-000000000001' } })}, true)
    ON CONFLICT DO NOTHING`
  await installWriteCounter(sql)
  const twilio = await startTwilioFake({ accountSid: env.TWILIO_ACCOUNT_SID, authToken: env.TWILIO_AUTH_TOKEN })
  const missive = await startMissiveFake({
    tokens: [
      env.MISSIVE_SECRET_BROADCAST_FIRST_MESSAGES,
      env.MISSIVE_SECRET_BROADCAST_SECOND_MESSAGES,
      env.MISSIVE_SECRET_NON_BROADCAST,
      env.MISSIVE_SECRET_CAMPAIGN_READ_CONVERSATION,
    ],
    organizationId: env.MISSIVE_ORGANIZATION_ID,
    twilio,
  })
  const config = parseConfig({
    ...env,
    DB_POOL_URL: url,
    MISSIVE_API_BASE_URL: missive.baseUrl,
    TWILIO_API_BASE_URL: twilio.baseUrl,
    TWILIO_STATUS_CALLBACK_URL: 'https://fuzz.example.test/functions/v1/reconcile-twilio-status/status-callback',
    FAILURE_JOBS_RUN_SECONDS: '1',
    SEND_DRAIN_SECONDS: '1',
    LOG_LEVEL: 'error',
  })
  // Errors are expected from bad input; only a 5xx's own log line would matter, and the figures say it.
  setLogLevel((process.env.FUZZ_LOG_LEVEL as 'error' | undefined) ?? 'error')
  const deps = createDeps(config, {
    sql,
    log: createLogger({ fuzz: true }),
    recipientFiles: diskRecipientFiles(fileDir),
  })
  const started = Date.now()
  console.log(`npm run fuzz: seed ${seed}, ${runsPerRoute} runs per route${only ? `, only "${only}"` : ''}`)
  const figures = await fuzzRoutes(
    {
      gateway: createGateway(deps, functionDefinitions),
      sql,
      config,
      providerCalls: () => missive.requests.length + twilio.requests.length,
    },
    { seed, runsPerRoute, only, log: (line) => console.log(line) },
  )
  const total = figures.reduce((n, route) => n + route.runs, 0)
  const failures = figures.reduce((n, route) => n + route.failures.length, 0)
  const count = (rule: string) =>
    figures.reduce((n, route) => n + route.failures.filter((failure) => failure.rule === rule).length, 0)
  console.log(
    `\n${figures.length} routes, ${total} requests in ${((Date.now() - started) / 1000).toFixed(0)} s: ` +
      `${count('5xx')} answers ≥ 500, ${count('rows written on 4xx')} 4xx with rows written, ` +
      `${count('provider call on 4xx')} 4xx with provider calls; ${failures} failures (seed ${seed})`,
  )
  exitCode = failures === 0 ? 0 : 1
  await sql.end({ timeout: 5 })
  await missive.close()
  await twilio.close()
} finally {
  await throwaway.destroy()
  rmSync(fileDir, { recursive: true, force: true })
}
process.exit(exitCode)
