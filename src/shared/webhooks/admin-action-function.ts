import { Hono } from 'hono'
import type { FunctionDefinition } from '../http/function-app.ts'
import type { WebhookVariables } from '../http/webhook-signature.ts'
import { runAdminAction } from './admin-action.ts'

/**
 * `POST /admin-action?action=unsubscribe|resubscribe`: the Missive rule on an admin's comment.
 * Signed like every Missive webhook (401 otherwise). 200 `{}` when done (or already done for this
 * comment), 200 `{message, ignored}` when the event is not a comment asking for this action, 400
 * for a bad action, body or phone number, 502 when the confirmation could not be posted (Missive
 * retries; the change is applied once per comment).
 */
export const adminActionFunction: FunctionDefinition = {
  name: 'admin-action',
  gate: 'webhook',
  routes: (deps) =>
    new Hono<{ Variables: WebhookVariables }>({ strict: false }).post('/', async (c) => {
      const result = await runAdminAction(deps, c.get('rawBody'), c.req.query('action'))
      return c.json(result.status === 'ignored' ? { message: result.reason, ignored: result.ignored } : {})
    }),
}
