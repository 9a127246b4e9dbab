import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  authorOf,
  createAuthorRow,
  createCampaignRow,
  createMessageStatus,
  createUserRow,
  enqueueSecondMessage,
  pendingSecondMessages,
} from '../support/factories/webhooks.ts'
import {
  CONTACT_PHONE,
  incomingSms,
  outgoingSms,
  outgoingTwilio,
  OUTLIER_PHONE,
  SMS_CONVERSATION_ID,
  SMS_MESSAGE_ID,
} from './fixtures/missive-events.ts'
import { useWebhookHarness } from './harness.ts'

// Upstream's broadcast-reply and twilio-message-handler tests (upstream-functions.md §7.10, §7.11)
// and the reply window / follow-up cancellation through the real pgmq queue.

const { db, fakes, userAction } = useWebhookHarness()

const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000)
const hoursAgo = (n: number) => new Date(Date.now() - n * 3_600_000)

/** The incoming fixture with this text, delivered now. */
function reply(text: string, options: { id?: string; deliveredAt?: Date; from?: string } = {}) {
  const event = incomingSms()
  event.message.preview = text
  event.message.id = options.id ?? SMS_MESSAGE_ID
  event.message.delivered_at = (options.deliveredAt ?? new Date()).getTime() / 1000
  if (options.from) event.message.from_field = { id: options.from, name: options.from, username: null }
  return event
}

describe('incoming SMS: stored rows', () => {
  it('stores the message, its people and the conversation', async () => {
    expect(await userAction(incomingSms())).toEqual({ status: 200, body: {} })

    const [message] = await db.sql`SELECT * FROM public.twilio_messages`
    expect(message).toMatchObject({
      id: SMS_MESSAGE_ID,
      preview: 'aaa',
      type: 'sms',
      references: [`${OUTLIER_PHONE}${CONTACT_PHONE}`],
      from_field: CONTACT_PHONE,
      to_field: OUTLIER_PHONE,
      is_reply: false,
      reply_to_broadcast: null,
      reply_to_campaign: null,
      sender_id: null,
    })
    // Times come from the payload (epoch seconds), as upstream.
    expect((message!.created_at as Date).getTime()).toBe(1708418458 * 1000)
    expect((message!.delivered_at as Date).getTime()).toBe(1708418458 * 1000)
    expect(await db.sql`SELECT phone_number FROM public.authors ORDER BY phone_number`).toEqual([
      { phone_number: OUTLIER_PHONE },
      { phone_number: CONTACT_PHONE },
    ])
    expect(await db.sql`SELECT author_phone_number FROM public.conversations_authors ORDER BY author_phone_number`)
      .toEqual([
        { author_phone_number: OUTLIER_PHONE },
        { author_phone_number: CONTACT_PHONE },
      ])
    expect(await db.sql`SELECT id, messages_count FROM public.conversations`).toEqual([{
      id: SMS_CONVERSATION_ID,
      messages_count: 161,
    }])
    expect(await db.sql`SELECT 1 FROM public.conversations_users`).toHaveLength(1)
  })

  it('a Twilio account field uses the number in `username`, not the account SID in `id`', async () => {
    const event = incomingSms()
    event.message.to_fields = [{
      id: 'AC0d82ffb9b12d5acf383ca62f1d78c54a',
      name: '+1 (833) 685-6203',
      username: '+18336856203',
    }]

    await userAction(event)

    expect(await db.sql`SELECT to_field FROM public.twilio_messages`).toEqual([{ to_field: '+18336856203' }])
    expect(await authorOf(db.sql, '+18336856203')).toEqual({ unsubscribed: false })
  })

  it('name-only authors do not break ingest (upstream failed the event, §8.4 #26)', async () => {
    const event = incomingSms()
    event.conversation.authors.push({ name: 'Jane Reporter', phone_number: null as unknown as string })

    expect(await userAction(event)).toEqual({ status: 200, body: {} })

    expect(await db.sql`SELECT 1 FROM public.twilio_messages`).toHaveLength(1)
    expect(await db.sql`SELECT author_phone_number FROM public.conversations_authors ORDER BY 1`).toEqual([
      { author_phone_number: OUTLIER_PHONE },
      { author_phone_number: CONTACT_PHONE },
    ])
  })

  it('both spellings of the rule type are handled', async () => {
    const event = incomingSms()
    event.rule.type = 'incoming_sms_message'

    expect(await userAction(event)).toEqual({ status: 200, body: {} })
    expect(await db.sql`SELECT 1 FROM public.twilio_messages`).toHaveLength(1)
  })
})

describe('broadcast replies (§7.10)', () => {
  it('a reply after a first message cancels the pending second message and is marked as a reply', async () => {
    const [queued] = await db.sql<
      { send: string }[]
    >`SELECT pgmq.send('broadcast_second_messages', '{"hello": "world"}', 10) AS send`
    expect(await pendingSecondMessages(db.sql)).toHaveLength(1)
    const sent = await createMessageStatus(db.sql, {
      recipient: CONTACT_PHONE,
      secondMessageQueueId: Number(queued!.send),
      createdAt: minutesAgo(10),
    })
    expect(await db.sql`SELECT 1 FROM public.twilio_messages`).toHaveLength(0)

    await userAction(reply('aaa'))

    expect(await pendingSecondMessages(db.sql)).toEqual([])
    expect(await db.sql`SELECT is_reply, reply_to_broadcast, reply_to_campaign FROM public.twilio_messages`).toEqual([
      { is_reply: true, reply_to_broadcast: String(sent.broadcastId), reply_to_campaign: null },
    ])
  })

  it('"unsubscribe" after a broadcast records the opt-out against it', async () => {
    await createMessageStatus(db.sql, { recipient: CONTACT_PHONE, createdAt: minutesAgo(10) })
    expect(await db.sql`SELECT 1 FROM public.unsubscribed_messages`).toHaveLength(0)

    await userAction(reply('unsubscribe'))

    expect(await db.sql`SELECT broadcast_id, reply_to, twilio_message_id FROM public.unsubscribed_messages`).toEqual([
      { broadcast_id: '1', reply_to: '1', twilio_message_id: SMS_MESSAGE_ID },
    ])
    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
    expect(fakes.missive.posts.map((post) => ({ conversationId: post.conversationId, text: post.text }))).toEqual([
      { conversationId: SMS_CONVERSATION_ID, text: `This phone number ${CONTACT_PHONE} has now been unsubscribed` },
    ])
  })

  it('"stop" is not marked as a reply', async () => {
    await createMessageStatus(db.sql, { recipient: CONTACT_PHONE, createdAt: minutesAgo(10) })

    await userAction(reply('stop'))

    expect(await db.sql`SELECT is_reply, reply_to_broadcast, reply_to_campaign FROM public.twilio_messages`).toEqual([
      { is_reply: false, reply_to_broadcast: null, reply_to_campaign: null },
    ])
  })

  it('"stop" after a broadcast records the opt-out against it', async () => {
    await createMessageStatus(db.sql, { recipient: CONTACT_PHONE, createdAt: minutesAgo(10) })

    await userAction(reply('stop'))

    expect(await db.sql`SELECT broadcast_id, reply_to, twilio_message_id FROM public.unsubscribed_messages`).toEqual([
      { broadcast_id: '1', reply_to: '1', twilio_message_id: SMS_MESSAGE_ID },
    ])
  })

  it('other words do not unsubscribe', async () => {
    await createMessageStatus(db.sql, { recipient: CONTACT_PHONE, createdAt: minutesAgo(10) })

    await userAction(reply('123'))

    expect(await db.sql`SELECT 1 FROM public.unsubscribed_messages`).toHaveLength(0)
    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: false })
    expect(fakes.missive.posts).toEqual([])
  })

  it('a STOP with no recent send still unsubscribes (no broadcast to attribute it to)', async () => {
    await userAction(reply('STOP'))

    expect(await db.sql`SELECT broadcast_id, reply_to FROM public.unsubscribed_messages`).toEqual([{
      broadcast_id: null,
      reply_to: null,
    }])
    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
  })

  it('a reply to a campaign is attributed to the campaign', async () => {
    const campaignId = await createCampaignRow(db.sql)
    await createMessageStatus(db.sql, { recipient: CONTACT_PHONE, campaignId, createdAt: hoursAgo(2) })

    await userAction(reply('Thanks!'))

    expect(await db.sql`SELECT is_reply, reply_to_broadcast, reply_to_campaign FROM public.twilio_messages`).toEqual([
      { is_reply: true, reply_to_broadcast: null, reply_to_campaign: String(campaignId) },
    ])
  })

  it('only the latest send within the 36 hours before the reply counts', async () => {
    const followUp = await enqueueSecondMessage(db.sql, CONTACT_PHONE)
    await createMessageStatus(db.sql, {
      recipient: CONTACT_PHONE,
      secondMessageQueueId: followUp,
      createdAt: hoursAgo(37),
    })

    await userAction(reply('hello'))

    expect(await pendingSecondMessages(db.sql)).toEqual([followUp])
    expect(await db.sql`SELECT is_reply FROM public.twilio_messages`).toEqual([{ is_reply: false }])
  })

  it('a reply cancels the follow-up of what it answers, not the follow-ups of other people', async () => {
    const mine = await enqueueSecondMessage(db.sql, CONTACT_PHONE)
    const theirs = await enqueueSecondMessage(db.sql, '+13135550142')
    await createMessageStatus(db.sql, {
      recipient: CONTACT_PHONE,
      secondMessageQueueId: mine,
      createdAt: minutesAgo(5),
    })

    await userAction(reply('Interesting'))

    expect(await pendingSecondMessages(db.sql)).toEqual([theirs])
  })

  it('an unsubscribe removes every pending follow-up of the number, also one its status row does not name yet', async () => {
    const answered = await enqueueSecondMessage(db.sql, CONTACT_PHONE)
    const unnamed = await enqueueSecondMessage(db.sql, CONTACT_PHONE)
    const theirs = await enqueueSecondMessage(db.sql, '+13135550142')
    await createMessageStatus(db.sql, {
      recipient: CONTACT_PHONE,
      secondMessageQueueId: answered,
      createdAt: minutesAgo(5),
    })

    await userAction(reply('Please stop texting me'))

    expect(await pendingSecondMessages(db.sql)).toEqual([theirs])
    expect(unnamed).toBeGreaterThan(answered)
  })

  it('the sender is identified by username || id, as stored on the message (upstream used id, §8.4 #29)', async () => {
    const followUp = await enqueueSecondMessage(db.sql, '+18336856203')
    await createMessageStatus(db.sql, {
      recipient: '+18336856203',
      secondMessageQueueId: followUp,
      createdAt: minutesAgo(5),
    })
    const event = reply('STOP')
    event.message.from_field = {
      id: 'AC0d82ffb9b12d5acf383ca62f1d78c54a',
      name: '+1 (833) 685-6203',
      username: '+18336856203',
    }

    await userAction(event)

    expect(await authorOf(db.sql, '+18336856203')).toEqual({ unsubscribed: true })
    expect(await pendingSecondMessages(db.sql)).toEqual([])
  })
})

describe('resubscribe (§7.11)', () => {
  it('"start11232" no longer resubscribes: only a whole-text opt-in word does (upstream matched substrings, §8.4 #22)', async () => {
    // Upstream's test expected `unsubscribed false` here; a word merely containing "start" is no
    // consent to texts again (DESIGN.md "Opt-out by text").
    await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: true })

    await userAction(reply('start11232'))

    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
    expect(fakes.missive.posts).toEqual([])
  })

  it('"START" resubscribes an unsubscribed author and posts a note', async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: true })

    await userAction(reply('START'))

    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: false })
    expect(fakes.missive.posts.map((post) => post.text)).toEqual([
      `This phone number ${CONTACT_PHONE} has now been resubscribed`,
    ])
  })

  it('does nothing for an author already subscribed', async () => {
    const phone = '+11234567892'
    await createAuthorRow(db.sql, phone, { unsubscribed: false })
    const event = reply('start', { from: phone })
    event.conversation.id = 'b0fdedc9-ac8a-47c5-a11d-b48bcaf33a2e'

    await userAction(event)

    expect(await authorOf(db.sql, phone)).toEqual({ unsubscribed: false })
    expect(fakes.missive.posts).toEqual([])
  })

  it('ignores other words', async () => {
    const phone = '+11234567893'
    await createAuthorRow(db.sql, phone, { unsubscribed: true })
    const event = reply('hello', { from: phone })
    event.conversation.id = 'b0fdedc9-ac8a-47c5-a11d-b48bcaf33a2e'

    await userAction(event)

    expect(await authorOf(db.sql, phone)).toEqual({ unsubscribed: true })
  })
})

describe('sender of outgoing SMS (§7.11)', () => {
  it('an incoming message has no sender', async () => {
    const event = incomingSms()
    event.message.id = randomUUID()

    await userAction(event)

    expect(await db.sql`SELECT sender_id FROM public.twilio_messages WHERE id = ${event.message.id}`).toEqual([{
      sender_id: null,
    }])
  })

  for (
    const [name, fixture] of [['outgoing_sms_message', outgoingSms], [
      'outgoing_twilio_message',
      outgoingTwilio,
    ]] as const
  ) {
    it(`${name}: the Missive user who sent it is the sender`, async () => {
      const userId = await createUserRow(db.sql)
      const event = fixture()
      event.message.id = randomUUID()
      event.message.author = { id: userId }

      expect(await userAction(event)).toEqual({ status: 200, body: {} })

      expect(await db.sql`SELECT sender_id, from_field, to_field FROM public.twilio_messages`).toEqual([
        { sender_id: userId, from_field: OUTLIER_PHONE, to_field: CONTACT_PHONE },
      ])
    })
  }

  it("the reference fixture's non-UUID author id is stored without a sender (upstream failed the insert)", async () => {
    expect(await userAction(outgoingSms())).toEqual({ status: 200, body: {} })

    expect(await db.sql`SELECT sender_id FROM public.twilio_messages`).toEqual([{ sender_id: null }])
  })

  it('an outgoing message never unsubscribes anyone, whatever it says', async () => {
    const event = outgoingSms()
    event.message.preview = 'Reply STOP to unsubscribe'

    await userAction(event)

    expect(await db.sql`SELECT 1 FROM public.unsubscribed_messages`).toHaveLength(0)
    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: false })
  })
})

describe('status of our outgoing broadcast SMS (handleBroadcastOutgoing)', () => {
  it('records the Twilio SID and a provisional status from Missive', async () => {
    const sent = await createMessageStatus(db.sql, { recipient: CONTACT_PHONE, createdAt: minutesAgo(1) })
    fakes.missive.setMessage(sent.missiveId, {
      externalId: 'SM0123456789abcdef0123456789abcdef',
      deliveredAt: 1708418460,
    })
    const event = outgoingSms()
    event.message.id = sent.missiveId

    await userAction(event)

    const [row] = await db.sql`SELECT twilio_id, twilio_sent_status, twilio_sent_at FROM public.message_statuses`
    expect(row).toMatchObject({ twilio_id: 'SM0123456789abcdef0123456789abcdef', twilio_sent_status: 'delivered' })
    expect((row!.twilio_sent_at as Date).getTime()).toBe(1708418460 * 1000)
    expect(fakes.missive.requests.filter((r) => r.path === `/v1/messages/${sent.missiveId}`)).toHaveLength(1)
  })

  it('"sent" when Missive has the SID but no delivery time', async () => {
    const sent = await createMessageStatus(db.sql, { recipient: CONTACT_PHONE, createdAt: minutesAgo(1) })
    fakes.missive.setMessage(sent.missiveId, { externalId: 'SMabc', deliveredAt: null })
    const event = outgoingSms()
    event.message.id = sent.missiveId

    await userAction(event)

    expect(await db.sql`SELECT twilio_id, twilio_sent_status, twilio_sent_at FROM public.message_statuses`).toEqual([
      { twilio_id: 'SMabc', twilio_sent_status: 'sent', twilio_sent_at: null },
    ])
  })

  it('writes nothing when Missive has no SID yet (upstream wrote "undelivered")', async () => {
    const sent = await createMessageStatus(db.sql, { recipient: CONTACT_PHONE, createdAt: minutesAgo(1) })
    fakes.missive.setMessage(sent.missiveId, { externalId: null, deliveredAt: null })
    const event = outgoingSms()
    event.message.id = sent.missiveId

    await userAction(event)

    expect(await db.sql`SELECT twilio_id, twilio_sent_status FROM public.message_statuses`).toEqual([
      { twilio_id: null, twilio_sent_status: 'delivered' },
    ])
  })

  it('leaves a row Twilio already reported on, without asking Missive', async () => {
    const sent = await createMessageStatus(db.sql, {
      recipient: CONTACT_PHONE,
      createdAt: minutesAgo(1),
      twilioId: 'SMfromTwilio',
    })
    await db.sql`UPDATE public.message_statuses SET twilio_sent_status = 'undelivered'`
    const event = outgoingSms()
    event.message.id = sent.missiveId

    await userAction(event)

    expect(await db.sql`SELECT twilio_id, twilio_sent_status FROM public.message_statuses`).toEqual([
      { twilio_id: 'SMfromTwilio', twilio_sent_status: 'undelivered' },
    ])
    expect(fakes.missive.requests.filter((r) => r.path.startsWith('/v1/messages/'))).toHaveLength(0)
  })

  it('a Missive failure is only logged: the message is stored and the webhook succeeds', async () => {
    const sent = await createMessageStatus(db.sql, { recipient: CONTACT_PHONE, createdAt: minutesAgo(1) })
    fakes.missive.failNext(1, 'server-error')
    const event = outgoingSms()
    event.message.id = sent.missiveId

    expect(await userAction(event)).toEqual({ status: 200, body: {} })
    expect(await db.sql`SELECT 1 FROM public.twilio_messages`).toHaveLength(1)
    expect(await db.sql`SELECT twilio_id FROM public.message_statuses`).toEqual([{ twilio_id: null }])
  })

  it('an outgoing message that is not one of our sends does not call Missive', async () => {
    await userAction(outgoingSms())

    expect(fakes.missive.requests).toHaveLength(0)
  })
})
