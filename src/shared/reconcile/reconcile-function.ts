import type { FunctionDefinition } from '../http/function-app.ts'
import { notImplementedRoutes } from '../http/not-implemented.ts'

export const reconcileTwilioStatusFunction: FunctionDefinition = {
  name: 'reconcile-twilio-status',
  gate: 'secret',
  routes: () => notImplementedRoutes('reconcile-twilio-status'),
}
