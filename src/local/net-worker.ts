import type { Sql } from '../shared/db/client.ts'
import type { Logger } from '../shared/log/logger.ts'

interface QueuedRequest {
  id: string
  method: string
  url: string
  headers: Record<string, string>
  body: Uint8Array | null
  timeout_milliseconds: number
}

export interface NetWorker {
  /** Sends everything queued now; resolves when those requests have answered. */
  drain(): Promise<number>
  stop(): Promise<void>
}

/**
 * Delivers `net.http_request_queue` rows like pg_net's background worker: only committed rows are
 * visible here, so a rolled-back transaction never sends. Woken by NOTIFY (delivered on commit) with
 * a slow poll as a safety net. Requests run concurrently, as pg_net's do, because one of them may be
 * a ~50 s queue drain.
 */
export function startNetWorker(sql: Sql, log: Logger, options: { pollMs?: number; batch?: number } = {}): NetWorker {
  const inFlight = new Set<Promise<void>>()
  let stopped = false

  const deliver = async (request: QueuedRequest) => {
    const started = Date.now()
    try {
      const response = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.method === 'GET' ? undefined : request.body ? Buffer.from(request.body) : undefined,
        signal: AbortSignal.timeout(request.timeout_milliseconds),
      })
      const content = await response.text()
      await sql`
        INSERT INTO net._http_response (id, status_code, content_type, headers, content, timed_out)
        VALUES (${request.id}, ${response.status}, ${response.headers.get('content-type')},
                ${sql.json(Object.fromEntries(response.headers))}, ${content}, false)`
      log.debug('net request delivered', {
        requestId: request.id,
        url: request.url,
        status: response.status,
        ms: Date.now() - started,
      })
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError'
      log.warn('net request failed', { requestId: request.id, url: request.url, error: (error as Error).message })
      await sql`
        INSERT INTO net._http_response (id, timed_out, error_msg)
        VALUES (${request.id}, ${timedOut}, ${(error as Error).message})`.catch(() => {})
    }
  }

  /** Claims every queued request and starts it; returns how many were started. */
  const dispatch = async (): Promise<number> => {
    let total = 0
    for (;;) {
      // Claimed and removed in one statement, as pg_net does: at most one delivery per request.
      const rows = await sql<QueuedRequest[]>`
        DELETE FROM net.http_request_queue
        WHERE id IN (SELECT id FROM net.http_request_queue ORDER BY id LIMIT ${
        options.batch ?? 50
      } FOR UPDATE SKIP LOCKED)
        RETURNING id, method, url, headers, body, timeout_milliseconds`
      if (rows.length === 0) return total
      total += rows.length
      for (const row of rows) {
        const task = deliver(row).finally(() => inFlight.delete(task))
        inFlight.add(task)
      }
    }
  }

  // A kick may have claimed rows whose deliveries are not in `inFlight` yet (its DELETE is still
  // answering); drain waits for such dispatches too, or it could return before they are sent.
  const dispatching = new Set<Promise<number>>()
  const track = () => {
    const run = dispatch().finally(() => dispatching.delete(run))
    dispatching.add(run)
    return run
  }
  const drain = async () => {
    const started = await track()
    await Promise.allSettled([...dispatching])
    await Promise.allSettled([...inFlight])
    return started
  }
  const kick = () => {
    if (!stopped) track().catch((error) => log.error('net worker dispatch failed', { error }))
  }

  const listening = sql.listen('net_http_request', kick).catch((error) => {
    log.error('net worker could not LISTEN; falling back to polling', { error })
    return null
  })
  const timer = setInterval(kick, options.pollMs ?? 1000)
  kick()

  return {
    drain,
    stop: async () => {
      stopped = true
      clearInterval(timer)
      const listener = await listening
      await listener?.unlisten().catch(() => {})
      await Promise.allSettled([...inFlight])
    },
  }
}
