import { Hono } from 'hono'
import type { FunctionDefinition } from '../http/function-app.ts'
import { archiveDoubleFailures } from './archive-double-failures.ts'

/**
 * Called every minute by the cron job `archive-double-failures-daily` (POST `{}`, body ignored)
 * between 23:00 and 02:00 UTC; any method works, as upstream. Answers what it did.
 */
export const archiveDoubleFailuresFunction: FunctionDefinition = {
  name: 'archive-double-failures',
  gate: 'secret',
  routes: (deps) => new Hono({ strict: false }).all('/', async (c) => c.json(await archiveDoubleFailures(deps))),
}
