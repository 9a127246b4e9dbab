import type { Db } from '../db/client.ts'
import { insertAssignees, syncConversation } from './conversation-sync.ts'
import { syncLabels } from './labels.ts'
import type { ConversationEvent, ConversationPayload } from './payload.ts'
import { flagsOf } from './people.ts'

// team_change, label_change, conversation_closed / _reopened and conversation_assignee_change
// (spec §2.11.4). Each records what changed in conversation_history, as upstream.

export async function ingestTeamChange(db: Db, event: ConversationEvent): Promise<void> {
  const teamId = await upsertTeam(db, event.conversation)
  await syncConversation(db, event.conversation, { teamId })
  await insertHistory(db, event.conversation.id, 'team_change', teamId ?? null)
}

export async function ingestLabelChange(db: Db, event: ConversationEvent): Promise<void> {
  await syncConversation(db, event.conversation)
  await syncLabels(db, event.conversation.id, event.conversation.shared_labels)
}

export async function ingestStatusChange(db: Db, event: ConversationEvent, closed: boolean): Promise<void> {
  const teamId = await upsertTeam(db, event.conversation)
  await syncConversation(db, event.conversation, { closed, teamId })
  await insertHistory(
    db,
    event.conversation.id,
    closed ? 'conversation_closed' : 'conversation_reopened',
    teamId ?? null,
  )
}

/**
 * Replaces the conversation's assignees with the event's list and keeps a snapshot of it in
 * conversations_assignees_history. Fixed: an empty list now clears the old assignees (upstream left
 * them, spec §8.4 #25); an absent list leaves them alone.
 */
export async function ingestAssigneeChange(db: Db, event: ConversationEvent): Promise<void> {
  const { conversation } = event
  await syncConversation(db, conversation, { seedAssignees: false })
  const historyId = await insertHistory(db, conversation.id, 'conversation_assignee_change', null)
  const assignees = conversation.assignees
  if (assignees) {
    await db`DELETE FROM public.conversations_assignees WHERE conversation_id = ${conversation.id}`
    await insertAssignees(db, conversation.id, assignees)
    const unique = [...new Map(assignees.map((user) => [user.id, user])).values()]
    if (unique.length > 0) {
      await db`
        INSERT INTO public.conversations_assignees_history
          (unassigned, closed, archived, trashed, junked, assigned, flagged, snoozed, conversation_history_id)
        SELECT f.unassigned, f.closed, f.archived, f.trashed, f.junked, f.assigned, f.flagged, f.snoozed, ${historyId}::bigint
        FROM jsonb_to_recordset(${db.json(unique.map(flagsOf))}) AS f (unassigned boolean, closed boolean,
          archived boolean, trashed boolean, junked boolean, assigned boolean, flagged boolean, snoozed boolean)`
    }
  }
  // Upstream also syncs labels on assignee changes (its tests pin it).
  await syncLabels(db, conversation.id, conversation.shared_labels)
}

/**
 * The conversation's team, named and attached to the conversation's organization. Runs before the
 * conversation row is touched (the conversation references it).
 */
async function upsertTeam(db: Db, conversation: ConversationPayload): Promise<string | undefined> {
  const team = conversation.team
  if (!team) return undefined
  const organizationId = conversation.organization?.id ?? null
  // Every conversation of a team names it: only a new or changed team reaches the upsert, so an
  // unchanged team row is never locked and status changes across the team do not queue on it.
  await db`
    INSERT INTO public.teams AS t (id, name, organization_id)
    SELECT i.id, i.name, i.organization_id
    FROM (SELECT ${team.id}::uuid AS id, ${
    team.name ?? null
  }::text AS name, ${organizationId}::uuid AS organization_id) i
    LEFT JOIN public.teams s ON s.id = i.id
    WHERE s.id IS NULL
       OR (i.name IS NOT NULL AND i.name IS DISTINCT FROM s.name)
       OR (i.organization_id IS NOT NULL AND i.organization_id IS DISTINCT FROM s.organization_id)
    ON CONFLICT (id) DO UPDATE SET
      name = COALESCE(EXCLUDED.name, t.name),
      organization_id = COALESCE(EXCLUDED.organization_id, t.organization_id),
      updated_at = now()`
  return team.id
}

async function insertHistory(
  db: Db,
  conversationId: string,
  changeType: string,
  teamId: string | null,
): Promise<number> {
  const [row] = await db<{ id: number }[]>`
    INSERT INTO public.conversation_history (conversation_id, change_type, team_id)
    VALUES (${conversationId}, ${changeType}, ${teamId})
    RETURNING id`
  return row!.id
}
