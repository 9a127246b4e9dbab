import type { Db } from '../db/client.ts'
import type { LinkShortener } from '../links/dub.ts'
import type { UpcomingBroadcastResponse } from './dashboard.ts'
import { findUpcomingById } from './queries.ts'

// PATCH /broadcast-sidebar/: edit the upcoming (editable) broadcast. Only an editable row is ever
// changed; a sent broadcast or an unknown id answers {} as upstream.
//
// Pending second messages: upstream's PATCH removes none, and there are none to remove: follow-ups
// are queued only for a broadcast that has been sent, i.e. is no longer editable, and their payload
// carries its own copy of the text. Editing the upcoming broadcast cannot reach them.

export interface BroadcastEdit {
  firstMessage?: string
  secondMessage?: string
  /** null: no pinned time, follow the weekly schedule. */
  runAt?: Date | null
  delay?: number
  noRecipients?: number
}

export async function editUpcomingBroadcast(
  db: Db,
  shortener: LinkShortener,
  id: number,
  edit: BroadcastEdit,
  now: Date,
): Promise<UpcomingBroadcastResponse | Record<string, never>> {
  // Checked first so Dub is only called for a broadcast that can change (upstream created short
  // links even for a sent broadcast).
  if (!(await findUpcomingById(db, id))) return {}

  const changes: Record<string, unknown> = { updated_at: now }
  if (edit.firstMessage !== undefined) {
    changes.original_first_message = edit.firstMessage
    changes.first_message = (await shortener.shorten(edit.firstMessage, { broadcastId: id }))[0]
  }
  if (edit.secondMessage !== undefined) {
    changes.original_second_message = edit.secondMessage
    changes.second_message = (await shortener.shorten(edit.secondMessage, { broadcastId: id }))[0]
  }
  if (edit.runAt !== undefined) changes.run_at = edit.runAt
  if (edit.delay !== undefined) changes.delay = edit.delay
  if (edit.noRecipients !== undefined) changes.no_users = edit.noRecipients

  const [row] = await db<
    { id: number; firstMessage: string; secondMessage: string; runAt: Date | null; delay: number; noUsers: number }[]
  >`
    UPDATE public.broadcasts SET ${db(changes)}
    WHERE id = ${id} AND editable
    RETURNING id, first_message AS "firstMessage", second_message AS "secondMessage", run_at AS "runAt", delay, no_users AS "noUsers"`
  // Sent between the check and the update (a make or send-now won the race): nothing changed.
  if (!row) return {}
  return {
    id: row.id,
    firstMessage: row.firstMessage,
    secondMessage: row.secondMessage,
    runAt: row.runAt ? Math.floor(row.runAt.getTime() / 1000) : null,
    delay: row.delay,
    noRecipients: row.noUsers,
  }
}
