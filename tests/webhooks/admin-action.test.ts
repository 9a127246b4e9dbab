import { describe, expect, it } from 'vitest'
import {
  authorOf,
  createAuthorRow,
  createMessageStatus,
  enqueueSecondMessage,
  pendingSecondMessages,
  webhookTableCounts,
} from '../support/factories/webhooks.ts'
import { adminComment, CONTACT_PHONE, incomingSms, SMS_CONVERSATION_ID } from './fixtures/missive-events.ts'
import { useWebhookHarness } from './harness.ts'

// admin-action (upstream-functions.md §2.10; upstream has no tests for it): an admin's comment
// "unsubscribe" / "resubscribe" on a conversation; the rule URL's `?action=` decides.

const { db, fakes, adminAction } = useWebhookHarness()

const postsSeen = () => fakes.missive.posts.map((post) => ({ conversationId: post.conversationId, text: post.text }))

describe('admin-action unsubscribe', () => {
  it('unsubscribes the contact, removes their pending follow-up and posts who did it', async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE)
    const followUp = await enqueueSecondMessage(db.sql, CONTACT_PHONE)
    await createMessageStatus(db.sql, { recipient: CONTACT_PHONE, secondMessageQueueId: followUp })
    const other = await enqueueSecondMessage(db.sql, '+13135550142')

    expect(await adminAction('unsubscribe', adminComment('Unsubscribe'))).toEqual({ status: 200, body: {} })

    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
    expect(await pendingSecondMessages(db.sql)).toEqual([other])
    expect(postsSeen()).toEqual([
      {
        conversationId: SMS_CONVERSATION_ID,
        text: `This phone number ${CONTACT_PHONE} has now been unsubscribed by User 1.`,
      },
    ])
    // Like upstream: the sidebar's "unsubscribed" figure counts opt-outs by text only.
    expect(await db.sql`SELECT 1 FROM public.unsubscribed_messages`).toHaveLength(0)
  })

  it.each(['stop', '  STOP ', 'unsubscribe', 'Unsubscribe this number please'])(
    'a comment asking to unsubscribe (%j) unsubscribes',
    async (body) => {
      await createAuthorRow(db.sql, CONTACT_PHONE)

      expect((await adminAction('unsubscribe', adminComment(body))).status).toBe(200)

      expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
    },
  )

  // Was "unsubscribes whatever the comment says": issue 11 binds the action to the signed comment,
  // so a captured body cannot be replayed to an action it did not ask for.
  it('a comment that does not ask to unsubscribe changes nothing', async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE)

    const result = await adminAction('unsubscribe', adminComment('Please take this number off the list'))

    expect(result.status).toBe(200)
    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: false })
  })

  it('without an author name the note has no "by"', async () => {
    await adminAction('unsubscribe', adminComment('stop', { authorName: null }))

    expect(postsSeen()).toEqual([
      { conversationId: SMS_CONVERSATION_ID, text: `This phone number ${CONTACT_PHONE} has now been unsubscribed.` },
    ])
  })

  it('a number we never stored is stored unsubscribed', async () => {
    await adminAction('unsubscribe', adminComment('unsubscribe'))

    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
  })

  it('a failed post answers 502 so Missive retries; the retry posts once', async () => {
    fakes.missive.failNext(1, 'server-error')
    const event = adminComment('unsubscribe')

    const first = await adminAction('unsubscribe', event)

    expect(first.status).toBe(502)
    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
    expect(await db.sql`SELECT 1 FROM public.errors`).toHaveLength(1)

    expect(await adminAction('unsubscribe', event)).toEqual({ status: 200, body: {} })
    expect(await adminAction('unsubscribe', event)).toEqual({ status: 200, body: {} })
    expect(postsSeen()).toHaveLength(1)
  })
})

describe('admin-action resubscribe', () => {
  it('resubscribes the contact and posts who did it', async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: true })

    expect(await adminAction('resubscribe', adminComment('Resubscribe'))).toEqual({ status: 200, body: {} })

    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: false })
    expect(postsSeen()).toEqual([
      {
        conversationId: SMS_CONVERSATION_ID,
        text: `This phone number ${CONTACT_PHONE} has now been resubscribed by User 1.`,
      },
    ])
  })

  it.each(['start', ' START ', 'resubscribe.'])('%j resubscribes', async (body) => {
    await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: true })

    await adminAction('resubscribe', adminComment(body))

    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: false })
  })

  it('a comment that is not a resubscribe command changes nothing', async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: true })

    const result = await adminAction('resubscribe', adminComment('wait until they call back'))

    expect(result).toEqual({
      status: 200,
      body: {
        message: 'The comment does not ask to resubscribe ("resubscribe" or "start"); nothing changed',
        ignored: { commentId: 'a1b2c3d4-0000-4000-8000-000000000001', action: 'resubscribe', phone: '***7891' },
      },
    })
    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
    expect(postsSeen()).toEqual([])
  })

  // Upstream followed the URL without comment text; issue 11: the comment must ask for the action.
  it('a payload without comment text changes nothing', async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: true })
    const event = adminComment('ignored') as { comment: { body?: string } }
    delete event.comment.body

    expect((await adminAction('resubscribe', event)).status).toBe(200)
    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
  })
})

describe('admin-action input', () => {
  it('an unknown action is a 400 and changes nothing', async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE)

    expect(await adminAction('delete', adminComment('delete'))).toEqual({
      status: 400,
      body: { message: 'Invalid action parameter: delete' },
    })
    expect(await adminAction(null, adminComment('stop'))).toEqual({
      status: 400,
      body: { message: 'Invalid action parameter: null' },
    })
    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: false })
    expect(postsSeen()).toEqual([])
  })

  it('a conversation without an external author is a 400', async () => {
    const event = adminComment('stop')
    event.conversation.external_authors = []

    expect(await adminAction('unsubscribe', event)).toEqual({
      status: 400,
      body: { message: 'Invalid or missing conversation data' },
    })
  })

  it('an external author without a phone number is a 400', async () => {
    const event = adminComment('stop')
    event.conversation.external_authors = [{ name: 'Someone', phone_number: '' }]

    expect(await adminAction('unsubscribe', event)).toEqual({
      status: 400,
      body: { message: 'Phone number not found' },
    })
  })

  it('an unsigned request is refused with 401 and nothing is written', async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE)

    expect((await adminAction('unsubscribe', adminComment('stop'), { signature: null })).status).toBe(401)
    expect((await adminAction('unsubscribe', adminComment('stop'), { signature: 'sha256=00' })).status).toBe(401)

    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: false })
    const counts = await webhookTableCounts(db.sql)
    expect(Object.entries(counts).filter(([, count]) => count > 0)).toEqual([['authors', 1]])
  })

  it('malformed JSON is a 400', async () => {
    expect(await adminAction('unsubscribe', '{nope')).toEqual({ status: 400, body: { message: 'Malformed JSON body' } })
  })
})

describe('admin-action acts only on a comment asking for that action (issue 11)', () => {
  it('a signed incoming SMS body posted to ?action=unsubscribe changes nothing: 200 saying what was ignored', async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE)

    const result = await adminAction('unsubscribe', incomingSms())

    expect(result.status).toBe(200)
    expect(result.body).toMatchObject({
      message: expect.stringContaining('new_comment'),
      ignored: { ruleType: 'incoming_twilio_message', action: 'unsubscribe' },
    })
    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: false })
    expect(postsSeen()).toEqual([])
  })

  it('an "unsubscribe" comment replayed to ?action=resubscribe changes nothing', async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: true })

    const result = await adminAction('resubscribe', adminComment('unsubscribe'))

    expect(result.status).toBe(200)
    expect(result.body).toMatchObject({ ignored: { action: 'resubscribe' } })
    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
    expect(postsSeen()).toEqual([])
  })

  it.each(['resubscribe please', 'RESUBSCRIBE', 'Please, Resubscribe!'])(
    '%j resubscribes (whole word, any case)',
    async (text) => {
      await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: true })

      expect(await adminAction('resubscribe', adminComment(text))).toEqual({ status: 200, body: {} })

      expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: false })
    },
  )

  it.each(['resubscribed yesterday', 'unresubscribe', 'call them back first'])(
    '%j does not ask to resubscribe',
    async (text) => {
      await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: true })

      const result = await adminAction('resubscribe', adminComment(text))

      expect(result.status).toBe(200)
      expect(result.body).toMatchObject({ ignored: { action: 'resubscribe' } })
      expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
    },
  )

  it('the same comment applied twice does nothing the second time', async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE)
    const event = adminComment('unsubscribe')

    expect(await adminAction('unsubscribe', event)).toEqual({ status: 200, body: {} })
    // The contact opts back in by text afterwards; a redelivery of the old comment must not undo that.
    await db.sql`UPDATE public.authors SET unsubscribed = false WHERE phone_number = ${CONTACT_PHONE}`
    expect(await adminAction('unsubscribe', event)).toEqual({ status: 200, body: {} })

    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: false })
    expect(postsSeen()).toHaveLength(1)
    expect(await db.sql`SELECT comment_id, action FROM public.admin_action_applied`).toEqual([
      { comment_id: 'a1b2c3d4-0000-4000-8000-000000000001', action: 'unsubscribe' },
    ])
  })

  it.each(['3135550123', 'not a number', '+0123456789', '+1313555012345678'])(
    'a phone number that is not E.164 (%j) is a 400',
    async (phone) => {
      const event = adminComment('unsubscribe')
      event.conversation.external_authors = [{ name: 'Someone', phone_number: phone }]

      const result = await adminAction('unsubscribe', event)

      expect(result.status).toBe(400)
      expect(result.body.message).toMatch(/E\.164/)
      expect(await db.sql`SELECT 1 FROM public.authors`).toHaveLength(0)
    },
  )

  it('a rejected delivery writes only its own records (invoke_history, errors), never a rules row (found by npm run fuzz)', async () => {
    expect((await adminAction(null, adminComment('stop'))).status).toBe(400)
    const counts = await webhookTableCounts(db.sql)
    expect(Object.entries(counts).filter(([, count]) => count > 0)).toEqual([['invoke_history', 1], ['errors', 1]])
  })
})
