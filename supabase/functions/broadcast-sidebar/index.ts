import { broadcastSidebarFunction } from '../../../src/shared/broadcasts/sidebar-function.ts'
import { createFunctionApp } from '../../../src/shared/http/function-app.ts'
import { defaultDeps } from '../../../src/shared/runtime/deps.ts'

Deno.serve(createFunctionApp(broadcastSidebarFunction, defaultDeps()).fetch)
