import { z } from 'zod'

// The queue payload (`message` jsonb), written by SQL producers (upstream-database.md §8):
//   broadcasts    recipient_phone_number, broadcast_id, segment_id, first_message, second_message, delay
//   campaigns     recipient_phone_number, campaign_id, first_message, second_message, title, delay,
//                 label_ids, campaign_segments, conversation_id, created_at
//   personalized  recipient_phone_number, campaign_id, first_message, second_message (null), title,
//                 delay (600), created_at
// The second-message queue holds the same object verbatim. Producers must keep these keys; the
// sender reads them leniently (extra keys are kept and passed on, ids may arrive as numeric text)
// because a payload it cannot read can only be dead-lettered.

const id = z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)])
const optionalId = id.nullish().transform((value) => value ?? null)
const optionalText = z.string().nullish().transform((value) => value ?? null)

export const queuedMessageSchema = z
  .looseObject({
    recipient_phone_number: z.string().trim().min(1),
    first_message: z.string(),
    second_message: optionalText,
    broadcast_id: optionalId,
    campaign_id: optionalId,
    segment_id: optionalId,
    /** Seconds between the first and the second message. */
    delay: z.number().nonnegative().nullish().transform((value) => value ?? null),
    label_ids: z.array(z.string()).nullish().transform((value) => value ?? []),
    /** `campaigns.segments` verbatim: `{included, excluded?}`, each an item, an array, or AND groups. */
    campaign_segments: z.unknown().optional(),
    conversation_id: optionalText,
    title: optionalText,
    created_at: z.number().nullish(),
    /** On a follow-up: when its first message went out (ISO), for quiet hours' 12 h rule. */
    first_sent_at: z.iso.datetime({ offset: true }).nullish().catch(null),
    /** A personalized campaign's own text: sent as written, never templated (issue 14). */
    personalized: z.boolean().nullish().transform((value) => value ?? false),
  })
  .refine((message) => (message.broadcast_id === null) !== (message.campaign_id === null), {
    message: 'needs exactly one of broadcast_id and campaign_id',
    path: ['broadcast_id'],
  })

export type QueuedMessage = z.infer<typeof queuedMessageSchema>
/** What producers write (before the lenient parsing above). */
export type QueuedMessageInput = z.input<typeof queuedMessageSchema>

/** Follow-up delay when a payload carries none (upstream's column default; `undefined` broke its SQL). */
export const DEFAULT_SECOND_MESSAGE_DELAY_SECONDS = 600

export function secondMessageDelaySeconds(message: QueuedMessage): number {
  return message.delay === null ? DEFAULT_SECOND_MESSAGE_DELAY_SECONDS : Math.round(message.delay)
}
