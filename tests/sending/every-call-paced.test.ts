import { beforeEach, describe, expect, it } from 'vitest'
import { rateBudget } from '../../src/shared/sending/rate-budget.ts'
import { createTestDeps, testConfig } from '../support/app.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { useFakes } from '../support/fakes.ts'

// Issue 9 item 9: the sender paced its drafts in the database-counted windows, but the other
// Missive calls (status lookups, confirmation and hygiene posts, labels, conversation reads) went
// around them; under a 1 msg/s broadcast they alone approached 900 per 15 minutes and got 429s.
// Every call of every token now takes a slot in that token's windows (public.missive_requests).

const db = useTestDatabase()
const fakes = useFakes()

beforeEach(async () => {
  await resetDatabase(db.sql)
})

const deps = (env: Record<string, string> = {}) => createTestDeps(db.sql, { env: { ...fakes.env, ...env } })

async function countedPerPurpose(): Promise<Record<string, number>> {
  const keys = Object.fromEntries(
    await Promise.all(
      (['first-messages', 'second-messages', 'read-conversation'] as const).map(async (purpose) => [
        (await rateBudget(testConfig(), purpose)).tokenKey,
        purpose,
      ]),
    ),
  )
  const rows = await db.sql<{ token_key: string; n: number; unfinished: number }[]>`
    SELECT token_key, count(*)::integer AS n, count(*) FILTER (WHERE finished_at IS NULL)::integer AS unfinished
    FROM public.missive_requests GROUP BY token_key`
  expect(rows.every((row) => row.unfinished === 0)).toBe(true)
  return Object.fromEntries(rows.map((row) => [keys[row.token_key] ?? 'non-broadcast', row.n]))
}

describe('every Missive call goes through its token windows', () => {
  it('counts status lookups, posts, label calls and conversation reads, each on its own token', async () => {
    const { missive } = deps()
    const sent = await missive.sendDraft({ body: 'hi', to: '+13135550101', phase: 'first' })
    if (!sent.ok) throw new Error(sent.error)
    await missive.sendDraft({ body: 'again', to: '+13135550101', phase: 'second' })
    await missive.getMessage(sent.draftId)
    await missive.createPost({ conversationId: sent.conversationId, text: 'unsubscribed' })
    await missive.createSharedLabel({ name: 'Campaign 1' })
    await missive.findSharedLabelByName('Campaign 1')
    await missive.getConversation(sent.conversationId)

    expect(fakes.missive.requests).toHaveLength(7)
    expect(await countedPerPurpose()).toEqual({
      'first-messages': 1,
      'second-messages': 1,
      'non-broadcast': 4,
      'read-conversation': 1,
    })
  })

  it('paces non-draft calls: never more at once than the concurrency limit, so Missive never answers 429', async () => {
    const { missive } = deps({ MISSIVE_MAX_CONCURRENT: '1' })
    fakes.missive.setRateLimits({ maxConcurrent: 1, perMinute: 300, per15Minutes: 900 })
    fakes.missive.setLatency(100)
    const sent = await missive.sendDraft({ body: 'hi', to: '+13135550101', phase: 'first' })
    if (!sent.ok) throw new Error(sent.error)

    const results = await Promise.all(Array.from({ length: 4 }, () => missive.getMessage(sent.draftId)))

    expect(results.map((result) => result.status)).toEqual([200, 200, 200, 200])
    expect(await countedPerPurpose()).toMatchObject({ 'non-broadcast': 4 })
  })

  it('does not make a call whose token windows stay full: a 429 of our own, Missive never asked', async () => {
    const { missive } = deps({ MISSIVE_MAX_PER_MINUTE: '2' })
    const conversationId = crypto.randomUUID()
    fakes.missive.setConversationLabels(conversationId, [])
    await missive.createPost({ conversationId, text: 'one' })
    await missive.createPost({ conversationId, text: 'two' })

    const third = await missive.createPost({ conversationId, text: 'three' })

    expect(third).toMatchObject({ ok: false, status: 429, kind: 'paced' })
    expect(third.ok ? 0 : third.retryAfterSeconds).toBeGreaterThan(0)
    expect(fakes.missive.posts.map((post) => post.text)).toEqual(['one', 'two'])
  })
})
