import type { PendingQuery, Row } from 'postgres'
import type { Db } from '../db/client.ts'
import { notBlockedByLedger, notDoneInLedger } from './actions.ts'
import type { FailureEpisode, HygieneJob } from './episode.ts'

/**
 * A job's candidate query: a fragment selecting `phone`, `conversation_id`, `message_status_ids`
 * (newest first) and `last_message_status_id`, one row per phone, before the ledger is consulted.
 */
export type EpisodeQuery = (db: Db) => PendingQuery<Row[]>

interface EpisodeRow {
  phone: string
  conversation_id: string
  message_status_ids: number[]
  last_message_status_id: number
}

/** Episodes to post now, oldest failure first so a backlog drains in order. */
export async function readyEpisodes(
  db: Db,
  job: HygieneJob,
  episodes: EpisodeQuery,
  now: Date,
  limit: number,
): Promise<FailureEpisode[]> {
  const rows = await db<EpisodeRow[]>`
    SELECT e.phone, e.conversation_id, e.message_status_ids, e.last_message_status_id
    FROM (${episodes(db)}) e
    WHERE ${notBlockedByLedger(db, job, now)}
    ORDER BY e.last_message_status_id
    LIMIT ${limit}`
  return rows.map((row) => ({
    phone: row.phone,
    conversationId: row.conversation_id,
    messageStatusIds: row.message_status_ids.map(Number),
    lastMessageStatusId: Number(row.last_message_status_id),
  }))
}

/** Episodes not yet posted (ready now or waiting for a retry); 0 means the job can stop for today. */
export async function countEpisodesLeft(db: Db, job: HygieneJob, episodes: EpisodeQuery, now: Date): Promise<number> {
  const [row] = await db<{ left: number }[]>`
    SELECT count(*)::integer AS left FROM (${episodes(db)}) e WHERE ${notDoneInLedger(db, job, now)}`
  return row!.left
}
