import type { Config } from '../config/env.ts'
import { getConfig } from '../config/env.ts'
import { createSql, type Sql } from '../db/client.ts'
import { createLogger, type Logger, setLogLevel } from '../log/logger.ts'

/**
 * What a function needs from the outside world, built once per process from the config. Tests
 * build the same object against their own database and the loopback fakes; nothing in a handler
 * knows the difference (DESIGN.md "Runtime rules").
 */
export interface Deps {
  config: Config
  sql: Sql
  log: Logger
  /** The clock, injectable so schedule logic can be tested at any instant. */
  now: () => Date
}

export function createDeps(config: Config, overrides: Partial<Deps> = {}): Deps {
  setLogLevel(config.LOG_LEVEL)
  return {
    config,
    sql: overrides.sql ?? createSql(config.DB_POOL_URL, { max: config.DB_POOL_MAX }),
    log: overrides.log ?? createLogger(),
    now: overrides.now ?? (() => new Date()),
    ...overrides,
  }
}

let processDeps: Deps | undefined

/** The deps of a deployed function: config from the environment, one pool per isolate. */
export function defaultDeps(): Deps {
  processDeps ??= createDeps(getConfig())
  return processDeps
}
