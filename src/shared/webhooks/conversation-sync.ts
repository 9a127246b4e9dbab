import type { Db } from '../db/client.ts'
import { type ConversationPayload, type ConversationUser, fromEpoch } from './payload.ts'
import { flagsOf, type PhoneAuthor, syncPeople } from './people.ts'
import type { UserFacts } from './users.ts'

// Every Missive event carries the conversation's current state; each handler first mirrors it
// (upstream's upsertConversation, spec §2.11.3). The statements run in the handler's transaction
// in a fixed order — team (by the caller), conversation row, then its people — so concurrent
// webhooks about the same conversation queue behind each other instead of deadlocking.

export type { PhoneAuthor }

export interface ConversationSyncOptions {
  /** conversation_closed / conversation_reopened set it; other events leave it as stored. */
  closed?: boolean
  /** Set by the team-aware events; absent leaves the stored team. */
  teamId?: string
  /** Seed `conversations_assignees` when the conversation is seen for the first time (default true). */
  seedAssignees?: boolean
  /** People of an SMS (from / to) to store and link besides `conversation.authors`. */
  extraAuthors?: PhoneAuthor[]
  /** Users of a comment (author, task assignees, mentions) or an outgoing SMS's sender. */
  extraUsers?: UserFacts[]
}

/** Mirrors the conversation and its people; `created` is true when we had never seen it. */
export async function syncConversation(
  db: Db,
  conversation: ConversationPayload,
  options: ConversationSyncOptions = {},
): Promise<{ created: boolean }> {
  const created = await upsertConversationRow(db, conversation, options)
  const users = conversation.users ?? []
  const assignees = conversation.assignees ?? []
  await syncPeople(db, conversation.id, {
    authors: [...phoneAuthors(conversation), ...(options.extraAuthors ?? [])],
    users: [
      ...(options.extraUsers ?? []),
      ...[...users, ...assignees].map((user) => ({ id: user.id, name: user.name, email: user.email })),
    ],
    conversationUsers: users,
  })
  if (created && (options.seedAssignees ?? true) && assignees.length > 0) {
    // Missive sends no assignee event for a conversation assigned before we first saw it.
    await insertAssignees(db, conversation.id, assignees)
  }
  return { created }
}

/**
 * Columns present in the payload overwrite the stored ones; absent ones keep them (a webhook
 * missing `organization` used to throw, spec §7.13 #9; now it just leaves the column alone).
 * `created_at` is the conversation's creation and is not rewritten on every event (spec §8.4 #27).
 */
async function upsertConversationRow(
  db: Db,
  c: ConversationPayload,
  options: ConversationSyncOptions,
): Promise<boolean> {
  const present: Record<string, unknown> = {}
  const set = (column: string, value: unknown) => {
    if (value !== undefined) present[column] = value
  }
  set('subject', c.subject)
  set('latest_message_subject', c.latest_message_subject)
  set('messages_count', c.messages_count ?? undefined)
  set('drafts_count', c.drafts_count ?? undefined)
  set('send_later_messages_count', c.send_later_messages_count ?? undefined)
  set('attachments_count', c.attachments_count ?? undefined)
  set('tasks_count', c.tasks_count ?? undefined)
  set('completed_tasks_count', c.completed_tasks_count ?? undefined)
  set('assignee_names', c.assignee_names)
  set('assignee_emails', c.assignee_emails)
  set('shared_label_names', c.shared_label_names)
  set('web_url', c.web_url ?? undefined)
  set('app_url', c.app_url ?? undefined)
  set('organization_id', c.organization?.id)
  set('closed', options.closed)
  set('team_id', options.teamId)

  const insert: Record<string, unknown> = {
    id: c.id,
    web_url: '',
    app_url: '',
    ...present,
  }
  if (c.created_at != null) insert.created_at = fromEpoch(c.created_at)
  const update = Object.keys(present).length > 0 ? present : { id: c.id }
  const [row] = await db<{ created: boolean }[]>`
    INSERT INTO public.conversations ${db(insert)}
    ON CONFLICT (id) DO UPDATE SET ${db(update)}, updated_at = now()
    RETURNING (xmax = 0) AS created`
  return row!.created
}

function phoneAuthors(conversation: ConversationPayload): PhoneAuthor[] {
  // Name-only (and email) authors have no phone: they are neither stored nor linked. Upstream
  // linked them by name, which broke the authors foreign key and failed the whole event (§8.4 #26).
  return (conversation.authors ?? [])
    .filter((author) => Boolean(author.phone_number?.trim()))
    .map((author) => ({ name: author.name ?? null, phone: author.phone_number!.trim() }))
}

/** The assignee users exist: syncConversation upserted them. */
export async function insertAssignees(db: Db, conversationId: string, assignees: ConversationUser[]): Promise<void> {
  const byId = new Map(assignees.map((user) => [user.id, user]))
  if (byId.size === 0) return
  const rows = [...byId.values()].map((user) => ({ user_id: user.id, ...flagsOf(user) }))
  await db`
    INSERT INTO public.conversations_assignees
      (conversation_id, user_id, unassigned, closed, archived, trashed, junked, assigned, flagged, snoozed)
    SELECT ${conversationId}::uuid, f.user_id, f.unassigned, f.closed, f.archived, f.trashed, f.junked, f.assigned,
           f.flagged, f.snoozed
    FROM jsonb_to_recordset(${db.json(rows)}) AS f (user_id uuid, unassigned boolean, closed boolean,
      archived boolean, trashed boolean, junked boolean, assigned boolean, flagged boolean, snoozed boolean)`
}
