import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type Config, parseConfig } from '../../src/shared/config/env.ts'
import type { Sql } from '../../src/shared/db/client.ts'
import { createLogger } from '../../src/shared/log/logger.ts'
import { createDeps, type Deps } from '../../src/shared/runtime/deps.ts'
import { parseEnvFile } from '../../src/local/env-file.ts'
import { mintUserToken } from '../../src/local/token.ts'

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

/** A staff user's access token (`npm run token`'s), accepted by the sidebar functions. */
export const STAFF_TOKEN = await mintUserToken(exampleEnv.SUPABASE_JWT_SECRET)

/**
 * The same app, every request carrying the staff token (unless the request sets its own
 * Authorization): the sidebar functions verify it themselves.
 */
export function asStaff<T extends { request: (...args: any[]) => any }>(app: T, token = STAFF_TOKEN): T {
  return new Proxy(app, {
    get(target, property, receiver) {
      if (property !== 'request') return Reflect.get(target, property, receiver)
      return (input: RequestInfo | URL, init?: RequestInit, ...rest: unknown[]) => {
        if (input instanceof Request) {
          const headers = new Headers(input.headers)
          if (!headers.has('authorization')) headers.set('authorization', `Bearer ${token}`)
          return target.request(new Request(input, { headers }), init, ...rest)
        }
        const headers = new Headers(init?.headers)
        if (!headers.has('authorization')) headers.set('authorization', `Bearer ${token}`)
        return target.request(input, { ...init, headers }, ...rest)
      }
    },
  })
}
