import type { Config } from '../config/env.ts'
import type { Db } from '../db/client.ts'
import type { MissivePacer, PaceSlot, TokenPurpose } from '../missive/index.ts'

// Pacing inside Missive's per-token windows (DESIGN.md "Sending guarantees"), decided in the
// database by public.missive_rate_acquire (migration 20250601000200) so every drain, concurrent or
// successive, shares one budget per token. Every Missive call of every token takes a slot first:
// the client asks `databasePacer` before each request (wired in runtime/deps.ts), and the sender
// reserves its slot explicitly so that its last look comes after the wait.

export type { TokenPurpose }

export interface RateLimits {
  maxConcurrent: number
  perMinute: number
  per15Minutes: number
  /** How long an unfinished request holds a concurrency slot (a crashed caller frees it then). */
  leaseMs: number
}

export interface RateBudget {
  purpose: TokenPurpose
  /** Hash of the API token: the same token configured twice shares one budget. */
  tokenKey: string
  limits: RateLimits
}

export type SlotResult = { ok: true; requestId: number } | { ok: false; waitMs: number }

export function rateLimitsFrom(config: Config): RateLimits {
  return {
    maxConcurrent: config.MISSIVE_MAX_CONCURRENT,
    perMinute: config.MISSIVE_MAX_PER_MINUTE,
    per15Minutes: config.MISSIVE_MAX_PER_15_MINUTES,
    leaseMs: config.MISSIVE_TIMEOUT_MS + 5_000,
  }
}

const tokenOf: Record<TokenPurpose, (config: Config) => string> = {
  'first-messages': (config) => config.MISSIVE_SECRET_BROADCAST_FIRST_MESSAGES,
  'second-messages': (config) => config.MISSIVE_SECRET_BROADCAST_SECOND_MESSAGES,
  'non-broadcast': (config) => config.MISSIVE_SECRET_NON_BROADCAST,
  'read-conversation': (config) => config.MISSIVE_SECRET_CAMPAIGN_READ_CONVERSATION,
}

const keyCache = new Map<string, string>()

async function tokenKey(token: string): Promise<string> {
  const cached = keyCache.get(token)
  if (cached) return cached
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))
  const key = `sha256:${[...new Uint8Array(digest)].slice(0, 12).map((b) => b.toString(16).padStart(2, '0')).join('')}`
  keyCache.set(token, key)
  return key
}

export async function rateBudget(config: Config, purpose: TokenPurpose): Promise<RateBudget> {
  return { purpose, tokenKey: await tokenKey(tokenOf[purpose](config)), limits: rateLimitsFrom(config) }
}

/** One decision: a recorded slot, or how long until one frees. */
export async function tryAcquireSlot(db: Db, budget: RateBudget): Promise<SlotResult> {
  const { limits } = budget
  const [row] = await db<{ request_id: string | null; wait_ms: number }[]>`
    SELECT request_id, wait_ms FROM public.missive_rate_acquire(
      ${budget.tokenKey}, ${budget.purpose}, ${limits.maxConcurrent}::integer, ${limits.perMinute}::integer,
      ${limits.per15Minutes}::integer, ${limits.leaseMs}::integer)`
  if (row?.request_id) return { ok: true, requestId: Number(row.request_id) }
  return { ok: false, waitMs: Math.max(1, row?.wait_ms ?? 25) }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Waits for a slot as long as it frees within `maxWaitMs`; otherwise says how long the caller
 * would have to wait (so a drain near its end defers the message instead of idling past it).
 */
export async function acquireSlot(db: Db, budget: RateBudget, maxWaitMs: number): Promise<SlotResult> {
  let waited = 0
  for (;;) {
    const slot = await tryAcquireSlot(db, budget)
    if (slot.ok || waited + slot.waitMs > maxWaitMs) return slot
    await sleep(slot.waitMs)
    waited += slot.waitMs
  }
}

/** The request has been answered (or given up on): its concurrency slot frees, its window stamp is now. */
export async function releaseSlot(db: Db, requestId: number): Promise<void> {
  await db`SELECT public.missive_rate_release(${requestId}::bigint)`
}

/** The slot was taken but no request was made. */
export async function cancelSlot(db: Db, requestId: number): Promise<void> {
  await db`SELECT public.missive_rate_cancel(${requestId}::bigint)`
}

/** The windows in the database, as the Missive client's pacer: one budget per token, shared by every caller. */
export function databasePacer(db: Db, config: Config): MissivePacer {
  const limits = rateLimitsFrom(config)
  return {
    async acquire(token: string, purpose: TokenPurpose, maxWaitMs: number): Promise<PaceSlot> {
      const slot = await acquireSlot(db, { purpose, tokenKey: await tokenKey(token), limits }, maxWaitMs)
      if (!slot.ok) return slot
      return {
        ok: true,
        // A failed release must not hide the call's outcome (a sent draft would go unrecorded):
        // the slot then frees when its lease ends.
        release: () => releaseSlot(db, slot.requestId).catch(() => {}),
        cancel: () => cancelSlot(db, slot.requestId),
      }
    },
  }
}
