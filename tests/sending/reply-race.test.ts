import { beforeEach, describe, expect, it } from 'vitest'
import type { TransactionSql } from '../../src/shared/db/client.ts'
import { unsubscribeAuthor } from '../../src/shared/opt-out/subscription.ts'
import { rateBudget } from '../../src/shared/sending/rate-budget.ts'
import { handleIncomingSms } from '../../src/shared/webhooks/replies.ts'
import { testConfig } from '../support/app.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { useFakes } from '../support/fakes.ts'
import {
  broadcastPayload,
  campaignPayload,
  createAuthor,
  createBroadcast,
  createCampaign,
  enqueue,
  ledgerRows,
  PHONE,
  queueRows,
  SECOND_MESSAGES_QUEUE,
} from '../support/factories/sending.ts'
import { callSendMessages, drafts } from './helpers.ts'

// Issue 9 item 2: a reply deleted the follow-up from the queue, but a drain that had already read
// it, waiting for a rate slot, sent it anyway. Rule: once a reply or an opt-out is committed, no
// follow-up for that person reaches Missive; the check is atomic with the ledger claim and comes
// after the wait for the slot.

const db = useTestDatabase()
const fakes = useFakes()

beforeEach(async () => {
  await resetDatabase(db.sql)
  await createAuthor(db.sql, PHONE)
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting until ${what}`)
    await sleep(20)
  }
}

/** Every concurrency slot of a token taken by requests "in flight" elsewhere: a drain must wait. */
async function occupyToken(purpose: 'first-messages' | 'second-messages'): Promise<() => Promise<void>> {
  const { tokenKey, limits } = await rateBudget(testConfig(), purpose)
  const rows = await db.sql<{ id: string }[]>`
    INSERT INTO public.missive_requests (token_key, purpose, started_at, lease_until)
    SELECT ${tokenKey}, 'test-occupied', clock_timestamp(), clock_timestamp() + interval '1 minute'
    FROM generate_series(1, ${limits.maxConcurrent}::integer)
    RETURNING id`
  const ids = rows.map((row) => row.id)
  return async () => {
    await db.sql`DELETE FROM public.missive_requests WHERE id IN ${db.sql(ids)}`
  }
}

/** A first message sent, its follow-up due now, and a drain of the follow-ups holding it while it waits for a slot. */
async function followUpHeldByWaitingDrain(payload: Record<string, unknown>) {
  await enqueue(db.sql, payload)
  expect((await callSendMessages(db.sql, fakes, { isSecond: false })).body).toMatchObject({ sent: 1 })
  const [followUp] = await queueRows(db.sql, SECOND_MESSAGES_QUEUE)
  expect(followUp).toBeDefined()

  const free = await occupyToken('second-messages')
  const drain = callSendMessages(db.sql, fakes, { isSecond: true }, { SEND_DRAIN_SECONDS: '10' })
  // The drain has read (leased) the follow-up and is now waiting for a slot.
  await until('the drain has read the follow-up', async () => {
    const [row] = await queueRows(db.sql, SECOND_MESSAGES_QUEUE)
    return row?.read_ct === 1
  })
  await sleep(150)
  return { drain, free }
}

const OUTLIER = '+13135550000'
const STRANGER = '+13135559876'

/** What user-action does with an incoming SMS: the message row and its consequences, one transaction. */
async function receive(text: string) {
  const sms = {
    messageId: crypto.randomUUID(),
    conversationId: crypto.randomUUID(),
    from: PHONE,
    deliveredAt: new Date(),
    text,
  }
  return await db.sql.begin(async (tx) => {
    await tx`INSERT INTO public.authors (phone_number) VALUES (${OUTLIER}) ON CONFLICT DO NOTHING`
    await tx`
      INSERT INTO public.twilio_messages (id, preview, delivered_at, "references", from_field, to_field)
      VALUES (${sms.messageId}, ${text}, ${sms.deliveredAt}, '{}', ${PHONE}, ${OUTLIER})`
    return await handleIncomingSms(tx, sms)
  })
}

describe('a reply or opt-out committed while a drain holds the follow-up', () => {
  for (
    const [name, setup] of [
      ['broadcast', async () => broadcastPayload(await createBroadcast(db.sql), { delay: 0 })],
      ['campaign', async () => campaignPayload(await createCampaign(db.sql, { delay: 0 }), { delay: 0 })],
    ] as const
  ) {
    it(`a reply stops the ${name} follow-up the drain already read`, async () => {
      const { drain, free } = await followUpHeldByWaitingDrain(await setup())

      const reply = await receive('Thanks, who is this?')
      expect(reply.followUpsRemoved).toBe(1)
      await free()
      const response = await drain

      expect(response.body).toMatchObject({ sent: 0, skipped: 1 })
      expect(drafts(fakes)).toHaveLength(1)
      const followUpLedger = (await ledgerRows(db.sql)).find((row) => row.is_second)
      expect(followUpLedger).toMatchObject({ state: 'skipped' })
      expect(followUpLedger!.detail).toMatch(/reply or opt-out/)
    })

    it(`an opt-out stops the ${name} follow-up the drain already read`, async () => {
      const { drain, free } = await followUpHeldByWaitingDrain(await setup())

      await receive('STOP')
      await free()
      const response = await drain

      expect(response.body).toMatchObject({ sent: 0, skipped: 1 })
      expect(drafts(fakes)).toHaveLength(1)
    })
  }

  it('a reply committed after the claim finds the follow-up already claimed, and is not lost', async () => {
    // The other order: the claim wins, the reply's queue deletion waits for it, and the follow-up
    // goes out. The reply still counts (the linearisation point is the claim's commit).
    const { drain, free } = await followUpHeldByWaitingDrain(
      broadcastPayload(await createBroadcast(db.sql), { delay: 0 }),
    )
    await free()
    const response = await drain
    const reply = await receive('ok')

    expect(response.body).toMatchObject({ sent: 1 })
    expect(reply.repliedTo).not.toBeNull()
    expect(drafts(fakes)).toHaveLength(2)
  })
})

describe('an opt-out racing the claim of a first message', () => {
  /** Holds every insert into the ledger, so the drain stops exactly at its claim; returns the release. */
  async function holdClaims(): Promise<() => Promise<void>> {
    const blocker = await db.sql.reserve()
    await blocker`BEGIN`
    await blocker`LOCK TABLE public.message_sends IN SHARE ROW EXCLUSIVE MODE`
    return async () => {
      await blocker`COMMIT`
      blocker.release()
    }
  }

  async function drainStoppedAtClaim() {
    const release = await holdClaims()
    const drain = callSendMessages(db.sql, fakes, { isSecond: false })
    await until('the drain waits at its claim', async () => {
      const [row] = await db.sql<{ waiting: number }[]>`
        SELECT count(*)::integer AS waiting FROM pg_locks
        WHERE NOT granted AND relation = 'public.message_sends'::regclass`
      return row!.waiting > 0
    })
    return { drain, release }
  }

  /** The opt-out, given a moment: it either commits now or has to wait for the claim's transaction. */
  async function optOutNow(optOut: (tx: TransactionSql) => Promise<unknown>): Promise<string> {
    return await db.sql.begin(async (tx) => {
      await tx`SET LOCAL lock_timeout = '500ms'`
      await optOut(tx)
    }).then(() => 'committed', () => 'waited for the claim')
  }

  for (
    const [name, recipient, prepare] of [
      ['a known author (any UPDATE of authors)', PHONE, async () => {
        const ids = await createBroadcast(db.sql)
        await enqueue(db.sql, broadcastPayload(ids))
      }],
      ['a personalized number with no authors row yet', STRANGER, async () => {
        const campaignId = await createCampaign(db.sql, { secondMessage: null })
        await enqueue(db.sql, campaignPayload(campaignId, { recipient_phone_number: STRANGER, second_message: null }))
      }],
    ] as const
  ) {
    it(`cannot commit between the last eligibility check and the claim: ${name}`, async () => {
      await prepare()
      const { drain, release } = await drainStoppedAtClaim()

      const optOut = await optOutNow((tx) =>
        recipient === PHONE
          ? tx`UPDATE public.authors SET unsubscribed = true WHERE phone_number = ${recipient}`
          : unsubscribeAuthor(tx, recipient)
      )
      await release()
      const response = await drain

      // Committed first would have to mean nothing sent; here it had to wait for the claim (the text
      // is then out, and the opt-out, retried by Missive's webhook, applies from then on).
      if (optOut === 'committed') expect(drafts(fakes)).toHaveLength(0)
      expect({ optOut, sent: response.body.sent }).toEqual({ optOut: 'waited for the claim', sent: 1 })
    })
  }
})
