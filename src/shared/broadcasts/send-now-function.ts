import type { FunctionDefinition } from '../http/function-app.ts'
import { notImplementedRoutes } from '../http/not-implemented.ts'

export const sendNowFunction: FunctionDefinition = {
  name: 'send-now',
  gate: 'user',
  routes: () => notImplementedRoutes('send-now'),
}
