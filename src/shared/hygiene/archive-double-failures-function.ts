import type { FunctionDefinition } from '../http/function-app.ts'
import { notImplementedRoutes } from '../http/not-implemented.ts'

export const archiveDoubleFailuresFunction: FunctionDefinition = {
  name: 'archive-double-failures',
  gate: 'secret',
  routes: () => notImplementedRoutes('archive-double-failures'),
}
