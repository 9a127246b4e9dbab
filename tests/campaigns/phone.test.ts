import { describe, expect, it } from 'vitest'
import { normalizePhone } from '../../src/shared/phone/normalize.ts'
import { useTestDatabase } from '../support/database.ts'

// One table of cases for both implementations of the rules: src/shared/phone (CSV uploads, test
// sends) and public.normalize_phone_e164 (personalized campaigns, in SQL).

const db = useTestDatabase()

const cases: Array<[string, string | null]> = [
  ['+13135550123', '+13135550123'],
  ['3135550123', '+13135550123'],
  ['313-555-0123', '+13135550123'],
  ['(313) 555-0123', '+13135550123'],
  ['313.555.0123', '+13135550123'],
  [' 1 313 555 0123 ', '+13135550123'],
  ['1-313-555-0123', '+13135550123'],
  ['313\t555\t0123', '+13135550123'], // a tab: SQL takes its regular-expression path for it
  ['+1 (313) 555.0123', '+13135550123'],
  ['00 1 313 555 0123', '+13135550123'],
  ['15552345678', '+15552345678'], // pgTAP §11.7
  ['+11234567890', '+11234567890'], // upstream's test fixtures use area code 123
  ['+447911123456', '+447911123456'],
  ['447911123456', '+447911123456'], // a country code without `+`, as upstream's `+` prefixing allowed
  ['0044 7911 123456', '+447911123456'],
  ['33612345678', '+33612345678'],
  ['+1313555012', null], // +1 needs 10 more digits
  ['131355501234', null],
  ['5550123', null], // no area code
  ['0313555012', null],
  ['1234567890', null], // bare digits: area code 1 is not a US number
  ['11234567890', null],
  ['+0123456789', null],
  ['313-555-0123 x12', null],
  ['phone_number', null],
  ['', null],
  ['+', null],
  ['+1234567890123456', null], // more than 15 digits
]

describe('phone normalisation', () => {
  it.each(cases)('normalizePhone(%j) is %j', (raw, expected) => {
    expect(normalizePhone(raw)).toBe(expected)
  })

  it('public.normalize_phone_e164 agrees on every case', async () => {
    const rows = await db.sql`
      SELECT raw, public.normalize_phone_e164(raw) AS phone
      FROM jsonb_array_elements_text(${
      db.sql.json(cases.map(([raw]) => raw))
    }::jsonb) WITH ORDINALITY AS t(raw, position)
      ORDER BY position`
    expect(rows.map((row) => [row.raw, row.phone])).toEqual(cases)
  })
})
