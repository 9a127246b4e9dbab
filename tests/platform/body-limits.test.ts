import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGateway } from '../../src/local/gateway.ts'
import { functionDefinitions } from '../../src/shared/functions/registry.ts'
import { createTestDeps, SECRET_KEY, STAFF_TOKEN } from '../support/app.ts'
import { useTestDatabase } from '../support/database.ts'

// issue 11 §3: limits before parsing. A real HTTP server (as `npm run dev` runs it) gets bodies
// streamed without Content-Length that would be huge; the server must answer and stop reading
// instead of buffering them.

const db = useTestDatabase()
let server: ReturnType<typeof serve>
let port: number
beforeAll(async () => {
  const gateway = createGateway(createTestDeps(db.sql), functionDefinitions)
  server = await new Promise((resolve) => {
    const started = serve({ fetch: gateway.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started))
  })
  port = (server.address() as AddressInfo).port
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

const MB = 1024 * 1024

/**
 * Streams up to `total` bytes (chunked, no Content-Length) until the server answers and closes;
 * resolves with the status and how many bytes the server let us write.
 */
function streamBody(
  path: string,
  headers: Record<string, string>,
  total: number,
): Promise<{ status: number; body: string; written: number }> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(64 * 1024, 'a')
    let written = 0
    let status = 0
    let body = ''
    let stopped = false
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: `/functions/v1${path}`,
      headers: { ...headers, 'transfer-encoding': 'chunked' },
    })
    const finish = () => {
      if (stopped) return
      stopped = true
      resolve({ status, body, written })
    }
    req.on('response', (response) => {
      status = response.statusCode ?? 0
      response.on('data', (data) => (body += data))
      response.on('end', () => {
        // The answer is in: stop sending, as a client would.
        req.destroy()
        finish()
      })
    })
    req.on('error', () => (status ? finish() : reject(new Error(`no answer after ${written} bytes`))))
    req.on('close', () => (status ? finish() : undefined))
    const pump = () => {
      while (!stopped && written < total) {
        written += chunk.length
        if (!req.write(chunk)) return void req.once('drain', pump)
      }
      if (!stopped) req.end()
    }
    pump()
  })
}

const HUGE = 400 * MB
const signatureShaped = `sha256=${'0'.repeat(64)}`

describe('bodies are capped while read, before parsing', () => {
  it('an unsigned webhook is refused from its headers: 401 without reading the body', async () => {
    const result = await streamBody('/user-actions/', {}, HUGE)
    expect(result.status).toBe(401)
    expect(result.written).toBeLessThan(100 * MB)
  })

  it.each([
    ['a webhook with a signature header', '/user-actions/', { 'x-hook-signature': signatureShaped }],
    ['admin-action', '/admin-action/?action=unsubscribe', { 'x-hook-signature': signatureShaped }],
    ['a cron function with its secret key', '/make/', { apikey: SECRET_KEY }],
    ['the Twilio status callback', '/reconcile-twilio-status/status-callback', {}],
    ['a sidebar JSON route', '/broadcast-settings/', { authorization: `Bearer ${STAFF_TOKEN}` }],
    ['the CSV upload (10 MB cap)', '/campaigns/', {
      authorization: `Bearer ${STAFF_TOKEN}`,
      'content-type': 'multipart/form-data; boundary=x',
    }],
  ])('%s: 413 once past its cap, and the server stops reading', async (_label, path, headers) => {
    const result = await streamBody(path, headers, HUGE)
    expect(result.status).toBe(413)
    expect(JSON.parse(result.body)).toHaveProperty('message')
    expect(result.written).toBeLessThan(100 * MB)
  })

  it('a Content-Length beyond the cap is refused without reading', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/functions/v1/make/`, {
      method: 'POST',
      headers: { apikey: SECRET_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(2 * MB) }),
    })
    expect(response.status).toBe(413)
  })

  it('memory stays flat under a stream of oversized unauthenticated bodies', async () => {
    globalThis.gc?.()
    const before = process.memoryUsage().rss
    for (let i = 0; i < 6; i++) {
      const result = await streamBody(i % 2 ? '/user-actions/' : '/make/', {}, HUGE)
      expect(result.status).toBe(401)
    }
    const grown = process.memoryUsage().rss - before
    // 6 × 400 MB offered; what the server holds must not follow it.
    expect(grown).toBeLessThan(150 * MB)
  }, 60_000)
})
