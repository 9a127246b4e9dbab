import type { Db } from '../db/client.ts'
import type { ConversationUser } from './payload.ts'
import { mergeUsers, type UserFacts } from './users.ts'

// The people of a conversation in ONE statement (it runs for every webhook, so round trips count):
//   - authors: numbers are stored once (existing authors keep their name and flags) and linked to
//     the conversation;
//   - users: new users, and users whose name, email or avatar changed, are upserted, with a
//     user_history row when the name or email is new or changed (upstream's rule);
//   - conversations_users: the per-user flags of this conversation.
// The foreign keys of the links are checked at the end of the statement, after the authors and
// users it inserts.
//
// Unchanged users are filtered out before the upsert: the same few staff users appear in every
// webhook, and ON CONFLICT DO UPDATE locks a row even when it changes nothing, which queued every
// concurrent webhook behind one users row. Rows that do change go in id order (one lock order).

export interface PhoneAuthor {
  name: string | null
  phone: string
}

export const FLAG_COLUMNS = [
  'unassigned',
  'closed',
  'archived',
  'trashed',
  'junked',
  'assigned',
  'flagged',
  'snoozed',
] as const

export function flagsOf(user: ConversationUser): Record<(typeof FLAG_COLUMNS)[number], boolean> {
  return Object.fromEntries(FLAG_COLUMNS.map((column) => [column, user[column]])) as Record<
    (typeof FLAG_COLUMNS)[number],
    boolean
  >
}

export interface People {
  authors: PhoneAuthor[]
  users: UserFacts[]
  conversationUsers: ConversationUser[]
}

export async function syncPeople(db: Db, conversationId: string, people: People): Promise<void> {
  const authors = [...new Map(people.authors.map((author) => [author.phone, author])).values()]
    .map((author) => ({ phone_number: author.phone, name: author.name }))
  const users = mergeUsers(people.users).map((user) => ({
    id: user.id,
    name: user.name ?? null,
    email: user.email ?? null,
    avatar_url: user.avatarUrl ?? null,
  }))
  const flags = [...new Map(people.conversationUsers.map((user) => [user.id, user])).values()]
    .map((user) => ({ user_id: user.id, ...flagsOf(user) }))
  if (authors.length === 0 && users.length === 0 && flags.length === 0) return

  await db`
    WITH incoming_authors AS (
      SELECT DISTINCT ON (phone_number) phone_number, name
      FROM jsonb_to_recordset(${db.json(authors)}) AS a (phone_number text, name text)
      ORDER BY phone_number
    ),
    stored_authors AS (
      INSERT INTO public.authors (phone_number, name)
      SELECT phone_number, name FROM incoming_authors ORDER BY phone_number
      ON CONFLICT (phone_number) DO NOTHING
    ),
    linked_authors AS (
      INSERT INTO public.conversations_authors (conversation_id, author_phone_number)
      SELECT ${conversationId}::uuid, phone_number FROM incoming_authors
      ON CONFLICT (conversation_id, author_phone_number) DO NOTHING
    ),
    incoming_users AS (
      SELECT * FROM jsonb_to_recordset(${db.json(users)}) AS u (id uuid, name text, email text, avatar_url text)
    ),
    users_before AS (
      SELECT u.id, u.name, u.email, u.avatar_url FROM public.users u JOIN incoming_users i ON i.id = u.id
    ),
    changed_users AS (
      SELECT i.* FROM incoming_users i LEFT JOIN users_before b ON b.id = i.id
      WHERE b.id IS NULL
         OR (i.name IS NOT NULL AND i.name IS DISTINCT FROM b.name)
         OR (i.email IS NOT NULL AND i.email IS DISTINCT FROM b.email)
         OR (i.avatar_url IS NOT NULL AND i.avatar_url IS DISTINCT FROM b.avatar_url)
    ),
    upserted_users AS (
      INSERT INTO public.users AS u (id, name, email, avatar_url, created_at)
      SELECT id, name, email, avatar_url, now() FROM changed_users ORDER BY id
      ON CONFLICT (id) DO UPDATE SET
        name = COALESCE(EXCLUDED.name, u.name),
        email = COALESCE(EXCLUDED.email, u.email),
        avatar_url = COALESCE(EXCLUDED.avatar_url, u.avatar_url),
        updated_at = now()
      RETURNING u.id, u.name, u.email
    ),
    user_history_rows AS (
      INSERT INTO public.user_history (user_id, name, email)
      SELECT up.id, up.name, up.email
      FROM upserted_users up LEFT JOIN users_before b ON b.id = up.id
      WHERE (up.name IS NOT NULL OR up.email IS NOT NULL)
        AND (b.id IS NULL OR b.name IS DISTINCT FROM up.name OR b.email IS DISTINCT FROM up.email)
    )
    INSERT INTO public.conversations_users AS cu
      (conversation_id, user_id, unassigned, closed, archived, trashed, junked, assigned, flagged, snoozed)
    SELECT ${conversationId}::uuid, f.user_id, f.unassigned, f.closed, f.archived, f.trashed, f.junked, f.assigned,
           f.flagged, f.snoozed
    FROM jsonb_to_recordset(${db.json(flags)}) AS f (user_id uuid, unassigned boolean, closed boolean,
      archived boolean, trashed boolean, junked boolean, assigned boolean, flagged boolean, snoozed boolean)
    ORDER BY f.user_id
    ON CONFLICT (conversation_id, user_id) DO UPDATE SET
      unassigned = EXCLUDED.unassigned, closed = EXCLUDED.closed, archived = EXCLUDED.archived,
      trashed = EXCLUDED.trashed, junked = EXCLUDED.junked, assigned = EXCLUDED.assigned,
      flagged = EXCLUDED.flagged, snoozed = EXCLUDED.snoozed, updated_at = now()
    WHERE (cu.unassigned, cu.closed, cu.archived, cu.trashed, cu.junked, cu.assigned, cu.flagged, cu.snoozed)
      IS DISTINCT FROM (EXCLUDED.unassigned, EXCLUDED.closed, EXCLUDED.archived, EXCLUDED.trashed,
                        EXCLUDED.junked, EXCLUDED.assigned, EXCLUDED.flagged, EXCLUDED.snoozed)`
}
