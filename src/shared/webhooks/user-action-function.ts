import { Hono } from 'hono'
import type { FunctionDefinition } from '../http/function-app.ts'
import type { WebhookVariables } from '../http/webhook-signature.ts'
import { ingestUserAction } from './ingest.ts'

/**
 * Missive rule webhooks (new SMS in or out, comments, labels, assignees, teams, close/reopen), all
 * POSTed to one URL. The gate has verified `X-Hook-Signature` over the raw bytes (401 otherwise);
 * the body is parsed only after that. 200 `{}` when stored (or already stored), 200 `{message, ignored}` for
 * an unknown rule type (recorded in `errors`), 400 for a body we cannot use, 5xx when Missive should retry. Missive rules call it as `user-actions`.
 */
export const userActionFunction: FunctionDefinition = {
  name: 'user-action',
  aliases: ['user-actions'],
  gate: 'webhook',
  routes: (deps) =>
    new Hono<{ Variables: WebhookVariables }>({ strict: false }).post('/', async (c) => {
      const outcome = await ingestUserAction(deps, c.get('rawBody'))
      return c.json(typeof outcome === 'object' ? { message: outcome.ignored, ignored: true } : {})
    }),
}
