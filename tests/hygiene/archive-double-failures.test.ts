import { describe, expect, it } from 'vitest'
import { archiveDoubleFailuresFunction } from '../../src/shared/hygiene/archive-double-failures-function.ts'
import { exampleEnv } from '../support/app.ts'
import {
  author,
  CLOSING_LABEL_ID,
  closingTemplates,
  cronJobs,
  type Delivery,
  history,
  hygieneActions,
  labelConversation,
  sentBroadcast,
  sentCampaign,
} from '../support/factories/hygiene.ts'
import { days, minutes, useHygieneHarness } from './harness.ts'

const { db, fakes, clock, call, knownToMissive, advance } = useHygieneHarness(archiveDoubleFailuresFunction)

const ARCHIVE_TEXT = "This chat's been archived because the last two messages didn't go through."
const ARCHIVE_LABEL_ID = exampleEnv.MISSIVE_ARCHIVE_LABEL_ID
const DAILY_JOBS = ['archive-double-failures-daily', 'unschedule-archive-double-failures']

/**
 * A phone sent the first and second message of broadcasts run `daysAgo` ago (one broadcast per
 * pair of deliveries, oldest first), each message in its own conversation.
 */
async function phoneWith(deliveries: Delivery[], options: { daysAgo?: number; campaign?: boolean } = {}) {
  const phone = await author(db.sql)
  const runAt = new Date(clock.now.getTime() - days(options.daysAgo ?? 2))
  const rows: Array<{ delivery: Delivery; broadcastId?: number; campaignId?: number; isSecond: boolean }> = []
  for (let i = 0; i < deliveries.length; i++) {
    const owner = i % 2 === 0
      ? options.campaign
        ? { campaignId: await sentCampaign(db.sql, runAt) }
        : { broadcastId: await sentBroadcast(db.sql, runAt) }
      : { broadcastId: rows[i - 1]!.broadcastId, campaignId: rows[i - 1]!.campaignId }
    rows.push({ delivery: deliveries[i]!, ...owner, isSecond: i % 2 === 1 })
  }
  const result = await history(db.sql, phone, rows)
  knownToMissive(...result.conversationIds)
  return { phone, ...result, latestConversation: result.conversationIds.at(-1)! }
}

describe('archive-double-failures: who gets the archive post', () => {
  it('archives the latest conversation of a number whose last two broadcast messages failed', async () => {
    await db.sql`SELECT public.schedule_daily_archive_double_failures()`
    const target = await phoneWith(['undelivered', 'failed'])

    const response = await call({ method: 'POST' })

    expect(response).toEqual({
      status: 200,
      body: { processed: 1, posted: 1, failed: 0, remaining: 0, stoppedBy: 'done', unscheduled: true },
    })
    expect(fakes.missive.posts).toMatchObject([
      {
        conversationId: target.latestConversation,
        text: ARCHIVE_TEXT,
        labelIds: [ARCHIVE_LABEL_ID],
        closed: true,
        token: exampleEnv.MISSIVE_SECRET_NON_BROADCAST,
      },
    ])
    expect(await hygieneActions(db.sql)).toMatchObject([{
      job: 'archive-double-failures',
      recipient_phone_number: target.phone,
      missive_conversation_id: target.latestConversation,
      message_status_ids: [...target.ids].reverse(),
      outcome: 'posted',
    }])
    // Archiving does not touch the author.
    const [row] = await db.sql`SELECT exclude FROM public.authors WHERE phone_number = ${target.phone}`
    expect(row!.exclude).toBe(false)
    expect(await cronJobs(db.sql, DAILY_JOBS)).toEqual([])
  })

  it('selects exactly the numbers that match the rule', async () => {
    await closingTemplates(db.sql)
    const yes = {
      twoFailed: await phoneWith(['failed', 'failed']),
      // Upstream required exactly two broadcast messages in the week, so three failures never archived.
      threeFailed: await phoneWith(['failed', 'failed', 'failed']),
      deliveredBeforeTheTwoFailures: await phoneWith(['delivered', 'delivered', 'failed', 'undelivered']),
      archiveLabelRemoved: await phoneWith(['failed', 'failed']),
      // Upstream matched `archive` as a substring of the label names.
      labelNamedArchiveSomething: await phoneWith(['failed', 'failed']),
    }
    const no = {
      latestDelivered: await phoneWith(['failed', 'delivered']),
      onlyOneMessage: await phoneWith(['failed']),
      olderThanAWeek: await phoneWith(['failed', 'failed'], { daysAgo: 8 }),
      campaignMessages: await phoneWith(['failed', 'failed'], { campaign: true }),
      sentNotDelivered: await phoneWith(['sent', 'failed']),
      unreconciled: await phoneWith(['unreconciled-undelivered', 'failed']),
      alreadyArchived: await phoneWith(['failed', 'failed']),
      alreadyUndeliverable: await phoneWith(['failed', 'failed']),
    }
    await labelConversation(db.sql, no.alreadyArchived.latestConversation, ARCHIVE_LABEL_ID, { name: 'Archive' })
    await labelConversation(db.sql, no.alreadyUndeliverable.latestConversation, CLOSING_LABEL_ID, {
      name: 'Undeliverable',
    })
    await labelConversation(db.sql, yes.archiveLabelRemoved.latestConversation, ARCHIVE_LABEL_ID, { removed: true })
    await labelConversation(
      db.sql,
      yes.labelNamedArchiveSomething.latestConversation,
      '00000000-0000-4000-8000-0000000a7c11',
      { name: 'archived-stories' },
    )

    const response = await call({ method: 'POST' })

    expect(response.body).toMatchObject({ posted: Object.keys(yes).length, failed: 0, remaining: 0 })
    expect(fakes.missive.posts.map((post) => post.conversationId).sort())
      .toEqual(Object.values(yes).map((target) => target.latestConversation).sort())
  })

  it('skips a conversation handle-failed-deliveries has closed, even before its label is mirrored', async () => {
    const target = await phoneWith(['failed', 'failed'])
    await db.sql`
      INSERT INTO public.delivery_hygiene_actions (job, recipient_phone_number, missive_conversation_id, message_status_ids, last_message_status_id, outcome)
      VALUES ('handle-failed-deliveries', ${target.phone}, ${target.latestConversation}, ${
      [...target.ids].reverse()
    }::integer[], ${target.ids.at(-1)!}, 'posted')`

    expect((await call()).body).toMatchObject({ processed: 0, remaining: 0 })
    expect(fakes.missive.posts).toEqual([])
  })
})

describe('archive-double-failures: runs', () => {
  it('posts once per pair of failures, although the label never reaches the mirror', async () => {
    const target = await phoneWith(['failed', 'failed'])

    expect((await call()).body).toMatchObject({ posted: 1 })
    // Upstream wrote nothing and relied on the label webhook: without it, it posted every minute.
    advance(minutes(1))
    expect((await call()).body).toMatchObject({ processed: 0, posted: 0, remaining: 0, unscheduled: true })
    expect(fakes.missive.posts).toHaveLength(1)

    // Two new failures the following week are a new episode.
    advance(days(7))
    const broadcastId = await sentBroadcast(db.sql, clock.now)
    const again = await history(db.sql, target.phone, [{ delivery: 'failed', broadcastId }, {
      delivery: 'failed',
      broadcastId,
      isSecond: true,
    }])
    knownToMissive(...again.conversationIds)
    expect((await call()).body).toMatchObject({ posted: 1 })
    expect(fakes.missive.posts.map((post) => post.conversationId)).toEqual([
      target.latestConversation,
      again.conversationIds[1],
    ])
  })

  it('records a failed post and retries it after a backoff', async () => {
    await db.sql`SELECT public.schedule_daily_archive_double_failures()`
    const target = await phoneWith(['failed', 'failed'])
    fakes.missive.failNext(1, 'server-error', { path: '/v1/posts' })

    expect((await call()).body).toEqual({
      processed: 1,
      posted: 0,
      failed: 1,
      remaining: 1,
      stoppedBy: 'done',
      unscheduled: false,
    })
    expect(await hygieneActions(db.sql)).toMatchObject([{ outcome: 'post_failed', attempts: 1, last_http_status: 500 }])
    expect((await call()).body).toMatchObject({ processed: 0, remaining: 1 })
    expect(await cronJobs(db.sql, DAILY_JOBS)).toHaveLength(2)

    advance(minutes(5))
    expect((await call()).body).toMatchObject({ processed: 1, posted: 1, remaining: 0, unscheduled: true })
    expect(fakes.missive.posts.map((post) => post.conversationId)).toEqual([target.latestConversation])
  })

  it('stops the run on 429', async () => {
    for (let i = 0; i < 3; i++) await phoneWith(['failed', 'failed'])
    fakes.missive.failNext(1, 'rate-limit', { path: '/v1/posts', retryAfterSeconds: 20 })

    expect((await call()).body).toEqual({
      processed: 1,
      posted: 0,
      failed: 1,
      remaining: 3,
      stoppedBy: 'rate-limit',
      unscheduled: false,
    })
    expect(fakes.missive.requests.filter((r) => r.path === '/v1/posts')).toHaveLength(1)
    advance(21_000)
    expect((await call()).body).toMatchObject({ posted: 3, remaining: 0 })
  })

  it('paces posts and respects its time budget', async () => {
    for (let i = 0; i < 8; i++) await phoneWith(['failed', 'failed'])

    const response = await call({ env: { FAILURE_JOBS_RUN_SECONDS: '0.8', FAILURE_JOBS_POST_INTERVAL_MS: '250' } })

    const posted = response.body.posted as number
    expect(response.body).toMatchObject({ stoppedBy: 'budget', remaining: 8 - posted })
    expect(posted).toBeGreaterThanOrEqual(2)
    expect(posted).toBeLessThanOrEqual(4)
    const times = fakes.missive.posts.map((post) => post.createdAt.getTime())
    // Measured where the fake receives them, so each gap carries network jitter (a loaded machine
    // delays one post and not the next): no gap near zero, and 250 ms apart on average.
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(150)
    expect((times.at(-1)! - times[0]!) / (times.length - 1)).toBeGreaterThanOrEqual(230)
  })

  it('removes its cron jobs when nothing is left', async () => {
    await db.sql`SELECT public.schedule_daily_archive_double_failures()`
    expect((await call()).body).toMatchObject({ processed: 0, remaining: 0, unscheduled: true })
    expect(await cronJobs(db.sql, DAILY_JOBS)).toEqual([])
    expect(await cronJobs(db.sql, ['daily-archive-double-failures-setup'])).toHaveLength(1)
  })

  it('answers 401 without the secret key', async () => {
    await phoneWith(['failed', 'failed'])
    expect(await call({ apikey: null })).toMatchObject({ status: 401 })
    expect(fakes.missive.requests).toEqual([])
  })
})
