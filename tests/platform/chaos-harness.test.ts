import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type FaultProxy, startFaultProxy } from '../../src/local/chaos/fault-proxy.ts'
import { type ChaosFault, FAULT_KINDS, parseMix, pickFault } from '../../src/local/chaos/faults.ts'
import { computeFigures, type DraftRecord, type LedgerRecord } from '../../src/local/chaos/figures.ts'
import { type MissiveFake, startMissiveFake } from '../../src/local/fakes/missive.ts'

// The crash test's own parts (scripts/chaos.ts): a harness that miscounts proves nothing, so its
// verdict and its faults are checked here, without the minutes-long run.

describe('crash test verdict', () => {
  const ledger = (phone: string, phase: 'first' | 'second', state: string, detail: string | null = null) =>
    ({ phone, phase, state, detail, resolvedAt: null }) satisfies LedgerRecord

  it('counts double texts per phase and losses that no ledger row explains', () => {
    const drafts: DraftRecord[] = [
      { to: '+1A', phase: 'first' },
      { to: '+1A', phase: 'first' }, // texted twice
      { to: '+1A', phase: 'second' },
      { to: '+1D', phase: 'first' }, // got the first, the follow-up never came and nothing says why
      { to: '+1E', phase: 'first' },
      { to: '+1E', phase: 'second' },
      { to: '+1E', phase: 'second' }, // follow-up twice
      { to: '+1F', phase: 'first' }, // first went out, the ledger still says unknown: not a loss
      { to: '+1G', phase: 'first' },
      { to: '+1X', phase: 'first' }, // not in the audience (another sender): ignored
    ]
    const figures = computeFigures(['+1A', '+1B', '+1C', '+1D', '+1E', '+1F', '+1G', '+1H'], drafts, [
      ledger('+1B', 'first', 'skipped', 'author unsubscribed since the enqueue (broadcast 12)'),
      ledger('+1C', 'first', 'unknown', 'claimed but never completed'),
      ledger('+1F', 'first', 'unknown'),
      ledger('+1F', 'second', 'skipped', 'follow-up no longer timely'),
      ledger('+1G', 'first', 'sent'),
      ledger('+1G', 'second', 'sent'), // the ledger says the follow-up went out; the sandbox never saw it
      ledger('+1H', 'first', 'failed', 'attempt 3: Missive POST /drafts answered 400: bad number'),
    ])
    expect(figures.recipients).toBe(8)
    expect(figures.first).toMatchObject({ sent: 5, duplicates: 1, extraTexts: 1, sentDespiteLedger: 0 })
    expect(figures.second).toMatchObject({ sent: 2, duplicates: 1, extraTexts: 1 })
    expect(figures.duplicates).toBe(2)
    expect(figures.first.unexplained).toEqual({ 'ledger says unknown': 1 })
    expect(figures.second.unexplained).toEqual({ 'no ledger row': 1, 'ledger says sent': 1 })
    expect(figures.unexplainedLosses).toBe(3)
    expect(figures.first.explained).toEqual({
      'skipped: author unsubscribed since the enqueue (broadcast N)': 1,
      'failed: attempt N: Missive POST /drafts answered N: bad number': 1,
    })
    expect(figures.second.explained).toEqual({ 'skipped: follow-up no longer timely': 1 })
    expect(figures.unknownRemaining).toBe(2)
    expect(figures.examples.duplicate).toEqual(['+1A', '+1E'])
    expect(figures.examples.lost).toEqual(['+1C', '+1D', '+1G'])
  })

  it('passes a clean run', () => {
    const drafts: DraftRecord[] = ['+1A', '+1B'].flatMap((to) => [
      { to, phase: 'first' as const },
      { to, phase: 'second' as const },
    ])
    const figures = computeFigures(['+1A', '+1B'], drafts, [])
    expect(figures.duplicates).toBe(0)
    expect(figures.unexplainedLosses).toBe(0)
  })
})

describe('crash test faults', () => {
  it('draws the configured share, spread over the kinds named', () => {
    let state = 1
    const random = () => (state = (state * 16807) % 2147483647) / 2147483647
    const mix = parseMix(0.1, 'drop-after=1,hang=1')
    const drawn = Array.from({ length: 20_000 }, () => pickFault(mix, random))
    const share = drawn.filter(Boolean).length / drawn.length
    expect(share).toBeGreaterThan(0.09)
    expect(share).toBeLessThan(0.11)
    expect(new Set(drawn.filter(Boolean))).toEqual(new Set(['drop-after', 'hang']))
    expect(() => parseMix(0.1, 'drop-afterwards=1')).toThrow(/unknown fault kind/)
  })
})

describe('crash test fault proxy', () => {
  const token = 'missive_pat-chaos'
  let missive: MissiveFake
  const proxies: FaultProxy[] = []
  beforeAll(async () => {
    missive = await startMissiveFake({ tokens: [token] })
  })
  beforeEach(() => missive.reset())
  afterAll(async () => {
    for (const proxy of proxies) await proxy.close()
    await missive.close()
  })

  const only = async (kind: ChaosFault) => {
    const proxy = await startFaultProxy({ target: missive.url, mix: parseMix(1, `${kind}=1`) })
    proxies.push(proxy)
    return proxy
  }
  const postDraft = (proxy: FaultProxy) =>
    fetch(`${proxy.baseUrl}/drafts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        drafts: {
          body: 'hi',
          to_fields: [{ phone_number: '+13135550101' }],
          from_field: { phone_number: '+18005550100' },
          send: true,
        },
      }),
      signal: AbortSignal.timeout(500),
    })

  it.each(
    [
      ['rate-limit', 429, 0],
      ['unavailable', 503, 0],
      ['unavailable-after', 503, 1],
    ] as const,
  )('%s answers %i; the sandbox recorded %i draft(s)', async (kind, status, recorded) => {
    const proxy = await only(kind)
    const response = await postDraft(proxy)
    expect(response.status).toBe(status)
    expect(missive.drafts).toHaveLength(recorded)
    expect(proxy.injected).toMatchObject([{ kind, to: '+13135550101', recorded: recorded === 1 }])
  })

  it.each(
    [
      ['hang', /aborted|timeout/i, 0],
      ['hang-after', /aborted|timeout/i, 1],
      ['drop-after', /fetch failed/, 1],
    ] as const,
  )('%s fails the request without an answer', async (kind, error, recorded) => {
    const proxy = await only(kind)
    await expect(postDraft(proxy)).rejects.toThrow(error)
    expect(missive.drafts).toHaveLength(recorded)
  })

  it('passes everything but draft requests through untouched', async () => {
    const proxy = await only('unavailable')
    const response = await fetch(`${proxy.baseUrl}/shared_labels`, { headers: { authorization: `Bearer ${token}` } })
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ shared_labels: [] })
    expect(proxy.injected).toHaveLength(0)
    expect(FAULT_KINDS).toContain('drop-after')
  })
})
