import { Hono } from 'hono'
import { z } from 'zod'
import { INT4_MAX } from '../http/bounds.ts'
import { badRequest, describeIssues, readJson } from '../http/errors.ts'
import type { FunctionDefinition } from '../http/function-app.ts'
import type { Deps } from '../runtime/deps.ts'
import { withReportContext } from '../reporting/report-context.ts'
import { reconcilePass } from './reconcile-pass.ts'
import { settleUnknownSends } from './settle-unknown.ts'
import { applyStatusCallback, callbackPreconditions, decodeForm, verifyCallback } from './status-callback.ts'
import type { TargetRef } from './target.ts'

// The cron jobs send ids as JSON strings ("7"); the sidebar or a script may send numbers. 0, "" and
// null count as absent, as upstream's truthiness check did.
const targetId = z.preprocess(
  (value) => (value === null || value === '' || value === 0 ? undefined : value),
  z.union([z.number(), z.string().trim().regex(/^\d+$/, 'must be a positive integer')])
    .transform(Number)
    .pipe(
      z.number().int('must be a positive integer').positive('must be a positive integer')
        // Ids are `integer` columns: beyond them PostgreSQL refused the value (a 500).
        .max(INT4_MAX, `must be at most ${INT4_MAX}`),
    )
    .optional(),
)

const reconcileBody = z.object({ broadcastId: targetId, campaignId: targetId })

function parseTarget(body: unknown): TargetRef {
  const parsed = reconcileBody.safeParse(body)
  if (!parsed.success) throw badRequest(`Validation error: ${describeIssues(parsed.error)}`)
  // broadcastId wins when both are given, as upstream.
  if (parsed.data.broadcastId !== undefined) return { kind: 'broadcast', id: parsed.data.broadcastId }
  if (parsed.data.campaignId !== undefined) return { kind: 'campaign', id: parsed.data.campaignId }
  throw badRequest('Either broadcastId or campaignId must be provided')
}

function routes(deps: Deps) {
  const app = new Hono({ strict: false })

  // Called every minute by `reconcile-twilio-status-<broadcast|campaign>-<id>` (see docs/reconcile.md).
  app.post('/', async (c) => {
    const target = parseTarget(await readJson(c))
    const summary = await reconcilePass(deps, target).catch((error) => {
      throw withReportContext(error, { [`${target.kind}Id`]: target.id })
    })
    return c.json({ [`${target.kind}Id`]: target.id, ...summary })
  })

  // Every minute while `unknown` sends wait (cron `settle-unknown-sends`): a Twilio lookup of each
  // one's number settles it as sent (and queues a still-timely follow-up) or not sent (re-queued).
  app.post('/settle-unknown', async (c) => {
    await readJson(c)
    return c.json(await settleUnknownSends(deps))
  })

  // Twilio's status callback: no apikey (Twilio cannot send one), so the signature is the gate.
  app.post('/status-callback', async (c) => {
    const signature = c.req.header('x-twilio-signature')
    callbackPreconditions(deps, signature) // before the body is read
    const params = decodeForm(await c.req.text())
    verifyCallback(deps, signature, params)
    await applyStatusCallback(deps, params)
    return c.json({})
  })

  return app
}

export const reconcileTwilioStatusFunction: FunctionDefinition = {
  name: 'reconcile-twilio-status',
  gate: 'secret',
  ungatedPaths: ['/status-callback'],
  routes,
}
