import { serve } from '@hono/node-server'
import { existsSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError, parseConfig } from '../shared/config/env.ts'
import { createSql, type Sql } from '../shared/db/client.ts'
import { functionDefinitions } from '../shared/functions/registry.ts'
import { createLogger, maskPhone } from '../shared/log/logger.ts'
import { createDeps } from '../shared/runtime/deps.ts'
import { formatLocal, quietHoursFrom } from '../shared/schedule/quiet-hours.ts'
import { devClockFrom, startDevClockCampaignTick } from './dev-clock.ts'
import { loadLocalEnvironment } from './env-file.ts'
import { type MissiveFake, startMissiveFake } from './fakes/missive.ts'
import { startTwilioFake } from './fakes/twilio.ts'
import { createGateway, FUNCTIONS_PREFIX } from './gateway.ts'
import { startNetWorker } from './net-worker.ts'
import { diskRecipientFiles } from './recipient-files.ts'
import { ensurePostgresInstalled, startCluster, stopServer } from './postgres/cluster.ts'
import { findRunningServer } from './postgres/running-server.ts'
import { applyMigrations, applyStandIns } from './postgres/migrate.ts'
import { mintUserToken } from './token.ts'
import { storeVaultSecret } from './vault-secrets.ts'

// `npm run dev`: the whole stack on this machine. PostgreSQL (with pg_cron and the local stand-ins
// for pgmq, pg_net and vault), the migrations, the function gateway, the pg_net delivery loop and
// sandbox Missive/Twilio fakes. Ctrl-C stops everything it started.

const root = fileURLToPath(new URL('../../', import.meta.url))
const say = (line: string) => console.log(`[dev] ${line}`)
const cleanups: Array<() => Promise<unknown> | unknown> = []

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(false))
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)))
  })
}

async function requireFreePort(port: number, variable: string): Promise<void> {
  if (!(await portIsFree(port))) {
    throw new Error(
      `port ${port} is already in use (is another \`npm run dev\` running?). Stop it, or choose another port with ${variable}=<port>.`,
    )
  }
}

async function seedVault(sql: Sql, edgeFunctionUrl: string, secretKey: string): Promise<void> {
  await storeVaultSecret(sql, 'edge_function_url', edgeFunctionUrl)
  await storeVaultSecret(sql, 'secret_key', secretKey)
}

async function main(): Promise<void> {
  const reset = process.argv.includes('--reset')
  const { env, source } = loadLocalEnvironment(root)
  say(`configuration from the environment and ${source}`)
  parseConfig(env) // fail fast, naming every missing or invalid variable, before anything starts
  const clock = devClockFrom(env.DEV_CLOCK_START) // local only: the functions' clock (dev-clock.ts)
  const functionsPort = Number(env.FUNCTIONS_PORT ?? 54321)
  const dbPort = Number(env.DB_PORT ?? 54322)
  const pgDir = resolve(root, env.LOCAL_DB_DIR || '.local/postgres')
  await requireFreePort(functionsPort, 'FUNCTIONS_PORT')
  // Our own cluster, left running by an `npm run dev` that was killed, is adopted below.
  const leftRunning = await findRunningServer(`${pgDir}/data`)
  if (leftRunning?.port !== dbPort) await requireFreePort(dbPort, 'DB_PORT')

  await ensurePostgresInstalled(say)
  if (reset && existsSync(pgDir)) {
    say('--reset: removing the local database')
    await stopServer(`${pgDir}/data`)
    await rm(pgDir, { recursive: true, force: true })
  }
  const fresh = !existsSync(`${pgDir}/data/PG_VERSION`)
  const cluster = await startCluster({
    dataDir: `${pgDir}/data`,
    socketDir: `${pgDir}/run`,
    port: dbPort,
    cronDatabase: 'postgres',
    durable: true,
    adopt: true,
  })
  cleanups.push(async () => {
    say('stopping PostgreSQL')
    await cluster.stop()
  })
  const state = cluster.adopted ? 'adopted (left running by an earlier npm run dev)' : fresh ? 'created' : 'reused'
  say(`PostgreSQL ${state} at ${cluster.url('postgres')} (data in ${pgDir})`)

  const databaseUrl = cluster.url('postgres')
  const sql = createSql(databaseUrl, { max: 10 })
  cleanups.push(() => sql.end({ timeout: 5 }))
  const standIns = await applyStandIns(sql)
  if (standIns.length) say(`stand-ins for ${standIns.join(', ')} in place`)
  const migrations = await applyMigrations(sql)
  say(migrations.length ? `applied ${migrations.length} migration(s)` : 'migrations up to date')
  if (existsSync(`${root}supabase/seed.sql`)) {
    await sql.unsafe(await readFile(`${root}supabase/seed.sql`, 'utf8'))
  }

  if (!env.MISSIVE_API_BASE_URL || !env.TWILIO_API_BASE_URL) {
    const twilio = await startTwilioFake({
      accountSid: env.TWILIO_ACCOUNT_SID ?? '',
      authToken: env.TWILIO_AUTH_TOKEN ?? '',
      port: Number(env.TWILIO_FAKE_PORT ?? 54332),
    })
    cleanups.push(() => twilio.close())
    if (!env.TWILIO_API_BASE_URL) env.TWILIO_API_BASE_URL = twilio.baseUrl
    if (!env.MISSIVE_API_BASE_URL) {
      const tokens = [
        'MISSIVE_SECRET_BROADCAST_FIRST_MESSAGES',
        'MISSIVE_SECRET_BROADCAST_SECOND_MESSAGES',
        'MISSIVE_SECRET_NON_BROADCAST',
        'MISSIVE_SECRET_CAMPAIGN_READ_CONVERSATION',
      ]
      const missive = await startMissiveFake({
        tokens: tokens.map((name) => env[name] ?? '').filter(Boolean),
        organizationId: env.MISSIVE_ORGANIZATION_ID,
        port: Number(env.MISSIVE_FAKE_PORT ?? 54331),
        rateLimits: true,
        twilio,
      })
      cleanups.push(() => missive.close())
      env.MISSIVE_API_BASE_URL = missive.baseUrl
      watchSandbox(missive)
      say(`sandbox Missive at ${missive.baseUrl} (enforces Missive's rate limits)`)
    }
    say(`sandbox Twilio at ${env.TWILIO_API_BASE_URL}`)
  }

  const config = parseConfig({ ...env, DB_POOL_URL: databaseUrl })
  const deps = createDeps(config, {
    log: createLogger({ stack: 'dev' }),
    ...(clock ? { now: clock.now } : {}),
    // Without Supabase Storage, CSV recipient files are kept on disk under CAMPAIGN_FILE_DIR.
    recipientFiles: config.SUPABASE_URL ? undefined : diskRecipientFiles(config.CAMPAIGN_FILE_DIR),
  })
  cleanups.push(() => deps.sql.end({ timeout: 5 }))
  // As the edge entry does with the web platform's hook (runtime/deps.ts): reported when SENTRY_DSN is set.
  process.on('unhandledRejection', (reason) => deps.log.error('Unhandled rejection', { error: reason }))
  const functionsUrl = `http://127.0.0.1:${functionsPort}${FUNCTIONS_PREFIX}/`
  const secretKey = Object.values(config.SUPABASE_SECRET_KEYS)[0]
  await seedVault(sql, functionsUrl, secretKey)

  const server = serve({
    fetch: createGateway(deps, functionDefinitions).fetch,
    port: functionsPort,
    hostname: '127.0.0.1',
  })
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve(undefined))))
  if (standIns.includes('pg_net')) {
    // With a real, preloaded pg_net its own background worker delivers the requests.
    const worker = startNetWorker(sql, deps.log.child({ component: 'pg_net' }))
    cleanups.push(() => worker.stop())
  }

  if (clock) {
    cleanups.push(startDevClockCampaignTick(sql, clock, deps.log.child({ component: 'dev-clock' })))
    const quiet = quietHoursFrom(config)
    say(
      `dev clock: functions see ${clock.now().toISOString()} (${
        quiet ? formatLocal(quiet, clock.now()) : 'quiet hours off'
      }), running in real time; campaigns run by it (src/local/dev-clock.ts)`,
    )
    if (clock.offsetMs < 0) {
      say('dev clock: DEV_CLOCK_START is behind the real time; pg_cron may mark campaigns scheduled by it as missed')
    }
  }

  const token = config.SUPABASE_JWT_SECRET ? await mintUserToken(config.SUPABASE_JWT_SECRET) : null
  console.log(`ready: ${functionsUrl}`)
  say(`cron functions take  -H "apikey: ${secretKey}"`)
  if (token) say(`sidebar functions take -H "Authorization: Bearer ${token}"   (npm run token mints another)`)
  say(
    `try a broadcast: curl -H "Authorization: Bearer $(npm run -s token)" ${functionsUrl}send-now/  (more in README "Try a broadcast")`,
  )
  say('Ctrl-C stops everything')
}

/** Prints what the sandbox Missive received, so a broadcast can be watched going out. */
function watchSandbox(missive: MissiveFake): void {
  let drafts = 0
  let posts = 0
  const timer = setInterval(() => {
    if (missive.drafts.length > drafts) {
      const fresh = missive.drafts.slice(drafts)
      drafts = missive.drafts.length
      say(
        `sandbox Missive: ${fresh.length} SMS draft(s) sent (${drafts} in all), last to ${
          maskPhone(fresh[fresh.length - 1].to)
        }`,
      )
    }
    if (missive.posts.length > posts) {
      say(`sandbox Missive: ${missive.posts.length - posts} post(s) to conversations`)
      posts = missive.posts.length
    }
  }, 2000)
  cleanups.push(() => clearInterval(timer))
}

let stopping = false
async function shutdown(code: number): Promise<void> {
  if (stopping) return
  stopping = true
  for (const cleanup of [...cleanups].reverse()) {
    try {
      await cleanup()
    } catch (error) {
      console.error(`[dev] cleanup failed: ${(error as Error).message}`)
    }
  }
  process.exit(code)
}

process.on('SIGINT', () => void shutdown(0))
process.on('SIGTERM', () => void shutdown(0))

main().catch(async (error) => {
  if (error instanceof ConfigError) console.error(`[dev] ${error.message}`)
  else console.error(`[dev] ${(error as Error).message}`)
  await shutdown(1)
})
