import { afterEach, describe, expect, it } from 'vitest'
import { type MissiveFake, startMissiveFake } from '../../src/local/fakes/missive.ts'
import { createMissiveClient, type MissiveClient } from '../../src/shared/missive/index.ts'
import { FROM_PHONE, ORGANIZATION_ID, TOKENS } from './constants.ts'

// The sender paces itself to Missive's windows; these pin that the fake enforces the same
// windows, so a sender that overshoots sees the 429s production would give.

let fake: MissiveFake | undefined
afterEach(() => fake?.close())

function clientFor(missive: MissiveFake): MissiveClient {
  return createMissiveClient({
    baseUrl: missive.baseUrl,
    tokens: TOKENS,
    organizationId: ORGANIZATION_ID,
    fromPhoneNumber: FROM_PHONE,
    timeoutMs: 5_000,
  })
}

const send = (client: MissiveClient, phase: 'first' | 'second' = 'first') =>
  client.sendDraft({ body: 'hi', to: '+13135550101', phase })

describe('Missive fake rate limits', () => {
  it('refuses the request over the per-minute limit until the oldest one leaves the window', async () => {
    let now = Date.parse('2025-01-15T18:00:00Z')
    fake = await startMissiveFake({
      tokens: Object.values(TOKENS),
      rateLimits: { perMinute: 3, per15Minutes: 100 },
      now: () => new Date(now),
    })
    const client = clientFor(fake)
    for (const offset of [0, 10_000, 20_000]) {
      now = Date.parse('2025-01-15T18:00:00Z') + offset
      expect((await send(client)).ok).toBe(true)
    }
    now = Date.parse('2025-01-15T18:00:30Z')
    expect(await send(client)).toMatchObject({ ok: false, status: 429, retryAfterSeconds: 30 })
    // A refused request does not use up budget: the slot frees exactly when Retry-After said.
    now = Date.parse('2025-01-15T18:01:00Z')
    expect(await send(client)).toMatchObject({ ok: true })
    expect(fake.drafts).toHaveLength(4)
  })

  it('enforces the 15-minute window after the minute window has cleared', async () => {
    const start = Date.parse('2025-01-15T18:00:00Z')
    let now = start
    fake = await startMissiveFake({
      tokens: Object.values(TOKENS),
      rateLimits: { perMinute: 2, per15Minutes: 4 },
      now: () => new Date(now),
    })
    const client = clientFor(fake)
    for (const minute of [0, 0, 2, 2]) {
      now = start + minute * 60_000
      expect((await send(client)).ok).toBe(true)
    }
    now = start + 5 * 60_000
    const refused = await send(client)
    expect(refused).toMatchObject({ ok: false, status: 429, retryAfterSeconds: 10 * 60 })
    now = start + 15 * 60_000 + 1
    expect((await send(client)).ok).toBe(true)
  })

  it('keeps a separate budget per token', async () => {
    fake = await startMissiveFake({ tokens: Object.values(TOKENS), rateLimits: { perMinute: 1 } })
    const client = clientFor(fake)
    expect((await send(client, 'first')).ok).toBe(true)
    expect((await send(client, 'first')).ok).toBe(false)
    expect((await send(client, 'second')).ok).toBe(true)
  })

  it('allows at most the configured number of concurrent requests', async () => {
    fake = await startMissiveFake({ tokens: Object.values(TOKENS), rateLimits: true, latencyMs: 300 })
    const client = clientFor(fake)
    const results = await Promise.all(Array.from({ length: 7 }, () => send(client)))
    expect(results.filter((result) => result.ok)).toHaveLength(5)
    const refused = results.filter((result) => !result.ok)
    expect(refused).toHaveLength(2)
    expect(refused[0]).toMatchObject({ status: 429, retryAfterSeconds: 1 })
    // Once the first five finish, their slots are free again.
    expect((await send(client)).ok).toBe(true)
  })

  it('sends the documented rate-limit headers with a 429', async () => {
    fake = await startMissiveFake({ tokens: Object.values(TOKENS), rateLimits: { perMinute: 1 } })
    const client = clientFor(fake)
    await send(client)
    const response = await fetch(`${fake.baseUrl}/drafts`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKENS.firstMessages}`, 'Content-Type': 'application/json' },
      body: '{}',
    })
    expect(response.status).toBe(429)
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(response.headers.get('x-ratelimit-limit')).toBe('1')
    expect(response.headers.get('x-ratelimit-remaining')).toBe('0')
    expect(Number(response.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000)
  })

  it('is off unless asked for, and can fail a share of calls instead', async () => {
    fake = await startMissiveFake({ tokens: Object.values(TOKENS), random: () => 0.3 })
    const client = clientFor(fake)
    const results = await Promise.all(Array.from({ length: 20 }, () => send(client)))
    expect(results.every((result) => result.ok)).toBe(true)
    fake.failShare(0.5, 'rate-limit', { path: '/v1/drafts' })
    expect(await send(client)).toMatchObject({ ok: false, status: 429 })
    expect((await client.getConversation('x')).ok).toBe(true)
  })

  it('counts past requests in its windows and logs its own 429s apart from injected faults', async () => {
    const start = Date.parse('2025-01-15T18:00:00Z')
    let now = start
    fake = await startMissiveFake({
      tokens: Object.values(TOKENS),
      rateLimits: { perMinute: 3, per15Minutes: 100 },
      now: () => new Date(now),
    })
    // A sender busy before the fake started: three requests in the last minute fill the window.
    fake.recordPastRequests(
      TOKENS.firstMessages,
      [start - 50_000, start - 40_000, start - 30_000].map((t) => new Date(t)),
    )
    const client = clientFor(fake)
    fake.failNext(1, 'rate-limit', { path: '/v1/drafts' })
    expect(await send(client)).toMatchObject({ ok: false, status: 429 })
    expect(fake.rateLimitLog()).toMatchObject({ refusedCount: 0, refusals: [] })

    expect(await send(client)).toMatchObject({ ok: false, status: 429, retryAfterSeconds: 10 })
    now = start + 10_000
    expect((await send(client)).ok).toBe(true)
    const log = fake.rateLimitLog()
    expect(log).toMatchObject({ refusedCount: 1, acceptedCount: 1, peakInFlight: { [TOKENS.firstMessages]: 1 } })
    // What Missive saw attempted: the injected 429 never reached the windows.
    expect(log.decisions.map(({ accepted, at }) => ({ accepted, at }))).toEqual([
      { accepted: false, at: start },
      { accepted: true, at: start + 10_000 },
    ])
    expect(log.refusals).toEqual([
      { token: TOKENS.firstMessages, at: new Date(start), window: 'per minute', retryAfterSeconds: 10 },
    ])
    fake.reset()
    expect(fake.rateLimitLog()).toMatchObject({ refusedCount: 0, acceptedCount: 0, peakInFlight: {} })
  })
})
