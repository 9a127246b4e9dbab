import { campaignFunction } from '../../../src/shared/campaigns/campaign-function.ts'
import { createFunctionApp } from '../../../src/shared/http/function-app.ts'
import { defaultDeps } from '../../../src/shared/runtime/deps.ts'

Deno.serve(createFunctionApp(campaignFunction, defaultDeps()).fetch)
