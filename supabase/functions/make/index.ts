import { makeFunction } from '../../../src/shared/broadcasts/make-function.ts'
import { createFunctionApp } from '../../../src/shared/http/function-app.ts'
import { defaultDeps } from '../../../src/shared/runtime/deps.ts'

Deno.serve(createFunctionApp(makeFunction, defaultDeps()).fetch)
