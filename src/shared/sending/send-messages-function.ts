import type { FunctionDefinition } from '../http/function-app.ts'
import { notImplementedRoutes } from '../http/not-implemented.ts'

export const sendMessagesFunction: FunctionDefinition = {
  name: 'send-messages',
  gate: 'secret',
  routes: () => notImplementedRoutes('send-messages'),
}
