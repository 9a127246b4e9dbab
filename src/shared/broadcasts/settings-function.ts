import type { FunctionDefinition } from '../http/function-app.ts'
import { notImplementedRoutes } from '../http/not-implemented.ts'

export const broadcastSettingFunction: FunctionDefinition = {
  name: 'broadcast-setting',
  aliases: ['broadcast-settings'],
  gate: 'user',
  routes: () => notImplementedRoutes('broadcast-setting'),
}
