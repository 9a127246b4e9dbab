import { type Recipient, renderText } from './placeholders.ts'
import { smartEncode } from './segments.ts'

export interface OutgoingOptions {
  /** False for a personalized campaign's own text, which is sent as written. */
  templated: boolean
  /** SMS_SMART_ENCODING: replace GSM-7 look-alikes (curly quotes, long dashes, …). */
  smartEncoding: boolean
}

/**
 * The text one person receives: placeholders filled from their own authors row, then the optional
 * smart encoding. Called by the sender per message, inside the claim's transaction (the row read
 * there is the one locked FOR SHARE), so one person's name can never reach another's text.
 */
export function outgoingText(template: string, recipient: Recipient | null, options: OutgoingOptions): string {
  const text = options.templated ? renderText(template, recipient) : template
  return options.smartEncoding ? smartEncode(text) : text
}
