import { reconcileTwilioStatusFunction } from '../../../src/shared/reconcile/reconcile-function.ts'
import { createFunctionApp } from '../../../src/shared/http/function-app.ts'
import { defaultDeps } from '../../../src/shared/runtime/deps.ts'

Deno.serve(createFunctionApp(reconcileTwilioStatusFunction, defaultDeps()).fetch)
