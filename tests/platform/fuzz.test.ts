import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { fuzzRoutes, installWriteCounter, routes } from '../../src/local/fuzz/edge-fuzz.ts'
import { createGateway } from '../../src/local/gateway.ts'
import { functionDefinitions } from '../../src/shared/functions/registry.ts'
import { createTestDeps } from '../support/app.ts'
import { useTestDatabase } from '../support/database.ts'
import { useFakes } from '../support/fakes.ts'

// A few runs of `npm run fuzz` (scripts/fuzz.ts) so the script cannot rot; the full run (1 000
// cases a route) stays a script, outside `npm test`.

const db = useTestDatabase()
const fakes = useFakes()
const root = fileURLToPath(new URL('../../', import.meta.url))

beforeAll(async () => {
  await db.sql.unsafe(readFileSync(`${root}supabase/seed.sql`, 'utf8'))
  await installWriteCounter(db.sql)
})

describe('npm run fuzz (smoke)', () => {
  it('every route answers generated input without a 5xx, a write or a provider call on a 4xx', async () => {
    const deps = createTestDeps(db.sql, {
      env: {
        ...fakes.env,
        TWILIO_STATUS_CALLBACK_URL: 'https://fuzz.example.test/functions/v1/reconcile-twilio-status/status-callback',
        FAILURE_JOBS_RUN_SECONDS: '1',
        SEND_DRAIN_SECONDS: '1',
      },
    })
    const figures = await fuzzRoutes(
      {
        gateway: createGateway(deps, functionDefinitions),
        sql: db.sql,
        config: deps.config,
        providerCalls: () => fakes.missive.requests.length + fakes.twilio.requests.length,
      },
      { seed: 42, runsPerRoute: 4 },
    )
    expect(figures.map((route) => route.route)).toEqual(routes.map((route) => route.label))
    expect(figures.every((route) => route.runs === 4)).toBe(true)
    expect(figures.flatMap((route) => route.failures)).toEqual([])
  }, 120_000)

  it('counts a write on a 4xx as a failure (the check itself works)', async () => {
    await db.sql`INSERT INTO public.labels (id, name) VALUES (gen_random_uuid(), 'fuzz-probe')`
    const rows = await db.sql`SELECT n FROM fuzz.writes WHERE tbl = 'public.labels'`
    expect(Number(rows[0]?.n)).toBeGreaterThan(0)
  })
})
