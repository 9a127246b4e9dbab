import fc from 'fast-check'
import type { Hono } from 'hono'
import twilio from 'twilio'
import type { Sql } from '../../shared/db/client.ts'
import { signWebhookBody } from '../../shared/http/webhook-signature.ts'
import { RULE_TYPES } from '../../shared/webhooks/payload.ts'
import type { Config } from '../../shared/config/env.ts'
import { mintUserToken } from '../token.ts'
import { FUNCTIONS_PREFIX } from '../gateway.ts'

// `npm run fuzz` (scripts/fuzz.ts): every authenticated route of every function gets generated
// bodies, query strings and headers (wrong types, huge and negative numbers, deep nesting, invalid
// UTF-8, prototype keys, oversized strings, missing parts), presented with valid credentials so
// they get past the gate (a webhook body is signed after it is generated). Three rules:
//   1. no answer is a 5xx;
//   2. a 4xx writes no row (counted by row triggers on every table; the webhooks' own audit records
//      of a rejected delivery, `invoke_history` and `errors`, are upstream's log and allowed);
//   3. a 4xx makes no Missive or Twilio call.
// Inputs come from fast-check with one seed: the same seed and route replay the same cases.

/** Tables whose rows record a rejected webhook (upstream's log), allowed on a 4xx. */
const AUDIT_TABLES = ['invoke_history', 'errors']

export interface FuzzTarget {
  gateway: Hono
  sql: Sql
  config: Config
  /** Requests the provider fakes have received so far (Missive + Twilio). */
  providerCalls: () => number
}

export interface FuzzOptions {
  seed: number
  runsPerRoute: number
  /** Only routes whose label contains this. */
  only?: string
  log?: (line: string) => void
}

export interface RouteFigures {
  route: string
  runs: number
  byStatus: Record<string, number>
  failures: FuzzFailure[]
}

export interface FuzzFailure {
  index: number
  rule: '5xx' | 'rows written on 4xx' | 'provider call on 4xx'
  status: number
  detail: string
  request: string
}

type Auth = 'secret' | 'staff' | 'webhook' | 'twilio'

interface GeneratedRequest {
  method: string
  path: string
  query: string
  headers: Record<string, string>
  body?: string | Uint8Array | FormData
  /** One in ten requests presents broken credentials (the gate must still answer 401, not 5xx). */
  breakAuth: boolean
}

interface RouteSpec {
  label: string
  fn: string
  auth: Auth
  method: string
  /** `:id` is replaced by a generated id. */
  path: string
  fields: string[]
  queryKeys?: string[]
  multipart?: boolean
  skeleton?: () => fc.Arbitrary<Record<string, unknown>>
}

// --- generators ------------------------------------------------------------------------------

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty']
const HUGE_NUMBERS = [3e9, -3e9, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 + 2, 1e300, -1e300, 1e15, -1, 0, 0.5, -0.000001]

const nastyString = fc.oneof(
  { depthSize: 'small' },
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      'null',
      'NaN',
      '1e300',
      '-1',
      '+13135550100',
      '313-555-0100',
      'stop',
      'resubscribe please',
      'unsubscribe',
      '00000000-0000-4000-8000-000000000001',
      '\u0000',
      '\ud800',
      '../../etc/passwd',
      "'; DROP TABLE authors; --",
      '$$',
      '<script>',
      '2025-13-45T99:99:99Z',
      '09:00',
      '25:00',
    ),
  },
  { weight: 4, arbitrary: fc.uuid().map(String) },
  // Oversized: up to 2 MB, past the 1 MB cap; weighted down so most cases reach the handlers.
  { weight: 1, arbitrary: fc.nat({ max: 2_000_000 }).map((n) => 'x'.repeat(n)) },
)
const nastyNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(...HUGE_NUMBERS), fc.nat({ max: 5 }))
const leaf = fc.oneof(nastyString, nastyNumber, fc.boolean(), fc.constant(null))

function nastyValue(keys: string[]): fc.Arbitrary<unknown> {
  const key = fc.oneof(fc.constantFrom(...keys, ...PROTO_KEYS), fc.string({ maxLength: 8 }))
  return fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(key, tie('value'), { maxKeys: 5 }),
    ),
  })).value
}

/** An object with the route's own field names (so validation is reached past its first line). */
function objectBody(fields: string[]): fc.Arbitrary<Record<string, unknown>> {
  const value = nastyValue(fields)
  return fc.dictionary(fc.oneof(fc.constantFrom(...fields, ...PROTO_KEYS), fc.string({ maxLength: 8 })), value, {
    maxKeys: 8,
  })
}

/** JSON text, valid or not. */
function bodyText(
  fields: string[],
  skeleton?: fc.Arbitrary<Record<string, unknown>>,
): fc.Arbitrary<string | Uint8Array> {
  const objects = skeleton ? fc.oneof(skeleton, objectBody(fields)) : objectBody(fields)
  return fc.oneof(
    { weight: 6, arbitrary: objects.map((body) => JSON.stringify(body)) },
    // `__proto__` as an own key: JSON.stringify of an object literal drops it.
    {
      weight: 1,
      arbitrary: fc.constantFrom(...fields).map((field) =>
        `{"__proto__":{"${field}":1},"${field}":{"__proto__":null}}`
      ),
    },
    { weight: 1, arbitrary: nastyValue(fields).map((value) => JSON.stringify(value) ?? 'null') },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 5_000 }).map((depth) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) }, // invalid UTF-8 among them
    { weight: 1, arbitrary: fc.constantFrom('', '{', '{"a":1', 'null', '[]', '"text"', '1e999', '{"a":1}{"b":2}') },
  )
}

/** encodeURIComponent, with a lone surrogate written as the (invalid UTF-8) bytes it would have been. */
function encode(text: string): string {
  try {
    return encodeURIComponent(text)
  } catch {
    return text.replace(/[\ud800-\udfff]/g, '%ED%A0%80').replace(/[^%0-9A-Za-z.+-]/g, (c) => {
      try {
        return encodeURIComponent(c)
      } catch {
        return '%ED%A0%80'
      }
    })
  }
}

function queryString(keys: string[]): fc.Arbitrary<string> {
  const value = fc.oneof(
    nastyString.filter((text) => text.length < 2000),
    nastyNumber.map(String),
    fc.constantFrom('%', '%zz', '%E0%A4%A', '%00', '1e300', '-5', 'Infinity', '1.5', '99999999999999999999'),
  )
  const pair = fc.tuple(fc.oneof(fc.constantFrom(...keys, ...PROTO_KEYS), fc.string({ maxLength: 6 })), value)
  return fc.array(pair, { maxLength: 4 }).map((pairs) =>
    pairs.map(([k, v]) => `${encode(k)}=${/^%|^[0-9A-Za-z.+-]*$/.test(v) ? v : encode(v)}`)
      .join('&')
  )
}

const contentType = fc.constantFrom(
  'application/json',
  'application/json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'multipart/form-data; boundary=x',
  'application/json; charset=latin1',
  '',
)

const idSegment = fc.oneof(
  fc.constantFrom('1', '2', '0', '-1', 'abc', '1e300', '99999999999', '2147483648', '%00', '1.5', ' '),
  fc.nat({ max: 5 }).map(String),
)

function multipartBody(fields: string[]): fc.Arbitrary<FormData> {
  const csvLine = fc.oneof(
    fc.constantFrom('+13135550100', '313-555-0101', 'phone', '"+13135550102"', 'a,b,c', '', '12'),
    fc.string({ maxLength: 20 }),
  )
  const file = fc.oneof(
    fc.array(csvLine, { maxLength: 20 }).map((lines) => new TextEncoder().encode(lines.join('\n'))),
    fc.uint8Array({ maxLength: 200 }),
  )
  const field = fc.tuple(
    fc.constantFrom(...fields, 'file', ...PROTO_KEYS),
    fc.oneof(nastyString, nastyNumber.map(String)),
  )
  return fc.record({
    file: fc.option(file, { nil: undefined }),
    name: fc.constantFrom('r.csv', 'r.txt', '', 'r.CSV'),
    type: fc.constantFrom('text/csv', 'text/plain', 'application/octet-stream', ''),
    extra: fc.array(field, { maxLength: 8 }),
  }).map(({ file, name, type, extra }) => {
    const form = new FormData()
    if (file) form.append('file', new File([file as BlobPart], name, { type }))
    for (const [key, value] of extra) form.append(key, value.slice(0, 100_000))
    return form
  })
}

// --- routes ----------------------------------------------------------------------------------

const webhookSkeleton = () =>
  fc.record({
    rule: fc.record({
      id: fc.oneof(fc.uuid().map(String), nastyString),
      description: nastyString,
      type: fc.oneof(
        // Every rule type the ingest knows, plus one it does not (recorded and answered 200).
        fc.constantFrom(...RULE_TYPES, 'conversation_merged'),
        nastyString,
      ),
    }, { requiredKeys: [] }),
    conversation: fc.record({
      id: fc.oneof(fc.uuid().map(String), nastyString),
      external_authors: fc.array(
        fc.record({
          name: nastyString,
          phone_number: fc.oneof(fc.constantFrom('+13135550100', '3135550100'), nastyString),
        }, {
          requiredKeys: [],
        }),
        { maxLength: 3 },
      ),
      shared_labels: nastyValue(['id', 'name']),
      users: nastyValue(['id', 'name', 'email']),
      organization: nastyValue(['id', 'name']),
    }, { requiredKeys: [] }),
    comment: fc.record({
      id: fc.oneof(fc.uuid().map(String), nastyString),
      body: fc.oneof(fc.constantFrom('unsubscribe', 'resubscribe', 'stop please'), nastyString),
      author: nastyValue(['id', 'name', 'email']),
    }, { requiredKeys: [] }),
    message: nastyValue(['id', 'body', 'from_field', 'to_fields', 'delivered_at', 'references']),
  }, { requiredKeys: [] })

const segments = ['segments', 'included', 'excluded', 'id', 'since']
const campaignFields = ['title', 'firstMessage', 'secondMessage', 'runAt', 'delay', 'campaignLabelName', ...segments]

export const routes: RouteSpec[] = [
  { label: 'make POST /', fn: 'make', auth: 'secret', method: 'POST', path: '/', fields: ['broadcastId', 'runAt'] },
  {
    label: 'send-messages POST /',
    fn: 'send-messages',
    auth: 'secret',
    method: 'POST',
    path: '/',
    fields: ['isSecond'],
  },
  {
    label: 'reconcile-twilio-status POST /',
    fn: 'reconcile-twilio-status',
    auth: 'secret',
    method: 'POST',
    path: '/',
    fields: ['broadcastId', 'campaignId'],
  },
  {
    label: 'reconcile-twilio-status POST /status-callback',
    fn: 'reconcile-twilio-status',
    auth: 'twilio',
    method: 'POST',
    path: '/status-callback',
    fields: ['MessageSid', 'MessageStatus', 'To', 'From', 'ErrorCode', 'AccountSid'],
  },
  {
    label: 'handle-failed-deliveries POST /',
    fn: 'handle-failed-deliveries',
    auth: 'secret',
    method: 'POST',
    path: '/',
    fields: [],
  },
  {
    label: 'archive-double-failures POST /',
    fn: 'archive-double-failures',
    auth: 'secret',
    method: 'POST',
    path: '/',
    fields: [],
  },
  {
    label: 'user-actions POST /',
    fn: 'user-actions',
    auth: 'webhook',
    method: 'POST',
    path: '/',
    fields: ['rule', 'conversation', 'message', 'comment', 'latest_message'],
    skeleton: webhookSkeleton,
  },
  {
    label: 'admin-action POST /',
    fn: 'admin-action',
    auth: 'webhook',
    method: 'POST',
    path: '/',
    fields: ['rule', 'conversation', 'comment'],
    queryKeys: ['action'],
    skeleton: webhookSkeleton,
  },
  {
    label: 'broadcast-sidebar GET /',
    fn: 'broadcast-sidebar',
    auth: 'staff',
    method: 'GET',
    path: '/',
    fields: [],
    queryKeys: ['limit', 'cursor'],
  },
  {
    label: 'broadcast-sidebar PATCH /',
    fn: 'broadcast-sidebar',
    auth: 'staff',
    method: 'PATCH',
    path: '/',
    fields: ['id', 'firstMessage', 'secondMessage', 'runAt', 'delay', 'noRecipients'],
  },
  {
    label: 'broadcast-sidebar POST /preview',
    fn: 'broadcast-sidebar',
    auth: 'staff',
    method: 'POST',
    path: '/preview',
    fields: ['firstMessage', 'secondMessage', 'limit'],
  },
  { label: 'broadcast-settings GET /', fn: 'broadcast-settings', auth: 'staff', method: 'GET', path: '/', fields: [] },
  {
    label: 'broadcast-settings POST /',
    fn: 'broadcast-settings',
    auth: 'staff',
    method: 'POST',
    path: '/',
    fields: ['schedule', 'batchSize', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
  },
  { label: 'send-now GET /', fn: 'send-now', auth: 'staff', method: 'GET', path: '/', fields: [] },
  { label: 'send-now POST /', fn: 'send-now', auth: 'staff', method: 'POST', path: '/', fields: [] },
  { label: 'campaigns GET /segments', fn: 'campaigns', auth: 'staff', method: 'GET', path: '/segments', fields: [] },
  {
    label: 'campaigns GET /',
    fn: 'campaigns',
    auth: 'staff',
    method: 'GET',
    path: '/',
    fields: [],
    queryKeys: ['page', 'pageSize'],
  },
  {
    label: 'campaigns POST /recipient-count',
    fn: 'campaigns',
    auth: 'staff',
    method: 'POST',
    path: '/recipient-count',
    fields: [...segments, 'firstMessage', 'secondMessage'],
  },
  {
    label: 'campaigns POST /preview',
    fn: 'campaigns',
    auth: 'staff',
    method: 'POST',
    path: '/preview',
    fields: [...segments, 'campaignId', 'firstMessage', 'secondMessage', 'limit'],
  },
  {
    label: 'campaigns POST / (JSON)',
    fn: 'campaigns',
    auth: 'staff',
    method: 'POST',
    path: '/',
    fields: campaignFields,
  },
  {
    label: 'campaigns POST / (multipart)',
    fn: 'campaigns',
    auth: 'staff',
    method: 'POST',
    path: '/',
    fields: campaignFields,
    multipart: true,
  },
  {
    label: 'campaigns PATCH /:id',
    fn: 'campaigns',
    auth: 'staff',
    method: 'PATCH',
    path: '/:id',
    fields: campaignFields,
  },
  { label: 'campaigns DELETE /:id', fn: 'campaigns', auth: 'staff', method: 'DELETE', path: '/:id', fields: [] },
  {
    label: 'campaigns POST /:id/pause',
    fn: 'campaigns',
    auth: 'staff',
    method: 'POST',
    path: '/:id/pause',
    fields: [],
  },
  {
    label: 'campaigns POST /:id/resume',
    fn: 'campaigns',
    auth: 'staff',
    method: 'POST',
    path: '/:id/resume',
    fields: [],
  },
  {
    label: 'campaigns POST /:id/cancel',
    fn: 'campaigns',
    auth: 'staff',
    method: 'POST',
    path: '/:id/cancel',
    fields: [],
  },
  {
    label: 'campaigns POST /:id/retry-failed',
    fn: 'campaigns',
    auth: 'staff',
    method: 'POST',
    path: '/:id/retry-failed',
    fields: [],
  },
  {
    label: 'campaigns GET /:id/progress',
    fn: 'campaigns',
    auth: 'staff',
    method: 'GET',
    path: '/:id/progress',
    fields: [],
  },
  {
    label: 'campaigns POST /:id/test',
    fn: 'campaigns',
    auth: 'staff',
    method: 'POST',
    path: '/:id/test',
    fields: ['phoneNumber'],
  },
]

function requestArbitrary(spec: RouteSpec): fc.Arbitrary<GeneratedRequest> {
  const route = { ...spec, fields: spec.fields.length > 0 ? spec.fields : ['value'] }
  const body: fc.Arbitrary<GeneratedRequest['body']> = route.multipart
    ? multipartBody(route.fields)
    : route.method === 'GET' || route.method === 'DELETE'
    ? fc.constant(undefined)
    : route.auth === 'twilio'
    ? fc.oneof(
      queryString(route.fields),
      bodyText(route.fields).map((text) => text),
    )
    : fc.option(bodyText(route.fields, route.skeleton?.()), { nil: undefined, freq: 10 })
  const query = route.queryKeys
    ? fc.oneof(
      queryString(route.queryKeys),
      route.fn === 'admin-action' ? fc.constantFrom('action=unsubscribe', 'action=resubscribe') : fc.constant(''),
    )
    : fc.option(queryString(['x']), { nil: '', freq: 4 })
  return fc.record({
    method: fc.constant(route.method),
    path: route.path.includes(':id') ? idSegment.map((id) => route.path.replace(':id', id)) : fc.constant(route.path),
    query,
    headers: fc.record({
      'content-type': contentType,
      'x-client-info': fc.option(nastyString.filter((text) => text.length < 200), { nil: undefined }),
    }, { requiredKeys: ['content-type'] }).map((headers) =>
      Object.fromEntries(
        Object.entries(headers).filter(([, v]) => v !== undefined && v !== '' && /^[\t\x20-\x7e]*$/.test(v)),
      ) as Record<string, string>
    ),
    body,
    breakAuth: fc.boolean().chain((
      flip,
    ) => (flip ? fc.integer({ min: 0, max: 4 }).map((n) => n === 0) : fc.constant(false))),
  })
}

// --- running ---------------------------------------------------------------------------------

/** Row triggers counting writes per table (outside the watched schemas). Idempotent. */
export async function installWriteCounter(sql: Sql): Promise<void> {
  await sql.unsafe(`
    CREATE SCHEMA IF NOT EXISTS fuzz;
    CREATE TABLE IF NOT EXISTS fuzz.writes (tbl text PRIMARY KEY, n bigint NOT NULL);
    CREATE OR REPLACE FUNCTION fuzz.count_write() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      INSERT INTO fuzz.writes (tbl, n) VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, 1)
      ON CONFLICT (tbl) DO UPDATE SET n = fuzz.writes.n + 1;
      RETURN NULL;
    END $fn$;
  `)
  const tables = await sql<{ schemaname: string; tablename: string }[]>`
    SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('public', 'pgmq', 'net', 'vault', 'cron')`
  for (const { schemaname, tablename } of tables) {
    await sql.unsafe(`DROP TRIGGER IF EXISTS fuzz_count_write ON "${schemaname}"."${tablename}"`)
    await sql.unsafe(
      `CREATE TRIGGER fuzz_count_write AFTER INSERT OR UPDATE OR DELETE ON "${schemaname}"."${tablename}" FOR EACH ROW EXECUTE FUNCTION fuzz.count_write()`,
    )
  }
}

async function writes(sql: Sql): Promise<Map<string, number>> {
  const rows = await sql<{ tbl: string; n: string }[]>`SELECT tbl, n FROM fuzz.writes`
  return new Map(rows.map((row) => [row.tbl, Number(row.n)]))
}

function changedTables(before: Map<string, number>, after: Map<string, number>): string[] {
  return [...after].filter(([table, n]) => n !== (before.get(table) ?? 0)).map(([table]) => table)
}

function describeRequest(request: GeneratedRequest): string {
  const body = request.body instanceof FormData
    ? `FormData(${[...request.body.keys()].join(',')})`
    : request.body instanceof Uint8Array
    ? `bytes(${request.body.length})`
    : request.body === undefined
    ? '(none)'
    : request.body.length > 300
    ? `${request.body.slice(0, 300)}… (${request.body.length} chars)`
    : request.body
  return `${request.method} ${request.path}${request.query ? `?${request.query.slice(0, 200)}` : ''} ${
    JSON.stringify(request.headers)
  } body=${body}`
}

export async function fuzzRoutes(target: FuzzTarget, options: FuzzOptions): Promise<RouteFigures[]> {
  const log = options.log ?? (() => {})
  const staffToken = await mintUserToken(target.config.SUPABASE_JWT_SECRET ?? '', { hours: 4 })
  const secretKey = Object.values(target.config.SUPABASE_SECRET_KEYS)[0]
  const callbackUrl = target.config.TWILIO_STATUS_CALLBACK_URL ?? ''
  const figures: RouteFigures[] = []
  for (const [routeIndex, route] of routes.entries()) {
    if (options.only && !route.label.includes(options.only)) continue
    // One seed per route, derived from the run's seed, so `--only` replays the same cases.
    const samples = fc.sample(requestArbitrary(route), {
      seed: options.seed + routeIndex,
      numRuns: options.runsPerRoute,
    })
    const result: RouteFigures = { route: route.label, runs: 0, byStatus: {}, failures: [] }
    for (const [index, generated] of samples.entries()) {
      const url = `http://127.0.0.1${FUNCTIONS_PREFIX}/${route.fn}${generated.path}${
        generated.query ? `?${generated.query}` : ''
      }`
      const headers: Record<string, string> = { ...generated.headers }
      let body = generated.body
      if (body instanceof FormData) delete headers['content-type'] // the boundary comes from the form
      if (route.auth === 'secret') headers.apikey = generated.breakAuth ? 'sb_secret_wrong' : secretKey
      if (route.auth === 'staff') {
        headers.authorization = `Bearer ${generated.breakAuth ? `${staffToken}x` : staffToken}`
      }
      if (route.auth === 'webhook') {
        const bytes = typeof body === 'string'
          ? new TextEncoder().encode(body)
          : (body as Uint8Array | undefined) ?? new Uint8Array()
        headers['x-hook-signature'] = generated.breakAuth
          ? `sha256=${'0'.repeat(64)}`
          : await signWebhookBody(target.config.HMAC_SECRET, bytes)
        body = bytes
      }
      if (route.auth === 'twilio' && typeof body === 'string') {
        headers['content-type'] = 'application/x-www-form-urlencoded'
        const params: Record<string, string | string[]> = {}
        for (const [key, value] of new URLSearchParams(body)) {
          const existing = params[key]
          params[key] = existing === undefined
            ? value
            : Array.isArray(existing)
            ? [...existing, value]
            : [existing, value]
        }
        if (!generated.breakAuth) {
          headers['x-twilio-signature'] = twilio.getExpectedTwilioSignature(
            target.config.TWILIO_AUTH_TOKEN,
            callbackUrl,
            params as Record<string, string>,
          )
        }
      }
      const writesBefore = await writes(target.sql)
      const callsBefore = target.providerCalls()
      let status: number
      let text = ''
      try {
        const response = await target.gateway.request(url, {
          method: route.method,
          headers,
          body: body as BodyInit | undefined,
        })
        status = response.status
        text = await response.text()
      } catch (error) {
        status = 599
        text = `threw: ${(error as Error).stack ?? error}`
      }
      result.runs++
      result.byStatus[status] = (result.byStatus[status] ?? 0) + 1
      const fail = (rule: FuzzFailure['rule'], detail: string) =>
        result.failures.push({ index, rule, status, detail, request: describeRequest(generated) })
      if (status >= 500) fail('5xx', text.slice(0, 300))
      if (status >= 400 && status < 500) {
        const tables = changedTables(writesBefore, await writes(target.sql))
          .filter((table) => !AUDIT_TABLES.includes(table.replace(/^public\./, '')))
        if (tables.length > 0) fail('rows written on 4xx', `${tables.join(', ')} — ${text.slice(0, 200)}`)
        if (target.providerCalls() !== callsBefore) fail('provider call on 4xx', text.slice(0, 200))
      }
    }
    const statuses = Object.entries(result.byStatus).map(([s, n]) => `${s}×${n}`).join(' ')
    log(
      `${route.label.padEnd(46)} ${
        String(result.runs).padStart(5)
      } runs  ${statuses}  failures: ${result.failures.length}`,
    )
    for (const failure of result.failures.slice(0, 5)) {
      log(`   ✗ #${failure.index} ${failure.rule} (${failure.status}): ${failure.detail}\n     ${failure.request}`)
    }
    figures.push(result)
  }
  return figures
}
