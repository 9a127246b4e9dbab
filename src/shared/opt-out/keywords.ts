// What a text reply means for the sender's subscription (DESIGN.md "Opt-out by text").
//
// Upstream matched substrings: "bus stop", "stopped" and "nonstop" all unsubscribed, "restart" and
// "Detroit news" resubscribed, and "stop sending me Detroit news" ended up resubscribed (spec §8.4
// #22). Missing an opt-out is the costly error (carrier rules, FCC 47 CFR 64.1200(a)(10)), so the
// rule here is deliberately lopsided:
//   - opt out when the whole text is one of Twilio's opt-out keywords (plus "OPT OUT"), or when the
//     text contains `stop` or `unsubscribe` as a word of its own;
//   - opt in only when the whole text is an opt-in keyword;
//   - a text that does both stays opted out.

export type ReplyIntent = 'opt-out' | 'opt-in' | 'none'

/** Twilio's default opt-out list (REVOKE and OPTOUT since May 2025) and the FCC's "opt out". */
export const OPT_OUT_KEYWORDS = [
  'stop',
  'stopall',
  'unsubscribe',
  'cancel',
  'end',
  'quit',
  'revoke',
  'optout',
  'opt out',
]
/** Words that opt out wherever they stand ("please stop texting me"). */
export const OPT_OUT_WORDS = ['stop', 'unsubscribe']
/** Twilio's opt-in words, plus upstream's RESUBSCRIBE and DETROIT. */
export const OPT_IN_KEYWORDS = ['start', 'unstop', 'yes', 'resubscribe', 'detroit']

const optOutWhole = new Set(OPT_OUT_KEYWORDS)
const optOutWords = new Set(OPT_OUT_WORDS)
const optInWhole = new Set(OPT_IN_KEYWORDS)

/**
 * The whole text as a keyword: case folded, compatibility forms unified (full-width letters),
 * punctuation and symbols removed ("Stop." , "opt-out", "STOP!!" , "¡Start!"), spaces collapsed.
 */
export function keywordOf(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s]/gu, '')
    .replace(/\s+/g, ' ')
    .trim()
}

/** The words of a text, split at anything that is not a letter or digit ("stop-texting" → stop, texting). */
export function wordsOf(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean)
}

export function isOptOut(text: string): boolean {
  return optOutWhole.has(keywordOf(text)) || wordsOf(text).some((word) => optOutWords.has(word))
}

export function isOptIn(text: string): boolean {
  return optInWhole.has(keywordOf(text))
}

/** Opt-out wins over opt-in: when in doubt, the person stays unsubscribed. */
export function classifyReply(text: string): ReplyIntent {
  if (isOptOut(text)) return 'opt-out'
  if (isOptIn(text)) return 'opt-in'
  return 'none'
}
