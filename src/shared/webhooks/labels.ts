import type { Db } from '../db/client.ts'
import type { SharedLabel } from './payload.ts'

/**
 * Mirrors the conversation's shared labels (upstream's upsertLabel, spec §2.11.3): the labels
 * themselves are upserted, links no longer present are archived, present ones are linked.
 *
 * Fixed: a label removed and later re-added stayed archived forever (spec §8.4 #23), hiding the
 * conversation from label-based campaign segments, which read only `is_archived = false` links.
 * A re-added label is un-archived; its link keeps its first `created_at`.
 *
 * `labels` undefined or null means the event did not say: nothing is archived then (upstream
 * crashed on it). An empty array means "no labels": every link is archived.
 */
export async function syncLabels(
  db: Db,
  conversationId: string,
  labels: SharedLabel[] | null | undefined,
): Promise<void> {
  if (!labels) return
  const byId = new Map(labels.map((label) => [label.id, label]))
  const ids = [...byId.keys()].sort()

  if (ids.length > 0) {
    const rows = ids.map((id) => {
      const label = byId.get(id)!
      return [
        id,
        label.name ?? '',
        label.name_with_parent_names ?? label.name ?? '',
        label.color ?? null,
        label.parent ?? null,
        label.share_with_organization ?? false,
        label.visibility ?? null,
      ]
    })
    // Shared labels appear in many conversations' events: only labels whose stored row differs
    // reach the upsert, so an unchanged label is never locked (see upsertUsers).
    await db`
      WITH incoming (id, name, name_with_parent_names, color, parent, share_with_organization, visibility) AS (
        SELECT v.id::uuid, v.name::text, v.name_with_parent_names::text, v.color::text, v.parent::uuid,
               v.share_with_organization::boolean, v.visibility::text
        FROM (VALUES ${
      db(rows as never)
    }) AS v (id, name, name_with_parent_names, color, parent, share_with_organization, visibility)
      )
      INSERT INTO public.labels AS l (id, name, name_with_parent_names, color, parent, share_with_organization, visibility)
      SELECT i.* FROM incoming i LEFT JOIN public.labels s ON s.id = i.id
      WHERE s.id IS NULL
         OR (s.name, s.name_with_parent_names, s.color, s.parent, s.share_with_organization, s.visibility)
            IS DISTINCT FROM (i.name, i.name_with_parent_names, i.color, i.parent, i.share_with_organization, i.visibility)
      ORDER BY i.id
      ON CONFLICT (id) DO UPDATE SET
        name = EXCLUDED.name, name_with_parent_names = EXCLUDED.name_with_parent_names, color = EXCLUDED.color,
        parent = EXCLUDED.parent, share_with_organization = EXCLUDED.share_with_organization,
        visibility = EXCLUDED.visibility, updated_at = now()`
  }

  if (ids.length === 0) {
    await db`
      UPDATE public.conversations_labels SET is_archived = true
      WHERE conversation_id = ${conversationId} AND NOT is_archived`
    return
  }
  await db`
    UPDATE public.conversations_labels SET is_archived = true
    WHERE conversation_id = ${conversationId} AND NOT is_archived AND label_id NOT IN ${db(ids)}`
  await db`
    INSERT INTO public.conversations_labels AS cl (conversation_id, label_id)
    SELECT ${conversationId}::uuid, v.label_id::uuid FROM (VALUES ${db(ids.map((id) => [id]) as never)}) AS v (label_id)
    ON CONFLICT (conversation_id, label_id) DO UPDATE SET is_archived = false
    WHERE cl.is_archived`
}
