import { parseRetryAfter } from './retry-after.ts'
import type { HeldSlot, MissiveFailure, MissivePacer, MissiveTokens, TokenPurpose } from './types.ts'

export interface MissiveTransport {
  baseUrl: string
  timeoutMs: number
  fetch: typeof fetch
  pacer?: MissivePacer
  paceMaxWaitMs: number
}

/** What each endpoint function needs: the transport plus the account's fixed values. */
export interface MissiveContext {
  transport: MissiveTransport
  tokens: MissiveTokens
  organizationId: string
  fromPhoneNumber: string
}

export interface MissiveRequest {
  method: 'GET' | 'POST'
  /** Relative to the base URL, e.g. `/drafts`. */
  path: string
  token: string
  /** Which budget the token is; with `token`, decides the rate windows the request counts in. */
  purpose: TokenPurpose
  query?: Record<string, string | number>
  body?: unknown
  /** A slot the caller reserved; otherwise the request takes its own. */
  slot?: HeldSlot
}

/** A 2xx answer. `body` is the parsed JSON, or undefined when the body was empty or not JSON. */
export interface MissiveResponse {
  ok: true
  status: number
  body: unknown
  text: string
}

const SNIPPET_LENGTH = 200

/**
 * The one place that talks HTTP to Missive. It never throws: upstream called `response.json()` on
 * every answer, so a proxy's HTML 503 threw and the queue retried that message forever (spec
 * §8.1); here every outcome is a value the sender can count.
 */
export async function missiveRequest(
  transport: MissiveTransport,
  request: MissiveRequest,
): Promise<MissiveResponse | MissiveFailure> {
  const label = `Missive ${request.method} ${request.path}`
  // Every request counts in its token's windows (DESIGN.md: every call, every token), so the
  // calls around the sender cannot spend the budget behind its back and draw 429s.
  const slot = request.slot ?? (await reserveSlot(transport, request.token, request.purpose, transport.paceMaxWaitMs))
  if (!slot.ok) {
    const seconds = Math.max(1, Math.ceil(slot.waitMs / 1000))
    return {
      ok: false,
      status: 429,
      kind: 'paced',
      error: `${label} not attempted: the ${request.purpose} token's rate windows are full for ${seconds} s`,
      retryAfterSeconds: seconds,
    }
  }
  try {
    return await exchange(transport, request, label)
  } finally {
    await slot.release()
  }
}

const unpaced: HeldSlot = { ok: true, release: () => Promise.resolve(), cancel: () => Promise.resolve() }

export async function reserveSlot(
  transport: MissiveTransport,
  token: string,
  purpose: TokenPurpose,
  maxWaitMs: number,
): Promise<HeldSlot | { ok: false; waitMs: number }> {
  return transport.pacer ? await transport.pacer.acquire(token, purpose, maxWaitMs) : unpaced
}

async function exchange(
  transport: MissiveTransport,
  request: MissiveRequest,
  label: string,
): Promise<MissiveResponse | MissiveFailure> {
  const url = buildUrl(transport.baseUrl, request.path, request.query)
  const signal = AbortSignal.timeout(transport.timeoutMs)
  let response: Response
  let text: string
  try {
    response = await transport.fetch(url, {
      method: request.method,
      headers: {
        Authorization: `Bearer ${request.token}`,
        'Content-Type': 'application/json',
        Accept: 'application/json',
      },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal,
    })
    // The timeout covers the body too: a server that sends headers and then stalls is as stuck
    // as one that never answers.
    text = await response.text()
  } catch (error) {
    if (signal.aborted) {
      return { ok: false, status: 0, kind: 'timeout', error: `${label} timed out after ${transport.timeoutMs} ms` }
    }
    // Only a failure to connect proves the request never left; a connection dropped later may
    // have carried the whole request (Missive then acted and the answer was lost).
    const kind = failedToConnect(error) ? 'connect' : 'network'
    return { ok: false, status: 0, kind, error: `${label} failed: ${describeError(error)}` }
  }

  const body = parseJson(text)
  if (response.ok) return { ok: true, status: response.status, body, text }

  const failure: MissiveFailure = {
    ok: false,
    status: response.status,
    kind: 'http',
    error: `${label} answered ${response.status}: ${errorDetail(body, text)}`,
  }
  const retryAfterSeconds = parseRetryAfter(response.headers, response.status)
  if (retryAfterSeconds !== undefined) failure.retryAfterSeconds = retryAfterSeconds
  return failure
}

/** A 2xx whose body does not carry what the caller needs. */
export function invalidResponse(response: MissiveResponse, label: string, expected: string): MissiveFailure {
  return {
    ok: false,
    status: response.status,
    kind: 'invalid-response',
    error: `${label} answered ${response.status} without ${expected}: ${snippet(response.text) || '(empty body)'}`,
  }
}

function buildUrl(baseUrl: string, path: string, query?: Record<string, string | number>): string {
  const url = `${baseUrl.replace(/\/+$/, '')}${path}`
  if (!query) return url
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) params.set(key, String(value))
  return `${url}?${params}`
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Missive's error body shape is undocumented, so take the usual message keys, else the raw text. */
function errorDetail(body: unknown, text: string): string {
  if (body && typeof body === 'object') {
    const record = body as Record<string, unknown>
    for (const key of ['error', 'errors', 'message']) {
      const value = record[key]
      if (typeof value === 'string' && value) return snippet(value)
      if (Array.isArray(value) && value.length > 0) return snippet(value.map(String).join('; '))
    }
  }
  return snippet(text) || '(empty body)'
}

function snippet(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, SNIPPET_LENGTH)
}

// Errors raised before a connection exists: undici (Node) puts a code on the error or its
// cause; Deno's fetch only says it in the message ("client error (Connect)", "dns error").
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
])
const CONNECT_MESSAGE = /client error \(Connect\)|tcp connect error|dns error|failed to lookup address|^bad port$/i

/** True only when the error proves no connection was made, so nothing was written. */
export function failedToConnect(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 4; depth++) {
    const { code, message, cause } = current as { code?: unknown; message?: unknown; cause?: unknown }
    if (typeof code === 'string' && CONNECT_CODES.has(code)) return true
    if (typeof message === 'string' && CONNECT_MESSAGE.test(message)) return true
    current = cause
  }
  return false
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  // undici reports "fetch failed" and hides the useful part (ECONNREFUSED, …) in `cause`.
  const cause = (error as Error & { cause?: unknown }).cause
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message
}
