import { archiveDoubleFailuresFunction } from '../../../src/shared/hygiene/archive-double-failures-function.ts'
import { createFunctionApp } from '../../../src/shared/http/function-app.ts'
import { defaultDeps } from '../../../src/shared/runtime/deps.ts'

Deno.serve(createFunctionApp(archiveDoubleFailuresFunction, defaultDeps()).fetch)
