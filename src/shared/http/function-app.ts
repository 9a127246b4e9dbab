import { Hono, type MiddlewareHandler } from 'hono'
import { cors } from 'hono/cors'
import { methodNotAllowed } from 'hono/method-not-allowed'
import type { Deps } from '../runtime/deps.ts'
import { renderError } from './errors.ts'
import { secretKeyGate } from './secret-key-gate.ts'
import { webhookSignatureGate } from './webhook-signature.ts'

/**
 * How a function is reached: `secret` (pg_cron, `apikey` header), `webhook` (Missive, HMAC
 * signature), `user` (the sidebar; the Supabase gateway's verify_jwt checks the Bearer JWT before
 * the function runs, and the local gateway does the same).
 */
export type Gate = 'secret' | 'webhook' | 'user'

export interface FunctionDefinition {
  /** Canonical URL segment (`/functions/v1/<name>/`). */
  name: string
  /** Other names the same code answers on (the names existing clients and Missive rules call). */
  aliases?: string[]
  gate: Gate
  /**
   * Paths (relative to the function, e.g. `/status-callback`) that skip the gate because their
   * caller cannot present it (Twilio); such a route must verify its own signature.
   */
  ungatedPaths?: string[]
  /** Prefix-less routes; mounted under every name of the function. */
  routes: (deps: Deps) => Hono<any>
}

export const corsAllowHeaders = ['authorization', 'x-client-info', 'apikey', 'content-type']

/**
 * Builds the app for one function: each name gets CORS, the gate, the routes, JSON 404/405 and one
 * error renderer. The Deno entry and the local gateway both use it, so names cannot drift.
 */
export function createFunctionApp(definition: FunctionDefinition, deps: Deps): Hono {
  const app = new Hono({ strict: false })
  const log = deps.log.child({ function: definition.name })
  const allowed = new Set(deps.config.SIDEBAR_ALLOWED_ORIGINS)
  // An edge isolate may be stopped once the response is out: error reports go first (bounded).
  app.use(async (_c, next) => {
    await next()
    await deps.reporter.flush(2000)
  })
  app.use(methodNotAllowed({
    app,
    onMethodNotAllowed: (c, methods) => c.json({ message: 'Method Not Allowed' }, 405, { Allow: methods.join(', ') }),
  }))
  app.use(cors({
    origin: (origin) => (allowed.has('*') ? origin || '*' : allowed.has(origin) ? origin : null),
    allowHeaders: corsAllowHeaders,
    allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    maxAge: 600,
  }))
  const routes = definition.routes({ ...deps, log })
  for (const name of [definition.name, ...(definition.aliases ?? [])]) {
    const mounted = new Hono({ strict: false })
    const gate: MiddlewareHandler<any> | null = definition.gate === 'secret'
      ? secretKeyGate(deps.config.SUPABASE_SECRET_KEYS)
      : definition.gate === 'webhook'
      ? webhookSignatureGate(deps.config.HMAC_SECRET)
      : null
    if (gate) {
      const prefix = `/${name}`
      const ungated = new Set((definition.ungatedPaths ?? []).map((path) => path.replace(/\/+$/, '')))
      mounted.use((
        c,
        next,
      ) => (ungated.has(c.req.path.slice(prefix.length).replace(/\/+$/, '')) ? next() : gate(c, next)))
    }
    mounted.route('/', routes)
    app.route(`/${name}`, mounted)
  }
  app.notFound((c) => c.json({ message: `Not Found: ${c.req.method} ${c.req.path}` }, 404))
  app.onError((error, c) => renderError(error, c, log))
  return app
}
