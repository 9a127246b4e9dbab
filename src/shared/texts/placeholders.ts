// Per-recipient placeholders in broadcast and campaign texts: {{name}}, {{first_name}},
// {{zipcode}}, each with an optional fallback ({{first_name|neighbor}}). Parsed and validated when
// a text is saved (an editor learns of a typo then, not from 3 000 readers), rendered per message
// in the send path from that recipient's own authors row.

export const PLACEHOLDER_KEYS = ['name', 'first_name', 'zipcode'] as const
export type PlaceholderKey = typeof PLACEHOLDER_KEYS[number]

/** Longest fallback accepted; a fallback is a word or two ("neighbor"), not a paragraph. */
export const MAX_FALLBACK_LENGTH = 40

export type Part =
  | { kind: 'text'; text: string }
  | { kind: 'placeholder'; key: PlaceholderKey; fallback: string | null; position: number; source: string }

export interface PlaceholderError {
  /** 1-based character position of the offending `{{` (or of the text found). */
  position: number
  /** The placeholder as written, e.g. `{{frist_name}}`. */
  placeholder: string
  message: string
}

export type ParseResult = { ok: true; parts: Part[] } | { ok: false; errors: PlaceholderError[] }

const isKey = (key: string): key is PlaceholderKey => (PLACEHOLDER_KEYS as readonly string[]).includes(key)
const KNOWN = PLACEHOLDER_KEYS.map((key) => `{{${key}}}`).join(', ')

/**
 * Splits a text into literal parts and placeholders. `{{ first_name | neighbor }}` is accepted
 * (spaces around the key and fallback are dropped). Every problem is reported, with its position.
 */
export function parsePlaceholders(text: string): ParseResult {
  const parts: Part[] = []
  const errors: PlaceholderError[] = []
  // Positions count characters as an editor does (code points), not UTF-16 units.
  const codePointPosition = (index: number) => [...text.slice(0, index)].length + 1
  let literal = ''
  let index = 0
  while (index < text.length) {
    const open = text.indexOf('{{', index)
    if (open === -1) {
      literal += text.slice(index)
      break
    }
    literal += text.slice(index, open)
    const close = text.indexOf('}}', open + 2)
    const nextOpen = text.indexOf('{{', open + 2)
    const position = codePointPosition(open)
    if (close === -1 || (nextOpen !== -1 && nextOpen < close)) {
      const end = nextOpen === -1 ? Math.min(text.length, open + 30) : nextOpen
      errors.push({
        position,
        placeholder: text.slice(open, end).trimEnd(),
        message: `unclosed "{{" at character ${position}: close it with "}}"`,
      })
      literal += text.slice(open, open + 2)
      index = open + 2
      continue
    }
    const source = text.slice(open, close + 2)
    const inner = text.slice(open + 2, close)
    const bar = inner.indexOf('|')
    const key = (bar === -1 ? inner : inner.slice(0, bar)).trim()
    const fallback = bar === -1 ? null : inner.slice(bar + 1).trim()
    index = close + 2
    if (!isKey(key)) {
      errors.push({
        position,
        placeholder: source,
        message: key === ''
          ? `empty placeholder ${source} at character ${position}; known: ${KNOWN}`
          : `unknown placeholder ${source} at character ${position}; known: ${KNOWN}`,
      })
      continue
    }
    if (fallback !== null && (fallback === '' || fallback.length > MAX_FALLBACK_LENGTH || /[\n\r|]/.test(fallback))) {
      errors.push({
        position,
        placeholder: source,
        message: `placeholder ${source} at character ${position} has an invalid fallback: ` +
          `after "|" write 1 to ${MAX_FALLBACK_LENGTH} characters on one line, without "|"`,
      })
      continue
    }
    // Inside a link the value would become part of the URL, which is shortened once for everyone:
    // the placeholder could not be filled per person.
    const linkStart = literal.search(/https?:\/\/\S*$/)
    if (linkStart !== -1) {
      errors.push({
        position,
        placeholder: source,
        message: `placeholder ${source} at character ${position} is inside a link; ` +
          'links are shortened once for everyone, so it cannot be filled per person',
      })
      continue
    }
    if (literal) parts.push({ kind: 'text', text: literal })
    literal = ''
    parts.push({ kind: 'placeholder', key, fallback, position, source })
  }
  if (literal) parts.push({ kind: 'text', text: literal })
  return errors.length > 0 ? { ok: false, errors } : { ok: true, parts }
}

export const hasPlaceholders = (parts: Part[]): boolean => parts.some((part) => part.kind === 'placeholder')

/** The authors columns a text draws from (authors has `name` only; first_name is its first word). */
export interface Recipient {
  name: string | null
  zipcode: string | null
}

export function placeholderValues(recipient: Recipient | null): Record<PlaceholderKey, string> {
  const name = (recipient?.name ?? '').trim().replace(/\s+/g, ' ')
  return {
    name,
    first_name: name.split(' ')[0] ?? '',
    zipcode: (recipient?.zipcode ?? '').trim(),
  }
}

/**
 * The text for one person. An empty value takes the fallback; without one the placeholder drops
 * out and the spacing is tidied: "Hi {{first_name}}, …" → "Hi, …", "Hi {{first_name}} and …" →
 * "Hi and …", "{{first_name}}, we …" at the start of a line → "we …", "Thanks, {{first_name}}!" →
 * "Thanks!", "Reply YES, {{first_name}}" → "Reply YES".
 */
export function renderParts(parts: Part[], values: Record<PlaceholderKey, string>): string {
  let out = ''
  let dropped = false
  for (const part of parts) {
    if (part.kind === 'placeholder') {
      const value = values[part.key] || part.fallback || ''
      if (value !== '') out += value
      dropped = value === ''
      continue
    }
    let text = part.text
    if (dropped) {
      const trimmed = out.replace(/[ \t]+$/, '')
      if (trimmed === '' || trimmed.endsWith('\n')) {
        // Nothing before it on its line: drop the punctuation and spaces that followed the name.
        out = trimmed
        text = text.replace(/^[ \t]*[,;:]?[ \t]*/, '')
      } else if (/^([,.!?;:\n]|$)/.test(text)) {
        // "Hi {{first_name}}, …" → "Hi, …"; "Thanks, {{first_name}}!" → "Thanks!"
        out = out.replace(/[ \t]*[,;:]?[ \t]*$/, '')
      } else if (trimmed !== out) {
        text = text.replace(/^[ \t]+/, '') // "Hi {{first_name}} and …" → "Hi and …"
      }
      dropped = false
    }
    out += text
  }
  // "Reply YES, {{first_name}}" → "Reply YES"
  return dropped ? out.replace(/[ \t]*[,;:]?[ \t]*$/, '') : out
}

/** Parses and renders; a text that does not parse is returned as it is (validation refused it at save). */
export function renderText(text: string, recipient: Recipient | null): string {
  const parsed = parsePlaceholders(text)
  if (!parsed.ok || !hasPlaceholders(parsed.parts)) return text
  return renderParts(parsed.parts, placeholderValues(recipient))
}
