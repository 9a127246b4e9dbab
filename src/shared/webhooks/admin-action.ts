import { z } from 'zod'
import { AppError, badRequest, describeIssues } from '../http/errors.ts'
import { maskPhone } from '../log/logger.ts'
import { wordsOf } from '../opt-out/keywords.ts'
import { removePendingSecondMessages, resubscribeAuthor, unsubscribeAuthor } from '../opt-out/subscription.ts'
import type { Deps } from '../runtime/deps.ts'
import { type ConfirmationPost, deliverConfirmationPosts, queueConfirmationPost } from './confirmation-posts.ts'
import { probeBody, recordFailure, recordInvocation } from './event-log.ts'

// admin-action (spec §2.10): a Missive rule fires on an admin's comment and calls
// `admin-action?action=unsubscribe|resubscribe`; the rule URL's `action` decides (clients.md §6 #18).
// The contact is the conversation's first external author.
//
// Differences from upstream, on purpose:
//   - the action is bound to what was signed (issue 11): only a `new_comment` event whose comment
//     asks for this action acts — the keyword as a whole word, any case ("Resubscribe please").
//     Upstream acted on any signed body, so a captured `incoming_twilio_message` body posted to
//     `?action=unsubscribe` unsubscribed its sender. Anything else answers 200 (Missive must not
//     retry it) saying what was ignored and why;
//   - a comment acts once per action (`admin_action_applied`): a redelivery or replay of the same
//     comment changes nothing, even after the contact texted START or STOP since;
//   - the phone number must be E.164; bad input is a 400 and a failed Missive post a 502 (upstream:
//     always 200, and the post failure was swallowed after the DB update), so Missive retries; the
//     note is posted once per comment (see confirmation-posts.ts);
//   - an unsubscribe creates the authors row when the number is new, already unsubscribed.
// Like upstream, no unsubscribed_messages row is written: that table counts opt-outs by text (the
// sidebar's "unsubscribed" figure); invoke_history and webhook_posts record the admin's action.

export type AdminAction = 'unsubscribe' | 'resubscribe'
const ACTIONS: AdminAction[] = ['unsubscribe', 'resubscribe']
/** Words (whole, any case) by which a comment asks for each action. */
const KEYWORDS: Record<AdminAction, string[]> = {
  unsubscribe: ['unsubscribe', 'stop'],
  resubscribe: ['resubscribe', 'start'],
}
const E164 = /^\+[1-9]\d{6,14}$/

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
  comment: z.object(
    {
      id: z.string('[comment,id] is required').trim().min(1, '[comment,id] is required').max(200),
      body: z.string().nullish(),
      author: z.object({ name: z.string().nullish() }).nullish(),
    },
    '[comment] is required for a new_comment event',
  ),
})

export type AdminActionResult =
  | { status: 'done'; action: AdminAction; changed: boolean; repeated: boolean }
  | { status: 'ignored'; reason: string; ignored: Record<string, unknown> }

/** Whether a comment asks for `action`: one of its keywords as a whole word, any case. */
export function commentAsksFor(action: AdminAction, text: string | null | undefined): boolean {
  if (!text) return false
  const words = wordsOf(text)
  return KEYWORDS[action].some((keyword) => words.includes(keyword))
}

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
  // The rule is stored only for a delivery we answer 2xx: a rejected one leaves its own records
  // (invoke_history, errors) and nothing else.
  const recordSeen = (withRule: boolean) =>
    recordInvocation(deps.sql, {
      rawBody,
      conversationId: probe.conversationId,
      rule: withRule && probe.rule.id && probe.rule.type
        ? { id: probe.rule.id, description: probe.rule.description, type: probe.rule.type }
        : undefined,
    })
  const reject = async (message: string) => {
    log.warn(`Rejected an admin action: ${message}`)
    await recordSeen(false)
    await recordFailure(deps.sql, log, rawBody, probe.rule, message)
    return badRequest(message)
  }
  const ignore = async (reason: string, ignored: Record<string, unknown>): Promise<AdminActionResult> => {
    log.warn(`Ignored an admin action: ${reason}`, ignored)
    await recordSeen(true)
    return { status: 'ignored', reason, ignored }
  }

  const action = ACTIONS.find((candidate) => candidate === actionParam)
  if (!action) throw await reject(`Invalid action parameter: ${actionParam ?? null}`)
  if (probe.rule.type !== 'new_comment') {
    return ignore(
      `Only a new_comment event can ${action}; this was ${JSON.stringify(probe.rule.type)}; nothing changed`,
      {
        ruleType: probe.rule.type,
        action,
      },
    )
  }
  const parsed = adminActionSchema.safeParse(body)
  if (!parsed.success) throw await reject(describeIssues(parsed.error, (_path, message) => message))
  const { conversation, comment } = parsed.data
  const phone = conversation.external_authors[0]!.phone_number?.trim()
  if (!phone) throw await reject('Phone number not found')
  if (!E164.test(phone)) throw await reject('[conversation,external_authors,0,phone_number] must be an E.164 number')

  if (!commentAsksFor(action, comment.body)) {
    return ignore(
      `The comment does not ask to ${action} (${KEYWORDS[action].map((k) => `"${k}"`).join(' or ')}); nothing changed`,
      { commentId: comment.id, action, phone: maskPhone(phone) },
    )
  }

  await recordSeen(true)
  const by = comment.author?.name ? ` by ${comment.author.name}` : ''
  const post: ConfirmationPost = {
    // One note per comment and action: a redelivered comment does not post twice.
    key: `admin-action:${comment.id}:${action}`,
    conversationId: conversation.id,
    text: `This phone number ${phone} has now been ${action === 'unsubscribe' ? 'unsubscribed' : 'resubscribed'}${by}.`,
  }
  const outcome = await deps.sql.begin(async (tx) => {
    const [first] = await tx`
      INSERT INTO public.admin_action_applied (comment_id, action, conversation_id, phone_number)
      VALUES (${comment.id}, ${action}, ${conversation.id}, ${phone})
      ON CONFLICT (comment_id, action) DO NOTHING
      RETURNING 1 AS applied`
    if (!first) return { changed: false, repeated: true }
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
    return { changed, repeated: false }
  })
  if (outcome.repeated) log.info('Admin comment already applied; nothing changed', { commentId: comment.id })

  // Also on a repeat: the first delivery's note may still be pending (its post failed, 502).
  const failures = await deliverConfirmationPosts({ ...deps, log }, [post.key])
  if (failures.length > 0) {
    const message = `Could not post the confirmation to Missive: ${failures.map((f) => f.error).join('; ')}`
    await recordFailure(deps.sql, log, rawBody, probe.rule, message)
    throw new AppError(502, message)
  }
  return { status: 'done', action, ...outcome }
}
