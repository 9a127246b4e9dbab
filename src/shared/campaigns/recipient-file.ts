import { badRequest } from '../http/errors.ts'
import { normalizePhone } from '../phone/normalize.ts'

// The CSV of a file-based campaign (DESIGN.md "Client contracts"): what the sidebar asks for is
// one number per line and no header. Also accepted, because editors export from spreadsheets: a
// first line that is a header (only when it is not a phone number), and several columns, of which
// the phone column is the one named like a phone, or the only one holding numbers.
// Numbers are normalised to E.164 (US default) and duplicates merged. One invalid number rejects
// the whole file, naming every bad line, so nothing is created from a half-read list (upstream
// kept whatever the lines said, `+` or not, and a repeated number failed with a 500).

export const CSV_TYPES = ['text/csv', 'application/vnd.ms-excel']

export interface RecipientList {
  /** Distinct E.164 numbers, in file order. */
  phones: string[]
  /** Data lines that repeated a number already listed. */
  duplicates: number
  headerSkipped: boolean
}

export interface InvalidLine {
  line: number
  value: string
}

/** Lines listed in the error body; the count is always complete. */
const MAX_INVALID_LISTED = 100
const PHONE_HEADER =
  /^(phone|phone[\s_-]?numbers?|mobile|mobile[\s_-]?(phone|number)|cell|cell[\s_-]?(phone|number)|tel|telephone|numbers?|to|recipients?)$/i

export function isCsvUpload(file: { name: string; type: string }): boolean {
  return file.name.toLowerCase().endsWith('.csv') || CSV_TYPES.includes(file.type.split(';')[0].trim().toLowerCase())
}

export function parseRecipientCsv(text: string): RecipientList {
  const body = text.replace(/^\uFEFF/, '')
  // The usual upload, one number per line (\n or \r\n), has no quoting or separators: its lines
  // are its cells. Reading it without a row object and a cell array per line took a third of the
  // time of a 700 000-line campaign (bench/csv-campaign.ts); anything else takes the general path.
  const { values, lineOf, first, headerSkipped } = /[",;\t]|\r(?!\n)/.test(body)
    ? tabularColumn(body)
    : singleColumn(body)

  const phones: string[] = []
  const seen = new Set<string>()
  const invalid: InvalidLine[] = []
  let duplicates = 0
  for (let i = first; i < values.length; i++) {
    const value = values[i].trim()
    if (value === '') continue
    const phone = normalizePhone(value)
    if (!phone) {
      invalid.push({ line: lineOf(i), value: value.slice(0, 40) })
    } else if (seen.has(phone)) {
      duplicates++
    } else {
      seen.add(phone)
      phones.push(phone)
    }
  }

  if (invalid.length > 0) {
    const listed = invalid.slice(0, 10).map((entry) => `${entry.line} (${JSON.stringify(entry.value)})`).join(', ')
    const more = invalid.length > 10 ? ` and ${invalid.length - 10} more` : ''
    throw badRequest(
      `The CSV file has ${invalid.length} invalid phone number${invalid.length === 1 ? '' : 's'} on line${
        invalid.length === 1 ? '' : 's'
      } ${listed}${more}: fix or remove ${
        invalid.length === 1 ? 'it' : 'them'
      } and upload again (one number per line, e.g. +13135550123 or 313-555-0123)`,
      { invalidLines: invalid.slice(0, MAX_INVALID_LISTED), invalidCount: invalid.length },
    )
  }
  if (phones.length === 0) throw badRequest('No phone numbers found in the CSV file')
  return { phones, duplicates, headerSkipped }
}

interface PhoneColumn {
  /** The phone cell of each line from `first` on, in file order ('' or blank where there is none). */
  values: string[]
  /** The 1-based file line of values[i], for the error listing invalid lines. */
  lineOf(i: number): number
  first: number
  headerSkipped: boolean
}

function singleColumn(body: string): PhoneColumn {
  // The lines themselves, trimmed as they are read: no second array of values and line numbers
  // for the common file.
  const values = body.split('\n')
  let first = 0
  while (first < values.length && values[first].trim() === '') first++
  const headerSkipped = first < values.length && looksLikeHeader([values[first].trim()])
  return { values, lineOf: (i) => i + 1, first: headerSkipped ? first + 1 : first, headerSkipped }
}

function tabularColumn(body: string): PhoneColumn {
  const rows = body
    .split(/\r\n|\n|\r/)
    .map((content, index) => ({ line: index + 1, cells: splitCsvLine(content) }))
    .filter((row) => row.cells.some((cell) => cell !== ''))
  if (rows.length === 0) return { values: [], lineOf: () => 0, first: 0, headerSkipped: false }
  const headerSkipped = looksLikeHeader(rows[0].cells)
  const column = phoneColumn(rows, headerSkipped)
  const data = headerSkipped ? rows.slice(1) : rows
  return {
    values: data.map((row) => row.cells[column] ?? ''),
    lineOf: (i) => data[i].line,
    first: 0,
    headerSkipped,
  }
}

/**
 * A first line is a header only if none of its cells is a phone number and it has words: a typo'd
 * number such as `313-555-012` stays a data line (and is reported) rather than being dropped.
 */
function looksLikeHeader(cells: string[]): boolean {
  if (cells.some((cell) => normalizePhone(cell) !== null)) return false
  return cells.some((cell) => /[A-Za-z]/.test(cell) && cell.replace(/\D/g, '').length < 7)
}

function phoneColumn(rows: Array<{ line: number; cells: string[] }>, hasHeader: boolean): number {
  // A loop, not Math.max(...rows): spreading ~700 000 rows overflowed the stack (a 500).
  let width = 0
  for (const row of rows) width = Math.max(width, lastFilled(row.cells) + 1)
  if (width <= 1) return 0
  if (hasHeader) {
    const names = rows[0].cells.map((cell) => cell.trim())
    const named = names.findIndex((name) => PHONE_HEADER.test(name))
    if (named >= 0) return named
    throw badRequest(
      `The CSV file has no phone column: name it "phone" (found ${
        names.filter(Boolean).map((name) => JSON.stringify(name)).join(', ')
      }), or upload one number per line without other columns`,
    )
  }
  const firstData = rows[0].cells
  const holdingPhones = firstData.map((cell, index) => (normalizePhone(cell) ? index : -1)).filter((index) =>
    index >= 0
  )
  if (holdingPhones.length === 1) return holdingPhones[0]
  throw badRequest(
    'The CSV file has several columns and no header naming the phone column: add a header with a "phone" column, or upload one number per line',
  )
}

function lastFilled(cells: string[]): number {
  for (let i = cells.length - 1; i >= 0; i--) if (cells[i] !== '') return i
  return -1
}

/** One CSV line into trimmed cells (RFC 4180 quoting; a quoted field does not span lines here). */
export function splitCsvLine(line: string): string[] {
  // Most files are one number a line: no quoting or separators to walk through (700 000 lines).
  if (!/[",;\t]/.test(line)) return [line.trim()]
  const cells: string[] = []
  let current = ''
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const char = line[i]
    if (quoted) {
      if (char === '"' && line[i + 1] === '"') {
        current += '"'
        i++
      } else if (char === '"') {
        quoted = false
      } else {
        current += char
      }
    } else if (char === '"') {
      quoted = true
    } else if (char === ',' || char === ';' || char === '\t') {
      cells.push(current.trim())
      current = ''
    } else {
      current += char
    }
  }
  cells.push(current.trim())
  return cells
}
