import { sendNowFunction } from '../../../src/shared/broadcasts/send-now-function.ts'
import { createFunctionApp } from '../../../src/shared/http/function-app.ts'
import { defaultDeps } from '../../../src/shared/runtime/deps.ts'

Deno.serve(createFunctionApp(sendNowFunction, defaultDeps()).fetch)
