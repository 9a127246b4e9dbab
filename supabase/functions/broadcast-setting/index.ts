import { broadcastSettingFunction } from '../../../src/shared/broadcasts/settings-function.ts'
import { createFunctionApp } from '../../../src/shared/http/function-app.ts'
import { defaultDeps } from '../../../src/shared/runtime/deps.ts'

Deno.serve(createFunctionApp(broadcastSettingFunction, defaultDeps()).fetch)
