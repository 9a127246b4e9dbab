import { Hono } from 'hono'
import type { FunctionDefinition } from '../http/function-app.ts'
import type { WebhookVariables } from '../http/webhook-signature.ts'
import { runAdminAction } from './admin-action.ts'

/**
 * `POST /admin-action?action=unsubscribe|resubscribe`: the Missive rule on an admin's comment.
 * Signed like every Missive webhook (401 otherwise). 200 `{}` when done, 200 `{message}` when a
 * resubscribe comment's text is not a resubscribe command, 400 for a bad action or body, 502 when
 * the confirmation could not be posted (Missive retries; the change itself is idempotent).
 */
export const adminActionFunction: FunctionDefinition = {
  name: 'admin-action',
  gate: 'webhook',
  routes: (deps) =>
    new Hono<{ Variables: WebhookVariables }>({ strict: false }).post('/', async (c) => {
      const result = await runAdminAction(deps, c.get('rawBody'), c.req.query('action'))
      return c.json(result.status === 'ignored' ? { message: result.reason } : {})
    }),
}
