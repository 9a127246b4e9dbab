import { randomUUID } from 'node:crypto'
import { beforeEach, describe, expect, it } from 'vitest'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { useFakes } from '../support/fakes.ts'
import {
  archiveRows,
  broadcastPayload,
  campaignPayload,
  createAuthor,
  createBroadcast,
  createCampaign,
  enqueue,
  FIRST_MESSAGES_QUEUE,
  ledgerRows,
  makeVisible,
  PHONE,
  queueRows,
  SECOND_MESSAGES_QUEUE,
  statusRows,
} from '../support/factories/sending.ts'
import { callSendMessages, conversationReads, drafts, FIRST_TOKEN, READ_TOKEN, SECOND_TOKEN } from './helpers.ts'

// Upstream's broadcast-service-tests.ts (spec §7.4), against a real database and the Missive fake.

const db = useTestDatabase()
const fakes = useFakes()

beforeEach(async () => {
  await resetDatabase(db.sql)
  await createAuthor(db.sql, PHONE)
})

const send = (isSecond: boolean) => callSendMessages(db.sql, fakes, { isSecond })

describe('send-messages: broadcasts (upstream setup A)', () => {
  let ids: { broadcastId: number; segmentId: number }
  beforeEach(async () => {
    ids = await createBroadcast(db.sql)
    await enqueue(db.sql, broadcastPayload(ids))
  })

  it('should send first message successfully and delete from queue', async () => {
    expect(await queueRows(db.sql)).toHaveLength(1)
    expect(await statusRows(db.sql)).toHaveLength(0)

    const response = await send(false)

    expect(response).toMatchObject({ status: 200, body: { sent: 1, failed: 0 } })
    expect(fakes.missive.drafts).toHaveLength(1)
    expect(fakes.missive.drafts[0]).toMatchObject({
      body: 'Test first message',
      to: PHONE,
      token: FIRST_TOKEN,
      labelIds: [],
    })
    expect(await queueRows(db.sql)).toHaveLength(0)
    const [status] = await statusRows(db.sql)
    expect(status).toMatchObject({
      recipient_phone_number: PHONE,
      message: 'Test first message',
      is_second: false,
      broadcast_id: ids.broadcastId,
      campaign_id: null,
      missive_id: fakes.missive.drafts[0]!.id,
      missive_conversation_id: fakes.missive.drafts[0]!.conversationId,
      audience_segment_id: ids.segmentId,
    })
    expect(await ledgerRows(db.sql)).toMatchObject([{
      state: 'sent',
      attempts: 0,
      message_status_id: status!.id,
      missive_id: status!.missive_id,
    }])
  })

  it('should send first message and queue second message with delay', async () => {
    await send(false)

    const [second] = await queueRows(db.sql, SECOND_MESSAGES_QUEUE)
    expect(second!.message).toMatchObject({
      first_message: 'Test first message',
      second_message: 'Test second message',
      recipient_phone_number: PHONE,
      broadcast_id: ids.broadcastId,
      segment_id: ids.segmentId,
      delay: 600,
    })
    // Invisible for the payload's delay (600 s).
    const secondsAway = (second!.vt.getTime() - Date.now()) / 1000
    expect(secondsAway).toBeGreaterThan(590)
    expect(secondsAway).toBeLessThanOrEqual(601)
    const [status] = await statusRows(db.sql)
    expect(status).toMatchObject({ broadcast_id: ids.broadcastId, second_message_queue_id: second!.msg_id })
  })

  it('should send second message successfully', async () => {
    await db.sql`DELETE FROM pgmq.q_broadcast_first_messages`
    await enqueue(db.sql, broadcastPayload(ids, { delay: 0 }))
    await send(false)
    expect(await queueRows(db.sql, SECOND_MESSAGES_QUEUE)).toHaveLength(1)
    fakes.missive.clearRequests()

    const response = await send(true)

    expect(response.body).toMatchObject({ queue: SECOND_MESSAGES_QUEUE, sent: 1 })
    expect(drafts(fakes)).toHaveLength(1)
    expect(fakes.missive.drafts.at(-1)).toMatchObject({ body: 'Test second message', to: PHONE, token: SECOND_TOKEN })
    expect(await queueRows(db.sql, SECOND_MESSAGES_QUEUE)).toHaveLength(0)
    const statuses = await statusRows(db.sql)
    expect(statuses).toHaveLength(2)
    expect(statuses.find((s) => s.is_second)).toMatchObject({
      message: 'Test second message',
      broadcast_id: ids.broadcastId,
      second_message_queue_id: null,
    })
  })

  // Upstream failed the draft with a 500. A 5xx may come after Missive sent the SMS, so it is an
  // unknown outcome here, never retried (tests/sending/guarantees.test.ts); a 4xx that rejects
  // the request is the failure that proves nothing went out.
  it('should not delete message on the first API failure', async () => {
    fakes.missive.failNext(1, 'rejected', { path: '/v1/drafts' })

    const response = await send(false)

    expect(response.body).toMatchObject({ sent: 0, retrying: 1 })
    expect(drafts(fakes)).toHaveLength(1)
    expect(await queueRows(db.sql)).toHaveLength(1)
    expect(await statusRows(db.sql)).toHaveLength(0)
    expect(await ledgerRows(db.sql)).toMatchObject([{ state: 'failed', attempts: 1, last_http_status: 400 }])
  })

  // Upstream deleted the message on the 3rd read (read_ct > 2) and lost it. We archive it (dead
  // letter) and keep the last error in the ledger; attempts are counted by the ledger, so a high
  // read_ct alone (e.g. from 429 deferrals) does not end a message.
  it('should archive (not delete) the message after 3 failed attempts for non-429 errors', async () => {
    await db.sql`UPDATE pgmq.q_broadcast_first_messages SET read_ct = 3`
    fakes.missive.failShare(1, 'rejected', { path: '/v1/drafts' })

    await send(false)
    expect(await queueRows(db.sql)).toHaveLength(1)
    await makeVisible(db.sql)
    await send(false)
    expect(await queueRows(db.sql)).toHaveLength(1)
    await makeVisible(db.sql)
    const response = await send(false)

    expect(response.body).toMatchObject({ failed: 1, retrying: 0 })
    expect(drafts(fakes)).toHaveLength(3)
    expect(await queueRows(db.sql)).toHaveLength(0)
    const archived = await archiveRows(db.sql)
    expect(archived).toHaveLength(1)
    expect(archived[0]!.message).toMatchObject({ recipient_phone_number: PHONE, broadcast_id: ids.broadcastId })
    expect(await statusRows(db.sql)).toHaveLength(0)
    const [ledger] = await ledgerRows(db.sql)
    expect(ledger).toMatchObject({ state: 'failed', attempts: 3, last_http_status: 400 })
    expect(ledger!.detail).toContain('400')
  })

  it('should not delete message on 429 rate limit even after max retries', async () => {
    await db.sql`UPDATE pgmq.q_broadcast_first_messages SET read_ct = 3`
    fakes.missive.failNext(1, 'rate-limit', { path: '/v1/drafts', retryAfterSeconds: 30 })

    const response = await send(false)

    expect(response.body).toMatchObject({ sent: 0, deferred: 1, failed: 0 })
    const [row] = await queueRows(db.sql)
    expect(row).toBeDefined()
    // Deferred by Retry-After, not by the 180 s lease.
    expect((row!.vt.getTime() - Date.now()) / 1000).toBeLessThanOrEqual(31)
    expect(await statusRows(db.sql)).toHaveLength(0)
    expect(await archiveRows(db.sql)).toHaveLength(0)
    // Not an attempt: no ledger row is left behind for a 429 on a first try.
    expect(await ledgerRows(db.sql)).toHaveLength(0)
  })

  it('should return early when first queue is empty', async () => {
    await db.sql`DELETE FROM pgmq.q_broadcast_first_messages`
    const started = Date.now()

    const response = await send(false)

    expect(response).toMatchObject({ status: 200, body: { sent: 0, stoppedBy: 'empty' } })
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(fakes.missive.requests).toHaveLength(0)
    expect(await statusRows(db.sql)).toHaveLength(0)
  })

  it('should return early when second queue is empty', async () => {
    const response = await send(true)

    expect(response).toMatchObject({ status: 200, body: { queue: SECOND_MESSAGES_QUEUE, sent: 0, stoppedBy: 'empty' } })
    expect(fakes.missive.requests).toHaveLength(0)
    expect(await statusRows(db.sql)).toHaveLength(0)
    expect(await queueRows(db.sql, FIRST_MESSAGES_QUEUE)).toHaveLength(1)
  })
})

describe('send-messages: campaigns (upstream setup B)', () => {
  const labelId = randomUUID()
  const excludedLabelId = randomUUID()
  const conversationId = randomUUID()
  let campaignId: number
  let meta: Record<string, unknown>

  beforeEach(async () => {
    campaignId = await createCampaign(db.sql, { labelIds: [labelId] })
    meta = campaignPayload(campaignId, {
      label_ids: [labelId],
      campaign_segments: { excluded: [{ id: excludedLabelId, since: 0 }] },
      conversation_id: conversationId,
    })
    await enqueue(db.sql, meta)
    fakes.missive.setConversationLabels(conversationId, [{ id: randomUUID(), name: 'Different' }])
  })

  it('should send first campaign message successfully and delete from queue', async () => {
    await send(false)

    const reads = conversationReads(fakes)
    expect(reads).toHaveLength(1)
    expect(reads[0]).toMatchObject({
      path: `/v1/conversations/${conversationId}`,
      headers: { authorization: `Bearer ${READ_TOKEN}` },
    })
    expect(fakes.missive.drafts).toHaveLength(1)
    expect(fakes.missive.drafts[0]).toMatchObject({
      body: 'Test campaign first message',
      to: PHONE,
      labelIds: [labelId],
      token: FIRST_TOKEN,
    })
    expect(await queueRows(db.sql)).toHaveLength(0)
    expect(await statusRows(db.sql)).toMatchObject([{
      recipient_phone_number: PHONE,
      message: 'Test campaign first message',
      is_second: false,
      campaign_id: campaignId,
      broadcast_id: null,
      missive_id: fakes.missive.drafts[0]!.id,
      missive_conversation_id: fakes.missive.drafts[0]!.conversationId,
    }])
  })

  it('should send first campaign message and queue second message with delay', async () => {
    expect(await queueRows(db.sql, SECOND_MESSAGES_QUEUE)).toHaveLength(0)

    await send(false)

    const second = await queueRows(db.sql, SECOND_MESSAGES_QUEUE)
    expect(second).toHaveLength(1)
    const { created_at: createdAt, ...rest } = meta
    expect(second[0]!.message).toMatchObject(rest)
    expect(second[0]!.message.created_at).toBe(createdAt)
    expect((second[0]!.vt.getTime() - Date.now()) / 1000).toBeGreaterThan(290)
    expect(await statusRows(db.sql)).toMatchObject([{
      campaign_id: campaignId,
      second_message_queue_id: second[0]!.msg_id,
    }])
  })

  it('should send second campaign message successfully', async () => {
    await db.sql`DELETE FROM pgmq.q_broadcast_first_messages`
    await enqueue(db.sql, { ...meta, delay: 0 })
    await send(false)
    fakes.missive.clearRequests()
    fakes.missive.setConversationLabels(conversationId, [{ id: randomUUID(), name: 'Different' }])

    await send(true)

    expect(drafts(fakes)).toHaveLength(1)
    expect(fakes.missive.drafts.at(-1)).toMatchObject({
      body: 'Test campaign second message',
      to: PHONE,
      token: SECOND_TOKEN,
    })
    expect(await queueRows(db.sql, SECOND_MESSAGES_QUEUE)).toHaveLength(0)
    const statuses = await statusRows(db.sql)
    expect(statuses).toHaveLength(2)
    expect(statuses[1]).toMatchObject({
      is_second: true,
      message: 'Test campaign second message',
      campaign_id: campaignId,
      broadcast_id: null,
    })
  })

  it('should send campaign message when Missive returns empty conversations array', async () => {
    const unknownConversation = randomUUID()
    await db.sql`DELETE FROM pgmq.q_broadcast_first_messages`
    await enqueue(db.sql, { ...meta, conversation_id: unknownConversation })

    await send(false)

    expect(conversationReads(fakes)).toMatchObject([{ path: `/v1/conversations/${unknownConversation}` }])
    expect(drafts(fakes)).toHaveLength(1)
    expect(await queueRows(db.sql)).toHaveLength(0)
    expect(await statusRows(db.sql)).toMatchObject([{ campaign_id: campaignId }])
  })

  it('should skip sending campaign message when recipient has excluded label', async () => {
    fakes.missive.setConversationLabels(conversationId, [excludedLabelId, 'other-label'])

    const response = await send(false)

    expect(response.body).toMatchObject({ sent: 0, skipped: 1 })
    expect(conversationReads(fakes)).toHaveLength(1)
    expect(drafts(fakes)).toHaveLength(0)
    expect(await queueRows(db.sql)).toHaveLength(0)
    expect(await queueRows(db.sql, SECOND_MESSAGES_QUEUE)).toHaveLength(0)
    expect(await statusRows(db.sql)).toHaveLength(0)
    // Upstream only logged the skip; the ledger records it with the reason.
    const [ledger] = await ledgerRows(db.sql)
    expect(ledger).toMatchObject({ state: 'skipped', campaign_id: campaignId, is_second: false })
    expect(ledger!.detail).toContain(excludedLabelId)
  })

  it('should send campaign message when Missive conversation API fails', async () => {
    fakes.missive.failNext(1, 'server-error', { path: '/v1/conversations' })

    await send(false)

    expect(conversationReads(fakes)).toHaveLength(1)
    expect(drafts(fakes)).toHaveLength(1)
    expect(await statusRows(db.sql)).toMatchObject([{ campaign_id: campaignId }])
  })

  it('should not call getMissiveConversation when excluded array is empty', async () => {
    await db.sql`DELETE FROM pgmq.q_broadcast_first_messages`
    await enqueue(db.sql, { ...meta, campaign_segments: { excluded: [] } })

    await send(false)

    expect(conversationReads(fakes)).toHaveLength(0)
    expect(drafts(fakes)).toHaveLength(1)
  })
})
