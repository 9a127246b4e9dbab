import { Hono } from 'hono'
import type { FunctionDefinition } from '../http/function-app.ts'
import { handleFailedDeliveries } from './handle-failed-deliveries.ts'

/**
 * Called every minute by the cron job `handle-failed-deliveries-daily` (GET, no body) between
 * 22:00 and 01:00 UTC; any method works, as upstream. Answers what it did.
 */
export const handleFailedDeliveriesFunction: FunctionDefinition = {
  name: 'handle-failed-deliveries',
  gate: 'secret',
  routes: (deps) => new Hono({ strict: false }).all('/', async (c) => c.json(await handleFailedDeliveries(deps))),
}
