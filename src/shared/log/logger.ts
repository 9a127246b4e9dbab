// Structured, scoped logs (STYLE.md #14): one JSON line per event, carrying the function, the
// broadcast or campaign id, the queue message id and a masked phone number where they apply.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type LogFields = Record<string, unknown>

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }
let threshold: LogLevel = 'info'

export function setLogLevel(level: LogLevel): void {
  threshold = level
}

export interface Logger {
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
  child(fields: LogFields): Logger
}

/** `+13135550199` → `***0199`: enough to find a person in Missive, not enough to leak a number. */
export function maskPhone(phone: string | null | undefined): string {
  if (!phone) return String(phone)
  const digits = phone.replace(/\D/g, '')
  return `***${digits.slice(-4)}`
}

function errorFields(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack }
  return value
}

export function createLogger(scope: LogFields = {}): Logger {
  const write = (level: LogLevel, message: string, fields?: LogFields) => {
    if (order[level] < order[threshold]) return
    const entry: LogFields = { time: new Date().toISOString(), level, message, ...scope }
    for (const [key, value] of Object.entries(fields ?? {})) entry[key] = errorFields(value)
    const line = JSON.stringify(entry)
    if (level === 'error') console.error(line)
    else if (level === 'warn') console.warn(line)
    else console.log(line)
  }
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (fields) => createLogger({ ...scope, ...fields }),
  }
}
