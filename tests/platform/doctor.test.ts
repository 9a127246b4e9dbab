import { serve } from '@hono/node-server'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import { functionDefinitions } from '../../src/shared/functions/registry.ts'
import { createGateway, FUNCTIONS_PREFIX } from '../../src/local/gateway.ts'
import { type CheckResult, formatResults, requiredCronJobs, runDoctor } from '../../src/local/doctor/checks.ts'
import { createTestDeps, SECRET_KEY } from '../support/app.ts'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'

// `npm run doctor` against the local stack: the test database (stand-ins + migrations) and the
// function gateway on a loopback port, as `npm run dev` runs them.

const db = useTestDatabase()
let server: ReturnType<typeof serve>
let functionsUrl: string
beforeAll(async () => {
  server = serve({
    fetch: createGateway(createTestDeps(db.sql), functionDefinitions).fetch,
    port: 0,
    hostname: '127.0.0.1',
  })
  await new Promise((resolve) => server.once('listening', resolve))
  functionsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}${FUNCTIONS_PREFIX}/`
})
afterAll(() => new Promise((resolve) => server.close(resolve)))

/** What the least-privilege migrations do (RLS on every public table); a no-op once they are merged. */
async function enableRowLevelSecurity() {
  const tables = await db.sql<{ name: string }[]>`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'`
  for (const { name } of tables) await db.sql`ALTER TABLE ${db.sql('public.' + name)} ENABLE ROW LEVEL SECURITY`
}

const missing = (results: CheckResult[]) => results.filter((result) => !result.ok).map((result) => result.check)

beforeEach(async () => {
  await resetDatabase(db.sql)
  // Runs recorded while the template was being migrated (pg_cron pointed at it) are not this test's.
  await db.sql`DELETE FROM cron.job_run_details`
})

describe('npm run doctor', () => {
  it('checks exactly the cron jobs a freshly migrated database has', () => {
    expect([...requiredCronJobs].sort()).toEqual([...inject('staticCronJobs')].sort())
  })

  it('reports a correct local stack as all ok', async () => {
    await setVaultSecrets(db.sql, { edgeFunctionUrl: functionsUrl, secretKey: SECRET_KEY })
    await enableRowLevelSecurity()
    const results = await runDoctor(db.sql, functionsUrl)
    expect(missing(results), formatResults(results)).toEqual([])
    expect(results.map((result) => result.check)).toEqual(expect.arrayContaining([
      'extension pg_cron',
      'extension pgmq',
      'extension pg_net',
      'extension supabase_vault',
      'vault secret edge_function_url',
      'vault secret secret_key',
      'cron job check-and-trigger-broadcast-every-minute',
      'queue broadcast_first_messages',
      'queue broadcast_second_messages',
      'function reachable with the secret key',
      'cron runs in the last 24 hours',
      'calls from the database to functions in the last hour',
      'row level security',
    ]))
  })

  it('names what is missing on a half-configured project: no Vault secret, a missing cron job, RLS off', async () => {
    await setVaultSecrets(db.sql, { edgeFunctionUrl: functionsUrl, secretKey: SECRET_KEY })
    await db.sql`DELETE FROM vault.secrets WHERE name = 'secret_key'`
    await db.sql`SELECT cron.unschedule('daily-reconciliation')`
    await enableRowLevelSecurity()
    await db.sql`ALTER TABLE public.broadcasts DISABLE ROW LEVEL SECURITY`
    const results = await runDoctor(db.sql, functionsUrl)
    expect(missing(results)).toEqual([
      'vault secret secret_key',
      'cron job daily-reconciliation',
      'function reachable with the secret key',
      'row level security',
    ])
    const output = formatResults(results)
    expect(output).toContain(
      "missing vault secret secret_key: not set\n        fix: SELECT vault.create_secret('<value>', 'secret_key');",
    )
    expect(output).toContain('missing cron job daily-reconciliation: not scheduled')
    expect(output).toContain('off on 1 public table(s): broadcasts')
    expect(output).toContain('ALTER TABLE public.broadcasts ENABLE ROW LEVEL SECURITY;')
  })

  it('names failed cron runs and failed calls from the database to functions', async () => {
    await setVaultSecrets(db.sql, { edgeFunctionUrl: functionsUrl, secretKey: SECRET_KEY })
    await db.sql`
      INSERT INTO cron.job_run_details (jobid, runid, job_pid, database, username, command, status, return_message, start_time, end_time)
      SELECT jobid, 1, 1, 'postgres', 'postgres', command, 'failed', 'ERROR: vault secret secret_key is not set', now(), now()
      FROM cron.job WHERE jobname = 'check_and_run_campaigns'`
    await db
      .sql`INSERT INTO net._http_response (id, status_code, content) VALUES (1, 401, '{"message":"Unauthorized"}')`
    const results = await runDoctor(db.sql, functionsUrl)
    expect(results.find((result) => result.check === 'cron runs in the last 24 hours')).toMatchObject({
      ok: false,
      detail: 'check_and_run_campaigns failed 1× (last: ERROR: vault secret secret_key is not set)',
    })
    expect(results.find((result) => result.check === 'calls from the database to functions in the last hour'))
      .toMatchObject({ ok: false, detail: '1 answered 401' })
  })

  it('names a secret written into vault.secrets directly, a key the functions refuse, and a wrong URL', async () => {
    await setVaultSecrets(db.sql, {
      edgeFunctionUrl: 'http://elsewhere.test/functions/v1/',
      secretKey: 'sb_secret_not_ours',
    })
    await db.sql`UPDATE vault.secrets SET secret = 'plaintext' WHERE name = 'secret_key'`
    let results = await runDoctor(db.sql, functionsUrl)
    expect(results.find((result) => result.check === 'vault secret secret_key')?.detail).toMatch(/cannot be decrypted/)
    expect(results.find((result) => result.check === 'vault secret edge_function_url')?.detail).toContain(
      'elsewhere.test',
    )

    await setVaultSecrets(db.sql, { edgeFunctionUrl: functionsUrl, secretKey: 'sb_secret_not_ours' })
    results = await runDoctor(db.sql, functionsUrl)
    expect(results.find((result) => result.check === 'function reachable with the secret key')).toMatchObject({
      ok: false,
      detail: expect.stringContaining('answered 401'),
    })
  })
})
