import { userActionFunction } from '../../../src/shared/webhooks/user-action-function.ts'
import { createFunctionApp } from '../../../src/shared/http/function-app.ts'
import { defaultDeps } from '../../../src/shared/runtime/deps.ts'

Deno.serve(createFunctionApp(userActionFunction, defaultDeps()).fetch)
