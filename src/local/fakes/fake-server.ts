// What the Missive and Twilio fakes share: a loopback server, a log of what they were asked, a
// plan of injected failures (429, proxy 503, hang) and artificial latency.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import type { Context, MiddlewareHandler } from 'hono'

export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string>
  /** Lower-cased names, as the Fetch API reports them. */
  headers: Record<string, string>
  /** JSON or form bodies parsed, anything else as text, undefined when empty. */
  body: unknown
  time: Date
}

export type FakeEnv = { Variables: { body: unknown } }

/**
 * - `rate-limit`: 429 with `Retry-After`;
 * - `unavailable`: an HTML error page (503 unless `status` says 502/504), as a proxy sends;
 * - `server-error`: the service's own JSON 500;
 * - `hang`: no answer until the fake closes (or `hangMs`), so the client's timeout fires;
 * - `rejected`: the service's JSON 4xx refusing the request (400 unless `status` says otherwise);
 * - `drop`: the connection is closed without an answer (the client sees "other side closed").
 *
 * With `afterHandling`, the fake first does what the request asks (the Missive fake records and
 * sends the draft) and only then fails: the "it went out but the answer was lost" cases.
 */
export type FaultKind = 'rate-limit' | 'unavailable' | 'server-error' | 'hang' | 'rejected' | 'drop'

export interface FaultOptions {
  /** Only requests whose path starts with this, e.g. `/v1/drafts`. */
  path?: string
  method?: string
  /** For `rate-limit`; 1 unless given. */
  retryAfterSeconds?: number
  /** For `unavailable`. */
  status?: number
  /** For `hang`; forever (until close) unless given. */
  hangMs?: number
  /** Act on the request first (record the draft, send the SMS), then fail this way. */
  afterHandling?: boolean
}

export interface Fault {
  kind: FaultKind
  options: FaultOptions
}

interface QueuedFault extends Fault {
  remaining: number
}

interface SharedFault extends Fault {
  share: number
}

export class FaultPlan {
  private queued: QueuedFault[] = []
  private shared: SharedFault[] = []

  constructor(private readonly random: () => number) {}

  /** The next `count` matching requests fail; queued plans are used up in order. */
  failNext(count: number, kind: FaultKind, options: FaultOptions = {}): void {
    if (count > 0) this.queued.push({ kind, options, remaining: count })
  }

  /** From now on, each matching request fails with probability `share` (0…1). */
  failShare(share: number, kind: FaultKind, options: FaultOptions = {}): void {
    this.shared.push({ kind, options, share })
  }

  clear(): void {
    this.queued = []
    this.shared = []
  }

  pick(method: string, path: string): Fault | undefined {
    const queued = this.queued.find((fault) => fault.remaining > 0 && matches(fault.options, method, path))
    if (queued) {
      queued.remaining--
      this.queued = this.queued.filter((fault) => fault.remaining > 0)
      return queued
    }
    return this.shared.find((fault) => matches(fault.options, method, path) && this.random() < fault.share)
  }
}

function matches(options: FaultOptions, method: string, path: string): boolean {
  if (options.method && options.method.toUpperCase() !== method) return false
  return !options.path || path.startsWith(options.path)
}

/** Hanging requests, released on close so the server can shut down. */
export class Hangs {
  private waiting = new Set<() => void>()

  wait(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const release = () => {
        this.waiting.delete(release)
        clearTimeout(timer)
        resolve()
      }
      const timer = ms === undefined ? undefined : setTimeout(release, ms)
      this.waiting.add(release)
    })
  }

  releaseAll(): void {
    for (const release of [...this.waiting]) release()
  }
}

/**
 * Closes the request's socket without writing an answer (node-server exposes the socket as
 * `c.env.incoming`); the returned promise never resolves, so nothing is written afterwards.
 */
export function dropConnection(c: Context): Promise<Response> {
  const incoming = (c.env as { incoming?: { socket?: { destroy(): void } } } | undefined)?.incoming
  incoming?.socket?.destroy()
  return new Promise<Response>(() => {})
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Records every request (before auth, so a 401 is visible too) and parses its body once. */
export function recordRequests(requests: RecordedRequest[], now: () => Date): MiddlewareHandler<FakeEnv> {
  return async (c, next) => {
    const body = await readBody(c)
    c.set('body', body)
    requests.push({
      method: c.req.method,
      path: c.req.path,
      query: c.req.query(),
      headers: Object.fromEntries(c.req.raw.headers),
      body,
      time: now(),
    })
    await next()
  }
}

async function readBody(c: Context): Promise<unknown> {
  if (c.req.method === 'GET' || c.req.method === 'HEAD') return undefined
  const text = await c.req.text()
  if (text === '') return undefined
  const type = c.req.header('content-type') ?? ''
  if (type.includes('application/json')) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }
  if (type.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text))
  return text
}

/** The HTML a proxy in front of an API returns when the API is down. */
export function proxyErrorPage(status: number): string {
  const title = `${status} ${
    status === 502 ? 'Bad Gateway' : status === 504 ? 'Gateway Time-out' : 'Service Temporarily Unavailable'
  }`
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`
}

export interface Listening {
  url: string
  port: number
  close(): Promise<void>
}

/** Serves on 127.0.0.1 (port 0 = any free port) and resolves once it accepts connections. */
export function listen(
  fetchHandler: (request: Request) => Response | Promise<Response>,
  port: number,
  beforeClose: () => void,
): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const onListening = (info: AddressInfo) => {
      server.off('error', reject)
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        port: info.port,
        close: () =>
          new Promise<void>((done, fail) => {
            beforeClose()
            server.close((error) => (error ? fail(error) : done()))
            // Keep-alive sockets (undici, twilio-node's agent) would otherwise hold close() open.
            server.closeAllConnections()
          }),
      })
    }
    const server = serve({ fetch: fetchHandler, port, hostname: '127.0.0.1' }, onListening) as Server
    server.once('error', reject)
  })
}
