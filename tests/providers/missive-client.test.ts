import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type MissiveFake, startMissiveFake } from '../../src/local/fakes/missive.ts'
import {
  createMissiveClient,
  type MissiveClientOptions,
  type MissiveFailure,
  parseRetryAfter,
  provedNotActedOn,
} from '../../src/shared/missive/index.ts'
import { FROM_PHONE, ORGANIZATION_ID, TOKENS } from './constants.ts'

let fake: MissiveFake
let options: MissiveClientOptions

beforeAll(async () => {
  fake = await startMissiveFake({ tokens: Object.values(TOKENS), organizationId: ORGANIZATION_ID })
  options = {
    baseUrl: fake.baseUrl,
    tokens: TOKENS,
    organizationId: ORGANIZATION_ID,
    fromPhoneNumber: FROM_PHONE,
    timeoutMs: 2_000,
  }
})
afterAll(() => fake.close())
beforeEach(() => fake.reset())

const client = () => createMissiveClient(options)

describe('sendDraft', () => {
  it('posts the upstream draft shape with the first-message token and returns both ids', async () => {
    const result = await client().sendDraft({ body: 'Hello Detroit', to: '+13135550101', phase: 'first' })

    expect(result).toMatchObject({ ok: true, status: 200 })
    if (!result.ok) throw new Error(result.error)
    expect(result.draftId).toMatch(/^[0-9a-f-]{36}$/)
    expect(result.conversationId).toMatch(/^[0-9a-f-]{36}$/)
    const [request] = fake.requests
    expect(request).toMatchObject({ method: 'POST', path: '/v1/drafts' })
    expect(request!.headers.authorization).toBe(`Bearer ${TOKENS.firstMessages}`)
    expect(request!.headers['content-type']).toBe('application/json')
    expect(request!.body).toEqual({
      drafts: {
        body: 'Hello Detroit',
        to_fields: [{ phone_number: '+13135550101' }],
        from_field: { phone_number: FROM_PHONE, type: 'twilio' },
        send: true,
      },
    })
  })

  it('uses the second-message token for the second phase', async () => {
    await client().sendDraft({ body: 'Follow-up', to: '+13135550101', phase: 'second' })
    expect(fake.requests[0]!.headers.authorization).toBe(`Bearer ${TOKENS.secondMessages}`)
  })

  it('adds labels and the organization only when labels are given', async () => {
    const missive = client()
    await missive.sendDraft({ body: 'a', to: '+13135550101', phase: 'first', labelIds: [] })
    const labelled = await missive.sendDraft({ body: 'b', to: '+13135550101', phase: 'first', labelIds: ['label-1'] })

    const [plain, withLabels] = fake.requests.map((request) =>
      (request.body as { drafts: Record<string, unknown> }).drafts
    )
    expect(plain).not.toHaveProperty('add_shared_labels')
    expect(plain).not.toHaveProperty('organization')
    expect(withLabels).toMatchObject({ add_shared_labels: ['label-1'], organization: ORGANIZATION_ID })
    if (!labelled.ok) throw new Error(labelled.error)
    expect(fake.conversation(labelled.conversationId)?.labelIds).toEqual(['label-1'])
  })

  it('keeps one conversation per phone number across sends', async () => {
    const missive = client()
    const first = await missive.sendDraft({ body: 'a', to: '+13135550101', phase: 'first' })
    const second = await missive.sendDraft({ body: 'b', to: '+13135550101', phase: 'second' })
    const other = await missive.sendDraft({ body: 'c', to: '+13135550102', phase: 'first' })
    if (!first.ok || !second.ok || !other.ok) throw new Error('send failed')
    expect(second.conversationId).toBe(first.conversationId)
    expect(second.draftId).not.toBe(first.draftId)
    expect(other.conversationId).not.toBe(first.conversationId)
  })
})

describe('failures are values, never exceptions', () => {
  it('reports a wrong token as a 401 failure', async () => {
    const result = await createMissiveClient({ ...options, tokens: { ...TOKENS, firstMessages: 'missive_pat-wrong' } })
      .sendDraft({
        body: 'x',
        to: '+13135550101',
        phase: 'first',
      })
    expect(result).toMatchObject({ ok: false, status: 401, kind: 'http' })
    if (result.ok) return
    expect(result.error).toContain('401')
    expect(fake.drafts).toHaveLength(0)
  })

  it('parses Retry-After on a 429', async () => {
    fake.failNext(1, 'rate-limit', { retryAfterSeconds: 7 })
    const result = await client().sendDraft({ body: 'x', to: '+13135550101', phase: 'first' })
    expect(result).toEqual({
      ok: false,
      status: 429,
      kind: 'http',
      error: expect.stringContaining('429'),
      retryAfterSeconds: 7,
    })
    expect(fake.drafts).toHaveLength(0)
  })

  it('turns a proxy HTML 503 into an ordinary failure naming the status and the body', async () => {
    fake.failNext(1, 'unavailable')
    const result = await client().sendDraft({ body: 'x', to: '+13135550101', phase: 'first' })
    expect(result).toMatchObject({ ok: false, status: 503, kind: 'http' })
    if (result.ok) return
    expect(result.error).toContain('503')
    expect(result.error).toContain('<html>')
    expect(result.error).toContain('Service Temporarily Unavailable')
    expect(result.error.length).toBeLessThan(300)
  })

  it('times out a hanging request', async () => {
    fake.failNext(1, 'hang')
    const started = Date.now()
    const result = await createMissiveClient({ ...options, timeoutMs: 200 }).getMessage('any')
    expect(result).toMatchObject({ ok: false, status: 0, kind: 'timeout' })
    expect(Date.now() - started).toBeLessThan(1_500)
  })

  it('reports a refused connection as `connect`: nothing was written', async () => {
    const gone = await startMissiveFake({ tokens: Object.values(TOKENS) })
    await gone.close()
    const result = await createMissiveClient({ ...options, baseUrl: gone.baseUrl }).createPost({
      conversationId: 'c',
      text: 't',
    })
    expect(result).toMatchObject({ ok: false, status: 0, kind: 'connect' })
    expect(provedNotActedOn(result as MissiveFailure)).toBe(true)
  })

  it('reports a connection dropped after the request as `network`: Missive may have acted', async () => {
    fake.failNext(1, 'drop', { path: '/v1/drafts', afterHandling: true })
    const result = await client().sendDraft({ body: 'x', to: '+13135550101', phase: 'first' })
    expect(result).toMatchObject({ ok: false, status: 0, kind: 'network' })
    expect(provedNotActedOn(result as MissiveFailure)).toBe(false)
    expect(fake.drafts).toHaveLength(1)
  })

  it('proves "not acted on" only for a 4xx, never for a 5xx', () => {
    const http = (status: number): MissiveFailure => ({ ok: false, status, kind: 'http', error: '' })
    expect([400, 404, 422, 429].map((s) => provedNotActedOn(http(s)))).toEqual([true, true, true, true])
    expect([500, 502, 503, 504].map((s) => provedNotActedOn(http(s)))).toEqual([false, false, false, false])
  })

  it('flags a 2xx without draft ids as an invalid response, since the SMS may be out', async () => {
    const stub: typeof fetch = () => Promise.resolve(new Response('OK', { status: 200 }))
    const result = await createMissiveClient({ ...options, fetch: stub }).sendDraft({
      body: 'x',
      to: '+13135550101',
      phase: 'first',
    })
    expect(result).toMatchObject({ ok: false, status: 200, kind: 'invalid-response' })
  })

  it('reads Retry-After as seconds, as an HTTP date, or from X-RateLimit-Reset on a 429', () => {
    const now = Date.parse('2025-01-15T18:00:00Z')
    expect(parseRetryAfter(new Headers({ 'Retry-After': '12' }), 429, now)).toBe(12)
    expect(parseRetryAfter(new Headers({ 'Retry-After': 'Wed, 15 Jan 2025 18:00:30 GMT' }), 503, now)).toBe(30)
    expect(parseRetryAfter(new Headers({ 'X-RateLimit-Reset': String(now / 1000 + 42) }), 429, now)).toBe(42)
    expect(parseRetryAfter(new Headers({ 'X-RateLimit-Reset': String(now / 1000 + 42) }), 500, now)).toBeUndefined()
    expect(parseRetryAfter(new Headers(), 429, now)).toBeUndefined()
  })
})

describe('createPost', () => {
  it('sends the system post, with label, close and organization only when labelled', async () => {
    const missive = client()
    const sent = await missive.sendDraft({ body: 'a', to: '+13135550101', phase: 'first' })
    if (!sent.ok) throw new Error(sent.error)
    fake.clearRequests()

    const plain = await missive.createPost({ conversationId: sent.conversationId, text: 'unsubscribed' })
    const archived = await missive.createPost({
      conversationId: sent.conversationId,
      text: 'archived',
      labelId: 'archive-label',
    })

    expect(plain).toMatchObject({ ok: true, conversationId: sent.conversationId })
    expect(archived).toMatchObject({ ok: true, conversationId: sent.conversationId })
    expect(fake.requests.map((request) => request.headers.authorization)).toEqual([
      `Bearer ${TOKENS.nonBroadcast}`,
      `Bearer ${TOKENS.nonBroadcast}`,
    ])
    expect(fake.requests[0]!.body).toEqual({
      posts: {
        username: 'TXT Outlier',
        notification: { title: 'System', body: 'Admins action' },
        text: 'unsubscribed',
        conversation: sent.conversationId,
      },
    })
    expect(fake.requests[1]!.body).toEqual({
      posts: {
        username: 'TXT Outlier',
        notification: { title: 'System', body: 'Admins action' },
        text: 'archived',
        conversation: sent.conversationId,
        add_shared_labels: ['archive-label'],
        close: true,
        reopen: false,
        organization: ORGANIZATION_ID,
      },
    })
    expect(fake.conversation(sent.conversationId)).toMatchObject({ labelIds: ['archive-label'], closed: true })
  })
})

describe('reads', () => {
  it('returns the shared label ids of a conversation with the read-conversation token', async () => {
    fake.setConversationLabels('conv-1', ['l1', { id: 'l2', name: 'Reply' }])
    const result = await client().getConversation('conv-1')
    expect(result).toEqual({ ok: true, status: 200, found: true, labelIds: ['l1', 'l2'] })
    expect(fake.requests[0]!.headers.authorization).toBe(`Bearer ${TOKENS.readConversation}`)
  })

  it('answers an unknown conversation with no labels', async () => {
    expect(await client().getConversation('nope')).toEqual({ ok: true, status: 200, found: false, labelIds: [] })
  })

  it('reads the Twilio id and delivery time of a message', async () => {
    fake.setMessage('m1', { externalId: 'SM123', deliveredAt: 1_736_964_000 })
    expect(await client().getMessage('m1')).toEqual({
      ok: true,
      status: 200,
      externalId: 'SM123',
      deliveredAt: 1_736_964_000,
    })
    expect(await client().getMessage('missing')).toMatchObject({ ok: false, status: 404 })
  })
})

describe('shared labels', () => {
  it('creates a label under a parent and finds it again by name, case-insensitively, across pages', async () => {
    for (let i = 0; i < 450; i++) fake.addSharedLabel({ name: `filler ${i}` })
    const missive = client()
    const created = await missive.createSharedLabel({ name: 'Campaign Spring', parentId: 'parent-1' })
    if (!created.ok) throw new Error(created.error)
    expect(fake.requests[0]!.body).toEqual({
      shared_labels: [{ name: 'Campaign Spring', organization: ORGANIZATION_ID, parent: 'parent-1' }],
    })
    fake.clearRequests()

    const found = await missive.findSharedLabelByName('campaign spring')
    expect(found).toEqual({ ok: true, status: 200, labelId: created.labelId })
    expect(fake.requests.map((request) => request.query.offset)).toEqual(['0', '200', '400'])
    expect(fake.requests[0]!.query).toMatchObject({ limit: '200', organization: ORGANIZATION_ID })

    expect(await missive.findSharedLabelByName('no such label')).toEqual({ ok: true, status: 200, labelId: null })
  })

  it('refuses a duplicate name, which the caller resolves with a lookup', async () => {
    const missive = client()
    const first = await missive.createSharedLabel({ name: 'dup' })
    const second = await missive.createSharedLabel({ name: 'DUP' })
    expect(first.ok).toBe(true)
    expect(second).toMatchObject({ ok: false, status: 422 })
  })

  it('lists one page', async () => {
    fake.addSharedLabel({ name: 'a' })
    fake.addSharedLabel({ name: 'b' })
    const result = await client().listSharedLabels({ limit: 1, offset: 1 })
    expect(result).toMatchObject({ ok: true, labels: [{ name: 'b', nameWithParentNames: 'b' }] })
  })

  it('stops and reports when a page fails', async () => {
    fake.failNext(1, 'server-error', { path: '/v1/shared_labels' })
    expect(await client().findSharedLabelByName('x')).toMatchObject({ ok: false, status: 500 })
  })
})
