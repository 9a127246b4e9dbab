import type { Db } from '../db/client.ts'
import { syncConversation } from './conversation-sync.ts'
import { type CommentEvent, fromEpoch } from './payload.ts'
import type { UserFacts } from './users.ts'

// new_comment (spec §2.11.4 handleNewComment): a note or task on a conversation, with its @-mentions
// and task assignees. Admin "unsubscribe" comments are not read here: a separate Missive rule calls
// admin-action for them.

export async function ingestComment(db: Db, event: CommentEvent): Promise<void> {
  const { comment, conversation } = event
  const mentions = comment.mentions ?? []
  const mentionedUsers = unique(mentions.flatMap((m) => (m.user_id ? [m.user_id] : [])))
  const mentionedTeams = unique(mentions.flatMap((m) => (m.team_id ? [m.team_id] : [])))
  const taskAssignees = comment.task?.assignees ?? []

  // Teams before the conversation row, as the team-aware events do, so both lock in one order.
  if (mentionedTeams.length > 0) await ensureTeams(db, mentionedTeams, conversation.organization?.id ?? null)

  const users: UserFacts[] = [
    toFacts(comment.author),
    ...taskAssignees.map(toFacts),
    // Only the id is known for a mentioned user; the rest of their row is left as it is.
    ...mentionedUsers.map((id) => ({ id })),
  ]
  await syncConversation(db, conversation, { extraUsers: users })

  const inserted = await db`
    INSERT INTO public.comments (id, body, created_at, attachment, task_completed_at, is_task, user_id, conversation_id)
    VALUES (
      ${comment.id}, ${comment.body ?? null},
      ${comment.created_at != null ? fromEpoch(comment.created_at) : db`now()`},
      ${comment.attachment == null ? null : db.json(comment.attachment as never)},
      ${comment.task?.completed_at ? fromEpoch(comment.task.completed_at) : null},
      ${Boolean(comment.task)}, ${comment.author.id}, ${conversation.id}
    )
    ON CONFLICT (id) DO NOTHING
    RETURNING id`
  // A redelivered comment is already stored with its assignees and mentions.
  if (inserted.length === 0) return

  const assigneeIds = unique(taskAssignees.map((user) => user.id))
  if (assigneeIds.length > 0) {
    await db`
      INSERT INTO public.tasks_assignees (comment_id, user_id)
      SELECT ${comment.id}::uuid, v.user_id::uuid FROM (VALUES ${
      db(assigneeIds.map((id) => [id]) as never)
    }) AS v (user_id)`
  }
  const mentionRows = [
    ...mentionedUsers.map((id) => [id, null]),
    ...mentionedTeams.map((id) => [null, id]),
  ]
  if (mentionRows.length > 0) {
    await db`
      INSERT INTO public.comments_mentions (comment_id, user_id, team_id)
      SELECT ${comment.id}::uuid, v.user_id::uuid, v.team_id::uuid FROM (VALUES ${
      db(mentionRows as never)
    }) AS v (user_id, team_id)`
  }
}

/**
 * A mentioned team may be unknown so far: store its id (upstream's `name: ''`) so the mention's
 * foreign key holds. Existing teams are not touched (their name comes from team events).
 */
async function ensureTeams(db: Db, teamIds: string[], organizationId: string | null): Promise<void> {
  await db`
    INSERT INTO public.teams (id, name, organization_id)
    SELECT v.id::uuid, '', ${organizationId}::uuid FROM (VALUES ${
    db([...teamIds].sort().map((id) => [id]) as never)
  }) AS v (id)
    ON CONFLICT (id) DO NOTHING`
}

function toFacts(
  user: { id: string; name?: string | null; email?: string | null; avatar_url?: string | null },
): UserFacts {
  return { id: user.id, name: user.name, email: user.email, avatarUrl: user.avatar_url }
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)]
}
