import type { Sql } from '../../shared/db/client.ts'
import { type CheckResult, fix, ok } from './check-result.ts'

// What to look at on a database that runs upstream BEFORE `supabase db push` (README "Taking over a
// database that runs upstream"): whether the push will run at all, and whether now is a good
// moment to cut over (no send in progress, nothing about to be due).

const phase = 'before'

/** `supabase db push` refuses when the database lists a version that has no local file. */
export async function checkMigrationHistory(sql: Sql, localVersions: string[]): Promise<CheckResult> {
  const [table] = await sql`SELECT to_regclass('supabase_migrations.schema_migrations') IS NOT NULL AS present`
  if (!table?.present) return ok(phase, 'migration history', 'no history table yet: db push starts from the first file')
  const rows = await sql<
    { version: string }[]
  >`SELECT version FROM supabase_migrations.schema_migrations ORDER BY version`
  const local = new Set(localVersions)
  const unknown = rows.map((row) => row.version).filter((version) => !local.has(version))
  if (unknown.length) {
    return fix(
      phase,
      'migration history',
      `versions ${
        unknown.join(', ')
      } are recorded in the database but have no file in supabase/migrations: db push will refuse; check out the matching release of this repository`,
    )
  }
  const pending = localVersions.filter((version) => !rows.some((row) => row.version === version)).length
  return ok(phase, 'migration history', `${rows.length} versions recorded, all known here; ${pending} to apply`)
}

/** Our broadcasts migration allows one editable broadcast; the adoption migration keeps the newest. */
export async function checkEditableBroadcasts(sql: Sql): Promise<CheckResult> {
  const [table] = await sql`SELECT to_regclass('public.broadcasts') IS NOT NULL AS present`
  if (!table?.present) return ok(phase, 'editable broadcasts', 'no broadcasts table yet')
  const rows = await sql<{ id: number; run_at: Date | null }[]>`
    SELECT id, run_at FROM public.broadcasts WHERE editable ORDER BY id`
  if (rows.length <= 1) return ok(phase, 'editable broadcasts', `${rows.length} editable broadcast`)
  const kept = rows[rows.length - 1]!.id
  return fix(
    phase,
    'editable broadcasts',
    `${rows.length} editable broadcasts (ids ${
      rows.map((r) => r.id).join(', ')
    }); the migration keeps #${kept} (the newest) and marks the others not editable. To keep another one, set editable = false on the rest before pushing`,
  )
}

/** Messages in the queues are sent by our sender after the cut-over; best done when both are empty. */
export async function checkQueueDepth(sql: Sql): Promise<CheckResult> {
  const [schema] = await sql`SELECT to_regclass('pgmq.q_broadcast_first_messages') IS NOT NULL
                                AND to_regclass('pgmq.q_broadcast_second_messages') IS NOT NULL AS present`
  if (!schema?.present) return ok(phase, 'queue depth', 'no queues yet')
  const [depth] = await sql<{ first: number; second: number; last_visible: Date | null }[]>`
    SELECT (SELECT count(*)::integer FROM pgmq.q_broadcast_first_messages) AS first,
           (SELECT count(*)::integer FROM pgmq.q_broadcast_second_messages) AS second,
           greatest((SELECT max(vt) FROM pgmq.q_broadcast_first_messages),
                    (SELECT max(vt) FROM pgmq.q_broadcast_second_messages)) AS last_visible`
  if (!depth || depth.first + depth.second === 0) return ok(phase, 'queue depth', 'both queues are empty')
  return fix(
    phase,
    'queue depth',
    `${depth.first} first messages and ${depth.second} follow-ups queued (the last becomes visible at ${depth.last_visible?.toISOString()}): cut over once both are empty; otherwise the new sender sends them (each once)`,
  )
}

/** A broadcast of the last 2 hours may still be sending its follow-ups. */
export async function checkRecentBroadcast(sql: Sql, now: Date): Promise<CheckResult> {
  const [table] = await sql`SELECT to_regclass('public.broadcasts') IS NOT NULL AS present`
  if (!table?.present) return ok(phase, 'recent broadcast', 'no broadcasts table yet')
  const [recent] = await sql<{ id: number; run_at: Date }[]>`
    SELECT id, run_at FROM public.broadcasts
    WHERE NOT editable AND run_at > ${now}::timestamptz - interval '2 hours' AND run_at <= ${now}
    ORDER BY run_at DESC LIMIT 1`
  if (!recent) return ok(phase, 'recent broadcast', 'no broadcast ran in the last 2 hours')
  const clear = new Date(recent.run_at.getTime() + 2 * 3600_000)
  return fix(
    phase,
    'recent broadcast',
    `broadcast #${recent.id} ran at ${recent.run_at.toISOString()}; its follow-ups may still be going out: cut over after ${clear.toISOString()}`,
  )
}

/** Nothing should become due while the push and the deploy run. */
export async function checkUpcomingSends(sql: Sql, now: Date): Promise<CheckResult> {
  const [tables] = await sql`SELECT to_regclass('public.broadcasts') IS NOT NULL
                                AND to_regclass('public.campaigns') IS NOT NULL
                                AND to_regclass('public.broadcast_settings') IS NOT NULL AS present`
  if (!tables?.present) return ok(phase, 'upcoming sends', 'no broadcasts or campaigns tables yet')
  const due = await sql<{ kind: string; id: number; run_at: Date }[]>`
    SELECT 'broadcast' AS kind, id, run_at FROM public.broadcasts
    WHERE editable AND run_at BETWEEN ${now} AND ${now}::timestamptz + interval '30 minutes'
    UNION ALL
    SELECT 'campaign', id, run_at FROM public.campaigns
    WHERE NOT processed AND run_at BETWEEN ${now} AND ${now}::timestamptz + interval '30 minutes'
    UNION ALL
    -- Weekly slots are America/Detroit wall-clock times of the active schedule.
    SELECT 'weekly schedule', s.id::integer, m.at FROM (
      SELECT * FROM public.broadcast_settings WHERE active ORDER BY id DESC LIMIT 1) AS s
    CROSS JOIN generate_series(date_trunc('minute', ${now}::timestamptz), ${now}::timestamptz + interval '30 minutes',
                               interval '1 minute') AS m(at)
    WHERE to_char(m.at AT TIME ZONE 'America/Detroit', 'HH24:MI') = to_char(
      CASE extract(isodow FROM m.at AT TIME ZONE 'America/Detroit')::integer
        WHEN 1 THEN s.mon WHEN 2 THEN s.tue WHEN 3 THEN s.wed WHEN 4 THEN s.thu
        WHEN 5 THEN s.fri WHEN 6 THEN s.sat ELSE s.sun END, 'HH24:MI')
    ORDER BY run_at`
  if (!due.length) return ok(phase, 'upcoming sends', 'no broadcast or campaign is due in the next 30 minutes')
  return fix(
    phase,
    'upcoming sends',
    `${
      due.map((d) =>
        d.kind === 'weekly schedule'
          ? `the weekly broadcast at ${d.run_at.toISOString()}`
          : `${d.kind} #${d.id} at ${d.run_at.toISOString()}`
      ).join(', ')
    } due within 30 minutes: cut over after it has run, or reschedule it`,
  )
}

export async function beforeChecks(sql: Sql, localVersions: string[], now: Date): Promise<CheckResult[]> {
  return [
    await checkMigrationHistory(sql, localVersions),
    await checkEditableBroadcasts(sql),
    await checkQueueDepth(sql),
    await checkRecentBroadcast(sql, now),
    await checkUpcomingSends(sql, now),
  ]
}
