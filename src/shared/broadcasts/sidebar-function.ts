import type { FunctionDefinition } from '../http/function-app.ts'
import { notImplementedRoutes } from '../http/not-implemented.ts'

export const broadcastSidebarFunction: FunctionDefinition = {
  name: 'broadcast-sidebar',
  gate: 'user',
  routes: () => notImplementedRoutes('broadcast-sidebar'),
}
