import type { Context, MiddlewareHandler } from 'hono'
import { AppError } from './errors.ts'

// Every route caps its body while reading it (DESIGN.md "Security model"): an unsigned 1 GB POST
// used to be read whole (~3 GB of server memory) before the 401. The cap is checked against
// Content-Length before a byte is read, and again while streaming (chunked bodies have no length);
// past it we stop reading and answer 413, so the excess is never buffered. (On Node, @hono/node-server
// then discards at most 64 MB / 500 ms of what is still in flight and closes the connection.)

/** JSON and webhook bodies. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024

const buffered = new WeakSet<Request>()

export function tooLarge(limit: number, message?: string): AppError {
  return new AppError(413, message ?? `Payload too large: the limit is ${formatBytes(limit)}`)
}

function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / 1024 / 1024} MB` : `${bytes} bytes`
}

/**
 * Reads the request body under `limit` bytes and swaps in a buffered copy (so handlers and
 * `c.req.*` can read it as usual). Idempotent: a body already buffered is not read again.
 */
export async function bufferBody(c: Context, limit: number, message?: string): Promise<Uint8Array> {
  const request = c.req.raw
  if (buffered.has(request)) return new Uint8Array(await request.clone().arrayBuffer())
  const stream = request.body
  if (!stream || request.method === 'GET' || request.method === 'HEAD') return new Uint8Array(0)
  const declared = request.headers.get('content-length')
  if (declared !== null && !request.headers.has('transfer-encoding') && Number(declared) > limit) {
    throw tooLarge(limit, message)
  }
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    // Stop reading here: the rest stays in the socket, never in memory.
    if (size > limit) throw tooLarge(limit, message)
    chunks.push(value)
  }
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  const copy = new Request(request, { body: bytes })
  buffered.add(copy)
  c.req.raw = copy
  return bytes
}

/** Caps every body of a function; `limitFor` may raise the cap for one route (the CSV upload). */
export function bodyCap(
  limitFor: (c: Context) => { limit: number; message?: string } | undefined = () => undefined,
): MiddlewareHandler {
  return async (c, next) => {
    const custom = limitFor(c)
    await bufferBody(c, custom?.limit ?? DEFAULT_BODY_LIMIT, custom?.message)
    await next()
  }
}
