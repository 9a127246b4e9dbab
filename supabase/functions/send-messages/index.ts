import { sendMessagesFunction } from '../../../src/shared/sending/send-messages-function.ts'
import { createFunctionApp } from '../../../src/shared/http/function-app.ts'
import { defaultDeps } from '../../../src/shared/runtime/deps.ts'

Deno.serve(createFunctionApp(sendMessagesFunction, defaultDeps()).fetch)
