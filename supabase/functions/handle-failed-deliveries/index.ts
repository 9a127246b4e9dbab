import { handleFailedDeliveriesFunction } from '../../../src/shared/hygiene/failed-deliveries-function.ts'
import { createFunctionApp } from '../../../src/shared/http/function-app.ts'
import { defaultDeps } from '../../../src/shared/runtime/deps.ts'

Deno.serve(createFunctionApp(handleFailedDeliveriesFunction, defaultDeps()).fetch)
