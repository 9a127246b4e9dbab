import { createServer } from 'node:http'
import { gunzipSync } from 'node:zlib'

/** One event as Sentry's ingest receives it: the envelope's event item, parsed. */
export interface SentryEvent {
  event_id?: string
  level?: string
  message?: string | { formatted?: string }
  exception?: { values?: { type?: string; value?: string }[] }
  tags?: Record<string, string>
  extra?: Record<string, unknown>
  environment?: string
  [key: string]: unknown
}

export interface SentryFake {
  /** A DSN that points the SDK at this fake. */
  dsn: string
  /** Raw envelope bodies, as received. */
  envelopes: string[]
  events(): SentryEvent[]
  /** Resolves once `count` events have arrived (or rejects after `timeoutMs`). */
  waitForEvents(count: number, timeoutMs?: number): Promise<SentryEvent[]>
  close(): Promise<void>
}

/**
 * A loopback stand-in for Sentry's ingest endpoint (`POST /api/<project>/envelope/`): it records
 * every envelope it receives and answers 200 as Sentry does. Envelopes are newline-separated JSON:
 * a header, then for each item an item header and its payload.
 */
export async function startSentryFake(): Promise<SentryFake> {
  const envelopes: string[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk) => chunks.push(chunk))
    req.on('end', () => {
      let body = Buffer.concat(chunks)
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body)
      if (req.method === 'POST' && /^\/api\/\d+\/envelope\/?/.test(req.url ?? '')) envelopes.push(body.toString('utf8'))
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  const events = () =>
    envelopes.flatMap((envelope) => {
      const lines = envelope.split('\n').filter(Boolean)
      const found: SentryEvent[] = []
      for (let i = 1; i + 1 < lines.length; i += 2) {
        const header = JSON.parse(lines[i]) as { type?: string }
        if (header.type === 'event') found.push(JSON.parse(lines[i + 1]) as SentryEvent)
      }
      return found
    })
  return {
    dsn: `http://publickey@127.0.0.1:${port}/1`,
    envelopes,
    events,
    waitForEvents: async (count, timeoutMs = 10_000) => {
      const until = Date.now() + timeoutMs
      while (events().length < count) {
        if (Date.now() > until) throw new Error(`expected ${count} Sentry event(s), got ${events().length}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      return events()
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
