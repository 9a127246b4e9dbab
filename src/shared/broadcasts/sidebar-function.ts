import { Hono } from 'hono'
import { z } from 'zod'
import { INT4_MAX, MAX_UNIX_SECONDS } from '../http/bounds.ts'
import type { FunctionDefinition } from '../http/function-app.ts'
import { badRequest, describeIssues, readJson } from '../http/errors.ts'
import { quietHoursFrom } from '../schedule/quiet-hours.ts'
import { quietRunAtRefusal, refusalExtra } from '../schedule/quiet-run-at.ts'
import { dubLinkShortener } from '../links/dub.ts'
import { refinePlaceholders } from '../texts/validate.ts'
import { loadDashboard } from './dashboard.ts'
import { editUpcomingBroadcast } from './edit-upcoming.ts'
import { previewUpcomingBroadcast } from './text-preview.ts'

// GET   /broadcast-sidebar/?limit=&cursor=  upcoming + past broadcasts (dashboard.ts)
// PATCH /broadcast-sidebar/ {id, firstMessage?, secondMessage?, runAt?, delay?, noRecipients?}
// POST  /broadcast-sidebar/preview/ {firstMessage?, secondMessage?, limit?} the upcoming broadcast's
//       texts rendered for its first recipients, with encoding, segments and cost (text-preview.ts)
// Bad input is 400 {"message":"Bad Request"} as upstream, plus a `detail` naming the field.

// Placeholders ({{first_name|neighbor}}) are checked at save time: 400 naming it and its position.
const nonEmptyText = z.string().refine((text) => text.trim() !== '', 'must not be empty')
  .superRefine(refinePlaceholders)

const PatchBody = z.object({
  id: z.number().int().positive().max(INT4_MAX),
  firstMessage: nonEmptyText.optional(),
  secondMessage: nonEmptyText.optional(),
  // Unix seconds. Upstream treated 0 as "absent" and then failed on an empty update (500). null
  // un-pins the broadcast so it follows the weekly schedule again (upstream had no way to do that).
  runAt: z.number().min(0).max(MAX_UNIX_SECONDS).nullable().optional(),
  // Upstream accepted negative delays and fractional counts; the database cannot use them, nor
  // values beyond its integer columns.
  delay: z.number().int().min(0).max(INT4_MAX).optional(),
  noRecipients: z.number().int().positive().max(INT4_MAX).optional(),
})

/** Rendered texts for at most this many recipients per preview. */
const MAX_PREVIEW_RECIPIENTS = 20

const PreviewBody = z.strictObject({
  firstMessage: nonEmptyText.optional(),
  secondMessage: nonEmptyText.optional(),
  limit: z.number().int().min(1).max(MAX_PREVIEW_RECIPIENTS).default(3),
})

const EDITABLE_FIELDS = ['firstMessage', 'secondMessage', 'runAt', 'delay', 'noRecipients'] as const

const DEFAULT_LIMIT = 5
const MAX_LIMIT = 100

const bad = (detail: string) => badRequest('Bad Request', { detail })

/** `Number(x) || fallback` as upstream (missing, 0 or non-numeric), but no negative or huge pages. */
function pageQuery(limitText: string | undefined, cursorText: string | undefined) {
  const limit = Number(limitText) || DEFAULT_LIMIT
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw bad(`[limit] must be an integer from 1 to ${MAX_LIMIT}`)
  }
  const cursor = Number(cursorText) || undefined
  // The cursor is a Unix time (the last row's runAt); beyond the representable dates PostgreSQL's
  // to_timestamp fails (a 500 before).
  if (cursor !== undefined && !(cursor > 0 && cursor <= MAX_UNIX_SECONDS)) {
    throw bad(`[cursor] must be a Unix time in seconds from 1 to ${MAX_UNIX_SECONDS}`)
  }
  return { limit, cursor }
}

export const broadcastSidebarFunction: FunctionDefinition = {
  name: 'broadcast-sidebar',
  gate: 'user',
  routes: (deps) => {
    const app = new Hono({ strict: false })

    app.get('/', async (c) => {
      const { limit, cursor } = pageQuery(c.req.query('limit'), c.req.query('cursor'))
      return c.json(
        await loadDashboard(deps.sql, { limit, cursor, now: deps.now(), quietHours: quietHoursFrom(deps.config) }),
      )
    })

    app.patch('/', async (c) => {
      let json: unknown
      try {
        json = await readJson(c)
      } catch {
        throw bad('Malformed JSON body')
      }
      const parsed = PatchBody.safeParse(json)
      if (!parsed.success) throw bad(describeIssues(parsed.error))
      const { id, ...fields } = parsed.data
      if (EDITABLE_FIELDS.every((field) => fields[field] === undefined)) {
        throw bad(`at least one of ${EDITABLE_FIELDS.join(', ')} is required`)
      }
      const now = deps.now()
      let runAt: Date | null | undefined = fields.runAt === null ? null : undefined
      if (typeof fields.runAt === 'number') {
        runAt = new Date(fields.runAt * 1000)
        // A past run_at would never fire (and upstream let it block the weekly schedule).
        if (!(runAt.getTime() > now.getTime())) throw bad('[runAt] must be in the future')
        const refusal = quietRunAtRefusal(quietHoursFrom(deps.config), runAt, '[runAt]')
        if (refusal) throw badRequest('Bad Request', { detail: refusal.message, ...refusalExtra(refusal) })
      }
      const shortener = dubLinkShortener(deps.config, deps.log)
      return c.json(await editUpcomingBroadcast(deps.sql, shortener, id, { ...fields, runAt }, now))
    })

    app.post('/preview', async (c) => {
      let json: unknown
      try {
        json = await readJson(c)
      } catch {
        throw bad('Malformed JSON body')
      }
      const parsed = PreviewBody.safeParse(json)
      if (!parsed.success) throw bad(describeIssues(parsed.error))
      return c.json(await previewUpcomingBroadcast(deps.sql, parsed.data, deps.config.SMS_SMART_ENCODING))
    })

    return app
  },
}
