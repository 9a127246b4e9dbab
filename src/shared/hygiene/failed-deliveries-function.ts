import type { FunctionDefinition } from '../http/function-app.ts'
import { notImplementedRoutes } from '../http/not-implemented.ts'

export const handleFailedDeliveriesFunction: FunctionDefinition = {
  name: 'handle-failed-deliveries',
  gate: 'secret',
  routes: () => notImplementedRoutes('handle-failed-deliveries'),
}
