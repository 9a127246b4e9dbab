import { describe, expect, it } from 'vitest'
import { classifyReply } from '../../src/shared/opt-out/keywords.ts'
import { authorOf, createAuthorRow } from '../support/factories/webhooks.ts'
import { CONTACT_PHONE, smsFromContact } from './fixtures/missive-events.ts'
import { useWebhookHarness } from './harness.ts'

// DESIGN.md "Opt-out by text": Twilio's opt-out keywords as the whole text, or `stop` /
// `unsubscribe` as a word anywhere, unsubscribe; only a whole-text opt-in word resubscribes; both
// at once stays unsubscribed. Upstream matched substrings (spec §8.4 #22).

const OPT_OUT = [
  'STOP',
  'stop.',
  'Stop!!',
  '  Unsubscribe  ',
  'Please stop texting me',
  'bus stop', // contains the word "stop": when in doubt, opt out
  'STOPALL',
  'Cancel',
  'END',
  'quit',
  'Revoke',
  'OPTOUT',
  'OPT OUT',
  'opt-out',
  'Stop and start', // opts out and in: stays unsubscribed
  'Stop sending me Detroit news', // upstream ended this one resubscribed
  'stop-texting-me',
  'Ｓｔｏｐ', // full-width letters
  'unsubscribe me please',
]
const OPT_IN = ['Start', 'START', 'start!', 'yes', 'YES.', 'Detroit', 'UNSTOP', 'resubscribe', ' Resubscribe ']
const NEITHER = [
  'stopped',
  'nonstop',
  'Non-stopping',
  'start11232',
  'restart',
  'started',
  'Detroit news',
  'yes please',
  'Thanks!',
  '123',
  '',
  'the end of the week',
  'I quit smoking',
]

describe('classifyReply', () => {
  it.each(OPT_OUT)('%j opts out', (text) => {
    expect(classifyReply(text)).toBe('opt-out')
  })
  it.each(OPT_IN)('%j opts in', (text) => {
    expect(classifyReply(text)).toBe('opt-in')
  })
  it.each(NEITHER)('%j is an ordinary reply', (text) => {
    expect(classifyReply(text)).toBe('none')
  })
})

const { db, fakes, userAction } = useWebhookHarness()

describe('replies by text, through user-actions', () => {
  it.each(['STOP', 'Please stop texting me', 'bus stop', 'OPT OUT', 'QUIT', 'Stop and start'])(
    '%j from a subscribed person unsubscribes them and posts a note',
    async (text) => {
      await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: false })

      expect((await userAction(smsFromContact(text))).status).toBe(200)

      expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
      expect(await db.sql`SELECT 1 FROM public.unsubscribed_messages`).toHaveLength(1)
      expect(fakes.missive.posts.map((post) => post.text)).toEqual([
        `This phone number ${CONTACT_PHONE} has now been unsubscribed`,
      ])
    },
  )

  it.each(['stopped', 'nonstop', 'I quit smoking'])('%j leaves a subscribed person subscribed', async (text) => {
    await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: false })

    await userAction(smsFromContact(text))

    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: false })
    expect(await db.sql`SELECT 1 FROM public.unsubscribed_messages`).toHaveLength(0)
    expect(fakes.missive.posts).toEqual([])
  })

  it.each(['Start', 'yes', 'Detroit', 'UNSTOP'])('%j resubscribes an unsubscribed person', async (text) => {
    await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: true })

    await userAction(smsFromContact(text))

    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: false })
    expect(fakes.missive.posts.map((post) => post.text)).toEqual([
      `This phone number ${CONTACT_PHONE} has now been resubscribed`,
    ])
  })

  it.each(['Stop and start', 'Stop sending me Detroit news', 'restart', 'start11232'])(
    '%j keeps an unsubscribed person unsubscribed',
    async (text) => {
      await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: true })

      await userAction(smsFromContact(text))

      expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
      expect(fakes.missive.posts.map((post) => post.text)).not.toContain(
        `This phone number ${CONTACT_PHONE} has now been resubscribed`,
      )
    },
  )

  it('a person we never stored who texts STOP is stored unsubscribed', async () => {
    await userAction(smsFromContact('STOP'))

    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
  })
})

describe('a confirmation note Missive never took', () => {
  it('is posted by the next event of the same conversation, once', async () => {
    await createAuthorRow(db.sql, CONTACT_PHONE, { unsubscribed: false })
    fakes.missive.failNext(1, 'server-error', { path: '/v1/posts' })

    expect((await userAction(smsFromContact('STOP'))).status).toBe(502)
    expect(await authorOf(db.sql, CONTACT_PHONE)).toEqual({ unsubscribed: true })
    expect(fakes.missive.posts).toEqual([])
    // Missive never redelivered that event.
    await db.sql`UPDATE public.webhook_posts SET created_at = now() - interval '2 minutes'`

    expect((await userAction(smsFromContact('thanks'))).status).toBe(200)
    expect((await userAction(smsFromContact('one more thing'))).status).toBe(200)

    expect(fakes.missive.posts.map((post) => post.text)).toEqual([
      `This phone number ${CONTACT_PHONE} has now been unsubscribed`,
    ])
    expect(await db.sql`SELECT 1 FROM public.webhook_posts WHERE posted_at IS NULL`).toHaveLength(0)
  })
})
