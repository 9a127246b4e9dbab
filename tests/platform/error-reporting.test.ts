import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { createLogger } from '../../src/shared/log/logger.ts'
import { reconcileTwilioStatusFunction } from '../../src/shared/reconcile/reconcile-function.ts'
import { reportingLogger } from '../../src/shared/reporting/reporting-logger.ts'
import { createSentryReporter, noReporter } from '../../src/shared/reporting/sentry-reporter.ts'
import { freePort } from '../../src/local/postgres/throwaway.ts'
import { createTestDeps, exampleEnv, SECRET_KEY } from '../support/app.ts'
import { databaseUrl, resetDatabase, useTestDatabase } from '../support/database.ts'
import { createSentBroadcast } from '../support/factories/reconcile.ts'
import { type SentryFake, startSentryFake } from '../support/sentry-fake.ts'

// Issue 12: errors reach Sentry (when SENTRY_DSN is set) with their scope — function, broadcast or
// campaign id, masked number — and never a message body or a secret. The DSN points at a loopback
// fake that records the envelopes the SDK sends.

const root = fileURLToPath(new URL('../../', import.meta.url))
const db = useTestDatabase()
let sentry: SentryFake
beforeAll(async () => {
  sentry = await startSentryFake()
})
afterAll(() => sentry.close())
beforeEach(async () => {
  sentry.envelopes.length = 0
  await resetDatabase(db.sql)
})

const secrets = [
  SECRET_KEY,
  exampleEnv.HMAC_SECRET,
  exampleEnv.TWILIO_AUTH_TOKEN,
  exampleEnv.MISSIVE_SECRET_BROADCAST_FIRST_MESSAGES,
].filter(Boolean)

describe('error reporting', () => {
  it('is off without SENTRY_DSN', () => {
    expect(createTestDeps(db.sql).reporter).toBe(noReporter)
  })

  it('a failed reconcile (Twilio unreachable) reaches Sentry with the function and the broadcast id', async () => {
    const broadcastId = await createSentBroadcast(db.sql, { runAt: new Date('2025-01-15T18:00:00Z') })
    const deps = createTestDeps(db.sql, {
      env: {
        SENTRY_DSN: sentry.dsn,
        SENTRY_ENVIRONMENT: 'test',
        TWILIO_API_BASE_URL: `http://127.0.0.1:${await freePort()}`,
      },
    })
    const response = await createFunctionApp(reconcileTwilioStatusFunction, deps).request('/reconcile-twilio-status/', {
      method: 'POST',
      headers: { apikey: SECRET_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ broadcastId }),
    })
    expect(response.status).toBe(502)
    const [event] = await sentry.waitForEvents(1)
    expect(event.environment).toBe('test')
    expect(event.tags).toMatchObject({
      function: 'reconcile-twilio-status',
      broadcastId: String(broadcastId),
      path: '/reconcile-twilio-status',
    })
    expect(event.exception?.values?.[0]?.value).toContain('Could not fetch Twilio messages')
    for (const secret of secrets) expect(sentry.envelopes.join('\n')).not.toContain(secret)
  })

  it('an error-level log line is reported with its scope, the number masked and no message body', async () => {
    const reporter = createSentryReporter({ dsn: sentry.dsn, environment: 'test', runtime: 'node' })
    const log = reportingLogger(createLogger({ test: true }), reporter).child({ function: 'send-messages' })
    log.error('handling a queue message failed', {
      msgId: 7,
      campaignId: 12,
      phone: '+13135550199',
      text: 'Hi Jane, your private reply text',
      headers: { apikey: SECRET_KEY },
      error: new Error('connection reset'),
    })
    await reporter.flush()
    const [event] = await sentry.waitForEvents(1)
    expect(event.tags).toMatchObject({ function: 'send-messages', campaignId: '12', msgId: '7', phone: '***0199' })
    expect(event.extra).toMatchObject({ log_message: 'handling a queue message failed' })
    const raw = sentry.envelopes.join('\n')
    expect(raw).not.toContain('5550199')
    expect(raw).not.toContain('private reply text')
    expect(raw).not.toContain(SECRET_KEY)
  })
})

describe('error reporting under Deno (the edge runtime)', () => {
  let child: ChildProcess | undefined
  afterAll(() => {
    child?.kill('SIGTERM')
  })

  it('a thrown error in a function reaches Sentry from the real entry file', async () => {
    const port = await freePort()
    child = spawn(
      `${root}node_modules/.bin/deno`,
      ['run', '--allow-all', '--no-lock', 'supabase/functions/send-messages/index.ts'],
      {
        cwd: root,
        env: {
          ...process.env,
          ...exampleEnv,
          // A database that does not exist: the drain throws on its first query.
          DB_POOL_URL: databaseUrl('no_such_database'),
          SENTRY_DSN: sentry.dsn,
          SENTRY_ENVIRONMENT: 'edge-test',
          DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
          LOG_LEVEL: 'error',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`deno did not start: ${output}`)), 45_000)
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('Listening on')) {
          clearTimeout(timer)
          resolve()
        }
      }
      child!.stdout!.on('data', onData)
      child!.stderr!.on('data', onData)
      child!.once('exit', (code) => reject(new Error(`deno exited with ${code}: ${output}`)))
    })
    const response = await fetch(`http://127.0.0.1:${port}/send-messages/`, {
      method: 'POST',
      headers: { apikey: SECRET_KEY, 'content-type': 'application/json' },
      body: '{"isSecond":true}',
    })
    expect(response.status).toBe(500)
    const [event] = await sentry.waitForEvents(1)
    expect(event.environment).toBe('edge-test')
    expect(event.tags).toMatchObject({
      function: 'send-messages',
      runtime: 'deno',
      isSecond: 'true',
      queue: 'broadcast_second_messages',
    })
    expect(event.exception?.values?.[0]?.value).toMatch(/no_such_database/)
    for (const secret of secrets) expect(sentry.envelopes.join('\n')).not.toContain(secret)
  }, 60_000)
})
