import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type Config, parseConfig } from '../../src/shared/config/env.ts'
import type { Sql } from '../../src/shared/db/client.ts'
import { createLogger } from '../../src/shared/log/logger.ts'
import { createDeps, type Deps } from '../../src/shared/runtime/deps.ts'
import { parseEnvFile } from '../../src/local/env-file.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** The sandbox values of .env.example: the same configuration a newcomer's `npm run dev` uses. */
export const exampleEnv: Record<string, string> = parseEnvFile(readFileSync(`${root}.env.example`, 'utf8'))

export const SECRET_KEY = JSON.parse(exampleEnv.SUPABASE_SECRET_KEYS).default as string

export function testConfig(overrides: Record<string, string | undefined> = {}): Config {
  return parseConfig({ ...exampleEnv, LOG_LEVEL: 'warn', ...overrides })
}

/** Deps wired to a test database (and, through `env`, to the loopback fakes). */
export function createTestDeps(
  sql: Sql,
  options: { env?: Record<string, string | undefined>; now?: () => Date } = {},
): Deps {
  return createDeps(testConfig({ DB_POOL_URL: 'postgresql://unused', ...options.env }), {
    sql,
    log: createLogger({ test: true }),
    ...(options.now ? { now: options.now } : {}),
  })
}
