import type { Db } from '../db/client.ts'
import type { Deps } from '../runtime/deps.ts'

// Confirmation notes posted into a Missive conversation ("This phone number … has now been
// unsubscribed"). The note is queued in `webhook_posts` in the same transaction as the change it
// confirms, then posted after commit. Its key names the event (`unsubscribed:<message id>`,
// `admin-action:<comment id>:unsubscribe`), so:
//   - a redelivered webhook finds the note already posted and does not post it twice;
//   - a failed post leaves the note pending: the webhook answers 502, Missive retries, and the
//     retry posts it (upstream ignored the failure, or swallowed it after the DB update, §8.4 #33).
// A short claim keeps two concurrent deliveries of one event from both posting.

export interface ConfirmationPost {
  key: string
  conversationId: string
  text: string
}

export interface PostFailure {
  key: string
  error: string
}

export async function queueConfirmationPost(db: Db, post: ConfirmationPost): Promise<void> {
  await db`
    INSERT INTO public.webhook_posts (key, conversation_id, text)
    VALUES (${post.key}, ${post.conversationId}, ${post.text})
    ON CONFLICT (key) DO NOTHING`
}

/** Posts the pending notes among `keys`; returns the ones that could not be posted. */
export async function deliverConfirmationPosts(deps: Deps, keys: string[]): Promise<PostFailure[]> {
  if (keys.length === 0) return []
  // The claim outlives one Missive call (its timeout) so no second delivery posts meanwhile.
  const claimSeconds = Math.ceil(deps.config.MISSIVE_TIMEOUT_MS / 1000) + 5
  const claimed = await deps.sql<{ key: string; conversation_id: string; text: string }[]>`
    UPDATE public.webhook_posts
    SET claimed_until = now() + make_interval(secs => ${claimSeconds}), attempts = attempts + 1
    WHERE key IN ${deps.sql(keys)} AND posted_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
    RETURNING key, conversation_id, text`

  const failures: PostFailure[] = []
  for (const post of claimed) {
    const result = await deps.missive.createPost({ conversationId: post.conversation_id, text: post.text })
    if (result.ok) {
      await deps.sql`
        UPDATE public.webhook_posts SET posted_at = now(), claimed_until = NULL, last_error = NULL
        WHERE key = ${post.key}`
      deps.log.info('Confirmation posted', { key: post.key, conversationId: post.conversation_id })
      continue
    }
    await deps.sql`
      UPDATE public.webhook_posts SET claimed_until = NULL, last_error = ${result.error}
      WHERE key = ${post.key}`
    deps.log.warn('Confirmation post failed', {
      key: post.key,
      conversationId: post.conversation_id,
      error: result.error,
    })
    failures.push({ key: post.key, error: result.error })
  }
  return failures
}

/**
 * A note whose post failed and whose event Missive never redelivered would otherwise stay pending
 * forever: any later event of the same conversation posts it. Failures here are only logged — they
 * belong to an earlier event, not to the one being answered.
 */
export async function retryStalePosts(deps: Deps, conversationId: string, currentKeys: string[]): Promise<void> {
  const stale = await deps.sql<{ key: string }[]>`
    SELECT key FROM public.webhook_posts
    WHERE conversation_id = ${conversationId} AND posted_at IS NULL AND created_at < now() - interval '1 minute'
    ORDER BY created_at LIMIT 5`
  const keys = stale.map((row) => row.key).filter((key) => !currentKeys.includes(key))
  const failures = await deliverConfirmationPosts(deps, keys)
  if (failures.length > 0) deps.log.warn('Earlier confirmation posts still failing', { conversationId, failures })
}
