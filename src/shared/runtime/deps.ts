import type { Config } from '../config/env.ts'
import { getConfig } from '../config/env.ts'
import { createSql, type Sql } from '../db/client.ts'
import { createLogger, type Logger, setLogLevel } from '../log/logger.ts'
import { createMissiveClient, type MissiveClient } from '../missive/index.ts'
import type { RecipientFileStore } from '../storage/recipient-file-store.ts'
import { databasePacer } from '../sending/rate-budget.ts'
import { reportingLogger } from '../reporting/reporting-logger.ts'
import { createSentryReporter, type ErrorReporter, noReporter } from '../reporting/sentry-reporter.ts'
import { createTwilioClient, type TwilioClient } from '../twilio/index.ts'

/**
 * What a function needs from the outside world, built once per process from the config. Tests
 * build the same object against their own database and the loopback fakes; nothing in a handler
 * knows the difference (DESIGN.md "Runtime rules").
 */
export interface Deps {
  config: Config
  sql: Sql
  log: Logger
  missive: MissiveClient
  twilio: TwilioClient
  /** The clock, injectable so schedule logic can be tested at any instant. */
  now: () => Date
  /**
   * Where CSV recipient files go when Supabase Storage is not configured (SUPABASE_URL unset): the
   * local stack injects a disk store from src/local, which src/shared may not import.
   */
  recipientFiles?: RecipientFileStore
  /** Sentry when SENTRY_DSN is set; every error-level log line goes to it (see deps.log). */
  reporter: ErrorReporter
}

/** With `sql`, every request counts in its token's windows in the database (sending/rate-budget.ts). */
export function missiveClientFor(config: Config, sql?: Sql): MissiveClient {
  return createMissiveClient({
    baseUrl: config.MISSIVE_API_BASE_URL.replace(/\/+$/, ''),
    tokens: {
      firstMessages: config.MISSIVE_SECRET_BROADCAST_FIRST_MESSAGES,
      secondMessages: config.MISSIVE_SECRET_BROADCAST_SECOND_MESSAGES,
      nonBroadcast: config.MISSIVE_SECRET_NON_BROADCAST,
      readConversation: config.MISSIVE_SECRET_CAMPAIGN_READ_CONVERSATION,
    },
    organizationId: config.MISSIVE_ORGANIZATION_ID,
    fromPhoneNumber: config.BROADCAST_SOURCE_PHONE_NUMBER,
    timeoutMs: config.MISSIVE_TIMEOUT_MS,
    pacer: sql ? databasePacer(sql, config) : undefined,
  })
}

export function twilioClientFor(config: Config): TwilioClient {
  return createTwilioClient({
    accountSid: config.TWILIO_ACCOUNT_SID,
    authToken: config.TWILIO_AUTH_TOKEN,
    baseUrl: config.TWILIO_API_BASE_URL.replace(/\/+$/, ''),
  })
}

export function reporterFor(config: Config): ErrorReporter {
  if (!config.SENTRY_DSN) return noReporter
  const runtime = 'Deno' in globalThis ? 'deno' : 'node'
  return createSentryReporter({ dsn: config.SENTRY_DSN, environment: config.SENTRY_ENVIRONMENT, runtime })
}

export function createDeps(config: Config, overrides: Partial<Deps> = {}): Deps {
  setLogLevel(config.LOG_LEVEL)
  const reporter = overrides.reporter ?? reporterFor(config)
  const log = overrides.log ?? createLogger()
  const sql = overrides.sql ?? createSql(config.DB_POOL_URL, { max: config.DB_POOL_MAX })
  return {
    config,
    sql,
    log: reporter === noReporter ? log : reportingLogger(log, reporter),
    reporter,
    missive: overrides.missive ?? missiveClientFor(config, sql),
    twilio: overrides.twilio ?? twilioClientFor(config),
    now: overrides.now ?? (() => new Date()),
    recipientFiles: overrides.recipientFiles,
  }
}

let processDeps: Deps | undefined

/** The deps of a deployed function: config from the environment, one pool per isolate. */
export function defaultDeps(): Deps {
  if (!processDeps) {
    const deps = processDeps = createDeps(getConfig())
    // Errors no handler sees (a rejected promise nobody awaited). `addEventListener` on the global
    // scope is the web platform's hook, which the edge runtime (Deno) has; Node has not, and the
    // local stack registers its own (src/local/dev.ts).
    const scope = globalThis as { addEventListener?: (type: string, listener: (event: Event) => void) => void }
    scope.addEventListener?.('unhandledrejection', (event) => {
      const reason = (event as Event & { reason?: unknown }).reason
      deps.log.error('Unhandled rejection', { error: reason })
    })
    scope.addEventListener?.('error', (event) => {
      deps.log.error('Uncaught error', { error: (event as Event & { error?: unknown }).error })
    })
  }
  return processDeps
}
