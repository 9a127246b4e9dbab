import { Hono } from 'hono'
import { verify } from 'hono/jwt'
import { createFunctionApp, type FunctionDefinition } from '../shared/http/function-app.ts'
import { hasSecretKey } from '../shared/http/secret-key-gate.ts'
import type { Deps } from '../shared/runtime/deps.ts'

export const FUNCTIONS_PREFIX = '/functions/v1'

/**
 * The local stand-in for Supabase's functions gateway: `/functions/v1/<name>/…` reaches the
 * function with the path `/<name>/…` (as on Supabase). Sidebar functions (`gate: 'user'`) need
 * `Authorization: Bearer <JWT>` signed with SUPABASE_JWT_SECRET, like `verify_jwt = true`; scripts and
 * tests may present a secret key instead. Cron and webhook functions do their own checks.
 */
export function createGateway(deps: Deps, definitions: FunctionDefinition[]): Hono {
  const apps = new Map<string, { definition: FunctionDefinition; app: Hono }>()
  for (const definition of definitions) {
    const app = createFunctionApp(definition, deps)
    for (const name of [definition.name, ...(definition.aliases ?? [])]) apps.set(name, { definition, app })
  }
  const gateway = new Hono()
  gateway.get('/health', (c) => c.json({ ok: true, functions: [...apps.keys()].sort() }))
  gateway.all(`${FUNCTIONS_PREFIX}/*`, async (c) => {
    const url = new URL(c.req.url)
    const path = url.pathname.slice(FUNCTIONS_PREFIX.length) || '/'
    const name = path.split('/')[1] ?? ''
    const target = apps.get(name)
    if (!target) return c.json({ message: `Function not found: ${name || '(none)'}` }, 404)
    if (target.definition.gate === 'user' && c.req.method !== 'OPTIONS') {
      const denied = await checkUserToken(c.req.header('authorization'), c.req.header('apikey'), deps)
      if (denied) return c.json({ message: denied }, 401)
    }
    const forwarded = new Request(new URL(path + url.search, url.origin), c.req.raw)
    return target.app.fetch(forwarded)
  })
  gateway.notFound((c) => c.json({ message: `Not Found: ${c.req.path}` }, 404))
  return gateway
}

/** Returns why a sidebar request is refused, or null when its token is acceptable. */
async function checkUserToken(
  authorization: string | undefined,
  apikey: string | undefined,
  deps: Deps,
): Promise<string | null> {
  const bearer = authorization?.match(/^Bearer\s+(.+)$/i)?.[1]
  if (await hasSecretKey(bearer ?? apikey, deps.config.SUPABASE_SECRET_KEYS)) return null
  if (!bearer) return 'Missing authorization header'
  const secret = deps.config.SUPABASE_JWT_SECRET
  if (!secret) return 'SUPABASE_JWT_SECRET is not configured, so user tokens cannot be verified'
  try {
    await verify(bearer, secret, 'HS256')
    return null
  } catch (error) {
    return `Invalid JWT: ${(error as Error).message}`
  }
}
