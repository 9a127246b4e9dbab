import { beforeEach, describe, expect, it } from 'vitest'
import { campaignFunction } from '../../src/shared/campaigns/campaign-function.ts'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { cancelSlot, rateBudget, tryAcquireSlot } from '../../src/shared/sending/rate-budget.ts'
import { sendMessagesFunction } from '../../src/shared/sending/send-messages-function.ts'
import { asStaff, createTestDeps, SECRET_KEY } from '../support/app.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { useFakes } from '../support/fakes.ts'
import {
  campaignPayload,
  createAuthor,
  createCampaign,
  enqueue,
  ledgerRows,
  makeVisible,
  queueRows,
  SECOND_MESSAGES_QUEUE,
} from '../support/factories/sending.ts'

// Quiet hours in the sender (issue 14 part 3), against a real database and the Missive fake, with
// the sender's clock (deps.now) placed at 20:59 and then at 08:00 in America/Detroit.

const db = useTestDatabase()
const fakes = useFakes()

const PHONES = ['+13135550101', '+13135550102', '+13135550103', '+13135550104', '+13135550105']
const QUIET = { QUIET_HOURS: '21:00-08:00', BROADCAST_TIME_ZONE: 'America/Detroit' }
const at = (iso: string) => new Date(iso)

beforeEach(async () => {
  await resetDatabase(db.sql)
  for (const phone of PHONES) await createAuthor(db.sql, phone)
})

/** A sender (and the campaign API, for progress) whose clock is `clock()`. */
function stack(clock: () => Date, env: Record<string, string> = {}) {
  const deps = createTestDeps(db.sql, {
    env: { ...fakes.env, ...QUIET, SEND_DRAIN_SECONDS: '120', MISSIVE_MAX_CONCURRENT: '1', ...env },
    now: clock,
  })
  const sender = createFunctionApp(sendMessagesFunction, deps)
  const campaigns = asStaff(createFunctionApp(campaignFunction, deps))
  return {
    deps,
    drain: async (isSecond = false) => {
      const response = await sender.request('/send-messages/', {
        method: 'POST',
        headers: { apikey: SECRET_KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ isSecond }),
      })
      return { status: response.status, body: await response.json() as Record<string, any> }
    },
    progress: async (id: number) => (await campaigns.request(`/campaigns/${id}/progress/`)).json() as Promise<any>,
  }
}

async function queueCampaign(options: { secondMessage?: string | null; delay?: number } = {}): Promise<number> {
  const id = await createCampaign(db.sql, { secondMessage: options.secondMessage ?? null, delay: options.delay })
  for (const phone of PHONES) {
    await enqueue(
      db.sql,
      campaignPayload(id, {
        recipient_phone_number: phone,
        first_message: `Hello ${phone}`,
        second_message: options.secondMessage ?? null,
        delay: options.delay ?? 300,
      }),
    )
  }
  return id
}

describe('a drain that crosses 21:00', () => {
  it('sends until 21:00, holds the rest (progress says so), and finishes after 08:00: each once, in order', async () => {
    const id = await queueCampaign()
    // The clock moves 20 s per text Missive accepts: 20:59:00, 20:59:20, 20:59:40, then 21:00:00.
    const base = at('2026-12-01T20:59:00-05:00').getTime()
    const evening = stack(() => new Date(base + 20_000 * fakes.missive.drafts.length))

    const first = await evening.drain()
    expect(first.status).toBe(200)
    expect(first.body).toMatchObject({ sent: 3, held: 0, failed: 0, stoppedBy: 'quiet-hours', jobRemoved: false })
    expect(fakes.missive.drafts).toHaveLength(3)
    // Held: still queued, visible, no attempt recorded, no ledger row that could block the morning.
    const held = await queueRows(db.sql)
    expect(held.map((row) => row.message.recipient_phone_number)).toEqual(PHONES.slice(3))
    expect(held.every((row) => row.vt.getTime() <= Date.now())).toBe(true)
    expect((await ledgerRows(db.sql)).map((row) => [row.recipient_phone_number, row.state])).toEqual(
      PHONES.slice(0, 3).map((phone) => [phone, 'sent']),
    )

    const progress = await evening.progress(id)
    expect(progress).toMatchObject({
      // Held messages are part of `queued`: each recipient counts once in `total` and `percent`.
      total: 5,
      percent: 60,
      sent: 3,
      queued: 2,
      heldForQuietHours: 2,
      quietHours: {
        active: true,
        window: '21:00–08:00 America/Detroit',
        resumesAt: '2026-12-02T13:00:00.000Z',
        status: 'held for quiet hours until Wed, Dec 2, 2026, 08:00 EST (America/Detroit)',
      },
    })

    // The per-minute job calls again during the night: nothing goes out.
    const night = stack(() => at('2026-12-02T03:00:00-05:00'))
    expect((await night.drain()).body).toMatchObject({ sent: 0, stoppedBy: 'quiet-hours' })
    expect(fakes.missive.drafts).toHaveLength(3)

    const morning = stack(() => at('2026-12-02T08:00:00-05:00'))
    expect((await morning.drain()).body).toMatchObject({ sent: 2, held: 0, stoppedBy: 'empty' })
    expect(fakes.missive.drafts.map((d) => d.to)).toEqual(PHONES)
    expect(fakes.missive.drafts.map((d) => d.body)).toEqual(PHONES.map((phone) => `Hello ${phone}`))
    expect(await queueRows(db.sql)).toHaveLength(0)
    const ledger = await ledgerRows(db.sql)
    expect(ledger.map((row) => [row.recipient_phone_number, row.state, row.attempts])).toEqual(
      PHONES.map((phone) => [phone, 'sent', 0]),
    )
    expect(await morning.progress(id)).toMatchObject({
      sent: 5,
      queued: 0,
      heldForQuietHours: 0,
      quietHours: { active: false, resumesAt: null },
    })
  })

  it('a drain that read a message at 20:59:59 and waited for a rate slot until 21:00 does not send it', async () => {
    await queueCampaign()
    await db.sql`DELETE FROM pgmq.q_broadcast_first_messages WHERE message->>'recipient_phone_number' <> ${PHONES[0]}`
    // The clock runs in real time from 20:59:59.5; the only concurrency slot is taken for 1.2 s.
    const started = Date.now()
    const base = at('2026-12-01T20:59:59.500-05:00').getTime()
    const evening = stack(() => new Date(base + (Date.now() - started)))
    const slot = await tryAcquireSlot(db.sql, await rateBudget(evening.deps.config, 'first-messages'))
    if (!slot.ok) throw new Error('expected a free slot')
    const busy = new Promise((resolve) => setTimeout(resolve, 1200)).then(() => cancelSlot(db.sql, slot.requestId))

    const result = await evening.drain()
    await busy
    expect(result.body).toMatchObject({ sent: 0, held: 1, stoppedBy: 'quiet-hours' })
    expect(fakes.missive.drafts).toHaveLength(0)
    expect(await ledgerRows(db.sql)).toEqual([])
    const [row] = await queueRows(db.sql)
    expect(row!.vt.getTime()).toBeLessThanOrEqual(Date.now())

    const morning = stack(() => at('2026-12-02T08:00:00-05:00'))
    expect((await morning.drain()).body).toMatchObject({ sent: 1 })
    expect(fakes.missive.drafts.map((d) => d.to)).toEqual([PHONES[0]])
  })

  it('QUIET_HOURS=off sends at midnight', async () => {
    await queueCampaign()
    const midnight = stack(() => at('2026-12-02T00:00:00-05:00'), { QUIET_HOURS: 'off' })
    expect((await midnight.drain()).body).toMatchObject({ sent: 5, stoppedBy: 'empty' })
  })
})

describe('follow-ups and quiet hours', () => {
  /** First messages out at `sentAt`; then every follow-up made due (its delay "elapsed"). */
  async function firstMessagesAt(sentAt: string, delay: number): Promise<number> {
    const id = await queueCampaign({ secondMessage: 'Any questions?', delay })
    expect((await stack(() => at(sentAt)).drain()).body).toMatchObject({ sent: 5 })
    await makeVisible(db.sql, SECOND_MESSAGES_QUEUE)
    return id
  }

  it('a follow-up whose delay ends at 21:30 waits until 08:00 (11.5 h after the first message)', async () => {
    const id = await firstMessagesAt('2026-12-01T20:30:00-05:00', 3600)
    const [followUp] = await queueRows(db.sql, SECOND_MESSAGES_QUEUE)
    expect(followUp!.message.first_sent_at).toBe('2026-12-02T01:30:00.000Z')

    const night = stack(() => at('2026-12-01T21:30:00-05:00'))
    expect((await night.drain(true)).body).toMatchObject({ sent: 0, stoppedBy: 'quiet-hours' })
    expect(await night.progress(id)).toMatchObject({ followUps: { queued: 5, heldForQuietHours: 5 } })
    expect(fakes.missive.drafts).toHaveLength(5)

    const morning = stack(() => at('2026-12-02T08:00:00-05:00'))
    expect((await morning.drain(true)).body).toMatchObject({ sent: 5, skipped: 0 })
    const followUps = fakes.missive.drafts.slice(5)
    expect(followUps.map((d) => [d.to, d.body])).toEqual(PHONES.map((phone) => [phone, 'Any questions?']))
  })

  it('one that quiet hours would push more than 12 h after the first message is skipped and recorded', async () => {
    const id = await firstMessagesAt('2026-12-01T19:30:00-05:00', 7200)
    const night = stack(() => at('2026-12-01T21:30:00-05:00'))
    expect((await night.drain(true)).body).toMatchObject({ sent: 0, stoppedBy: 'quiet-hours' })

    const morning = stack(() => at('2026-12-02T08:00:00-05:00'))
    expect((await morning.drain(true)).body).toMatchObject({ sent: 0, skipped: 5 })
    expect(fakes.missive.drafts).toHaveLength(5)
    expect(await queueRows(db.sql, SECOND_MESSAGES_QUEUE)).toHaveLength(0)
    const skipped = (await ledgerRows(db.sql)).filter((row) => row.is_second)
    expect(skipped).toHaveLength(5)
    for (const row of skipped) {
      expect(row.state).toBe('skipped')
      expect(row.detail).toMatch(
        /quiet hours: the follow-up would go out at Wed, Dec 2, 2026, 08:00 EST.*more than 12 h/,
      )
    }
    expect(await morning.progress(id)).toMatchObject({ followUps: { skipped: 5, queued: 0, sent: 0 } })
  })
})
