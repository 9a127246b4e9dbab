import { beforeEach, describe, expect, it } from 'vitest'
import type { Db } from '../../src/shared/db/client.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { createAuthor, latestCampaign, ledger, queuedFirstMessages } from '../support/factories/campaigns.ts'

// Issue 15 #3: a large personalized INSERT is enqueued in chunks of 10 000 (one pgmq.send_batch
// each) so one backend never holds every payload at once. The guarantees stay those of
// personalized.test.ts; here: exactly one queue message per recipient across chunk boundaries, in
// phone order, and the number of send_batch calls (counted with track_functions in the INSERT's
// own transaction) is the number of chunks.

const db = useTestDatabase()
beforeEach(() => resetDatabase(db.sql))

/** Inserts the rows in one statement; returns how many times pgmq.send_batch ran for it. */
async function insertCountingBatches(rows: Array<[string, string]>, chunkSize?: number): Promise<number> {
  return await db.sql.begin(async (tx) => {
    await tx`SET LOCAL track_functions = 'all'`
    // Counted as a difference: the xact view also shows calls of earlier transactions of this
    // connection that the backend has not flushed to the shared statistics yet.
    const sendBatchCalls = async () => {
      const [stats] = await tx`
        SELECT coalesce(sum(calls), 0)::int AS calls FROM pg_stat_xact_user_functions
        WHERE schemaname = 'pgmq' AND funcname = 'send_batch'`
      return stats.calls as number
    }
    const before = await sendBatchCalls()
    if (chunkSize !== undefined) {
      await tx`SELECT set_config('outlier.personalized_chunk_size', ${String(chunkSize)}, true)`
    }
    await tx`
      INSERT INTO public.campaign_personalized_recipients (phone_number, message)
      SELECT r->>0, r->>1 FROM jsonb_array_elements(${tx.json(rows)}::jsonb) AS r`
    return (await sendBatchCalls()) - before
  }) as number
}

const phone = (n: number) => `+1313${2_000_000 + n}`

async function expectExactlyOnce(sql: Db, expected: Map<string, string>): Promise<void> {
  const campaign = await latestCampaign(sql)
  const queued = await queuedFirstMessages(sql, campaign.id)
  expect(queued).toHaveLength(expected.size)
  expect(campaign.recipient_count).toBe(expected.size)
  const phones = queued.map((m) => m.message.recipient_phone_number)
  expect(new Set(phones).size).toBe(expected.size)
  // msg_ids ascend with the phone across chunks, as the single batch did.
  expect(phones).toEqual([...expected.keys()].sort())
  for (const m of queued) expect(m.message.first_message).toBe(expected.get(m.message.recipient_phone_number))
}

describe('a large personalized INSERT', () => {
  it('queues 20 000 recipients exactly once in two chunks of 10 000, the first row of a repeated number winning', async () => {
    const rows: Array<[string, string]> = []
    const expected = new Map<string, string>()
    for (let n = 0; n < 20_000; n++) {
      // Numbers as editors paste them, in reverse order, so phone order differs from row order.
      const digits = String(2_000_000 + 19_999 - n)
      rows.push([`313-${digits.slice(0, 3)}-${digits.slice(3)}`, `hello ${n}`])
      expected.set(phone(19_999 - n), `hello ${n}`)
    }
    rows.push([phone(5), 'a repeat, merged into the first row'])
    rows.push([phone(10_000), 'a repeat at the chunk boundary'])

    const batches = await insertCountingBatches(rows)

    expect(batches).toBe(2)
    await expectExactlyOnce(db.sql, expected)
    const [left] = await db.sql`SELECT count(*)::int AS n FROM public.campaign_personalized_recipients`
    expect(left.n).toBe(0)
  })

  it('puts the chunk boundary after the eligible rows only: skipped rows take no place in a chunk', async () => {
    await createAuthor(db.sql, phone(3), { unsubscribed: true })
    await createAuthor(db.sql, phone(8), { exclude: true })
    const rows: Array<[string, string]> = []
    const expected = new Map<string, string>()
    for (let n = 1; n <= 16; n++) {
      rows.push([phone(n), `text ${n}`])
      if (n !== 3 && n !== 8) expected.set(phone(n), `text ${n}`)
    }
    rows.push(['not a number', 'invalid'])

    // 14 eligible recipients in chunks of 7: exactly two batches; a third would mean the skipped
    // rows were counted.
    const batches = await insertCountingBatches(rows, 7)

    expect(batches).toBe(2)
    await expectExactlyOnce(db.sql, expected)
    const campaign = await latestCampaign(db.sql)
    const skipped = (await ledger(db.sql, campaign.id)).filter((row) => row.state === 'skipped')
    expect(skipped.map((row) => [row.phone, row.detail]).sort()).toEqual([
      [phone(3), 'unsubscribed'],
      [phone(8), 'excluded'],
      ['not a number', 'invalid phone number'],
    ])
  })

  it('sends one batch per 7 when the eligible count is not a multiple of the chunk size', async () => {
    const rows: Array<[string, string]> = []
    const expected = new Map<string, string>()
    for (let n = 1; n <= 15; n++) {
      rows.push([phone(n), `text ${n}`])
      expected.set(phone(n), `text ${n}`)
    }
    expect(await insertCountingBatches(rows, 7)).toBe(3)
    await expectExactlyOnce(db.sql, expected)
  })
})
