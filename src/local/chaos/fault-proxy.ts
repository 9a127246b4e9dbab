import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { proxyErrorPage } from '../fakes/fake-server.ts'
import { actsBeforeFault, type ChaosFault, type FaultMix, pickFault } from './faults.ts'

// A loopback proxy in front of the sandbox Missive that injects the crash test's faults into
// `POST /v1/drafts` and passes everything else through untouched. Being a proxy, it can fail a
// request AFTER the fake has recorded the draft (answer lost, 503, connection dropped) without the
// fake knowing about chaos at all (src/local/fakes/missive.ts stays as the unit tests use it).

export interface InjectedFault {
  kind: ChaosFault
  /** The draft's recipient, as the request named it. */
  to: string | null
  /** Whether the sandbox recorded the draft (the SMS went out) before the fault. */
  recorded: boolean
  at: Date
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT/v1`: what MISSIVE_API_BASE_URL takes. */
  baseUrl: string
  injected: InjectedFault[]
  /** Draft requests seen (faulted or not). */
  draftRequests(): number
  close(): Promise<void>
}

/** How long a hung request is held at most; the client's timeout is far shorter. */
const HANG_LIMIT_MS = 10 * 60_000

export async function startFaultProxy(options: {
  /** The sandbox Missive, `http://127.0.0.1:PORT`. */
  target: string
  mix: FaultMix
  port?: number
  random?: () => number
}): Promise<FaultProxy> {
  const injected: InjectedFault[] = []
  const hung = new Set<ServerResponse>()
  let drafts = 0

  const hang = (res: ServerResponse) => {
    hung.add(res)
    const timer = setTimeout(() => res.socket?.destroy(), HANG_LIMIT_MS)
    res.once('close', () => {
      clearTimeout(timer)
      hung.delete(res)
    })
  }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readAll(req)
    const isDraft = req.method === 'POST' && (req.url ?? '').split('?')[0] === '/v1/drafts'
    const fault = isDraft ? pickFault(options.mix, options.random) : null
    if (isDraft) drafts++
    const note = (recorded: boolean) => injected.push({ kind: fault!, to: recipientOf(body), recorded, at: new Date() })
    if (fault && actsBeforeFault(fault)) note(false)

    switch (fault) {
      case 'rate-limit':
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' })
        res.end(JSON.stringify({ error: 'Rate limit exceeded' }))
        return
      case 'unavailable':
        res.writeHead(503, { 'content-type': 'text/html' })
        res.end(proxyErrorPage(503))
        return
      case 'hang':
        hang(res)
        return
    }

    const answer = await forward(options.target, req, body)
    // Recorded only when the sandbox accepted it (its own rate limiter may have said 429).
    if (fault) note(answer.status >= 200 && answer.status < 300)
    switch (fault) {
      case 'hang-after':
        hang(res)
        return
      case 'unavailable-after':
        res.writeHead(503, { 'content-type': 'text/html' })
        res.end(proxyErrorPage(503))
        return
      case 'drop-after':
        // After the request was read and acted on, before a byte of the answer: what a reset
        // connection looks like to the client ("other side closed").
        req.socket.destroy()
        return
    }
    res.writeHead(answer.status, answer.headers)
    res.end(answer.body)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      // The sandbox itself failed (it never does unless closed): say so as a 502, like a proxy.
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' })
      res.end(`chaos proxy: ${(error as Error).message}`)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    injected,
    draftRequests: () => drafts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hung) res.socket?.destroy()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function recipientOf(body: Buffer): string | null {
  try {
    const parsed = JSON.parse(body.toString()) as { drafts?: { to_fields?: Array<{ phone_number?: string }> } }
    return parsed.drafts?.to_fields?.[0]?.phone_number ?? null
  } catch {
    return null
  }
}

async function forward(
  target: string,
  req: IncomingMessage,
  body: Buffer,
): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || ['host', 'connection', 'content-length', 'keep-alive'].includes(name)) continue
    headers[name] = Array.isArray(value) ? value.join(', ') : value
  }
  const response = await fetch(`${target}${req.url ?? '/'}`, {
    method: req.method,
    headers,
    body: req.method === 'GET' || req.method === 'HEAD' ? undefined : new Uint8Array(body),
  })
  const answerHeaders: Record<string, string> = {}
  response.headers.forEach((value, name) => {
    if (!['content-length', 'connection', 'keep-alive', 'transfer-encoding', 'content-encoding'].includes(name)) {
      answerHeaders[name] = value
    }
  })
  return { status: response.status, headers: answerHeaders, body: Buffer.from(await response.arrayBuffer()) }
}
