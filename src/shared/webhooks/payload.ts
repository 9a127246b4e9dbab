import { z } from 'zod'

// The Missive rule webhook envelope (upstream-functions.md §2.11.1, clients.md §3.2). Parsed after
// the signature gate has verified the raw bytes. Only what the handlers store is read; unknown
// keys are ignored (the whole body is kept in invoke_history). Parts Missive may leave out are
// optional here, and "absent" is kept apart from "null": an absent field never overwrites what an
// earlier webhook stored, an explicit null does.

/** Missive ids are UUIDs and land in uuid columns: a malformed one is the sender's 400, not our 500. */
const uuid = z.guid('must be a UUID')
/** Missive timestamps are Unix seconds (sometimes fractional). */
const epochSeconds = z.number().finite()
const optionalText = z.string().nullish()
const flag = z.boolean().nullish().transform((value) => value ?? false)

export const RULE_TYPES = [
  'new_comment',
  'team_change',
  'label_change',
  'conversation_closed',
  'conversation_reopened',
  'conversation_assignee_change',
  // Missive renamed the SMS rule types from *_twilio_message to *_sms_message; both arrive.
  'incoming_twilio_message',
  'incoming_sms_message',
  'outgoing_twilio_message',
  'outgoing_sms_message',
] as const
export type RuleType = (typeof RULE_TYPES)[number]

export function isRuleType(type: string): type is RuleType {
  return (RULE_TYPES as readonly string[]).includes(type)
}

export function isIncomingMessage(type: RuleType): boolean {
  return type === 'incoming_twilio_message' || type === 'incoming_sms_message'
}

export function isOutgoingMessage(type: RuleType): boolean {
  return type === 'outgoing_twilio_message' || type === 'outgoing_sms_message'
}

export const ruleSchema = z.object({
  id: uuid,
  description: optionalText,
  type: z.string().trim().min(1, 'is required'),
})

const organizationSchema = z.object({ id: uuid, name: optionalText })

const teamSchema = z.object({ id: uuid, name: optionalText, organization: optionalText })

/** SMS authors carry `phone_number`; email authors carry `address` and no phone (skipped). */
const authorSchema = z.object({ name: optionalText, phone_number: optionalText })

/** A Missive user with the per-conversation state flags (conversation.users / .assignees). */
const conversationUserSchema = z.object({
  id: uuid,
  name: optionalText,
  email: optionalText,
  unassigned: flag,
  closed: flag,
  archived: flag,
  trashed: flag,
  junked: flag,
  assigned: flag,
  flagged: flag,
  snoozed: flag,
})
export type ConversationUser = z.infer<typeof conversationUserSchema>

const labelSchema = z.object({
  id: uuid,
  name: optionalText,
  name_with_parent_names: optionalText,
  color: optionalText,
  parent: uuid.nullish(),
  share_with_organization: z.boolean().nullish(),
  visibility: optionalText,
})
export type SharedLabel = z.infer<typeof labelSchema>

const count = z.number().int().nonnegative().nullish()

export const conversationSchema = z.object({
  id: uuid,
  created_at: epochSeconds.nullish(),
  subject: optionalText,
  latest_message_subject: optionalText,
  organization: organizationSchema.nullish(),
  team: teamSchema.nullish(),
  messages_count: count,
  drafts_count: count,
  send_later_messages_count: count,
  attachments_count: count,
  tasks_count: count,
  completed_tasks_count: count,
  assignee_names: optionalText,
  assignee_emails: optionalText,
  shared_label_names: optionalText,
  web_url: optionalText,
  app_url: optionalText,
  authors: z.array(authorSchema).nullish(),
  external_authors: z.array(authorSchema).nullish(),
  users: z.array(conversationUserSchema).nullish(),
  assignees: z.array(conversationUserSchema).nullish(),
  shared_labels: z.array(labelSchema).nullish(),
})
export type ConversationPayload = z.infer<typeof conversationSchema>

const userSchema = z.object({ id: uuid, name: optionalText, email: optionalText, avatar_url: optionalText })
export type UserPayload = z.infer<typeof userSchema>

/** `{user_id, offset, length}` or `{team_id, offset, length}`; other shapes are ignored. */
const mentionSchema = z.looseObject({ user_id: uuid.optional(), team_id: uuid.optional() })

export const commentSchema = z.object({
  id: uuid,
  body: optionalText,
  created_at: epochSeconds.nullish(),
  /** null, a JSON string (upstream's tests) or an object; stored as jsonb verbatim. */
  attachment: z.unknown().optional(),
  mentions: z.array(mentionSchema).nullish(),
  task: z.object({ completed_at: epochSeconds.nullish(), assignees: z.array(userSchema).nullish() }).nullish(),
  author: userSchema,
})
export type CommentPayload = z.infer<typeof commentSchema>

/** `{id, name, username}`: for Twilio accounts `id` may be the account SID and `username` the number. */
const messageFieldSchema = z
  .object({ id: optionalText, name: optionalText, username: optionalText })
  .refine((field) => Boolean(field.username || field.id), 'needs an id or a username')
export type MessageField = z.infer<typeof messageFieldSchema>

export const messageSchema = z.object({
  id: uuid,
  preview: optionalText,
  body: optionalText,
  type: optionalText,
  delivered_at: epochSeconds.nullish(),
  updated_at: epochSeconds.nullish(),
  created_at: epochSeconds.nullish(),
  references: z.array(z.string()).nullish(),
  from_field: messageFieldSchema,
  to_fields: z.array(messageFieldSchema).min(1, 'needs a recipient'),
  external_id: optionalText,
  author: z.object({ id: optionalText }).nullish(),
})
export type MessagePayload = z.infer<typeof messageSchema>

const envelope = z.object({ rule: ruleSchema, conversation: conversationSchema })

export const conversationEventSchema = envelope
export const commentEventSchema = envelope.extend({
  comment: commentSchema,
  latest_message: z.object({ references: z.array(z.string()).nullish() }).nullish(),
})
export const messageEventSchema = envelope.extend({ message: messageSchema })

export type ConversationEvent = z.infer<typeof conversationEventSchema>
export type CommentEvent = z.infer<typeof commentEventSchema>
export type MessageEvent = z.infer<typeof messageEventSchema>

/** A person's phone in a message field: `username` when set, else `id` (one rule everywhere). */
export function phoneOf(field: MessageField): string {
  return (field.username || field.id)!
}

export function fromEpoch(seconds: number): Date {
  return new Date(seconds * 1000)
}
