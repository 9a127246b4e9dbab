// SMS segment counting (GSM 03.38). Carriers bill per segment: a text made only of GSM-7
// characters fits 160 septets in one segment and 153 per segment when split (7 go to the
// concatenation header); one character outside GSM-7 turns the whole text into UCS-2, 70 and 67
// UTF-16 units. Editors paste curly quotes from word processors and pay double without knowing, so
// the preview names the characters that forced UCS-2.

/** The GSM-7 default alphabet: one septet each. */
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿' +
    'abcdefghijklmnopqrstuvwxyzäöñüà',
)
/** The extension table: an escape septet plus one, so two each. */
const GSM7_EXTENSION = new Set('^{}\\[~]|€\f')

export type Encoding = 'GSM-7' | 'UCS-2'

export interface SegmentInfo {
  encoding: Encoding
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  units: number
  segments: number
  /** Distinct characters outside GSM-7, in order of first appearance (empty for GSM-7). */
  ucs2Characters: string[]
}

const SINGLE = { 'GSM-7': 160, 'UCS-2': 70 } as const
const PART = { 'GSM-7': 153, 'UCS-2': 67 } as const

/** Septets one character takes in GSM-7, or null when it is not in GSM-7. */
function gsm7Cost(char: string): 1 | 2 | null {
  if (GSM7_BASIC.has(char)) return 1
  if (GSM7_EXTENSION.has(char)) return 2
  return null
}

export function isGsm7(text: string): boolean {
  for (const char of text) if (gsm7Cost(char) === null) return false
  return true
}

/**
 * Encoding, length and segment count of one text. Splitting fills each part greedily and never cuts
 * an escape pair or a surrogate pair (phones cannot reassemble a split character), as carriers do.
 */
export function countSegments(text: string): SegmentInfo {
  const chars = [...text]
  const ucs2Characters = [...new Set(chars.filter((char) => gsm7Cost(char) === null))]
  const encoding: Encoding = ucs2Characters.length === 0 ? 'GSM-7' : 'UCS-2'
  const costs = chars.map((char) => encoding === 'GSM-7' ? gsm7Cost(char)! : char.length)
  const units = costs.reduce((sum, cost) => sum + cost, 0)
  if (units === 0) return { encoding, units, segments: 0, ucs2Characters }
  if (units <= SINGLE[encoding]) return { encoding, units, segments: 1, ucs2Characters }
  let segments = 1
  let used = 0
  for (const cost of costs) {
    if (used + cost > PART[encoding]) {
      segments++
      used = 0
    }
    used += cost
  }
  return { encoding, units, segments, ucs2Characters }
}

// Look-alikes that word processors and phones put in place of GSM-7 characters, replaced as
// Twilio's "smart encoding" does (only when SMS_SMART_ENCODING=true): the reader sees the same
// sentence, and it costs half as many segments.
const LOOK_ALIKES: Array<[RegExp, string]> = [
  [/[\u2018\u2019\u201A\u201B\u2032\u02BC\uFF07]/g, "'"],
  [/[\u201C\u201D\u201E\u201F\u2033\u00AB\u00BB\uFF02]/g, '"'],
  [/[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uFE58\uFE63\uFF0D]/g, '-'],
  [/\u2026/g, '...'],
  [/[\u00A0\u2000-\u200A\u202F\u205F\u3000]/g, ' '],
  [/[\u200B\u200C\u200D\u2060\uFEFF\u00AD]/g, ''],
  [/\u2022/g, '-'],
  [/\u2044/g, '/'],
  [/\u02C6/g, '^'],
  [/\u02DC/g, '~'],
]

/** The text with the common look-alikes replaced by their GSM-7 equivalents. */
export function smartEncode(text: string): string {
  let result = text
  for (const [pattern, replacement] of LOOK_ALIKES) result = result.replace(pattern, replacement)
  return result
}

/** Characters smartEncode would replace in this text (what the preview reports as replaced). */
export function smartEncodedCharacters(text: string): string[] {
  return [...new Set([...text].filter((char) => smartEncode(char) !== char))]
}
