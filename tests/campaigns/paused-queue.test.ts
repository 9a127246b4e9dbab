import { beforeEach, describe, expect, it } from 'vitest'
import { callSendMessages } from '../sending/helpers.ts'
import { createCampaign } from '../support/factories/campaigns.ts'
import { broadcastPayload, createAuthor, createBroadcast, enqueue } from '../support/factories/sending.ts'
import { useCampaignApi } from './harness.ts'

// Issue 9 #8: a paused campaign's messages leave the hot queue (they were re-read and deferred every
// minute, ahead of anything enqueued after them), and come back on resume in their order.

const { db, fakes, api } = useCampaignApi()
const RECIPIENTS = 50_000
const campaignPhone = (i: number) => `+1555${String(i).padStart(7, '0')}`

beforeEach(() => fakes.missive.reset())

/** A campaign in the middle of sending, its 50 000 first messages queued with one send_batch. */
async function sendingCampaign(): Promise<number> {
  const id = await createCampaign(db.sql, { status: 'sending', processed: true, segments: null })
  await db.sql`
    SELECT pgmq.send_batch('broadcast_first_messages', ARRAY(
      SELECT jsonb_build_object('recipient_phone_number', '+1555' || lpad(i::text, 7, '0'), 'campaign_id', ${id}::int,
                                'first_message', 'Campaign text', 'second_message', NULL, 'title', 'c', 'delay', 600)
      FROM generate_series(1, ${RECIPIENTS}::int) AS i ORDER BY i), 0)`
  return id
}

const visibleOf = async (campaignId: number) => {
  const [row] = await db.sql<{ visible: number; parked: number; in_order: boolean }[]>`
    WITH q AS (
      SELECT msg_id, vt, message->>'recipient_phone_number' AS phone
      FROM pgmq.q_broadcast_first_messages WHERE message->>'campaign_id' = ${String(campaignId)}
    )
    SELECT count(*) FILTER (WHERE vt <= clock_timestamp())::int AS visible,
           count(*) FILTER (WHERE vt > clock_timestamp())::int AS parked,
           coalesce(bool_and(ordered.phone_rank = ordered.msg_rank), true) AS in_order
    FROM (SELECT phone, vt, row_number() OVER (ORDER BY phone) AS phone_rank, row_number() OVER (ORDER BY msg_id) AS msg_rank FROM q) AS ordered`
  return row!
}

describe('a paused campaign does not block the queue', () => {
  it(
    'a broadcast enqueued behind a paused 50 000-recipient campaign starts sending within one drain; resume brings them back in order',
    async () => {
      const campaignId = await sendingCampaign()
      expect((await api().post(`/${campaignId}/pause/`)).body.status).toBe('paused')

      const broadcastPhones = ['+13135550301', '+13135550302', '+13135550303']
      const ids = await createBroadcast(db.sql)
      for (const phone of broadcastPhones) {
        await createAuthor(db.sql, phone)
        await enqueue(db.sql, broadcastPayload(ids, { recipient_phone_number: phone }))
      }

      const drain = await callSendMessages(db.sql, fakes, {}, { SEND_DRAIN_SECONDS: '5' })
      expect(drain.status).toBe(200)
      expect(fakes.missive.drafts.map((d) => d.to).sort()).toEqual(broadcastPhones)
      // Nothing of the paused campaign went out, and it is all still there.
      expect(await visibleOf(campaignId)).toMatchObject({ visible: 0, parked: RECIPIENTS })

      expect((await api().post(`/${campaignId}/resume/`)).body.status).toBe('sending')
      expect(await visibleOf(campaignId)).toEqual({ visible: RECIPIENTS, parked: 0, in_order: true })
      const before = fakes.missive.drafts.length
      await callSendMessages(db.sql, fakes, {}, { SEND_DRAIN_SECONDS: '1' })
      const sentTo = fakes.missive.drafts.slice(before).map((d) => d.to)
      expect(sentTo.length).toBeGreaterThan(0)
      // The campaign carries on from where it stopped: its first recipients first.
      expect(sentTo.every((phone) => phone <= campaignPhone(sentTo.length + 5))).toBe(true)
    },
    120_000,
  )
})

describe('parked messages', () => {
  it('a follow-up parked by a pause keeps its msg_id and the rest of its delay on resume; cancel lets the sender skip them', async () => {
    const id = await createCampaign(db.sql, { status: 'sending', processed: true, segments: null })
    const [{ first }] = await db.sql`SELECT pgmq.send('broadcast_first_messages', ${
      db.sql.json({ recipient_phone_number: '+13135550401', campaign_id: id, first_message: 'A', delay: 600 })
    }::jsonb, 0) AS first`
    const [{ second }] = await db.sql`SELECT pgmq.send('broadcast_second_messages', ${
      db.sql.json({
        recipient_phone_number: '+13135550402',
        campaign_id: id,
        first_message: 'A',
        second_message: 'B',
        delay: 600,
      })
    }::jsonb, 600) AS second`
    await api().post(`/${id}/pause/`)
    const parked = await db.sql`
      SELECT msg_id FROM pgmq.q_broadcast_second_messages WHERE vt > now() + interval '50 years'
      UNION ALL SELECT msg_id FROM pgmq.q_broadcast_first_messages WHERE vt > now() + interval '50 years'`
    expect(parked.map((r) => Number(r.msg_id)).sort()).toEqual([Number(first), Number(second)].sort())

    await api().post(`/${id}/resume/`)
    const [followUp] = await db.sql`
      SELECT msg_id, extract(epoch FROM vt - now())::int AS due_in FROM pgmq.q_broadcast_second_messages`
    expect(Number(followUp.msg_id)).toBe(Number(second))
    expect(followUp.due_in).toBeGreaterThan(590)
    expect(followUp.due_in).toBeLessThanOrEqual(600)

    await api().post(`/${id}/pause/`)
    expect((await api().post(`/${id}/cancel/`)).body.status).toBe('cancelled')
    const drain = await callSendMessages(db.sql, fakes, {}, { SEND_DRAIN_SECONDS: '2' })
    expect(drain.body).toMatchObject({ skipped: 1, sent: 0 })
    expect(fakes.missive.drafts).toHaveLength(0)
  })
})
