import type { FunctionDefinition } from '../http/function-app.ts'
import { notImplementedRoutes } from '../http/not-implemented.ts'

export const adminActionFunction: FunctionDefinition = {
  name: 'admin-action',
  gate: 'webhook',
  routes: () => notImplementedRoutes('admin-action'),
}
