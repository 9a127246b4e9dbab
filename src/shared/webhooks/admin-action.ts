import { z } from 'zod'
import { AppError, badRequest, describeIssues } from '../http/errors.ts'
import { maskPhone } from '../log/logger.ts'
import { keywordOf } from '../opt-out/keywords.ts'
import { removePendingSecondMessages, resubscribeAuthor, unsubscribeAuthor } from '../opt-out/subscription.ts'
import type { Deps } from '../runtime/deps.ts'
import { type ConfirmationPost, deliverConfirmationPosts, queueConfirmationPost } from './confirmation-posts.ts'
import { probeBody, recordFailure, recordInvocation } from './event-log.ts'

// admin-action (spec §2.10): a Missive rule fires on an admin's comment and calls
// `admin-action?action=unsubscribe|resubscribe`; the rule URL's `action` decides (clients.md §6 #18).
// The contact is the conversation's first external author.
//
// Differences from upstream, on purpose:
//   - bad input is a 400 and a failed Missive post a 502 (upstream: always 200, and the post failure
//     was swallowed after the DB update), so Missive retries; the DB change is idempotent and the
//     note is posted once per comment (see confirmation-posts.ts);
//   - the comment text, when the payload has one, guards a resubscribe: only a comment that is
//     exactly "resubscribe" or "start" (any case, spaces, punctuation) resubscribes. An unsubscribe
//     is never held back by its wording: missing an opt-out is the costly mistake;
//   - an unsubscribe creates the authors row when the number is new, already unsubscribed.
// Like upstream, no unsubscribed_messages row is written: that table counts opt-outs by text (the
// sidebar's "unsubscribed" figure); invoke_history and webhook_posts record the admin's action.

export type AdminAction = 'unsubscribe' | 'resubscribe'
const ACTIONS: AdminAction[] = ['unsubscribe', 'resubscribe']
const RESUBSCRIBE_COMMANDS = new Set(['resubscribe', 'start'])

const adminActionSchema = z.object({
  rule: z.object({ id: z.string().nullish(), type: z.string().nullish() }).nullish(),
  conversation: z.object(
    {
      id: z.guid('Conversation ID not found'),
      external_authors: z
        .array(
          z.object({ name: z.string().nullish(), phone_number: z.string().nullish() }),
          'Invalid or missing conversation data',
        )
        .min(1, 'Invalid or missing conversation data'),
    },
    'Invalid or missing conversation data',
  ),
  comment: z
    .object({
      id: z.guid().nullish(),
      body: z.string().nullish(),
      author: z.object({ name: z.string().nullish() }).nullish(),
    })
    .nullish(),
})

export type AdminActionResult =
  | { status: 'done'; action: AdminAction; changed: boolean }
  | { status: 'ignored'; reason: string }

export async function runAdminAction(
  deps: Deps,
  rawBody: string,
  actionParam: string | undefined,
): Promise<AdminActionResult> {
  let body: unknown
  try {
    body = JSON.parse(rawBody)
  } catch {
    await recordFailure(deps.sql, deps.log, rawBody, probeBody(undefined).rule, 'Malformed JSON body')
    throw badRequest('Malformed JSON body')
  }
  const probe = probeBody(body)
  const log = deps.log.child({ action: actionParam, conversationId: probe.conversationId })
  await recordInvocation(deps.sql, {
    rawBody,
    conversationId: probe.conversationId,
    rule: probe.rule.id && probe.rule.type
      ? { id: probe.rule.id, description: probe.rule.description, type: probe.rule.type }
      : undefined,
  })
  const reject = async (message: string) => {
    log.warn(`Rejected an admin action: ${message}`)
    await recordFailure(deps.sql, log, rawBody, probe.rule, message)
    return badRequest(message)
  }

  const action = ACTIONS.find((candidate) => candidate === actionParam)
  if (!action) throw await reject(`Invalid action parameter: ${actionParam ?? null}`)
  const parsed = adminActionSchema.safeParse(body)
  if (!parsed.success) throw await reject(describeIssues(parsed.error, (_path, message) => message))
  const { conversation, comment } = parsed.data
  const phone = conversation.external_authors[0]!.phone_number?.trim()
  if (!phone) throw await reject('Phone number not found')

  if (action === 'resubscribe' && comment?.body != null && !RESUBSCRIBE_COMMANDS.has(keywordOf(comment.body))) {
    const reason = 'The comment is not a resubscribe command ("resubscribe" or "start"); nothing changed'
    log.warn(reason, { phone: maskPhone(phone) })
    return { status: 'ignored', reason }
  }

  const by = comment?.author?.name ? ` by ${comment.author.name}` : ''
  const post: ConfirmationPost = {
    // One note per comment and action: a redelivered comment does not post twice.
    key: comment?.id ? `admin-action:${comment.id}:${action}` : `admin-action:${crypto.randomUUID()}`,
    conversationId: conversation.id,
    text: `This phone number ${phone} has now been ${action === 'unsubscribe' ? 'unsubscribed' : 'resubscribed'}${by}.`,
  }
  const changed = await deps.sql.begin(async (tx) => {
    let changed: boolean
    if (action === 'unsubscribe') {
      // The pending follow-up goes first: it must not reach someone an admin just unsubscribed.
      const removed = await removePendingSecondMessages(tx, phone)
      await unsubscribeAuthor(tx, phone)
      changed = true
      log.info('Unsubscribed by an admin', { phone: maskPhone(phone), followUpsRemoved: removed })
    } else {
      changed = await resubscribeAuthor(tx, phone)
      log.info('Resubscribed by an admin', { phone: maskPhone(phone), wasUnsubscribed: changed })
    }
    await queueConfirmationPost(tx, post)
    return changed
  })

  const failures = await deliverConfirmationPosts({ ...deps, log }, [post.key])
  if (failures.length > 0) {
    const message = `Could not post the confirmation to Missive: ${failures.map((f) => f.error).join('; ')}`
    await recordFailure(deps.sql, log, rawBody, probe.rule, message)
    throw new AppError(502, message)
  }
  return { status: 'done', action, changed }
}
