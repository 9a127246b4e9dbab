import { createStackParser, createTransport, nodeStackLineParser, Scope, ServerRuntimeClient } from '@sentry/core'
import type { ReportContext } from './report-context.ts'

// Error reports to Sentry, through Sentry's official JavaScript SDK core (`@sentry/core`).
//
// Why the core rather than `@sentry/deno` or `@sentry/node`: this code runs on the Supabase Edge
// Runtime (Deno) and on Node (tests, `npm run dev`). `@sentry/deno` is `@sentry/core`'s
// ServerRuntimeClient plus Deno integrations (Deno.* context, globalHandlers, cron), and Supabase's
// guide has them switched off (`defaultIntegrations: false`) because the edge runtime lacks those
// Deno APIs; what remains is this client with a fetch transport. `@sentry/node` pulls in
// OpenTelemetry and Node-only modules that the edge bundle cannot load. The core runs unchanged on
// both, so the report the tests see is the report production sends.

export interface ErrorReporter {
  /** Queues a report; never throws, never blocks the caller. */
  capture(error: Error | undefined, message: string, context: ReportContext): void
  /** Waits (bounded) until queued reports are sent: an edge isolate may stop after the response. */
  flush(timeoutMs?: number): Promise<boolean>
}

export const noReporter: ErrorReporter = { capture: () => {}, flush: () => Promise.resolve(true) }

export interface SentryOptions {
  dsn: string
  environment: string
  /** Tags every event with where it ran (`edge`, `dev`, `test`). */
  runtime: string
}

export function createSentryReporter(options: SentryOptions): ErrorReporter {
  const client = new ServerRuntimeClient({
    dsn: options.dsn,
    environment: options.environment,
    integrations: [],
    sendDefaultPii: false,
    stackParser: createStackParser(nodeStackLineParser()),
    transport: (transportOptions) =>
      createTransport(transportOptions, async (request) => {
        const response = await fetch(transportOptions.url, {
          method: 'POST',
          body: request.body as BodyInit,
          headers: { 'content-type': 'application/x-sentry-envelope' },
          signal: AbortSignal.timeout(5000),
        })
        await response.body?.cancel()
        return {
          statusCode: response.status,
          headers: {
            'x-sentry-rate-limits': response.headers.get('x-sentry-rate-limits'),
            'retry-after': response.headers.get('retry-after'),
          },
        }
      }),
  })
  client.init()
  return {
    capture: (error, message, context) => {
      const scope = new Scope()
      scope.setClient(client)
      // Tags are strings on Sentry's side; stringify here so what is sent is what is searched.
      scope.setTags(
        Object.fromEntries(Object.entries({ runtime: options.runtime, ...context }).map(([k, v]) => [k, String(v)])),
      )
      scope.setExtra('log_message', message)
      if (error) client.captureException(error, { originalException: error }, scope)
      else client.captureMessage(message, 'error', undefined, scope)
    },
    flush: async (timeoutMs = 2000) => await client.flush(timeoutMs),
  }
}
