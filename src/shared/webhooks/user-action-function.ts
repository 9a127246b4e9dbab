import type { FunctionDefinition } from '../http/function-app.ts'
import { notImplementedRoutes } from '../http/not-implemented.ts'

export const userActionFunction: FunctionDefinition = {
  name: 'user-action',
  aliases: ['user-actions'],
  gate: 'webhook',
  routes: () => notImplementedRoutes('user-action'),
}
