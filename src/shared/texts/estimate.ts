import { hasPlaceholders, parsePlaceholders, placeholderValues, type Recipient, renderParts } from './placeholders.ts'
import { countSegments, type Encoding, smartEncode, smartEncodedCharacters } from './segments.ts'

/** One distinct (name, zipcode) of an audience and how many recipients share it. */
export interface AudienceValues extends Recipient {
  count: number
}

export interface TextEstimate {
  encoding: Encoding
  /** Segments of the longest rendering across the audience (of the text itself without placeholders). */
  segments: number
  /** Length of that rendering in septets (GSM-7) or UTF-16 units (UCS-2). */
  characters: number
  /** Characters that forced UCS-2 in any rendering (the text's own, or a name's). */
  ucs2Characters: string[]
  placeholders: boolean
  /** SMS_SMART_ENCODING: look-alikes are replaced before sending, and these were found. */
  smartEncoding: boolean
  smartEncodedCharacters: string[]
  recipients: number
  /** Σ segments over the recipients: what the carrier bills. */
  totalSegments: number
}

/**
 * Encoding and segments of a text for an audience. Without placeholders every recipient gets the
 * same text: segments × recipients. With placeholders each distinct (name, zipcode) of the
 * audience is rendered (exact, not a bound): the longest rendering gives `segments`, and the sum
 * over recipients gives `totalSegments`. An empty audience is estimated with the fallbacks.
 */
export function estimateText(
  template: string,
  audience: AudienceValues[],
  options: { smartEncoding: boolean; templated?: boolean },
): TextEstimate {
  const parsed = options.templated === false ? null : parsePlaceholders(template)
  const parts = parsed?.ok && hasPlaceholders(parsed.parts) ? parsed.parts : null
  const finish = (text: string) => options.smartEncoding ? smartEncode(text) : text
  const recipients = audience.reduce((sum, row) => sum + row.count, 0)
  const base = {
    placeholders: parts !== null,
    smartEncoding: options.smartEncoding,
    smartEncodedCharacters: options.smartEncoding ? smartEncodedCharacters(template) : [],
    recipients,
  }

  if (!parts) {
    const info = countSegments(finish(template))
    return {
      ...base,
      encoding: info.encoding,
      segments: info.segments,
      characters: info.units,
      ucs2Characters: info.ucs2Characters,
      totalSegments: info.segments * recipients,
    }
  }

  const rows = audience.length > 0 ? audience : [{ name: null, zipcode: null, count: 0 }]
  let longest = countSegments(finish(renderParts(parts, placeholderValues(rows[0]!))))
  const culprits = new Set<string>()
  let totalSegments = 0
  for (const row of rows) {
    const info = countSegments(finish(renderParts(parts, placeholderValues(row))))
    for (const char of info.ucs2Characters) culprits.add(char)
    totalSegments += info.segments * row.count
    if (info.segments > longest.segments || (info.segments === longest.segments && info.units > longest.units)) {
      longest = info
    }
  }
  return {
    ...base,
    encoding: culprits.size > 0 ? 'UCS-2' : 'GSM-7',
    segments: longest.segments,
    characters: longest.units,
    ucs2Characters: [...culprits],
    totalSegments,
  }
}
