import { Hono } from 'hono'
import { z } from 'zod'
import type { FunctionDefinition } from '../http/function-app.ts'
import { parseJsonBody } from '../http/errors.ts'
import { queueFor } from '../queue/names.ts'
import { withReportContext } from '../reporting/report-context.ts'
import { drainQueue } from './drain.ts'

// Called by the queue insert triggers (at once) and the per-minute jobs `send-first-messages`
// ({"isSecond": false}) and `send-second-messages` ({"isSecond": true}); see migration
// 20250601000200. Upstream sent one message per call every 2 s; one call here drains its queue
// for up to SEND_DRAIN_SECONDS at the pace Missive's rate windows allow.
// Absent means the first queue; anything but a boolean (null, 1, "true") is a 400, never a guess.
const bodySchema = z.object({
  isSecond: z.boolean().optional(),
})

export const sendMessagesFunction: FunctionDefinition = {
  name: 'send-messages',
  gate: 'secret',
  routes: (deps) =>
    new Hono({ strict: false }).post('/', async (c) => {
      const body = await parseJsonBody(c, bodySchema)
      const isSecond = body.isSecond === true
      // A failed drain is reported (deps.log → Sentry) with the queue it was draining.
      const summary = await drainQueue(deps, isSecond).catch((error) => {
        throw withReportContext(error, { isSecond, queue: queueFor(isSecond) })
      })
      // A drain whose message handling threw (database trouble) answers 500, summary included: the
      // per-minute job's call is recorded by pg_net (and monitoring), where a 200 would hide the failure.
      return c.json(summary, summary.errors > 0 ? 500 : 200)
    }),
}
