import { z } from 'zod'

// The one place that reads the environment (DESIGN.md "Runtime rules"). Every variable is listed
// here and in .env.example; everything else receives a Config value.

const nonEmpty = z.string().trim().min(1)
const optionalText = z
  .string()
  .trim()
  .optional()
  .transform((value) => (value ? value : undefined))
const url = z.url({ protocol: /^https?$/ })
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback)

const secretKeys = z
  .string()
  .transform((raw, ctx) => {
    try {
      return JSON.parse(raw) as unknown
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of name → secret key' })
      return z.NEVER
    }
  })
  .pipe(z.record(z.string(), nonEmpty).refine((keys) => Object.keys(keys).length > 0, 'needs at least one key'))

const originList = z
  .string()
  .default('')
  .transform((raw) => raw.split(',').map((origin) => origin.trim()).filter(Boolean))

/** Comma-separated e-mails or domains, compared case-insensitively (a leading `@` on a domain is dropped). */
const lowercaseList = z
  .string()
  .default('')
  .transform((raw) => raw.split(',').map((item) => item.trim().toLowerCase().replace(/^@/, '')).filter(Boolean))

/** An IANA time zone name the runtime knows (Intl throws a RangeError for an unknown one). */
const timeZone = nonEmpty.refine((zone) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return true
  } catch {
    return false
  }
}, 'must be an IANA time zone name, e.g. America/Detroit')

/** `HH:MM-HH:MM` (24 h wall clock, start-end; crossing midnight is the usual case), or `off`. */
export interface QuietWindow {
  start: string
  end: string
}

const quietHours = z
  .string()
  .trim()
  .default('21:00-08:00')
  .transform((raw, ctx): QuietWindow | null => {
    if (raw.toLowerCase() === 'off') return null
    const match = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/.exec(raw || '21:00-08:00')
    if (!match) {
      ctx.addIssue({ code: 'custom', message: 'must be HH:MM-HH:MM (24 h, e.g. 21:00-08:00) or off' })
      return z.NEVER
    }
    const start = `${match[1]}:${match[2]}`
    const end = `${match[3]}:${match[4]}`
    if (start === end) {
      ctx.addIssue({ code: 'custom', message: 'start and end must differ (use off to disable)' })
      return z.NEVER
    }
    return { start, end }
  })

export const configSchema = z.object({
  DB_POOL_URL: nonEmpty,
  DB_POOL_MAX: positiveInt(5),
  SUPABASE_SECRET_KEYS: secretKeys,
  SUPABASE_URL: optionalText.pipe(url.optional()),
  SUPABASE_JWT_SECRET: optionalText,
  // The same legacy HS256 secret under a name `supabase secrets set` accepts (it skips SUPABASE_*).
  LEGACY_JWT_SECRET: optionalText,
  SIDEBAR_ALLOWED_ORIGINS: originList,
  // Sidebar staff rule (src/shared/http/sidebar-auth.ts): a user token passes when its e-mail is
  // listed or its domain is; with neither set, any signed-in user of the project passes.
  SIDEBAR_STAFF_EMAILS: lowercaseList,
  SIDEBAR_STAFF_EMAIL_DOMAINS: lowercaseList,
  // Where the project's signing keys are published; default <SUPABASE_URL>/auth/v1/.well-known/jwks.json.
  SUPABASE_JWKS_URL: optionalText.pipe(url.optional()),
  HMAC_SECRET: nonEmpty,

  MISSIVE_API_BASE_URL: url.default('https://public.missiveapp.com/v1'),
  MISSIVE_SECRET_BROADCAST_FIRST_MESSAGES: nonEmpty,
  MISSIVE_SECRET_BROADCAST_SECOND_MESSAGES: nonEmpty,
  MISSIVE_SECRET_NON_BROADCAST: nonEmpty,
  MISSIVE_SECRET_CAMPAIGN_READ_CONVERSATION: nonEmpty,
  MISSIVE_ORGANIZATION_ID: nonEmpty,
  MISSIVE_TIMEOUT_MS: positiveInt(10_000),
  MISSIVE_MAX_CONCURRENT: positiveInt(5),
  MISSIVE_MAX_PER_MINUTE: positiveInt(300),
  MISSIVE_MAX_PER_15_MINUTES: positiveInt(900),
  MISSIVE_REPLY_LABEL_ID: nonEmpty,
  MISSIVE_ARCHIVE_LABEL_ID: nonEmpty,
  PARENT_CAMPAIGN_LABEL_ID: optionalText,
  SHARED_CSV_CAMPAIGN_LABEL_ID: nonEmpty,
  BROADCAST_SOURCE_PHONE_NUMBER: nonEmpty,

  TWILIO_ACCOUNT_SID: nonEmpty,
  TWILIO_AUTH_TOKEN: nonEmpty,
  TWILIO_API_BASE_URL: url.default('https://api.twilio.com'),
  TWILIO_STATUS_CALLBACK_URL: optionalText.pipe(url.optional()),

  DUB_API_KEY: optionalText,
  DUB_TAG_NAME: optionalText,
  DUB_API_BASE_URL: url.default('https://api.dub.co'),

  LOOKUP_URL: optionalText.pipe(url.optional()),
  LOOKUP_SECRET: optionalText,
  OUTLIER_PHONE_NUMBER: optionalText,

  SEND_DRAIN_SECONDS: positiveInt(50),
  FAILURE_JOBS_RUN_SECONDS: z.coerce.number().positive().default(50),
  FAILURE_JOBS_POST_INTERVAL_MS: z.coerce.number().int().min(0).default(1000),
  CAMPAIGN_FILE_DIR: z.string().default('.local/storage'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  // Replace curly quotes, long dashes, ellipses and non-breaking spaces with their GSM-7 look-alikes
  // before sending (src/shared/texts/segments.ts): half the segments for pasted text.
  SMS_SMART_ENCODING: z.enum(['true', 'false', '']).default('false').transform((value) => value === 'true'),

  // Quiet hours (src/shared/schedule/quiet-hours.ts): no broadcast or campaign text goes out inside
  // this window of the audience's wall clock; `off` disables. Unset = 21:00-08:00.
  QUIET_HOURS: quietHours,
  // The audience's time zone: quiet hours are read in it.
  BROADCAST_TIME_ZONE: timeZone.default('America/Detroit'),

  // Error reporting (src/shared/reporting): unset = off.
  SENTRY_DSN: optionalText.pipe(url.optional()),
  SENTRY_ENVIRONMENT: z.string().default('production'),
})

export type Config = z.infer<typeof configSchema>

export class ConfigError extends Error {
  constructor(readonly variables: string[], detail: string) {
    super(`Invalid environment: ${detail}`)
    this.name = 'ConfigError'
  }
}

/** Validates an environment map; the error names every missing or invalid variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = configSchema.safeParse(env)
  if (result.success) return result.data
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? '?')
    const missing = env[name] === undefined || env[name] === ''
    return { name, text: `${name} ${missing ? 'is missing' : `is invalid (${issue.message})`}` }
  })
  throw new ConfigError(
    [...new Set(problems.map((p) => p.name))],
    problems.map((p) => p.text).join('; '),
  )
}

/** The process environment on Deno (edge runtime) or Node (tests, local stack). */
export function readEnvironment(): Record<string, string | undefined> {
  const runtime = globalThis as {
    Deno?: { env: { toObject(): Record<string, string> } }
    process?: { env: Record<string, string | undefined> }
  }
  return runtime.Deno?.env.toObject() ?? runtime.process?.env ?? {}
}

let cached: Config | undefined

/** Reads and validates the environment once per process. */
export function getConfig(): Config {
  cached ??= parseConfig(readEnvironment())
  return cached
}
