import { describe, expect, it } from 'vitest'
import { handleFailedDeliveriesFunction } from '../../src/shared/hygiene/failed-deliveries-function.ts'
import { exampleEnv } from '../support/app.ts'
import {
  author,
  CLOSING_LABEL_ID,
  closingTemplates,
  cronJobs,
  type Delivery,
  history,
  hygieneActions,
  incomingText,
  labelConversation,
  sentBroadcast,
  sentCampaign,
} from '../support/factories/hygiene.ts'
import { days, minutes, useHygieneHarness } from './harness.ts'

const { db, fakes, clock, call, knownToMissive, advance } = useHygieneHarness(handleFailedDeliveriesFunction)

const DEFAULT_TEXT = '❌ This message was undeliverable. The phone number has now been unsubscribed. '
const DAILY_JOBS = ['handle-failed-deliveries-daily', 'unschedule-failed-deliveries-handler']

/** A phone whose last three sends (broadcast, campaign, broadcast) ended as given, oldest first. */
async function phoneWith(
  deliveries: [Delivery, Delivery, Delivery] | Delivery[],
  options: { exclude?: boolean | null; endedDaysAgo?: number } = {},
) {
  const phone = await author(db.sql, { exclude: options.exclude })
  const endedAt = clock.now.getTime() - days(options.endedDaysAgo ?? 0)
  const broadcastId = await sentBroadcast(db.sql, new Date(clock.now.getTime() - 86_400_000))
  const campaignId = await sentCampaign(db.sql, new Date(clock.now.getTime() - 86_400_000))
  const rows = await history(
    db.sql,
    phone,
    deliveries.map((delivery, i) => ({
      delivery,
      ...(i % 2 === 1 ? { campaignId } : { broadcastId }),
      createdAt: new Date(endedAt - minutes(60 - i)),
    })),
  )
  knownToMissive(...rows.conversationIds)
  return { phone, ...rows, latestConversation: rows.conversationIds.at(-1)! }
}

async function scheduleDailyJobs() {
  await db.sql`SELECT public.schedule_daily_failed_deliveries_handler()`
}

async function author_(phone: string) {
  const [row] = await db.sql`SELECT exclude, unsubscribed FROM public.authors WHERE phone_number = ${phone}`
  return row
}

describe('handle-failed-deliveries: who gets the closing post', () => {
  it('closes the latest conversation of a number whose last three messages failed, and excludes the author', async () => {
    await closingTemplates(db.sql)
    await scheduleDailyJobs()
    const target = await phoneWith(['undelivered', 'failed', 'undelivered'])

    const response = await call()

    expect(response).toEqual({
      status: 200,
      body: { processed: 1, posted: 1, failed: 0, remaining: 0, stoppedBy: 'done', unscheduled: true },
    })
    // Upstream picked one of the three conversations arbitrarily; the latest is the one in use.
    expect(fakes.missive.posts).toMatchObject([
      {
        conversationId: target.latestConversation,
        text: DEFAULT_TEXT,
        labelIds: [CLOSING_LABEL_ID],
        closed: true,
        token: exampleEnv.MISSIVE_SECRET_NON_BROADCAST,
      },
    ])
    const [request] = fakes.missive.requests.filter((r) => r.path === '/v1/posts')
    expect(request!.body).toEqual({
      posts: {
        username: 'TXT Outlier',
        notification: { title: 'System', body: 'Admins action' },
        text: DEFAULT_TEXT,
        conversation: target.latestConversation,
        add_shared_labels: [CLOSING_LABEL_ID],
        close: true,
        reopen: false,
        organization: exampleEnv.MISSIVE_ORGANIZATION_ID,
      },
    })
    // As upstream: exclude, not unsubscribed.
    expect(await author_(target.phone)).toEqual({ exclude: true, unsubscribed: false })
    const closed = await db
      .sql`SELECT missive_conversation_id, closed FROM public.message_statuses WHERE recipient_phone_number = ${target.phone} ORDER BY id`
    expect(closed.map((row) => row.closed)).toEqual([false, false, true])
    expect(await hygieneActions(db.sql)).toMatchObject([{
      job: 'handle-failed-deliveries',
      recipient_phone_number: target.phone,
      missive_conversation_id: target.latestConversation,
      message_status_ids: [...target.ids].reverse(),
      last_message_status_id: target.ids.at(-1),
      outcome: 'posted',
      attempts: 1,
    }])
    expect(await cronJobs(db.sql, DAILY_JOBS)).toEqual([])
  })

  it('selects exactly the numbers that match the rule', async () => {
    await closingTemplates(db.sql)
    const replyLabel = exampleEnv.MISSIVE_REPLY_LABEL_ID
    const yes = {
      threeFailed: await phoneWith(['failed', 'failed', 'failed']),
      // Upstream skipped NULL exclude forever (`exclude = false`).
      nullExclude: await phoneWith(['failed', 'undelivered', 'failed'], { exclude: null }),
      olderDeliveredThenThreeFailed: await phoneWith(['delivered', 'failed', 'failed', 'failed']),
      replyLabelRemoved: await phoneWith(['failed', 'failed', 'failed']),
      textedBeforeTheFailures: await phoneWith(['failed', 'failed', 'failed']),
    }
    const no = {
      latestDelivered: await phoneWith(['failed', 'failed', 'delivered']),
      oneDeliveredInTheMiddle: await phoneWith(['failed', 'delivered', 'failed']),
      onlyTwoMessages: await phoneWith(['failed', 'failed']),
      // Upstream counted anything but `delivered` as failed.
      sentNotDelivered: await phoneWith(['failed', 'sent', 'failed']),
      deliveryUnknown: await phoneWith(['delivery_unknown', 'failed', 'failed']),
      // The outgoing webhook's provisional `undelivered` (no Twilio SID) is not a Twilio verdict.
      unreconciledUndelivered: await phoneWith(['failed', 'failed', 'unreconciled-undelivered']),
      unreconciled: await phoneWith(['unreconciled', 'failed', 'failed']),
      alreadyExcluded: await phoneWith(['failed', 'failed', 'failed'], { exclude: true }),
      replyLabelOnAnOlderConversation: await phoneWith(['failed', 'failed', 'failed']),
      textedAfterTheFirstFailure: await phoneWith(['failed', 'failed', 'failed']),
    }
    await labelConversation(db.sql, no.replyLabelOnAnOlderConversation.conversationIds[0]!, replyLabel)
    await labelConversation(db.sql, yes.replyLabelRemoved.conversationIds[2]!, replyLabel, { removed: true })
    // A label that merely is not the reply label does not count.
    await labelConversation(db.sql, yes.threeFailed.conversationIds[2]!, '00000000-0000-4000-8000-00000000beef', {
      name: 'replied-ish',
    })
    await incomingText(
      db.sql,
      no.textedAfterTheFirstFailure.phone,
      exampleEnv.BROADCAST_SOURCE_PHONE_NUMBER,
      new Date(clock.now.getTime() - minutes(30)),
    )
    await incomingText(
      db.sql,
      yes.textedBeforeTheFailures.phone,
      exampleEnv.BROADCAST_SOURCE_PHONE_NUMBER,
      new Date(clock.now.getTime() - minutes(120)),
    )

    const response = await call()

    expect(response.status).toBe(200)
    expect(response.body).toMatchObject({ posted: Object.keys(yes).length, failed: 0, remaining: 0 })
    expect(fakes.missive.posts.map((post) => post.conversationId).sort())
      .toEqual(Object.values(yes).map((target) => target.latestConversation).sort())
    for (const [name, target] of Object.entries(no)) {
      expect((await author_(target.phone))?.exclude, name).toBe(name === 'alreadyExcluded')
    }
  })

  it('looks only at the last 7 days of sends: older failures were handled on earlier days (issue 15)', async () => {
    await closingTemplates(db.sql)
    const recent = await phoneWith(['failed', 'failed', 'failed'], { endedDaysAgo: 6 })
    // Its three failures ended 8 days ago: a run on that day (or the next six) handled it; reading
    // every failure ever recorded each minute made the job's cost grow with the years of history.
    const old = await phoneWith(['failed', 'failed', 'failed'], { endedDaysAgo: 8 })

    const response = await call()

    expect(response.body).toMatchObject({ posted: 1, failed: 0, remaining: 0 })
    expect(fakes.missive.posts.map((post) => post.conversationId)).toEqual([recent.latestConversation])
    expect((await author_(old.phone))?.exclude).toBe(false)
  })

  it('uses the closing message template when there is one', async () => {
    await closingTemplates(db.sql, { message: 'This number could not be reached.' })
    await phoneWith(['failed', 'failed', 'failed'])

    await call()

    expect(fakes.missive.posts.map((post) => post.text)).toEqual(['This number could not be reached.'])
  })

  it('handles at most 40 numbers per call and keeps the cron job for the rest', async () => {
    await closingTemplates(db.sql)
    await scheduleDailyJobs()
    for (let i = 0; i < 41; i++) await phoneWith(['failed', 'failed', 'failed'])

    const response = await call()

    expect(response.body).toMatchObject({ processed: 40, posted: 40, remaining: 1, unscheduled: false })
    expect(await cronJobs(db.sql, DAILY_JOBS)).toHaveLength(2)
    expect((await call()).body).toMatchObject({ posted: 1, remaining: 0, unscheduled: true })
  })
})

describe('handle-failed-deliveries: runs', () => {
  it('never posts twice for the same failures, even if the author is included again', async () => {
    await closingTemplates(db.sql)
    const target = await phoneWith(['failed', 'failed', 'failed'])

    expect((await call()).body).toMatchObject({ posted: 1 })
    expect((await call()).body).toMatchObject({ processed: 0, posted: 0, remaining: 0 })
    // An editor re-includes the number: the same three failures do not close it again...
    await db.sql`UPDATE public.authors SET exclude = false WHERE phone_number = ${target.phone}`
    expect((await call()).body).toMatchObject({ processed: 0, remaining: 0 })
    expect(fakes.missive.posts).toHaveLength(1)

    // ...but three new failures are a new episode.
    const broadcastId = await sentBroadcast(db.sql, clock.now)
    const again = await history(db.sql, target.phone, [{ delivery: 'failed', broadcastId }, {
      delivery: 'failed',
      broadcastId,
      isSecond: true,
    }, { delivery: 'undelivered', broadcastId }])
    knownToMissive(...again.conversationIds)
    expect((await call()).body).toMatchObject({ posted: 1 })
    expect(fakes.missive.posts.map((post) => post.conversationId)).toEqual([
      target.latestConversation,
      again.conversationIds[2],
    ])
  })

  it('records a failed post, moves on, and retries it after a backoff', async () => {
    await closingTemplates(db.sql)
    await scheduleDailyJobs()
    const first = await phoneWith(['failed', 'failed', 'failed'])
    const second = await phoneWith(['failed', 'failed', 'failed'])
    fakes.missive.failNext(1, 'server-error', { path: '/v1/posts' })

    const response = await call()

    expect(response.body).toEqual({
      processed: 2,
      posted: 1,
      failed: 1,
      remaining: 1,
      stoppedBy: 'done',
      unscheduled: false,
    })
    expect(fakes.missive.posts.map((post) => post.conversationId)).toEqual([second.latestConversation])
    const [failed] = await hygieneActions(db.sql)
    expect(failed).toMatchObject({
      recipient_phone_number: first.phone,
      outcome: 'post_failed',
      attempts: 1,
      last_http_status: 500,
    })
    expect(failed!.next_attempt_at!.getTime()).toBe(clock.now.getTime() + minutes(5))
    expect(await author_(first.phone)).toMatchObject({ exclude: false })

    // Not retried every minute (upstream did), but the daily job stays until it is.
    advance(minutes(1))
    expect((await call()).body).toMatchObject({ processed: 0, remaining: 1, unscheduled: false })
    expect(await cronJobs(db.sql, DAILY_JOBS)).toHaveLength(2)

    advance(minutes(5))
    expect((await call()).body).toMatchObject({ processed: 1, posted: 1, remaining: 0, unscheduled: true })
    expect(fakes.missive.posts.map((post) => post.conversationId)).toEqual([
      second.latestConversation,
      first.latestConversation,
    ])
    expect((await hygieneActions(db.sql))[0]).toMatchObject({
      outcome: 'posted',
      attempts: 2,
      next_attempt_at: null,
      detail: null,
    })
    expect(await author_(first.phone)).toMatchObject({ exclude: true })
  })

  it('backs off longer after each failure', async () => {
    await closingTemplates(db.sql)
    await phoneWith(['failed', 'failed', 'failed'])
    const waits: number[] = []
    for (let i = 0; i < 3; i++) {
      fakes.missive.failNext(1, 'unavailable', { path: '/v1/posts' })
      expect((await call()).body).toMatchObject({ processed: 1, failed: 1 })
      const [action] = await hygieneActions(db.sql)
      waits.push(action!.next_attempt_at!.getTime() - clock.now.getTime())
      clock.now = action!.next_attempt_at!
    }
    expect(waits).toEqual([minutes(5), minutes(10), minutes(20)])
  })

  it('stops the run on 429 and waits as long as Missive says', async () => {
    await closingTemplates(db.sql)
    await scheduleDailyJobs()
    for (let i = 0; i < 3; i++) await phoneWith(['failed', 'failed', 'failed'])
    fakes.missive.failNext(1, 'rate-limit', { path: '/v1/posts', retryAfterSeconds: 30 })

    const response = await call()

    expect(response.body).toEqual({
      processed: 1,
      posted: 0,
      failed: 1,
      remaining: 3,
      stoppedBy: 'rate-limit',
      unscheduled: false,
    })
    expect(fakes.missive.requests.filter((r) => r.path === '/v1/posts')).toHaveLength(1)
    const [action] = await hygieneActions(db.sql)
    // A 429 is Missive's limit, not this number's fault: no attempt counted.
    expect(action).toMatchObject({ outcome: 'post_failed', attempts: 0, last_http_status: 429 })
    expect(action!.next_attempt_at!.getTime()).toBe(clock.now.getTime() + 30_000)

    advance(31_000)
    expect((await call()).body).toMatchObject({ posted: 3, remaining: 0 })
  })

  it('paces posts and starts none once its time budget is spent', async () => {
    await closingTemplates(db.sql)
    await scheduleDailyJobs()
    for (let i = 0; i < 10; i++) await phoneWith(['failed', 'failed', 'failed'])

    const started = performance.now()
    const response = await call({ env: { FAILURE_JOBS_RUN_SECONDS: '1', FAILURE_JOBS_POST_INTERVAL_MS: '300' } })
    const elapsed = performance.now() - started

    const posted = response.body.posted as number
    expect(response.body).toMatchObject({ stoppedBy: 'budget', failed: 0, remaining: 10 - posted, unscheduled: false })
    expect(posted).toBeGreaterThanOrEqual(2)
    expect(posted).toBeLessThanOrEqual(4)
    expect(elapsed).toBeLessThan(1500)
    const times = fakes.missive.posts.map((post) => post.createdAt.getTime())
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(290)
    expect(await cronJobs(db.sql, DAILY_JOBS)).toHaveLength(2)
  })

  it('skips a number another run is posting to, and takes over a claim its run abandoned', async () => {
    await closingTemplates(db.sql)
    const target = await phoneWith(['failed', 'failed', 'failed'])
    const claim = (claimedAt: Date) =>
      db.sql`
      INSERT INTO public.delivery_hygiene_actions (job, recipient_phone_number, missive_conversation_id, message_status_ids, last_message_status_id, outcome, claimed_at)
      VALUES ('handle-failed-deliveries', ${target.phone}, ${target.latestConversation}, ${
        [...target.ids].reverse()
      }::integer[], ${target.ids.at(-1)!}, 'posting', ${claimedAt})`
    await claim(new Date(clock.now.getTime() - 30_000))

    expect((await call()).body).toMatchObject({ processed: 0, remaining: 0 })
    expect(fakes.missive.posts).toEqual([])

    await db.sql`UPDATE public.delivery_hygiene_actions SET claimed_at = ${new Date(clock.now.getTime() - minutes(11))}`
    expect((await call()).body).toMatchObject({ processed: 1, posted: 1 })
    expect(fakes.missive.posts).toHaveLength(1)
  })
})

describe('handle-failed-deliveries: configuration, cron and auth', () => {
  it('answers 500 naming the template row when the closing label is missing, posts nothing and stops for today', async () => {
    await closingTemplates(db.sql, { labelId: null, message: 'Closing text' })
    await scheduleDailyJobs()
    const target = await phoneWith(['failed', 'failed', 'failed'])

    const response = await call()

    expect(response.status).toBe(500)
    expect(response.body.message).toContain(
      "lookup_template row 'missive_broadcast_post_closing_label_id' is missing or empty",
    )
    expect(response.body).toMatchObject({ waiting: 1 })
    expect(fakes.missive.requests).toEqual([])
    expect(await author_(target.phone)).toMatchObject({ exclude: false })
    expect(await hygieneActions(db.sql)).toEqual([])
    // Upstream aborted and was called again every minute for 3 hours.
    expect(await cronJobs(db.sql, DAILY_JOBS)).toEqual([])
  })

  it('removes its cron jobs when nothing is left, and tolerates them being gone already', async () => {
    await scheduleDailyJobs()
    expect(await call()).toEqual({
      status: 200,
      body: { processed: 0, posted: 0, failed: 0, remaining: 0, stoppedBy: 'done', unscheduled: true },
    })
    expect(await cronJobs(db.sql, DAILY_JOBS)).toEqual([])
    expect((await call()).status).toBe(200)
    // The static daily setup job stays.
    expect(await cronJobs(db.sql, ['daily-failed-deliveries-setup'])).toHaveLength(1)
  })

  it('accepts any method (the cron job calls it with GET)', async () => {
    expect((await call({ method: 'POST' })).status).toBe(200)
  })

  it('answers 401 without the secret key', async () => {
    await closingTemplates(db.sql)
    await phoneWith(['failed', 'failed', 'failed'])
    expect(await call({ apikey: null })).toMatchObject({ status: 401 })
    expect(await call({ apikey: 'sb_secret_wrong' })).toMatchObject({ status: 401 })
    expect(fakes.missive.requests).toEqual([])
  })
})
