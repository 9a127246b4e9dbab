import { sign } from 'hono/jwt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGateway } from '../../src/local/gateway.ts'
import { mintUserToken } from '../../src/local/token.ts'
import { functionDefinitions } from '../../src/shared/functions/registry.ts'
import { isStaff } from '../../src/shared/http/sidebar-auth.ts'
import { createTestDeps, exampleEnv, SECRET_KEY } from '../support/app.ts'
import { useTestDatabase } from '../support/database.ts'
import { type JwksFake, startJwksFake } from '../support/jwks-fake.ts'

// issue 11: the sidebar functions verify the user's token themselves (verify_jwt = false), through
// the same local gateway `npm run dev` serves (it only routes now).

const db = useTestDatabase()
let jwks: JwksFake
beforeAll(async () => {
  jwks = await startJwksFake()
})
afterAll(() => jwks.close())

const ORIGIN = 'http://localhost:5173'
const url = (path: string) => `http://127.0.0.1:54321/functions/v1${path}`
const now = () => Math.floor(Date.now() / 1000)
// The four sidebar functions, under every name the sidebar or Missive calls.
const sidebarNames = [
  'broadcast-sidebar',
  'broadcast-settings',
  'broadcast-setting',
  'send-now',
  'campaigns',
  'campaign',
]
const staffClaims = { sub: 'u1', email: 'editor@localhost', role: 'authenticated', aud: 'authenticated' }

function gateway(env: Record<string, string> = {}) {
  return createGateway(
    createTestDeps(db.sql, { env: { SUPABASE_JWKS_URL: `${jwks.url}/auth/v1/.well-known/jwks.json`, ...env } }),
    functionDefinitions,
  )
}

async function call(app: ReturnType<typeof gateway>, name: string, token?: string) {
  const headers: Record<string, string> = { origin: ORIGIN }
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  return app.request(url(`/${name}/`), { headers })
}

const refusedTokens: Array<[string, () => Promise<string | undefined>]> = [
  ['no token', async () => undefined],
  [
    'the anon role (the public anon key)',
    () => sign({ role: 'anon', iss: 'supabase', exp: now() + 3600 }, exampleEnv.SUPABASE_JWT_SECRET),
  ],
  ['a staff token without exp', () => sign({ ...staffClaims }, exampleEnv.SUPABASE_JWT_SECRET)],
  ['an expired staff token', () => sign({ ...staffClaims, exp: now() - 60 }, exampleEnv.SUPABASE_JWT_SECRET)],
  ['a non-staff user', () => mintUserToken(exampleEnv.SUPABASE_JWT_SECRET, { email: 'someone@gmail.com' })],
  ['a token forged with another HS256 secret', () => mintUserToken('not-the-project-secret-but-32-characters-long')],
  ['an ES256 token for a key the project does not publish', () => jwks.sign('ES256', staffClaims, { kid: 'other' })],
  ['an ES256 anon-role token', () => jwks.sign('ES256', { role: 'anon' })],
  ['an ES256 staff token without exp', () => jwks.sign('ES256', staffClaims, { exp: null })],
  ['an RS256 non-staff token', () => jwks.sign('RS256', { ...staffClaims, email: 'x@evil.example' })],
  [
    'an unsigned token (alg none)',
    async () => `${btoa('{"alg":"none"}')}.${btoa(JSON.stringify({ ...staffClaims, exp: now() + 60 }))}.`,
  ],
  ['garbage', async () => 'not-a-jwt'],
]

describe('sidebar functions verify the staff token themselves', () => {
  it.each(sidebarNames)(
    '%s refuses anon, no-exp, non-staff and forged tokens with a JSON 401 carrying CORS',
    async (name) => {
      const app = gateway()
      for (const [label, token] of refusedTokens) {
        const response = await call(app, name, await token())
        expect(response.status, label).toBe(401)
        expect(response.headers.get('access-control-allow-origin'), label).toBe(ORIGIN)
        expect(await response.json(), label).toEqual({ message: expect.any(String) })
      }
    },
  )

  it.each(sidebarNames)(
    '%s lets a staff token through: HS256 (npm run token), ES256 and RS256 from the JWKS',
    async (name) => {
      const app = gateway()
      for (
        const token of [
          await mintUserToken(exampleEnv.SUPABASE_JWT_SECRET),
          await jwks.sign('ES256', staffClaims),
          await jwks.sign('RS256', staffClaims),
        ]
      ) {
        const response = await call(app, name, token)
        expect(response.status).not.toBe(401)
        expect(response.status).toBeLessThan(500)
        expect(response.headers.get('access-control-allow-origin')).toBe(ORIGIN)
      }
    },
  )

  it('the staff rule takes e-mails and domains, in any case; with neither set any signed-in user passes', async () => {
    const byDomain = gateway({ SIDEBAR_STAFF_EMAILS: '', SIDEBAR_STAFF_EMAIL_DOMAINS: 'Newsroom.org' })
    expect(
      (await call(
        byDomain,
        'broadcast-settings',
        await jwks.sign('ES256', { ...staffClaims, email: 'Ann@newsroom.ORG' }),
      )).status,
    ).toBe(200)
    expect(
      (await call(
        byDomain,
        'broadcast-settings',
        await jwks.sign('ES256', { ...staffClaims, email: 'ann@newsroom.org.evil.com' }),
      )).status,
    ).toBe(401)
    expect(
      (await call(byDomain, 'broadcast-settings', await jwks.sign('ES256', { ...staffClaims, email: undefined })))
        .status,
    ).toBe(401)
    const anyone = gateway({ SIDEBAR_STAFF_EMAILS: '', SIDEBAR_STAFF_EMAIL_DOMAINS: '' })
    expect(
      (await call(anyone, 'broadcast-settings', await jwks.sign('ES256', { ...staffClaims, email: 'x@gmail.com' })))
        .status,
    ).toBe(200)
    // Still no anon role, even then.
    expect((await call(anyone, 'broadcast-settings', await jwks.sign('ES256', { role: 'anon' }))).status).toBe(401)
    expect(isStaff('EDITOR@localhost', { staffEmails: ['editor@localhost'], staffDomains: [] })).toBe(true)
  })

  it('derives the JWKS from SUPABASE_URL and fetches it once for many requests', async () => {
    const app = gateway({ SUPABASE_JWKS_URL: '', SUPABASE_URL: jwks.url })
    const before = jwks.fetches
    const token = await jwks.sign('RS256', staffClaims)
    for (let i = 0; i < 5; i++) expect((await call(app, 'broadcast-settings', token)).status).toBe(200)
    // Cached per URL and instance: at most the one fetch (none if an earlier test filled the cache).
    expect(jwks.fetches - before).toBeLessThanOrEqual(1)
  })

  it('refuses HS256 tokens when SUPABASE_JWT_SECRET is unset (projects on signing keys only)', async () => {
    const app = gateway({ SUPABASE_JWT_SECRET: '' })
    expect((await call(app, 'broadcast-settings', await mintUserToken(exampleEnv.SUPABASE_JWT_SECRET))).status).toBe(
      401,
    )
    expect((await call(app, 'broadcast-settings', await jwks.sign('ES256', staffClaims))).status).toBe(200)
  })

  it('takes the legacy secret as LEGACY_JWT_SECRET, the name `supabase secrets set` accepts', async () => {
    const secret = 'a-legacy-secret-set-with-the-cli-0123456789'
    const app = gateway({ SUPABASE_JWT_SECRET: '', LEGACY_JWT_SECRET: secret })
    expect((await call(app, 'broadcast-settings', await mintUserToken(secret))).status).toBe(200)
    expect((await call(app, 'broadcast-settings', await mintUserToken(exampleEnv.SUPABASE_JWT_SECRET))).status)
      .toBe(401)
  })

  it('answers 503 with CORS, not 401, when the signing keys cannot be fetched', async () => {
    const down = await startJwksFake()
    down.down = true
    const app = gateway({ SUPABASE_JWKS_URL: `${down.url}/auth/v1/.well-known/jwks.json` })
    const response = await call(app, 'campaigns', await down.sign('ES256', staffClaims))
    expect(response.status).toBe(503)
    expect(response.headers.get('access-control-allow-origin')).toBe(ORIGIN)
    await down.close()
  })

  it('still takes a project secret key (scripts), but never the anon key', async () => {
    const app = gateway()
    expect((await call(app, 'broadcast-settings', SECRET_KEY)).status).toBe(200)
    expect((await call(app, 'broadcast-settings', 'sb_publishable_local_anon')).status).toBe(401)
  })
})

describe('CORS only where a browser calls', () => {
  it.each(['make', 'send-messages', 'reconcile-twilio-status', 'user-actions', 'admin-action'])(
    '%s sends no CORS headers',
    async (name) => {
      const app = gateway()
      const post = await app.request(url(`/${name}/`), { method: 'POST', body: '{}', headers: { origin: ORIGIN } })
      expect(post.status).toBe(401)
      expect(post.headers.get('access-control-allow-origin')).toBeNull()
      const preflight = await app.request(url(`/${name}/`), {
        method: 'OPTIONS',
        headers: { origin: ORIGIN, 'access-control-request-method': 'POST' },
      })
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull()
      const callback = await app.request(url('/reconcile-twilio-status/status-callback'), {
        method: 'POST',
        body: 'a=b',
        headers: { origin: ORIGIN },
      })
      expect(callback.headers.get('access-control-allow-origin')).toBeNull()
    },
  )
})
