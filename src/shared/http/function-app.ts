import { Hono, type MiddlewareHandler } from 'hono'
import { cors } from 'hono/cors'
import { methodNotAllowed } from 'hono/method-not-allowed'
import type { Deps } from '../runtime/deps.ts'
import { renderError } from './errors.ts'
import { bodyCap } from './body-cap.ts'
import { secretKeyGate } from './secret-key-gate.ts'
import { sidebarAuthConfig, sidebarAuthGate } from './sidebar-auth.ts'
import { webhookSignatureGate } from './webhook-signature.ts'

/**
 * How a function is reached: `secret` (pg_cron, `apikey` header), `webhook` (Missive, HMAC
 * signature), `user` (the sidebar: a staff user's Bearer JWT, verified in the function with
 * `verify_jwt = false`, see sidebar-auth.ts; the only gate that sends CORS headers).
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
  /**
   * A larger body cap for some requests (the CSV upload); `path` is relative to the function. Every
   * other body is capped at DEFAULT_BODY_LIMIT (1 MB).
   */
  bodyLimit?: (method: string, path: string) => { limit: number; message?: string } | undefined
  /** Prefix-less routes; mounted under every name of the function. */
  routes: (deps: Deps) => Hono<any>
}

export const corsAllowHeaders = ['authorization', 'x-client-info', 'apikey', 'content-type']

/**
 * Builds the app for one function: each name gets (sidebar functions only) CORS, the gate, the body
 * cap, the routes, JSON 404/405 and one error renderer. The gate reads headers only and runs before
 * any body is read. The Deno entry and the local gateway both use it, so names cannot drift.
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
  // CORS first, so that every answer of a sidebar function (401, 404, 405, 413, 500) carries it and
  // the sidebar can see a 401 and reload. Cron, webhook and Twilio callers are no browsers.
  if (definition.gate === 'user') {
    app.use(cors({
      origin: (origin) => (allowed.has('*') ? origin || '*' : allowed.has(origin) ? origin : null),
      allowHeaders: corsAllowHeaders,
      allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      maxAge: 600,
    }))
  }
  app.use(methodNotAllowed({
    app,
    onMethodNotAllowed: (c, methods) => c.json({ message: 'Method Not Allowed' }, 405, { Allow: methods.join(', ') }),
  }))
  const routes = definition.routes({ ...deps, log })
  const gate: MiddlewareHandler<any> = definition.gate === 'secret'
    ? secretKeyGate(deps.config.SUPABASE_SECRET_KEYS)
    : definition.gate === 'webhook'
    ? webhookSignatureGate(deps.config.HMAC_SECRET)
    : sidebarAuthGate(sidebarAuthConfig(deps.config), log)
  for (const name of [definition.name, ...(definition.aliases ?? [])]) {
    const mounted = new Hono({ strict: false })
    const prefix = `/${name}`
    const relative = (path: string) => path.slice(prefix.length).replace(/\/+$/, '') || '/'
    const ungated = new Set((definition.ungatedPaths ?? []).map((path) => path.replace(/\/+$/, '')))
    mounted.use((c, next) => (ungated.has(relative(c.req.path)) ? next() : gate(c, next)))
    mounted.use(bodyCap((c) => definition.bodyLimit?.(c.req.method, relative(c.req.path))))
    mounted.route('/', routes)
    app.route(prefix, mounted)
  }
  app.notFound((c) => c.json({ message: `Not Found: ${c.req.method} ${c.req.path}` }, 404))
  app.onError((error, c) => renderError(error, c, log))
  return app
}
