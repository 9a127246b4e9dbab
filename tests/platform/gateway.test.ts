import { describe, expect, it } from 'vitest'
import { sign } from 'hono/jwt'
import { functionDefinitions } from '../../src/shared/functions/registry.ts'
import { signWebhookBody } from '../../src/shared/http/webhook-signature.ts'
import { createGateway } from '../../src/local/gateway.ts'
import { mintUserToken } from '../../src/local/token.ts'
import { useTestDatabase } from '../support/database.ts'
import { createTestDeps, exampleEnv, SECRET_KEY } from '../support/app.ts'

const db = useTestDatabase()
const gateway = () => createGateway(createTestDeps(db.sql), functionDefinitions)
const url = (path: string) => `http://127.0.0.1:54321/functions/v1${path}`

const cronFunctions = [
  'make',
  'send-messages',
  'reconcile-twilio-status',
  'handle-failed-deliveries',
  'archive-double-failures',
]
const sidebarFunctions = [
  'broadcast-sidebar',
  'broadcast-settings',
  'broadcast-setting',
  'send-now',
  'campaigns',
  'campaign',
]
const webhookFunctions = ['user-actions', 'user-action', 'admin-action']

describe('gateway and function gates', () => {
  it.each(cronFunctions)('%s refuses a request without the secret key, or with a legacy JWT', async (name) => {
    const app = gateway()
    const none = await app.request(url(`/${name}/`), { method: 'POST', body: '{}' })
    expect(none.status).toBe(401)
    expect(await none.json()).toHaveProperty('message')
    const legacyJwt = await sign(
      { role: 'service_role', exp: Math.floor(Date.now() / 1000) + 60 },
      'super-secret-jwt-token-with-at-least-32-characters-long',
    )
    const legacy = await app.request(url(`/${name}/`), {
      method: 'POST',
      body: '{}',
      headers: { apikey: legacyJwt, authorization: `Bearer ${legacyJwt}` },
    })
    expect(legacy.status).toBe(401)
  })

  it.each(cronFunctions)('%s lets the secret key through', async (name) => {
    const response = await gateway().request(url(`/${name}/`), {
      method: 'POST',
      body: '{}',
      headers: { apikey: SECRET_KEY, 'content-type': 'application/json' },
    })
    expect(response.status).not.toBe(401)
    expect(response.status).not.toBe(404)
  })

  it.each(sidebarFunctions)('%s needs a valid user JWT (or a secret key) at the gateway', async (name) => {
    const app = gateway()
    expect((await app.request(url(`/${name}/`))).status).toBe(401)
    const forged = await sign(
      { sub: 'x', exp: Math.floor(Date.now() / 1000) + 60 },
      'not-the-project-secret-but-32-characters-long',
    )
    expect((await app.request(url(`/${name}/`), { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401)
    const expired = await sign({ sub: 'x', exp: Math.floor(Date.now() / 1000) - 60 }, exampleEnv.SUPABASE_JWT_SECRET)
    expect((await app.request(url(`/${name}/`), { headers: { authorization: `Bearer ${expired}` } })).status).toBe(401)
    const token = await mintUserToken(exampleEnv.SUPABASE_JWT_SECRET)
    expect((await app.request(url(`/${name}/`), { headers: { authorization: `Bearer ${token}` } })).status).not.toBe(
      401,
    )
    expect((await app.request(url(`/${name}/`), { headers: { authorization: `Bearer ${SECRET_KEY}` } })).status).not
      .toBe(401)
  })

  it.each(webhookFunctions)('%s needs a valid Missive signature and no JWT', async (name) => {
    const app = gateway()
    const body = JSON.stringify({ rule: { id: 'r1', description: 'Incoming SMS', type: 'incoming_twilio_message' } })
    const unsigned = await app.request(url(`/${name}/`), { method: 'POST', body })
    expect(unsigned.status).toBe(401)
    const wrong = await app.request(url(`/${name}/`), {
      method: 'POST',
      body,
      headers: { 'x-hook-signature': await signWebhookBody('another-secret', body) },
    })
    expect(wrong.status).toBe(401)
    const signed = await app.request(url(`/${name}/`), {
      method: 'POST',
      body,
      headers: { 'x-hook-signature': await signWebhookBody(exampleEnv.HMAC_SECRET, body) },
    })
    expect(signed.status).not.toBe(401)
  })

  it('answers an unknown function with a JSON 404', async () => {
    const response = await gateway().request(url('/no-such-function/'), { method: 'POST' })
    expect(response.status).toBe(404)
    expect(await response.json()).toEqual({ message: 'Function not found: no-such-function' })
  })

  it('answers CORS preflights without auth, for allowed origins only', async () => {
    const app = gateway()
    const allowed = await app.request(url('/campaigns/12/'), {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'PATCH',
        'access-control-request-headers': 'authorization, content-type',
      },
    })
    expect(allowed.status).toBeLessThan(300)
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://localhost:5173')
    expect(allowed.headers.get('access-control-allow-methods')).toContain('PATCH')
    expect(allowed.headers.get('access-control-allow-headers')).toContain('authorization')
    const other = await app.request(url('/campaigns/'), {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    })
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('webhook signature', () => {
  it('matches the reference vector of providers.md §5', async () => {
    const body = '{"rule":{"id":"r1","description":"Incoming SMS","type":"incoming_twilio_message"}}'
    expect(await signWebhookBody('test_hmac_secret', body)).toBe(
      'sha256=53c5b0622a89da998e990da049bb694ece044aa0e39f3d9aac880fc5076286bd',
    )
  })
})
