// The two pgmq queues (upstream names, `_shared/constants.ts`): first messages of broadcasts and
// campaigns, and the follow-ups the sender enqueues after a first message goes out.

export const FIRST_MESSAGES_QUEUE = 'broadcast_first_messages'
export const SECOND_MESSAGES_QUEUE = 'broadcast_second_messages'

export type QueueName = typeof FIRST_MESSAGES_QUEUE | typeof SECOND_MESSAGES_QUEUE

export function queueFor(isSecond: boolean): QueueName {
  return isSecond ? SECOND_MESSAGES_QUEUE : FIRST_MESSAGES_QUEUE
}
