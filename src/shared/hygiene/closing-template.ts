import type { Db } from '../db/client.ts'

// The `lookup_template` rows that say how handle-failed-deliveries closes a conversation.
export const CLOSING_MESSAGE_TEMPLATE = 'missive_broadcast_post_closing_message'
export const CLOSING_LABEL_TEMPLATE = 'missive_broadcast_post_closing_label_id'

/** Upstream's text (trailing space included) when the message template is missing or empty. */
export const DEFAULT_CLOSING_MESSAGE = '❌ This message was undeliverable. The phone number has now been unsubscribed. '

export interface ClosingTemplate {
  text: string
  /** The "undeliverable" label; null when the template row is missing or empty. */
  labelId: string | null
}

/** The newest row of each name wins (nothing makes `name` unique). */
export async function readClosingTemplate(db: Db): Promise<ClosingTemplate> {
  const rows = await db<{ name: string; content: string | null }[]>`
    SELECT DISTINCT ON (name) name, content FROM public.lookup_template
    WHERE name IN (${CLOSING_MESSAGE_TEMPLATE}, ${CLOSING_LABEL_TEMPLATE})
    ORDER BY name, id DESC`
  const content = (name: string) => rows.find((row) => row.name === name)?.content?.trim() || null
  return {
    text: rows.find((row) => row.name === CLOSING_MESSAGE_TEMPLATE)?.content || DEFAULT_CLOSING_MESSAGE,
    labelId: content(CLOSING_LABEL_TEMPLATE),
  }
}
