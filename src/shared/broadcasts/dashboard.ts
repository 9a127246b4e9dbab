import type { Db } from '../db/client.ts'
import { loadActiveSchedule } from '../schedule/active-schedule.ts'
import type { QuietHours } from '../schedule/quiet-hours.ts'
import { type QuietHoursStatus, quietHoursStatus } from '../schedule/quiet-status.ts'
import { effectiveNextRun } from '../schedule/weekly.ts'

// GET /broadcast-sidebar/: the upcoming broadcast and the past ones with their delivery stats
// (shapes: upstream-functions.md §2.7, clients.md §1.4). Times are Unix seconds.

export interface UpcomingBroadcastResponse {
  id: number
  firstMessage: string
  secondMessage: string
  runAt: number | null
  delay: number
  noRecipients: number
}

export interface PastBroadcastResponse {
  id: number
  firstMessage: string
  secondMessage: string
  runAt: number | null
  totalFirstSent: number
  totalSecondSent: number
  successfullyDelivered: number
  failedDelivered: number
  totalUnsubscribed: number
  /** Messages of this broadcast (first and follow-up) due now but held for quiet hours; 0 outside them. */
  heldForQuietHours: number
}

export interface DashboardResponse {
  upcoming?: UpcomingBroadcastResponse
  past?: PastBroadcastResponse[]
  currentCursor?: number
  /** Whether quiet hours hold texts right now, and until when (issue 14); an addition to upstream's shape. */
  quietHours?: QuietHoursStatus
}

interface DashboardRow {
  id: number
  runAt: Date | null
  delay: number
  editable: boolean
  firstMessage: string
  secondMessage: string
  noUsers: number
  totalFirstSent: string
  totalSecondSent: string
  successfullyDelivered: string
  failedDelivered: string
  totalUnsubscribed: string
}

const seconds = (date: Date) => Math.floor(date.getTime() / 1000)

/**
 * One page: without a cursor the editable broadcast plus `limit` past ones (limit + 1 rows, as
 * upstream); with a cursor only past broadcasts sent before it.
 */
async function selectPage(db: Db, limit: number, cursor: number | undefined): Promise<DashboardRow[]> {
  // Upstream let an editable row into cursor pages too; a cursor page is "past batches" only.
  const filter = cursor ? db`NOT b.editable AND b.run_at < to_timestamp(${cursor})` : db`TRUE`
  return await db<DashboardRow[]>`
    WITH page AS (
      SELECT b.id, b.run_at, b.delay, b.editable, b.first_message, b.second_message, b.no_users
      FROM public.broadcasts b
      WHERE ${filter}
      ORDER BY b.editable DESC, b.run_at DESC NULLS FIRST, b.id DESC
      LIMIT ${cursor ? limit : limit + 1}
    )
    SELECT p.id, p.run_at AS "runAt", p.delay, p.editable, p.first_message AS "firstMessage",
      p.second_message AS "secondMessage", p.no_users AS "noUsers",
      s."totalFirstSent", s."totalSecondSent", s."successfullyDelivered", s."failedDelivered",
      (SELECT count(DISTINCT ms.recipient_phone_number) FROM public.unsubscribed_messages um
        JOIN public.message_statuses ms ON ms.id = um.reply_to
        WHERE um.broadcast_id = p.id) AS "totalUnsubscribed"
    FROM page p
    -- One pass over the broadcast's rows (an index-only scan of message_statuses_broadcast_stats_idx,
    -- migration 20261203000100) instead of one per figure: each (recipient, phase) once, with
    -- whether any of its rows was delivered or failed. Same counts as upstream's DISTINCTs.
    CROSS JOIN LATERAL (
      SELECT count(*) FILTER (WHERE NOT r.is_second) AS "totalFirstSent",
             count(*) FILTER (WHERE r.is_second) AS "totalSecondSent",
             count(*) FILTER (WHERE r.delivered) AS "successfullyDelivered",
             count(*) FILTER (WHERE r.failed) AS "failedDelivered"
      FROM (
        SELECT ms.recipient_phone_number, ms.is_second,
               bool_or(ms.twilio_id IS NOT NULL AND ms.twilio_sent_status IN ('delivered', 'sent')) AS delivered,
               bool_or(ms.twilio_sent_status IN ('undelivered', 'failed')) AS failed
        FROM public.message_statuses ms
        WHERE ms.broadcast_id = p.id
        GROUP BY ms.recipient_phone_number, ms.is_second
      ) r
    ) s
    ORDER BY p.editable DESC, p.run_at DESC NULLS FIRST, p.id DESC`
}

/** Queued messages per broadcast that are due now: during quiet hours, the ones being held. */
async function heldPerBroadcast(db: Db, ids: number[]): Promise<Map<number, number>> {
  if (ids.length === 0) return new Map()
  const keys = ids.map(String)
  const rows = await db<{ id: string; count: number }[]>`
    SELECT id, count(*)::integer AS count FROM (
      SELECT q.message->>'broadcast_id' AS id FROM pgmq.q_broadcast_first_messages q
      WHERE q.message->>'broadcast_id' = ANY(${keys}::text[]) AND q.vt <= clock_timestamp()
      UNION ALL
      SELECT q.message->>'broadcast_id' FROM pgmq.q_broadcast_second_messages q
      WHERE q.message->>'broadcast_id' = ANY(${keys}::text[]) AND q.vt <= clock_timestamp()
    ) due
    GROUP BY id`
  return new Map(rows.map((row) => [Number(row.id), row.count]))
}

export async function loadDashboard(
  db: Db,
  options: { limit: number; cursor?: number; now: Date; quietHours?: QuietHours | null },
): Promise<DashboardResponse> {
  const rows = await selectPage(db, options.limit, options.cursor)
  if (rows.length === 0) return {}
  const quietHours = quietHoursStatus(options.quietHours ?? null, options.now)
  const held = quietHours.active
    ? await heldPerBroadcast(db, rows.filter((r) => !r.editable).map((r) => r.id))
    : new Map()
  const response: DashboardResponse = { quietHours }
  let upcomingRunAt: Date | null = null
  for (const row of rows) {
    if (row.editable) {
      upcomingRunAt = row.runAt
      response.upcoming = {
        id: row.id,
        firstMessage: row.firstMessage,
        secondMessage: row.secondMessage,
        runAt: row.runAt ? seconds(row.runAt) : null,
        delay: row.delay,
        noRecipients: row.noUsers,
      }
    } else {
      ;(response.past ??= []).push({
        id: row.id,
        firstMessage: row.firstMessage,
        secondMessage: row.secondMessage,
        // Upstream crashed (500) on a sent row without run_at; it is shown without a time instead.
        runAt: row.runAt ? seconds(row.runAt) : null,
        totalFirstSent: Number(row.totalFirstSent),
        totalSecondSent: Number(row.totalSecondSent),
        successfullyDelivered: Number(row.successfullyDelivered),
        failedDelivered: Number(row.failedDelivered),
        totalUnsubscribed: Number(row.totalUnsubscribed),
        heldForQuietHours: held.get(row.id) ?? 0,
      })
    }
  }
  if (response.upcoming) {
    // What the trigger will do: the pinned run_at while it is ahead (or just due), else the weekly
    // slot (also when the pinned time is stale: it no longer blocks the schedule).
    const next = effectiveNextRun(upcomingRunAt, await loadActiveSchedule(db), options.now)
    response.upcoming.runAt = next ? seconds(next) : null
  }
  const last = rows[rows.length - 1]
  if (last.runAt) response.currentCursor = Math.max(seconds(last.runAt) - 1, 0)
  else if (response.upcoming?.runAt) response.currentCursor = response.upcoming.runAt - 1
  return response
}
