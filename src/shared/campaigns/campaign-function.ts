import type { FunctionDefinition } from '../http/function-app.ts'
import { notImplementedRoutes } from '../http/not-implemented.ts'

export const campaignFunction: FunctionDefinition = {
  name: 'campaign',
  aliases: ['campaigns'],
  gate: 'user',
  routes: () => notImplementedRoutes('campaign'),
}
