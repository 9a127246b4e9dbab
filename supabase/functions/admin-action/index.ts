import { adminActionFunction } from '../../../src/shared/webhooks/admin-action-function.ts'
import { createFunctionApp } from '../../../src/shared/http/function-app.ts'
import { defaultDeps } from '../../../src/shared/runtime/deps.ts'

Deno.serve(createFunctionApp(adminActionFunction, defaultDeps()).fetch)
