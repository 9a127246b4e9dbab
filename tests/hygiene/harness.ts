import { beforeEach } from 'vitest'
import { createFunctionApp, type FunctionDefinition } from '../../src/shared/http/function-app.ts'
import { createTestDeps, SECRET_KEY } from '../support/app.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { useFakes } from '../support/fakes.ts'

/**
 * A real database, the loopback Missive fake and a settable clock (the time written to the
 * ledger). Posts are not paced unless a test asks (FAILURE_JOBS_POST_INTERVAL_MS = 0).
 */
export function useHygieneHarness(definition: FunctionDefinition) {
  const db = useTestDatabase()
  const fakes = useFakes()
  const clock = { now: new Date() }

  beforeEach(async () => {
    await resetDatabase(db.sql)
    clock.now = new Date()
  })

  async function call(options: { env?: Record<string, string>; method?: string; apikey?: string | null } = {}) {
    const deps = createTestDeps(db.sql, {
      env: { ...fakes.env, FAILURE_JOBS_POST_INTERVAL_MS: '0', ...options.env },
      now: () => clock.now,
    })
    const app = createFunctionApp(definition, deps)
    const headers: Record<string, string> = {}
    if (options.apikey !== null) headers.apikey = options.apikey ?? SECRET_KEY
    const method = options.method ?? 'GET'
    const response = await app.request(`/${definition.name}/`, {
      method,
      headers: method === 'GET' ? headers : { ...headers, 'content-type': 'application/json' },
      body: method === 'GET' ? undefined : '{}',
    })
    return { status: response.status, body: await response.json() as Record<string, unknown> }
  }

  /** The Missive fake answers 404 for conversations it does not know. */
  function knownToMissive(...conversationIds: string[]) {
    for (const id of conversationIds) fakes.missive.setConversationLabels(id, [])
  }

  function advance(ms: number) {
    clock.now = new Date(clock.now.getTime() + ms)
  }

  return { db, fakes, clock, call, knownToMissive, advance }
}

export const minutes = (n: number) => n * 60_000
export const days = (n: number) => n * 86_400_000
