import { describe, expect, it } from 'vitest'
import { estimateText } from '../../src/shared/texts/estimate.ts'
import { countSegments, isGsm7, smartEncode, smartEncodedCharacters } from '../../src/shared/texts/segments.ts'

describe('countSegments', () => {
  it('an empty text is no segment', () => {
    expect(countSegments('')).toEqual({ encoding: 'GSM-7', units: 0, segments: 0, ucs2Characters: [] })
  })

  it('GSM-7: 160 characters in one segment, 161 in two, 153 per part', () => {
    expect(countSegments('a'.repeat(160))).toMatchObject({ encoding: 'GSM-7', units: 160, segments: 1 })
    expect(countSegments('a'.repeat(161))).toMatchObject({ segments: 2 })
    expect(countSegments('a'.repeat(306))).toMatchObject({ segments: 2 })
    expect(countSegments('a'.repeat(307))).toMatchObject({ segments: 3 })
  })

  it('the basic set includes accented letters Europe uses, newlines and the pound sign', () => {
    expect(isGsm7('Café à la Ñoño? £5 @ §1 ¿Qué? Ä Ö Ü ß\n\r_')).toBe(true)
    expect(countSegments('é').encoding).toBe('GSM-7')
    // …but not every accent: á, ú and í (Spanish) force UCS-2.
    expect(countSegments('Mamá está aquí').ucs2Characters).toEqual(['á', 'í'])
  })

  it('extension characters count two septets each', () => {
    expect(countSegments('€').units).toBe(2)
    expect(countSegments('[]{}~^|\\€').units).toBe(18)
    expect(countSegments('€'.repeat(80))).toMatchObject({ encoding: 'GSM-7', units: 160, segments: 1 })
    expect(countSegments('€'.repeat(80) + 'a')).toMatchObject({ units: 161, segments: 2 })
  })

  it('an escape pair is never split across two parts', () => {
    // 152 septets, then a 2-septet € that does not fit the 153 of the first part.
    const text = 'a'.repeat(152) + '€' + 'a'.repeat(152)
    expect(countSegments(text)).toMatchObject({ units: 306, segments: 3 })
  })

  it('one curly quote turns the text into UCS-2 and is named', () => {
    const info = countSegments('It’s time to vote')
    expect(info).toMatchObject({ encoding: 'UCS-2', units: 17, segments: 1, ucs2Characters: ['’'] })
  })

  it('UCS-2: 70 in one segment, 71 in two, 67 per part', () => {
    expect(countSegments('ç'.repeat(70))).toMatchObject({ encoding: 'UCS-2', segments: 1 })
    expect(countSegments('ç'.repeat(71))).toMatchObject({ segments: 2 })
    expect(countSegments('ç'.repeat(134))).toMatchObject({ segments: 2 })
    expect(countSegments('ç'.repeat(135))).toMatchObject({ segments: 3 })
  })

  it('an emoji takes two UTF-16 units and is never split', () => {
    expect(countSegments('👍')).toMatchObject({ encoding: 'UCS-2', units: 2, ucs2Characters: ['👍'] })
    const text = 'x'.repeat(66) + '👍' + 'x'.repeat(66)
    expect(countSegments(text)).toMatchObject({ units: 134, segments: 3 })
  })

  it('lists each culprit once, in order of appearance', () => {
    expect(countSegments('“Hi” — it’s “you”…').ucs2Characters).toEqual(['“', '”', '—', '’', '…'])
  })
})

describe('smartEncode', () => {
  it('replaces curly quotes, long dashes, the ellipsis and non-breaking spaces with GSM-7', () => {
    const text = '“Hi” — it’s\u00a0time… ‘ok’ – done'
    const encoded = smartEncode(text)
    expect(encoded).toBe("\"Hi\" - it's time... 'ok' - done")
    expect(isGsm7(encoded)).toBe(true)
    expect(smartEncodedCharacters(text)).toEqual(['“', '”', '—', '’', '\u00a0', '…', '‘', '–'])
  })

  it('leaves what has no look-alike (emoji, ç) alone', () => {
    expect(smartEncode('ça 👍')).toBe('ça 👍')
    expect(smartEncodedCharacters('ça 👍')).toEqual([])
  })
})

describe('estimateText', () => {
  it('without placeholders: one text, segments × recipients', () => {
    const estimate = estimateText('It’s time', [{ name: 'A', zipcode: null, count: 3 }, {
      name: 'B',
      zipcode: null,
      count: 2,
    }], {
      smartEncoding: false,
    })
    expect(estimate).toMatchObject({
      encoding: 'UCS-2',
      segments: 1,
      ucs2Characters: ['’'],
      placeholders: false,
      recipients: 5,
      totalSegments: 5,
    })
  })

  it('with placeholders: the longest rendering, culprits from names, and the exact sum', () => {
    const template = 'x'.repeat(150) + ' {{name}}'
    const estimate = estimateText(template, [
      { name: 'Al', zipcode: null, count: 10 }, // 153 septets: 1 segment
      { name: 'Bartholomew', zipcode: null, count: 1 }, // 162: 2 segments
      { name: 'Zoë', zipcode: null, count: 1 }, // ë is not GSM-7: UCS-2, 154 units: 3 segments
    ], { smartEncoding: false })
    expect(estimate).toMatchObject({
      encoding: 'UCS-2',
      segments: 3,
      characters: 154,
      ucs2Characters: ['ë'],
      placeholders: true,
      recipients: 12,
      totalSegments: 10 + 2 + 3,
    })
  })

  it('smart encoding is applied before counting, and says what it replaced', () => {
    expect(estimateText('“Hi”', [{ name: null, zipcode: null, count: 1 }], { smartEncoding: true })).toMatchObject({
      encoding: 'GSM-7',
      smartEncoding: true,
      smartEncodedCharacters: ['“', '”'],
      ucs2Characters: [],
    })
  })

  it('an empty audience is estimated with the fallbacks and costs nothing', () => {
    expect(estimateText('Hi {{first_name|neighbor}}', [], { smartEncoding: false })).toMatchObject({
      segments: 1,
      characters: 11,
      recipients: 0,
      totalSegments: 0,
    })
  })
})
