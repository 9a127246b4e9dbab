import { Hono } from 'hono'
import { z } from 'zod'
import type { FunctionDefinition } from '../http/function-app.ts'
import { parseJsonBody } from '../http/errors.ts'
import { makeBroadcast, parseRunAtUtc } from './make.ts'

// POST /make/ {run_at_utc}: called by check_and_trigger_broadcast (pg_cron → pg_net) when a
// broadcast is due. 200 {broadcastId, nextBroadcastId, queued}; 400 bad or out-of-window
// run_at_utc; 404 no editable broadcast; 409 a broadcast was sent less than 2 hours before the slot
// (`slot_at_utc`, else run_at_utc).

// `slot_at_utc` (new, optional): the slot the trigger fired for, so the 2-hour rule is measured from
// the slot exactly as check_and_trigger_broadcast measures it (issue 9 #1).
const MakeBody = z.object({ run_at_utc: z.string(), slot_at_utc: z.string().optional() })

export const makeFunction: FunctionDefinition = {
  name: 'make',
  gate: 'secret',
  routes: (deps) => {
    const app = new Hono({ strict: false })
    app.post('/', async (c) => {
      const body = await parseJsonBody(c, MakeBody)
      const trigger = parseRunAtUtc(body.run_at_utc, deps.now(), body.slot_at_utc)
      return c.json(await makeBroadcast(deps, trigger))
    })
    return app
  },
}
