import type { Sql } from '../db/client.ts'
import { formatCampaign, type FormattedCampaign } from './queries.ts'

export interface PastCampaign extends FormattedCampaign {
  firstMessageCount: number
  secondMessageCount: number
  failedDeliveries: number
  unsubscribes: number
  totalReplies: number
}

export interface CampaignList {
  upcoming: FormattedCampaign[]
  past: {
    items: PastCampaign[]
    pagination: { totalItems: number; page: number; pageSize: number; totalPages: number }
  }
}

/**
 * GET /campaigns/ (upstream-functions.md §2.9): every upcoming campaign (run_at ahead, soonest
 * first, not paged) and one page of the others, newest first, with their delivery stats computed as
 * upstream does over message_statuses, unsubscribed_messages and twilio_messages.
 * One clock for both lists (upstream mixed the function's and the database's, §8.5 #38). A
 * campaign cancelled before it ran is no longer upcoming: it is listed with the past ones.
 */
export async function listCampaigns(sql: Sql, page: number, pageSize: number, now: Date): Promise<CampaignList> {
  const upcoming = await sql`
    SELECT *, floor(extract(epoch FROM run_at))::bigint AS run_at_seconds
    FROM public.campaigns
    WHERE run_at > ${now} AND status <> 'cancelled'
    ORDER BY run_at, id`

  const past = await sql`
    WITH page AS (
      SELECT *, floor(extract(epoch FROM run_at))::bigint AS run_at_seconds
      FROM public.campaigns
      WHERE run_at <= ${now} OR status = 'cancelled'
      ORDER BY run_at DESC, id DESC
      LIMIT ${pageSize} OFFSET ${(page - 1) * pageSize}
    ),
    -- One pass over the page's status rows (an index-only scan of message_statuses_campaign_stats_idx,
    -- migration 20261203000100): each (campaign, recipient, phase) once, with whether any of its rows
    -- failed or was answered by an opt-out. The same counts as upstream's DISTINCTs; the opt-outs
    -- are matched to the page's rows (unsubscribed_messages is small: ~900 rows after five years)
    -- instead of fetching the status row of every opt-out ever recorded to see its campaign.
    sends AS (
      SELECT r.campaign_id,
             count(*) FILTER (WHERE NOT r.is_second) AS first_count,
             count(*) FILTER (WHERE r.is_second) AS second_count,
             count(*) FILTER (WHERE r.failed) AS failed_count,
             count(DISTINCT r.recipient_phone_number) FILTER (WHERE r.unsubscribed) AS unsubscribe_count
      FROM (
        SELECT ms.campaign_id, ms.recipient_phone_number, ms.is_second,
               bool_or(ms.twilio_sent_status IN ('undelivered', 'failed')) AS failed,
               bool_or(EXISTS (SELECT 1 FROM public.unsubscribed_messages um WHERE um.reply_to = ms.id)) AS unsubscribed
        FROM public.message_statuses ms
        WHERE ms.campaign_id IN (SELECT id FROM page)
        GROUP BY ms.campaign_id, ms.recipient_phone_number, ms.is_second
      ) r
      GROUP BY r.campaign_id
    ),
    replies AS (
      SELECT tm.reply_to_campaign AS campaign_id, count(DISTINCT tm.from_field) AS reply_count
      FROM public.twilio_messages tm
      WHERE tm.reply_to_campaign IN (SELECT id FROM page)
      GROUP BY tm.reply_to_campaign
    )
    SELECT page.*,
           coalesce(s.first_count, 0)::integer AS first_count,
           coalesce(s.second_count, 0)::integer AS second_count,
           coalesce(s.failed_count, 0)::integer AS failed_count,
           coalesce(s.unsubscribe_count, 0)::integer AS unsubscribe_count,
           coalesce(r.reply_count, 0)::integer AS reply_count
    FROM page
    LEFT JOIN sends s ON s.campaign_id = page.id
    LEFT JOIN replies r ON r.campaign_id = page.id
    ORDER BY page.run_at DESC, page.id DESC`

  const [{ total }] = await sql`
    SELECT count(*)::integer AS total FROM public.campaigns WHERE run_at <= ${now} OR status = 'cancelled'`

  return {
    upcoming: upcoming.map(formatCampaign),
    past: {
      items: past.map((row) => ({
        ...formatCampaign(row),
        firstMessageCount: row.first_count,
        secondMessageCount: row.second_count,
        failedDeliveries: row.failed_count,
        unsubscribes: row.unsubscribe_count,
        totalReplies: row.reply_count,
      })),
      pagination: { totalItems: total, page, pageSize, totalPages: Math.ceil(total / pageSize) },
    },
  }
}
