// Sandbox Missive: the REST endpoints the backend calls, with Missive's shapes (providers.md §1–4),
// its bearer auth, and optionally its rate limits, so the sender's pacing is tested against the
// same 429s production would give.
import { Hono } from 'hono'
import type { Context } from 'hono'
import { z } from 'zod'
import {
  delay,
  dropConnection,
  type FakeEnv,
  type Fault,
  type FaultKind,
  type FaultOptions,
  FaultPlan,
  Hangs,
  listen,
  proxyErrorPage,
  type RecordedRequest,
  recordRequests,
} from './fake-server.ts'

export type { FaultKind, FaultOptions, RecordedRequest } from './fake-server.ts'

export interface MissiveRateLimits {
  maxConcurrent: number
  perMinute: number
  per15Minutes: number
}

/** Missive's documented limits, per token. */
export const MISSIVE_DOCUMENTED_LIMITS: MissiveRateLimits = { maxConcurrent: 5, perMinute: 300, per15Minutes: 900 }

/** Anything that can record an SMS as Twilio would: the Twilio fake fits. */
export interface TwilioMessageSink {
  addMessage(input: { to: string; from: string; status: string; dateSent: Date; body?: string }): { sid: string }
}

export interface MissiveFakeOptions {
  /** Bearer tokens Missive accepts; anything else is a 401. */
  tokens: string[]
  /** When set, an `organization` other than this is a 400. */
  organizationId?: string
  port?: number
  latencyMs?: number
  /** `true` = Missive's documented limits; an object overrides some of them. Off by default. */
  rateLimits?: boolean | Partial<MissiveRateLimits>
  /** Where sent drafts become Twilio messages, so a reconcile finds what was sent. */
  twilio?: TwilioMessageSink
  /** Twilio status of a sent draft; `delivered` unless told otherwise. */
  deliveryStatus?: string | ((draft: FakeDraft) => string)
  now?: () => Date
  /** For `failShare`; Math.random unless given. */
  random?: () => number
}

export interface FakeDraft {
  id: string
  conversationId: string
  body: string
  to: string
  from: string
  labelIds: string[]
  sent: boolean
  token: string
  createdAt: Date
  /** Twilio SID of the SMS, when sent. */
  externalId: string | null
  /** Epoch seconds, as Missive reports it; null until delivered. */
  deliveredAt: number | null
}

export interface FakePost {
  id: string
  conversationId: string
  text: string | null
  username: string | null
  labelIds: string[]
  closed: boolean
  token: string
  createdAt: Date
}

export interface FakeLabel {
  id: string
  name: string
  parentId: string | null
  organization: string
}

export interface FakeConversation {
  id: string
  phone: string | null
  labelIds: string[]
  closed: boolean
}

export interface MissiveFake {
  /** `http://127.0.0.1:PORT` */
  url: string
  /** `http://127.0.0.1:PORT/v1`, what `createMissiveClient` takes. */
  baseUrl: string
  port: number
  /** Every request received, in order; `clearRequests()` empties it in place. */
  requests: RecordedRequest[]
  clearRequests(): void
  drafts: FakeDraft[]
  posts: FakePost[]
  failNext(count: number, kind: FaultKind, options?: FaultOptions): void
  failShare(share: number, kind: FaultKind, options?: FaultOptions): void
  clearFaults(): void
  setLatency(ms: number): void
  setRateLimits(limits: boolean | Partial<MissiveRateLimits>): void
  /**
   * What the fake's own windows did: every 429 they gave (requests over a limit, never the
   * injected faults of failNext/failShare) and the most requests a token ever had in flight.
   * `reset()` clears it.
   */
  rateLimitLog(): RateLimitLog
  /**
   * Counts requests made before the fake started in a token's windows, as Missive would after a
   * sender has been busy for a while (a benchmark's steady state); the same history a sender
   * reads from its own records, so an overrun is refused here as it would be at Missive.
   */
  recordPastRequests(token: string, at: Date[]): void
  setDeliveryStatus(status: string | ((draft: FakeDraft) => string)): void
  /** Creates the conversation when unknown; labels are ids or `{id, name}`. */
  setConversationLabels(conversationId: string, labels: Array<string | { id: string; name: string }>): void
  conversation(id: string): FakeConversation | undefined
  conversationIdFor(phone: string): string | undefined
  addSharedLabel(label: { name: string; id?: string; parentId?: string | null }): FakeLabel
  sharedLabels(): FakeLabel[]
  /** Overrides what `GET /v1/messages/:id` reports for a message. */
  setMessage(id: string, message: { externalId: string | null; deliveredAt: number | null }): void
  /** Forgets conversations, drafts, posts, labels, requests and faults. */
  reset(): void
  close(): Promise<void>
}

const phone = z.string().regex(/^\+\d+$/, 'must be + followed by digits')
const draftBody = z.object({
  drafts: z.object({
    body: z.string().optional(),
    to_fields: z.array(z.object({ phone_number: phone })).length(1, 'takes exactly one phone number'),
    from_field: z.object({ phone_number: phone, type: z.string().optional() }),
    send: z.boolean().optional(),
    conversation: z.string().optional(),
    add_shared_labels: z.array(z.string()).optional(),
    organization: z.string().optional(),
  }),
})
const postBody = z.object({
  posts: z.object({
    notification: z.object({ title: z.string(), body: z.string() }),
    text: z.string().optional(),
    markdown: z.string().optional(),
    username: z.string().optional(),
    conversation: z.string().optional(),
    add_shared_labels: z.array(z.string()).optional(),
    close: z.boolean().optional(),
    reopen: z.boolean().optional(),
    organization: z.string().optional(),
  }),
})
const labelInput = z.object({
  name: z.string().min(1),
  organization: z.string().min(1),
  parent: z.string().nullish(),
})
const labelBody = z.object({ shared_labels: z.union([z.array(labelInput).min(1), labelInput]) })

export async function startMissiveFake(options: MissiveFakeOptions): Promise<MissiveFake> {
  const now = options.now ?? (() => new Date())
  const tokens = new Set(options.tokens)
  const requests: RecordedRequest[] = []
  const faults = new FaultPlan(options.random ?? Math.random)
  const hangs = new Hangs()
  const limiter = new RateLimiter(() => now().getTime())
  limiter.configure(options.rateLimits ?? false)
  let latencyMs = options.latencyMs ?? 0
  let deliveryStatus = options.deliveryStatus ?? 'delivered'

  const conversations = new Map<string, FakeConversation>()
  const conversationByPhone = new Map<string, string>()
  const drafts: FakeDraft[] = []
  const posts: FakePost[] = []
  let labels: FakeLabel[] = []
  const messageOverrides = new Map<string, { externalId: string | null; deliveredAt: number | null }>()

  const conversationFor = (id: string | undefined, to: string | null): FakeConversation => {
    const existingId = id ?? (to ? conversationByPhone.get(to) : undefined)
    const existing = existingId ? conversations.get(existingId) : undefined
    if (existing) return existing
    const created: FakeConversation = { id: id ?? crypto.randomUUID(), phone: to, labelIds: [], closed: false }
    conversations.set(created.id, created)
    if (to) conversationByPhone.set(to, created.id)
    return created
  }
  const addLabels = (conversation: FakeConversation, labelIds: string[]) => {
    for (const id of labelIds) if (!conversation.labelIds.includes(id)) conversation.labelIds.push(id)
  }
  const labelView = (id: string) => {
    const label = labels.find((candidate) => candidate.id === id)
    return { id, name: label?.name ?? id, name_with_parent_names: label ? nameWithParents(label) : id }
  }
  const nameWithParents = (label: FakeLabel): string => {
    const parent = label.parentId ? labels.find((candidate) => candidate.id === label.parentId) : undefined
    return parent ? `${nameWithParents(parent)}/${label.name}` : label.name
  }
  const wrongOrganization = (organization: string | undefined) =>
    organization !== undefined && options.organizationId !== undefined && organization !== options.organizationId

  const app = new Hono<FakeEnv>()
  app.use('*', recordRequests(requests, now))

  app.use('*', async (c, next) => {
    const token = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '')?.[1]
    if (!token || !tokens.has(token)) return c.json({ error: 'Unauthorized: invalid or missing API token' }, 401)
    const fault = faults.pick(c.req.method, c.req.path)
    if (fault && !fault.options.afterHandling) return renderFault(c, fault, hangs)
    const slot = limiter.acquire(token)
    if (!slot.ok) {
      for (const [name, value] of Object.entries(slot.headers)) c.header(name, value)
      return c.json({ error: 'Rate limit exceeded' }, 429)
    }
    try {
      if (latencyMs > 0) await delay(latencyMs)
      await next()
    } finally {
      slot.release()
    }
    // Missive acted (the draft is recorded and sent), then the answer is lost or replaced.
    if (fault) c.res = await renderFault(c, fault, hangs)
  })

  /** What Missive answers for labels without an organization, a foreign organization, or an unknown conversation. */
  const refuseTarget = (c: Context, input: { organization?: string; conversation?: string }, labelIds: string[]) => {
    if (labelIds.length > 0 && !input.organization) {
      return c.json({ error: 'organization is required to add shared labels' }, 400)
    }
    if (wrongOrganization(input.organization)) return c.json({ error: 'Organization not found' }, 400)
    if (input.conversation && !conversations.has(input.conversation)) {
      return c.json({ error: 'Conversation not found' }, 404)
    }
    return null
  }

  app.post('/v1/drafts', (c) => {
    const parsed = draftBody.safeParse(c.get('body'))
    if (!parsed.success) return c.json({ error: describe(parsed.error) }, 400)
    const input = parsed.data.drafts
    const labelIds = input.add_shared_labels ?? []
    const refused = refuseTarget(c, input, labelIds)
    if (refused) return refused
    const to = input.to_fields[0]!.phone_number
    const conversation = conversationFor(input.conversation, to)
    addLabels(conversation, labelIds)
    const draft: FakeDraft = {
      id: crypto.randomUUID(),
      conversationId: conversation.id,
      body: input.body ?? '',
      to,
      from: input.from_field.phone_number,
      labelIds,
      sent: input.send === true,
      token: bearer(c),
      createdAt: now(),
      externalId: null,
      deliveredAt: null,
    }
    if (draft.sent) {
      const status = typeof deliveryStatus === 'function' ? deliveryStatus(draft) : deliveryStatus
      draft.externalId = options.twilio
        ? options.twilio.addMessage({ to, from: draft.from, status, dateSent: draft.createdAt, body: draft.body }).sid
        : twilioSid()
      draft.deliveredAt = status === 'delivered' ? Math.floor(draft.createdAt.getTime() / 1000) : null
    }
    drafts.push(draft)
    return c.json({ drafts: { id: draft.id, conversation: conversation.id } })
  })

  app.post('/v1/posts', (c) => {
    const parsed = postBody.safeParse(c.get('body'))
    if (!parsed.success) return c.json({ error: describe(parsed.error) }, 400)
    const input = parsed.data.posts
    if (input.text === undefined && input.markdown === undefined) {
      return c.json({ error: 'text, markdown or attachments is required' }, 400)
    }
    const labelIds = input.add_shared_labels ?? []
    const refused = refuseTarget(c, input, labelIds)
    if (refused) return refused
    const conversation = conversationFor(input.conversation, null)
    addLabels(conversation, labelIds)
    if (input.close) conversation.closed = true
    const post: FakePost = {
      id: crypto.randomUUID(),
      conversationId: conversation.id,
      text: input.text ?? input.markdown ?? null,
      username: input.username ?? null,
      labelIds,
      closed: input.close === true,
      token: bearer(c),
      createdAt: now(),
    }
    posts.push(post)
    return c.json({ posts: { id: post.id, conversation: conversation.id } })
  })

  app.get('/v1/conversations/:id', (c) => {
    const conversation = conversations.get(c.req.param('id'))
    // Missive answers an empty array for a conversation the token cannot see (upstream handles it).
    if (!conversation) return c.json({ conversations: [] })
    return c.json({
      conversations: [
        {
          id: conversation.id,
          subject: null,
          latest_message_subject: conversation.phone ? `SMS with ${conversation.phone}` : null,
          authors: conversation.phone ? [{ name: conversation.phone, phone_number: conversation.phone }] : [],
          shared_labels: conversation.labelIds.map(labelView),
          shared_label_names: conversation.labelIds.map((id) => labelView(id).name).join(', '),
        },
      ],
    })
  })

  app.get('/v1/messages/:id', (c) => {
    const id = c.req.param('id')
    const draft = drafts.find((candidate) => candidate.id === id)
    const override = messageOverrides.get(id)
    if (!draft && !override) return c.json({ error: 'Not found' }, 404)
    return c.json({
      messages: {
        id,
        type: 'sms',
        preview: draft?.body.slice(0, 100) ?? null,
        body: draft?.body ?? null,
        created_at: draft ? Math.floor(draft.createdAt.getTime() / 1000) : null,
        delivered_at: override ? override.deliveredAt : (draft?.deliveredAt ?? null),
        external_id: override ? override.externalId : (draft?.externalId ?? null),
        from_field: draft ? { id: draft.from, name: draft.from, username: null } : null,
        to_fields: draft ? [{ id: draft.to, name: draft.to, username: null }] : [],
        conversation: draft ? { id: draft.conversationId } : null,
      },
    })
  })

  app.get('/v1/shared_labels', (c) => {
    const limit = Math.min(Math.max(1, Number(c.req.query('limit') ?? 50) || 50), 200)
    const offset = Math.max(0, Number(c.req.query('offset') ?? 0) || 0)
    const organization = c.req.query('organization')
    const visible = organization ? labels.filter((label) => label.organization === organization) : labels
    return c.json({
      shared_labels: visible.slice(offset, offset + limit).map((label) => ({
        id: label.id,
        name: label.name,
        name_with_parent_names: nameWithParents(label),
        color: null,
        organization: label.organization,
        parent: label.parentId,
      })),
    })
  })

  app.post('/v1/shared_labels', (c) => {
    const parsed = labelBody.safeParse(c.get('body'))
    if (!parsed.success) return c.json({ error: describe(parsed.error) }, 400)
    const inputs = [parsed.data.shared_labels].flat()
    const created: FakeLabel[] = []
    for (const input of inputs) {
      if (wrongOrganization(input.organization)) return c.json({ error: 'Organization not found' }, 400)
      // Missive's answer to a duplicate name is unconfirmed; upstream falls back to a lookup after
      // a failed create, so the fake refuses duplicates to exercise that path.
      const duplicate = labels.some(
        (label) =>
          label.name.toLowerCase() === input.name.toLowerCase() &&
          label.parentId === (input.parent ?? null) &&
          label.organization === input.organization,
      )
      if (duplicate) return c.json({ error: 'Name has already been taken' }, 422)
      created.push({
        id: crypto.randomUUID(),
        name: input.name,
        parentId: input.parent ?? null,
        organization: input.organization,
      })
    }
    labels.push(...created)
    return c.json(
      {
        shared_labels: created.map((label) => ({
          id: label.id,
          name: label.name,
          name_with_parent_names: nameWithParents(label),
          organization: label.organization,
          parent: label.parentId,
        })),
      },
      201,
    )
  })

  app.notFound((c) => c.json({ error: 'Not found' }, 404))

  const server = await listen(app.fetch, options.port ?? 0, () => hangs.releaseAll())

  return {
    url: server.url,
    baseUrl: `${server.url}/v1`,
    port: server.port,
    requests,
    clearRequests: () => void requests.splice(0),
    drafts,
    posts,
    failNext: (count, kind, faultOptions) => faults.failNext(count, kind, faultOptions),
    failShare: (share, kind, faultOptions) => faults.failShare(share, kind, faultOptions),
    clearFaults: () => faults.clear(),
    setLatency: (ms) => void (latencyMs = ms),
    setRateLimits: (limits) => limiter.configure(limits),
    rateLimitLog: () => limiter.snapshot(),
    recordPastRequests: (token, at) => limiter.record(token, at.map((date) => date.getTime())),
    setDeliveryStatus: (status) => void (deliveryStatus = status),
    setConversationLabels: (conversationId, newLabels) => {
      const conversation = conversationFor(conversationId, null)
      conversation.labelIds = []
      for (const label of newLabels) {
        if (typeof label === 'string') {
          addLabels(conversation, [label])
          continue
        }
        if (!labels.some((known) => known.id === label.id)) {
          labels.push({ id: label.id, name: label.name, parentId: null, organization: options.organizationId ?? 'org' })
        }
        addLabels(conversation, [label.id])
      }
    },
    conversation: (id) => conversations.get(id),
    conversationIdFor: (phoneNumber) => conversationByPhone.get(phoneNumber),
    addSharedLabel: (label) => {
      const created: FakeLabel = {
        id: label.id ?? crypto.randomUUID(),
        name: label.name,
        parentId: label.parentId ?? null,
        organization: options.organizationId ?? 'org',
      }
      labels.push(created)
      return created
    },
    sharedLabels: () => [...labels],
    setMessage: (id, message) => void messageOverrides.set(id, message),
    reset: () => {
      conversations.clear()
      conversationByPhone.clear()
      drafts.splice(0)
      posts.splice(0)
      labels = []
      messageOverrides.clear()
      requests.splice(0)
      faults.clear()
      limiter.reset()
    },
    close: server.close,
  }
}

function renderFault(c: Context<FakeEnv>, fault: Fault, hangs: Hangs): Response | Promise<Response> {
  switch (fault.kind) {
    case 'rate-limit':
      c.header('Retry-After', String(fault.options.retryAfterSeconds ?? 1))
      return c.json({ error: 'Rate limit exceeded' }, 429)
    case 'unavailable': {
      const status = fault.options.status ?? 503
      return c.html(proxyErrorPage(status), status as 502 | 503 | 504)
    }
    case 'server-error':
      return c.json({ error: 'Internal server error' }, 500)
    case 'hang':
      return hangs.wait(fault.options.hangMs).then(() => c.json({ error: 'Gateway timeout' }, 504))
    case 'rejected':
      return c.json({ error: 'Invalid request' }, (fault.options.status ?? 400) as 400)
    case 'drop':
      return dropConnection(c)
  }
}

function bearer(c: Context): string {
  return (c.req.header('authorization') ?? '').replace(/^Bearer /, '')
}

function describe(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ')
}

function twilioSid(): string {
  return `SM${crypto.randomUUID().replace(/-/g, '')}`
}

type Slot = { ok: true; release(): void } | { ok: false; headers: Record<string, string> }

export type RateWindow = 'concurrent' | 'per minute' | 'per 15 minutes'

export interface RateLimitRefusal {
  token: string
  at: Date
  /** The limit that was full (the one with the longest wait when several were). */
  window: RateWindow
  retryAfterSeconds: number
}

export interface RateLimitDecision {
  token: string
  /** Epoch ms. */
  at: number
  accepted: boolean
}

export interface RateLimitLog {
  /** Every decision in order, at most the first 100 000: what Missive saw a sender attempt. */
  decisions: RateLimitDecision[]
  /** The first 10 000 refusals (a long-running sandbox must not grow without bound); `refusedCount` counts all. */
  refusals: RateLimitRefusal[]
  refusedCount: number
  acceptedCount: number
  /** Per token: the most requests in flight at once, the refused ones' attempts included. */
  peakInFlight: Record<string, number>
}

const MAX_LOGGED_REFUSALS = 10_000
const MAX_LOGGED_DECISIONS = 100_000

function emptyLog(): RateLimitLog {
  return { decisions: [], refusals: [], refusedCount: 0, acceptedCount: 0, peakInFlight: {} }
}

/**
 * Missive's three limits per token: concurrent requests, and sliding 1-minute and 15-minute
 * windows of accepted requests. Refused requests do not count, so a client that backs off on 429
 * regains its budget exactly when Retry-After says.
 */
class RateLimiter {
  private limits: MissiveRateLimits | null = null
  private inFlight = new Map<string, number>()
  private accepted = new Map<string, number[]>()
  private log: RateLimitLog = emptyLog()

  constructor(private readonly now: () => number) {}

  record(token: string, stamps: number[]): void {
    const merged = [...(this.accepted.get(token) ?? []), ...stamps].sort((a, b) => a - b)
    this.accepted.set(token, merged)
  }

  snapshot(): RateLimitLog {
    return {
      ...this.log,
      decisions: [...this.log.decisions],
      refusals: [...this.log.refusals],
      peakInFlight: { ...this.log.peakInFlight },
    }
  }

  configure(limits: boolean | Partial<MissiveRateLimits>): void {
    if (limits === false) this.limits = null
    else this.limits = { ...MISSIVE_DOCUMENTED_LIMITS, ...(limits === true ? {} : limits) }
  }

  reset(): void {
    this.inFlight.clear()
    this.accepted.clear()
    this.log = emptyLog()
  }

  acquire(token: string): Slot {
    const limits = this.limits
    if (!limits) return { ok: true, release: () => {} }
    const now = this.now()
    const stamps = (this.accepted.get(token) ?? []).filter((stamp) => stamp > now - 15 * 60_000)
    this.accepted.set(token, stamps)

    const attempting = (this.inFlight.get(token) ?? 0) + 1
    this.log.peakInFlight[token] = Math.max(this.log.peakInFlight[token] ?? 0, attempting)

    const waits: Array<{ seconds: number; limit: number; window: RateWindow }> = []
    if ((this.inFlight.get(token) ?? 0) >= limits.maxConcurrent) {
      waits.push({ seconds: 1, limit: limits.maxConcurrent, window: 'concurrent' })
    }
    const windows = [[60_000, limits.perMinute, 'per minute'], [
      15 * 60_000,
      limits.per15Minutes,
      'per 15 minutes',
    ]] as const
    for (const [windowMs, limit, window] of windows) {
      const inWindow = stamps.filter((stamp) => stamp > now - windowMs)
      if (inWindow.length >= limit) {
        // The slot frees when enough of the oldest stamps in the window have aged out of it.
        const freeing = inWindow[inWindow.length - limit]!
        waits.push({ seconds: Math.max(1, Math.ceil((freeing + windowMs - now) / 1000)), limit, window })
      }
    }
    if (waits.length > 0) {
      const longest = waits.reduce((a, b) => (b.seconds > a.seconds ? b : a))
      this.log.refusedCount++
      if (this.log.decisions.length < MAX_LOGGED_DECISIONS) this.log.decisions.push({ token, at: now, accepted: false })
      if (this.log.refusals.length < MAX_LOGGED_REFUSALS) {
        this.log.refusals.push({ token, at: new Date(now), window: longest.window, retryAfterSeconds: longest.seconds })
      }
      return {
        ok: false,
        headers: {
          'Retry-After': String(longest.seconds),
          'X-RateLimit-Limit': String(longest.limit),
          'X-RateLimit-Remaining': '0',
          'X-RateLimit-Reset': String(Math.ceil(now / 1000) + longest.seconds),
        },
      }
    }

    stamps.push(now)
    this.log.acceptedCount++
    if (this.log.decisions.length < MAX_LOGGED_DECISIONS) this.log.decisions.push({ token, at: now, accepted: true })
    this.inFlight.set(token, (this.inFlight.get(token) ?? 0) + 1)
    let released = false
    return {
      ok: true,
      release: () => {
        if (released) return
        released = true
        this.inFlight.set(token, (this.inFlight.get(token) ?? 1) - 1)
      },
    }
  }
}
