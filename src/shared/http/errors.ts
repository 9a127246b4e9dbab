import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { z } from 'zod'
import type { Logger } from '../log/logger.ts'
import { attachedContext } from '../reporting/report-context.ts'

/**
 * A failure a client is meant to see: its status and `{ message, ...extra }` body are the contract
 * (STYLE.md #6). Anything else that escapes a handler is logged and answered 500.
 */
export class AppError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message)
    this.name = 'AppError'
  }
}

export const badRequest = (message: string, extra?: Record<string, unknown>) => new AppError(400, message, extra)
export const unauthorized = (message = 'Unauthorized') => new AppError(401, message)
export const notFound = (message = 'Not Found') => new AppError(404, message)
export const conflict = (message: string, extra?: Record<string, unknown>) => new AppError(409, message, extra)

/** `[segments,included,0,id] Invalid segment ID format. Must be a UUID.` — the path names the field. */
export function describeIssues(
  error: z.ZodError,
  render = (path: string, message: string) => `[${path}] ${message}`,
): string {
  return error.issues.map((issue) => render(issue.path.join(','), issue.message)).join(', ')
}

/** Reads a JSON body; malformed JSON is the client's mistake (400), never a 500. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text()
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text)
  } catch {
    throw badRequest('Malformed JSON body')
  }
}

/** Parses a JSON body with a zod schema; a bad body is a 400 whose message names the field. */
export async function parseJsonBody<T extends z.ZodType>(
  c: Context,
  schema: T,
  prefix = 'Validation error: ',
): Promise<z.infer<T>> {
  const result = schema.safeParse(await readJson(c))
  if (!result.success) throw badRequest(prefix + describeIssues(result.error))
  return result.data
}

export function renderError(error: unknown, c: Context, log: Logger): Response {
  if (error instanceof AppError) {
    if (error.status >= 500) log.error(error.message, { path: c.req.path, ...attachedContext(error), error })
    return c.json({ message: error.message, ...error.extra }, error.status)
  }
  if (error instanceof HTTPException) {
    return c.json({ message: error.message || 'Error' }, error.status)
  }
  if (error instanceof z.ZodError) {
    return c.json({ message: `Validation error: ${describeIssues(error)}` }, 400)
  }
  log.error('Unhandled error', { method: c.req.method, path: c.req.path, ...attachedContext(error), error })
  return c.json({ message: 'Internal Server Error' }, 500)
}
