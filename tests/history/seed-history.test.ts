import { beforeAll, describe, expect, it } from 'vitest'
import { broadcastSidebarFunction } from '../../src/shared/broadcasts/sidebar-function.ts'
import { campaignFunction } from '../../src/shared/campaigns/campaign-function.ts'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { type HistorySummary, NEWSROOM_PHONE, seedHistory } from '../../src/local/history/seed-history.ts'
import { asStaff, createTestDeps } from '../support/app.ts'
import { useTestDatabase } from '../support/database.ts'

// `npm run seed:history` at 0.1 % (issue 15 #1): the counts and proportions of the defaults, rows
// consistent with what the code reads, and the sidebar and campaign list answering on it.

const db = useTestDatabase()
const NOW = new Date('2026-11-30T12:00:00Z')
let summary: HistorySummary

beforeAll(async () => {
  summary = await seedHistory(db.sql, { scale: 0.001, now: NOW })
}, 60_000)

const one = async (query: Promise<any[]>) => (await query)[0]

describe('seedHistory at scale 0.001', () => {
  it('writes the scaled counts', async () => {
    expect(summary).toMatchObject({ authors: 200, broadcasts: 2, campaigns: 6, conversations: 200 })
    const counts = await one(db.sql`
      SELECT (SELECT count(*) FROM public.authors WHERE phone_number <> ${NEWSROOM_PHONE})::int AS authors,
             (SELECT count(*) FROM public.broadcasts WHERE NOT editable)::int AS sent,
             (SELECT count(*) FROM public.broadcasts WHERE editable)::int AS upcoming,
             (SELECT count(*) FROM public.campaigns)::int AS campaigns,
             (SELECT count(*) FROM public.message_statuses)::int AS statuses,
             (SELECT count(*) FROM public.message_sends)::int AS sends,
             (SELECT count(*) FROM public.twilio_messages)::int AS twilio,
             (SELECT count(*) FROM public.conversations)::int AS conversations`)
    expect(counts).toEqual({
      authors: 200,
      sent: 2,
      upcoming: 1,
      campaigns: 6,
      statuses: summary.statuses,
      sends: summary.statuses,
      twilio: summary.twilioMessages,
      conversations: 200,
    })
    // At this scale every owner reaches every eligible author once (see seed-history.ts).
    expect(summary.statuses).toBeGreaterThan(500)
    expect(summary.twilioMessages).toBeGreaterThan(900)
  })

  it('keeps the proportions: ~3 % unsubscribed, 1 % excluded, a realistic delivery mix', async () => {
    const authors = await one(db.sql`
      SELECT count(*) FILTER (WHERE unsubscribed)::int AS unsubscribed, count(*) FILTER (WHERE exclude)::int AS excluded
      FROM public.authors WHERE phone_number <> ${NEWSROOM_PHONE}`)
    expect(authors.unsubscribed).toBeGreaterThanOrEqual(5) // 2.5 % + STOP replies
    expect(authors.unsubscribed).toBeLessThanOrEqual(8)
    expect(authors.excluded).toBe(2)
    const mix = await one(db.sql`
      SELECT avg((twilio_sent_status = 'delivered')::int)::float AS delivered,
             avg((twilio_sent_status IN ('failed', 'undelivered'))::int)::float AS failed
      FROM public.message_statuses`)
    expect(mix.delivered).toBeGreaterThan(0.85)
    expect(mix.failed).toBeGreaterThan(0.01)
    const replies = await one(db.sql`
      SELECT count(*) FILTER (WHERE is_reply)::int AS replies, count(*) FILTER (WHERE NOT is_reply)::int AS outgoing
      FROM public.twilio_messages`)
    expect(replies.outgoing).toBe(800)
    expect(replies.replies).toBeGreaterThan(180) // 200 asked for, sampled
  })

  it('is consistent: a ledger row per status, sends only to eligible-at-the-time authors, weekly past broadcasts', async () => {
    const mismatched = await one(db.sql`
      SELECT count(*)::int AS n FROM public.message_statuses s
      LEFT JOIN public.message_sends l ON l.message_status_id = s.id
      WHERE l.id IS NULL OR l.state <> 'sent' OR l.missive_id <> s.missive_id OR l.recipient_phone_number <> s.recipient_phone_number
         OR l.broadcast_id IS DISTINCT FROM s.broadcast_id OR l.campaign_id IS DISTINCT FROM s.campaign_id OR l.is_second <> s.is_second`)
    expect(mismatched.n).toBe(0)
    const excluded = await one(db.sql`
      SELECT count(*)::int AS n FROM public.message_statuses s JOIN public.authors a ON a.phone_number = s.recipient_phone_number
      WHERE a.exclude`)
    expect(excluded.n).toBe(0)
    const broadcasts = await db.sql`
      SELECT run_at FROM public.broadcasts WHERE NOT editable ORDER BY run_at`
    expect(broadcasts.every((b) => b.run_at < NOW)).toBe(true)
    expect(broadcasts[1].run_at.getTime() - broadcasts[0].run_at.getTime()).toBe(7 * 86_400_000)
    const campaigns = await db.sql`
      SELECT c.status, c.processed, c.run_at < ${NOW} AS past,
             (SELECT count(*) FROM public.message_statuses s WHERE s.campaign_id = c.id)::int AS statuses, c.recipient_count
      FROM public.campaigns c`
    for (const c of campaigns) {
      if (c.past) expect(c).toMatchObject({ status: 'sent', processed: true, statuses: c.recipient_count })
      else expect(c).toMatchObject({ status: 'scheduled', processed: false, statuses: 0 })
    }
  })

  it('renders: the sidebar (first and cursor page) and the campaign list answer 200', async () => {
    const deps = createTestDeps(db.sql, { now: () => NOW })
    const sidebar = asStaff(createFunctionApp(broadcastSidebarFunction, deps))
    const first = await sidebar.request('/broadcast-sidebar/')
    expect(first.status).toBe(200)
    const body = await first.json()
    expect(body.past.length).toBe(2)
    expect(body.past[0].totalFirstSent).toBeGreaterThan(0)
    const cursor = body.past[0].runAt
    const deep = await sidebar.request(`/broadcast-sidebar/?cursor=${cursor}&limit=5`)
    expect(deep.status).toBe(200)
    expect((await deep.json()).past).toHaveLength(1)

    const campaigns = asStaff(createFunctionApp(campaignFunction, deps))
    const list = await campaigns.request('/campaigns/')
    expect(list.status).toBe(200)
    const listed = await list.json()
    expect(listed.past.pagination.totalItems).toBe(5)
    expect(listed.upcoming).toHaveLength(1)
  })
})
