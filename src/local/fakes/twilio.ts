// Sandbox Twilio: the Messages list the reconcile job pages through, in Twilio's wire format
// (providers.md §6–7), so the official twilio-node client can be pointed at it unchanged.
import { Buffer } from 'node:buffer'
import { Hono } from 'hono'
import type { Context } from 'hono'
import {
  delay,
  dropConnection,
  type FakeEnv,
  type Fault,
  type FaultKind,
  type FaultOptions,
  FaultPlan,
  Hangs,
  listen,
  proxyErrorPage,
  type RecordedRequest,
  recordRequests,
} from './fake-server.ts'

export type { FaultKind, FaultOptions, RecordedRequest } from './fake-server.ts'

export interface TwilioFakeOptions {
  accountSid: string
  authToken: string
  port?: number
  latencyMs?: number
  now?: () => Date
  random?: () => number
}

export interface FakeTwilioMessage {
  sid: string
  from: string
  to: string
  body: string
  status: string
  direction: string
  dateCreated: Date
  /** Null while not yet sent. */
  dateSent: Date | null
  dateUpdated: Date
  errorCode: number | null
  errorMessage: string | null
}

export interface AddTwilioMessageInput {
  to: string
  from: string
  /** `delivered` unless given. */
  status?: string
  /** A Date or anything `Date` parses; now unless given; null = not sent yet. */
  dateSent?: Date | string | null
  sid?: string
  body?: string
  direction?: string
  errorCode?: number | null
  errorMessage?: string | null
}

export interface TwilioFake {
  /** `http://127.0.0.1:PORT`, which is also what `createTwilioClient` takes as `baseUrl`. */
  url: string
  baseUrl: string
  port: number
  requests: RecordedRequest[]
  clearRequests(): void
  addMessage(input: AddTwilioMessageInput): FakeTwilioMessage
  setStatus(sid: string, status: string, error?: { code: number; message?: string }): void
  messages(): FakeTwilioMessage[]
  clearMessages(): void
  failNext(count: number, kind: FaultKind, options?: FaultOptions): void
  failShare(share: number, kind: FaultKind, options?: FaultOptions): void
  clearFaults(): void
  setLatency(ms: number): void
  reset(): void
  close(): Promise<void>
}

const API_VERSION = '2010-04-01'
/** Statuses of a message Twilio holds but has not sent: `date_sent` is null (providers.md §7). */
const NOT_YET_SENT = new Set(['queued', 'accepted', 'scheduled'])
const DAY_MS = 86_400_000

export async function startTwilioFake(options: TwilioFakeOptions): Promise<TwilioFake> {
  const now = options.now ?? (() => new Date())
  const requests: RecordedRequest[] = []
  const faults = new FaultPlan(options.random ?? Math.random)
  const hangs = new Hangs()
  let latencyMs = options.latencyMs ?? 0
  let messages: FakeTwilioMessage[] = []
  const accountPath = `/${API_VERSION}/Accounts/${options.accountSid}`

  const app = new Hono<FakeEnv>()
  app.use('*', recordRequests(requests, now))

  app.use('*', async (c, next) => {
    if (!authenticated(c.req.header('authorization'), options.accountSid, options.authToken)) {
      c.header('WWW-Authenticate', 'Basic realm="Twilio API"')
      return twilioError(c, 401, 20003, 'Authenticate')
    }
    const fault = faults.pick(c.req.method, c.req.path)
    if (fault) return renderFault(c, fault, hangs)
    if (latencyMs > 0) await delay(latencyMs)
    await next()
  })

  app.get(`/${API_VERSION}/Accounts/:accountSid/Messages.json`, (c) => {
    if (c.req.param('accountSid') !== options.accountSid) {
      return twilioError(c, 404, 20404, `The requested resource ${c.req.path} was not found`)
    }
    const query = new URL(c.req.url).searchParams
    const pageSize = Number(query.get('PageSize') ?? 50)
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
      return twilioError(c, 400, 20001, 'PageSize must be an integer between 1 and 1000')
    }
    const pageNumber = Number(query.get('Page') ?? 0)
    const filters = readFilters(query)
    if (typeof filters === 'string') return twilioError(c, 400, 20001, filters)
    const token = query.get('PageToken')
    const cursor = token ? decodeCursor(token) : null
    if (token && !cursor) return twilioError(c, 400, 20001, `Invalid PageToken ${token}`)

    const ordered = messages.filter((message) => filters(message)).sort(newestFirst)
    // The token is the position after the last row served, so a later page needs neither `Page`
    // nor the original `DateSent<` (upstream drops both) and rows added meanwhile do not shift it.
    const start = cursor ? ordered.findIndex((message) => newestFirst(message, cursor) > 0) : 0
    const from = start === -1 ? ordered.length : start
    const rows = ordered.slice(from, from + pageSize)
    const last = rows.at(-1)
    const hasMore = from + pageSize < ordered.length && last !== undefined

    const listPath = `${accountPath}/Messages.json`
    const base = new URLSearchParams()
    for (const key of ['To', 'From', 'DateSent', 'DateSent>', 'DateSent<']) {
      const value = query.get(key)
      if (value !== null) base.set(key, value)
    }
    base.set('PageSize', String(pageSize))
    const uriFor = (page: number, pageToken?: string) => {
      const params = new URLSearchParams(base)
      params.set('Page', String(page))
      if (pageToken) params.set('PageToken', pageToken)
      return `${listPath}?${params}`
    }
    const first = pageNumber * pageSize
    return c.json({
      messages: rows.map((message) => render(message, options.accountSid)),
      page: pageNumber,
      page_size: pageSize,
      start: first,
      end: first + Math.max(rows.length - 1, 0),
      uri: uriFor(pageNumber, token ?? undefined),
      first_page_uri: uriFor(0),
      next_page_uri: hasMore ? uriFor(pageNumber + 1, encodeCursor(last)) : null,
      previous_page_uri: null,
    })
  })

  app.notFound((c) => twilioError(c, 404, 20404, `The requested resource ${c.req.path} was not found`))

  const server = await listen(app.fetch, options.port ?? 0, () => hangs.releaseAll())

  const addMessage = (input: AddTwilioMessageInput): FakeTwilioMessage => {
    const created = now()
    const status = input.status ?? 'delivered'
    // As Twilio: a message it has not sent yet (queued, accepted, scheduled) has no DateSent, so a
    // `DateSent` filter never lists it; only a listing without one (e.g. by `To`) does.
    const dateSent = input.dateSent === undefined
      ? (NOT_YET_SENT.has(status) ? null : created)
      : input.dateSent === null
      ? null
      : new Date(input.dateSent)
    if (dateSent && Number.isNaN(dateSent.getTime())) throw new Error(`Unparseable dateSent ${String(input.dateSent)}`)
    const message: FakeTwilioMessage = {
      sid: input.sid ?? `SM${crypto.randomUUID().replace(/-/g, '')}`,
      from: input.from,
      to: input.to,
      body: input.body ?? '',
      status,
      direction: input.direction ?? 'outbound-api',
      dateCreated: dateSent && dateSent < created ? dateSent : created,
      dateSent,
      dateUpdated: created,
      errorCode: input.errorCode ?? null,
      errorMessage: input.errorMessage ?? null,
    }
    messages.push(message)
    return message
  }

  return {
    url: server.url,
    baseUrl: server.url,
    port: server.port,
    requests,
    clearRequests: () => void requests.splice(0),
    addMessage,
    setStatus: (sid, status, error) => {
      const message = messages.find((candidate) => candidate.sid === sid)
      if (!message) throw new Error(`No fake Twilio message ${sid}`)
      message.status = status
      // Leaving Twilio's queue is when it gets its DateSent.
      if (message.dateSent === null && !NOT_YET_SENT.has(status)) message.dateSent = now()
      message.errorCode = error?.code ?? null
      message.errorMessage = error?.message ?? null
      message.dateUpdated = now()
    },
    messages: () => [...messages],
    clearMessages: () => void (messages = []),
    failNext: (count, kind, faultOptions) => faults.failNext(count, kind, faultOptions),
    failShare: (share, kind, faultOptions) => faults.failShare(share, kind, faultOptions),
    clearFaults: () => faults.clear(),
    setLatency: (ms) => void (latencyMs = ms),
    reset: () => {
      messages = []
      requests.splice(0)
      faults.clear()
    },
    close: server.close,
  }
}

function authenticated(header: string | undefined, accountSid: string, authToken: string): boolean {
  const encoded = /^Basic (.+)$/i.exec(header ?? '')?.[1]
  if (!encoded) return false
  const decoded = Buffer.from(encoded, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon > 0 && decoded.slice(0, colon) === accountSid && decoded.slice(colon + 1) === authToken
}

type Filter = (message: FakeTwilioMessage) => boolean

/** `To`, `From` and the three `DateSent` forms; a message not yet sent fails any date filter. */
function readFilters(query: URLSearchParams): Filter | string {
  const checks: Filter[] = []
  const to = query.get('To')
  const from = query.get('From')
  if (to) checks.push((message) => message.to === to)
  if (from) checks.push((message) => message.from === from)
  for (const key of ['DateSent', 'DateSent>', 'DateSent<'] as const) {
    const raw = query.get(key)
    if (raw === null) continue
    const bound = parseDateParam(raw)
    if (!bound) return `Invalid ${key} ${raw}`
    // A bare date means the whole GMT day; a timestamp is compared exactly, both inclusive.
    const low = bound.ms
    const high = bound.dateOnly ? bound.ms + DAY_MS - 1 : bound.ms
    const test = key === 'DateSent>'
      ? (ms: number) => ms >= low
      : key === 'DateSent<'
      ? (ms: number) => ms <= high
      : (ms: number) => ms >= low && ms <= high
    checks.push((message) => message.dateSent !== null && test(message.dateSent.getTime()))
  }
  return (message) => checks.every((check) => check(message))
}

function parseDateParam(raw: string): { ms: number; dateOnly: boolean } | null {
  const value = raw.trim()
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const ms = Date.parse(`${value}T00:00:00Z`)
    return Number.isNaN(ms) ? null : { ms, dateOnly: true }
  }
  // Twilio reads zone-less timestamps as GMT; JavaScript would read them as local time.
  const zoneless = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)
  const ms = Date.parse(zoneless ? `${value.replace(' ', 'T')}Z` : value)
  return Number.isNaN(ms) ? null : { ms, dateOnly: false }
}

type Position = Pick<FakeTwilioMessage, 'sid' | 'dateSent'>

/** Newest first; not-yet-sent messages are the newest; ties broken by SID so paging is total. */
function newestFirst(a: Position, b: Position): number {
  const aMs = a.dateSent?.getTime() ?? Number.POSITIVE_INFINITY
  const bMs = b.dateSent?.getTime() ?? Number.POSITIVE_INFINITY
  if (aMs !== bMs) return aMs > bMs ? -1 : 1
  return a.sid === b.sid ? 0 : a.sid > b.sid ? -1 : 1
}

// Real tokens are `PA` + an opaque position; ours encodes the last row's sort key.
function encodeCursor(message: Position): string {
  const key = JSON.stringify([message.dateSent?.getTime() ?? null, message.sid])
  return `PA${Buffer.from(key, 'utf8').toString('base64url')}`
}

function decodeCursor(token: string): Position | null {
  if (!token.startsWith('PA')) return null
  try {
    const [ms, sid] = JSON.parse(Buffer.from(token.slice(2), 'base64url').toString('utf8')) as unknown[]
    if (typeof sid !== 'string' || (ms !== null && typeof ms !== 'number')) return null
    return { sid, dateSent: ms === null ? null : new Date(ms) }
  } catch {
    return null
  }
}

/** `Wed, 15 Jan 2025 18:00:02 +0000`, the only date format Twilio's list responses use. */
function rfc2822(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000')
}

function render(message: FakeTwilioMessage, accountSid: string) {
  const uri = `/${API_VERSION}/Accounts/${accountSid}/Messages/${message.sid}`
  return {
    sid: message.sid,
    account_sid: accountSid,
    messaging_service_sid: null,
    from: message.from,
    to: message.to,
    body: message.body,
    status: message.status,
    direction: message.direction,
    date_created: rfc2822(message.dateCreated),
    date_sent: message.dateSent ? rfc2822(message.dateSent) : null,
    date_updated: rfc2822(message.dateUpdated),
    error_code: message.errorCode,
    error_message: message.errorMessage,
    num_segments: '1',
    num_media: '0',
    price: message.dateSent ? '-0.00790' : null,
    price_unit: 'USD',
    api_version: API_VERSION,
    uri: `${uri}.json`,
    subresource_uris: { media: `${uri}/Media.json`, feedback: `${uri}/Feedback.json` },
  }
}

function twilioError(c: Context<FakeEnv>, status: 400 | 401 | 404 | 429 | 500, code: number, message: string) {
  return c.json({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }, status)
}

function renderFault(c: Context<FakeEnv>, fault: Fault, hangs: Hangs): Response | Promise<Response> {
  switch (fault.kind) {
    case 'rate-limit':
      c.header('Retry-After', String(fault.options.retryAfterSeconds ?? 1))
      return twilioError(c, 429, 20429, 'Too Many Requests')
    case 'unavailable': {
      const status = fault.options.status ?? 503
      return c.html(proxyErrorPage(status), status as 502 | 503 | 504)
    }
    case 'server-error':
      return twilioError(c, 500, 20500, 'Internal Server Error')
    case 'hang':
      return hangs.wait(fault.options.hangMs).then(() => twilioError(c, 500, 20500, 'Internal Server Error'))
    case 'rejected':
      return twilioError(c, 400, 21211, "The 'To' number is not a valid phone number.")
    case 'drop':
      return dropConnection(c)
  }
}
