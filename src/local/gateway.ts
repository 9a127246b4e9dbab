import { Hono } from 'hono'
import { createFunctionApp, type FunctionDefinition } from '../shared/http/function-app.ts'
import type { Deps } from '../shared/runtime/deps.ts'

export const FUNCTIONS_PREFIX = '/functions/v1'

/**
 * The local stand-in for Supabase's functions gateway: `/functions/v1/<name>/…` reaches the
 * function with the path `/<name>/…` (as on Supabase). It only routes, as Supabase's does with
 * `verify_jwt = false` (supabase/config.toml): every function checks its own callers, the sidebar
 * functions their staff user's JWT (src/shared/http/sidebar-auth.ts).
 */
export function createGateway(deps: Deps, definitions: FunctionDefinition[]): Hono {
  const apps = new Map<string, Hono>()
  for (const definition of definitions) {
    const app = createFunctionApp(definition, deps)
    for (const name of [definition.name, ...(definition.aliases ?? [])]) apps.set(name, app)
  }
  const gateway = new Hono()
  gateway.get('/health', (c) => c.json({ ok: true, functions: [...apps.keys()].sort() }))
  gateway.all(`${FUNCTIONS_PREFIX}/*`, (c) => {
    const url = new URL(c.req.url)
    const path = url.pathname.slice(FUNCTIONS_PREFIX.length) || '/'
    const name = path.split('/')[1] ?? ''
    const app = apps.get(name)
    if (!app) return c.json({ message: `Function not found: ${name || '(none)'}` }, 404)
    return app.fetch(new Request(new URL(path + url.search, url.origin), c.req.raw))
  })
  gateway.notFound((c) => c.json({ message: `Not Found: ${c.req.path}` }, 404))
  return gateway
}
