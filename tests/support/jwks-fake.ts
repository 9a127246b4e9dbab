import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose'

// A loopback stand-in for a Supabase project's Auth JWKS endpoint
// (`<SUPABASE_URL>/auth/v1/.well-known/jwks.json`), with ES256 and RS256 signing keys generated
// here, so tokens can be signed as the project's Auth would sign them.

export interface JwksFake {
  /** Plays SUPABASE_URL: the JWKS is at `${url}/auth/v1/.well-known/jwks.json`. */
  url: string
  /** How many times the key set was fetched. */
  fetches: number
  /** When true, the endpoint answers 503 (Auth down). */
  down: boolean
  sign(alg: 'ES256' | 'RS256', claims: JWTPayload, options?: { exp?: number | null; kid?: string }): Promise<string>
  close(): Promise<void>
}

export async function startJwksFake(): Promise<JwksFake> {
  const es = await generateKeyPair('ES256', { extractable: true })
  const rs = await generateKeyPair('RS256', { extractable: true })
  const publicKeys = [
    { ...(await exportJWK(es.publicKey)), kid: 'es-key', alg: 'ES256', use: 'sig' },
    { ...(await exportJWK(rs.publicKey)), kid: 'rs-key', alg: 'RS256', use: 'sig' },
  ]
  const app = new Hono()
  const fake: JwksFake = {
    url: '',
    fetches: 0,
    down: false,
    async sign(alg, claims, options = {}) {
      const key = alg === 'ES256' ? es.privateKey : rs.privateKey
      const now = Math.floor(Date.now() / 1000)
      let jwt = new SignJWT(claims)
        .setProtectedHeader({ alg, kid: options.kid ?? (alg === 'ES256' ? 'es-key' : 'rs-key'), typ: 'JWT' })
        .setIssuedAt(now)
      if (options.exp !== null) jwt = jwt.setExpirationTime(options.exp ?? now + 3600)
      return jwt.sign(key)
    },
    close: async () => {},
  }
  app.get('/auth/v1/.well-known/jwks.json', (c) => {
    fake.fetches++
    if (fake.down) return c.text('unavailable', 503)
    return c.json({ keys: publicKeys })
  })
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started))
  })
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  fake.close = () => new Promise((resolve) => server.close(() => resolve()))
  return fake
}
