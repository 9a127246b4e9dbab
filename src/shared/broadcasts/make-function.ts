import type { FunctionDefinition } from '../http/function-app.ts'
import { notImplementedRoutes } from '../http/not-implemented.ts'

export const makeFunction: FunctionDefinition = {
  name: 'make',
  gate: 'secret',
  routes: () => notImplementedRoutes('make'),
}
