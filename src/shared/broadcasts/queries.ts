import type { Db } from '../db/client.ts'

// Reads and small writes on `broadcasts` shared by make, send-now, the sidebar and the settings.

export interface UpcomingBroadcast {
  id: number
  runAt: Date | null
  firstMessage: string
  secondMessage: string
  originalFirstMessage: string | null
  originalSecondMessage: string | null
  delay: number
  noUsers: number
}

const upcomingColumns = (db: Db) =>
  db`id, run_at AS "runAt", first_message AS "firstMessage", second_message AS "secondMessage",
     original_first_message AS "originalFirstMessage", original_second_message AS "originalSecondMessage",
     delay, no_users AS "noUsers"`

/** The editable broadcast (at most one: partial unique index `broadcasts_one_editable`). */
export async function findUpcoming(db: Db, options: { forUpdate?: boolean } = {}): Promise<UpcomingBroadcast | null> {
  const [row] = await db<UpcomingBroadcast[]>`
    SELECT ${upcomingColumns(db)} FROM public.broadcasts WHERE editable
    ORDER BY id DESC LIMIT 1 ${options.forUpdate ? db`FOR UPDATE` : db``}`
  return row ?? null
}

export async function findUpcomingById(db: Db, id: number): Promise<UpcomingBroadcast | null> {
  const [row] = await db<UpcomingBroadcast[]>`SELECT ${
    upcomingColumns(db)
  } FROM public.broadcasts WHERE id = ${id} AND editable`
  return row ?? null
}

export interface SentBroadcast {
  id: number
  runAt: Date
}

/** The latest broadcast handed over after `since` (the "ran within the last 2 hours" guard). */
export async function findSentSince(db: Db, since: Date): Promise<SentBroadcast | null> {
  const [row] = await db<SentBroadcast[]>`
    SELECT id, run_at AS "runAt" FROM public.broadcasts
    WHERE NOT editable AND run_at > ${since}
    ORDER BY run_at DESC LIMIT 1`
  return row ?? null
}

/**
 * A sent broadcast that is still going out: its first messages are still queued (whenever it
 * ran: a large audience takes hours at Missive's pace), or it ran after `followUpsSince` and its
 * follow-ups are still waiting. Starting another one then would interleave two broadcasts.
 */
export async function findBroadcastInProgress(db: Db, followUpsSince: Date): Promise<SentBroadcast | null> {
  // One pass over each queue (they can hold a whole audience), then the few broadcasts found.
  const [row] = await db<SentBroadcast[]>`
    WITH queued AS (
      SELECT DISTINCT (message->>'broadcast_id')::int AS id, false AS follow_up
      FROM pgmq.q_broadcast_first_messages WHERE message ? 'broadcast_id'
      UNION
      SELECT DISTINCT (message->>'broadcast_id')::int AS id, true AS follow_up
      FROM pgmq.q_broadcast_second_messages WHERE message ? 'broadcast_id'
    )
    SELECT b.id, b.run_at AS "runAt"
    FROM public.broadcasts b JOIN queued q ON q.id = b.id
    WHERE NOT b.editable AND (NOT q.follow_up OR b.run_at > ${followUpsSince})
    ORDER BY b.run_at DESC NULLS LAST LIMIT 1`
  return row ?? null
}

/** `no_users` of the editable broadcast: the sidebar's "batch size". */
export async function editableBatchSize(db: Db): Promise<number | undefined> {
  const [row] = await db<
    { noUsers: number }[]
  >`SELECT no_users AS "noUsers" FROM public.broadcasts WHERE editable ORDER BY id DESC LIMIT 1`
  return row?.noUsers
}
