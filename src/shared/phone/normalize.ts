// E.164 normalisation with a US default, for numbers people type or paste (CSV uploads, test
// sends). The same rules live in SQL as public.normalize_phone_e164 (migration 20261204000100,
// used by personalized campaigns); tests/campaigns/phone.test.ts runs one table of cases
// through both so they cannot drift.
//
//   separators  spaces, `-`, `(`, `)`, `.` are dropped (upstream stripped the same characters)
//   `+…`        kept as is: 8–15 digits, no leading 0; `+1` needs exactly 10 more digits
//   `00…`       international dialling prefix, read as `+`
//   10 digits   a US number (area code 2–9): `+1` is added
//   1 + 10 digits (area code 2–9) is a US number too; 11–15 digits starting 2–9 already carry a
//               country code: `+` is added
//   Without `+`, bare digits are only trusted when they look like that; an explicit `+1…` is kept
//   whatever its area code (upstream's test fixtures use +1123…).
//   anything else (letters, extensions, 7-digit local numbers) is not a phone number
//
// Upstream only prefixed `+` (personalized campaigns) or kept the text as it was (CSV uploads),
// so `313-555-0100` became `3135550100` and never matched the `+13135550100` author Missive knows.

const SEPARATORS = /[\s\-().]/g
/** Already E.164 under the rules below (most uploaded lines): returned as is, without rebuilding it. */
const E164 = /^\+(?:1\d{10}|[2-9]\d{7,14})$/

export function normalizePhone(raw: string): string | null {
  if (E164.test(raw)) return raw
  const compact = raw.replace(SEPARATORS, '')
  let digits: string
  if (compact.startsWith('+')) {
    digits = compact.slice(1)
    if (!isInternational(digits)) return null
  } else if (compact.startsWith('00')) {
    digits = compact.slice(2)
    if (!isInternational(digits)) return null
  } else {
    if (!/^\d+$/.test(compact)) return null
    if (compact.length === 10 && /^[2-9]/.test(compact)) digits = `1${compact}`
    else if (compact.length === 11 && compact.startsWith('1') && /^1[2-9]/.test(compact)) digits = compact
    else if (compact.length >= 11 && compact.length <= 15 && /^[2-9]/.test(compact)) digits = compact
    else return null
    if (!isInternational(digits)) return null
  }
  return `+${digits}`
}

function isInternational(digits: string): boolean {
  if (!/^[1-9]\d{7,14}$/.test(digits)) return false
  // North America: country code 1 + 10 digits, nothing else.
  return !digits.startsWith('1') || digits.length === 11
}

export function isPhoneNumber(raw: string): boolean {
  return normalizePhone(raw) !== null
}
