import { Hono } from 'hono'
import type { FunctionDefinition } from '../http/function-app.ts'
import { AppError } from '../http/errors.ts'
import { sendNow, sendNowError } from './send-now.ts'

// GET or POST /send-now/ (the sidebar uses GET, no body): send the upcoming broadcast now.
// 200 {broadcastId, nextBroadcastId, queued}; errors {message: '0'|'1'|'2', detail} (send-now.ts).

export const sendNowFunction: FunctionDefinition = {
  name: 'send-now',
  gate: 'user',
  routes: (deps) => {
    const app = new Hono({ strict: false })
    app.on(['GET', 'POST'], '/', async (c) => {
      try {
        return c.json(await sendNow(deps))
      } catch (error) {
        if (error instanceof AppError) throw error
        // The sidebar shows its "contact admin" text only for the code '0'.
        deps.log.error('send-now failed', { error })
        throw sendNowError(500, '0', 'Internal Server Error, could not broadcast')
      }
    })
    return app
  },
}
