import type { MiddlewareHandler } from 'hono'
import { createRemoteJWKSet, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose'
import type { Config } from '../config/env.ts'
import type { Logger } from '../log/logger.ts'
import { hasSecretKey } from './secret-key-gate.ts'

// The sidebar functions verify the user's Supabase access token themselves (`verify_jwt = false`),
// the same code locally and on Supabase: the gateway's verify_jwt accepted any token the project
// signs (the public anon key included) and its 401 carried no CORS headers, so the sidebar saw a
// network error instead of a 401 it reloads on (edge-runtime issue 213).
//
// jose, not `@supabase/server` or `hono/jwk`: jose's remote key set caches the JWKS (and refetches
// on an unknown `kid`, so a key rotation works) and it verifies HS256 with a plain secret;
// `@supabase/server` reads the environment itself (our config module is the one place that does)
// and takes HS256 only as a JWK in a key set; `hono/jwk` fetches the JWKS on every request and
// answers with a text 401 of its own. jose runs unchanged on Node and Deno.

/** Supabase Auth signs with ES256 or RS256 (asymmetric signing keys) or HS256 (legacy secret). */
const ASYMMETRIC = ['ES256', 'RS256']

export type SidebarUser = { sub: string; email: string | null }

export type AuthOutcome =
  | { ok: true; user: SidebarUser | null }
  | { ok: false; status: 401 | 503; message: string }

export interface SidebarAuthConfig {
  secretKeys: Record<string, string>
  jwtSecret?: string
  jwksUrl?: string
  staffEmails: string[]
  staffDomains: string[]
}

export function sidebarAuthConfig(config: Config): SidebarAuthConfig {
  const jwksUrl = config.SUPABASE_JWKS_URL ??
    (config.SUPABASE_URL ? `${config.SUPABASE_URL.replace(/\/+$/, '')}/auth/v1/.well-known/jwks.json` : undefined)
  return {
    secretKeys: config.SUPABASE_SECRET_KEYS,
    jwtSecret: config.LEGACY_JWT_SECRET ?? config.SUPABASE_JWT_SECRET,
    jwksUrl,
    staffEmails: config.SIDEBAR_STAFF_EMAILS,
    staffDomains: config.SIDEBAR_STAFF_EMAIL_DOMAINS,
  }
}

// One key set per URL per instance: jose keeps the fetched keys (10 minutes) and refetches at most
// every 30 s when a token names a key it has not seen.
const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>()
function keySet(url: string) {
  let set = keySets.get(url)
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { timeoutDuration: 5000 })
    keySets.set(url, set)
  }
  return set
}

const refuse = (message: string): AuthOutcome => ({ ok: false, status: 401, message })

/** Whether the token's e-mail passes the staff rule (no list configured: any signed-in user). */
export function isStaff(email: string | null, config: Pick<SidebarAuthConfig, 'staffEmails' | 'staffDomains'>) {
  if (config.staffEmails.length === 0 && config.staffDomains.length === 0) return true
  if (!email) return false
  const normalized = email.trim().toLowerCase()
  const domain = normalized.slice(normalized.lastIndexOf('@') + 1)
  return config.staffEmails.includes(normalized) || config.staffDomains.includes(domain)
}

/**
 * Decides a sidebar request from its headers alone. A project secret key (scripts) is accepted as
 * the bearer or `apikey`; otherwise the bearer must be a user access token with `exp`,
 * `role = authenticated` and a staff e-mail. An unreachable JWKS is a 503, not a 401: the token
 * may be fine and a 401 would send the sidebar into a reload loop.
 */
export async function checkSidebarRequest(
  authorization: string | undefined,
  apikey: string | undefined,
  config: SidebarAuthConfig,
): Promise<AuthOutcome> {
  const bearer = authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1]
  if (await hasSecretKey(bearer ?? apikey, config.secretKeys)) return { ok: true, user: null }
  if (!bearer) return refuse('Missing authorization header: send Authorization: Bearer <access token>')

  let alg: string | undefined
  try {
    alg = decodeProtectedHeader(bearer).alg
  } catch {
    return refuse('Invalid JWT: not a signed token')
  }
  let payload: JWTPayload
  try {
    if (alg === 'HS256') {
      if (!config.jwtSecret) {
        return refuse('Invalid JWT: HS256 tokens are not accepted (LEGACY_JWT_SECRET is not set)')
      }
      ;({ payload } = await jwtVerify(bearer, new TextEncoder().encode(config.jwtSecret), {
        algorithms: ['HS256'],
        requiredClaims: ['exp'],
      }))
    } else if (alg && ASYMMETRIC.includes(alg)) {
      if (!config.jwksUrl) return refuse(`Invalid JWT: ${alg} tokens need the project's JWKS (SUPABASE_URL is not set)`)
      ;({ payload } = await jwtVerify(bearer, keySet(config.jwksUrl), {
        algorithms: ASYMMETRIC,
        requiredClaims: ['exp'],
      }))
    } else {
      return refuse(`Invalid JWT: algorithm ${alg ?? '(none)'} is not accepted`)
    }
  } catch (error) {
    if (keyServiceDown(error)) {
      return { ok: false, status: 503, message: 'Cannot verify the token: the signing keys could not be fetched' }
    }
    return refuse(`Invalid JWT: ${(error as Error).message}`)
  }
  if (payload.role !== 'authenticated') {
    return refuse(`Invalid JWT: role ${JSON.stringify(payload.role ?? null)} is not a signed-in user`)
  }
  const email = typeof payload.email === 'string' ? payload.email : null
  if (!isStaff(email, config)) return refuse('This account is not allowed to use the sidebar')
  return { ok: true, user: { sub: String(payload.sub ?? ''), email } }
}

function keyServiceDown(error: unknown): boolean {
  if (error instanceof errors.JWKSTimeout) return true
  if (!(error instanceof errors.JOSEError)) return true // fetch failed (DNS, refused connection)
  // jose's "Expected 200 OK from the JSON Web Key Set HTTP response" and unparsable key sets.
  return error.code === 'ERR_JOSE_GENERIC' || error instanceof errors.JWKSInvalid
}

/** The sidebar functions' gate: 401 (or 503) JSON before anything is read; CORS is mounted before it. */
export function sidebarAuthGate(config: SidebarAuthConfig, log: Logger): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method === 'OPTIONS') return next()
    const outcome = await checkSidebarRequest(c.req.header('authorization'), c.req.header('apikey'), config)
    if (!outcome.ok) {
      if (outcome.status === 503) log.error(outcome.message, { jwksUrl: config.jwksUrl })
      else log.info('Sidebar request refused', { path: c.req.path, reason: outcome.message })
      return c.json({ message: outcome.message }, outcome.status)
    }
    await next()
  }
}
