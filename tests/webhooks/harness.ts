import { beforeEach } from 'vitest'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { adminActionFunction } from '../../src/shared/webhooks/admin-action-function.ts'
import { userActionFunction } from '../../src/shared/webhooks/user-action-function.ts'
import { createTestDeps } from '../support/app.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { deliver, type DeliveryOptions } from '../support/factories/webhooks.ts'
import { useFakes } from '../support/fakes.ts'
import { SMS_CONVERSATION_ID } from './fixtures/missive-events.ts'

/**
 * A real database (emptied before each test, ids from 1 as in upstream's tests), the loopback
 * Missive fake (knowing the SMS conversation, so posts to it succeed) and signed deliveries to
 * user-action / admin-action through their apps.
 */
export function useWebhookHarness(options: { env?: () => Record<string, string> } = {}) {
  const db = useTestDatabase()
  const fakes = useFakes()

  beforeEach(async () => {
    await resetDatabase(db.sql)
    fakes.missive.setConversationLabels(SMS_CONVERSATION_ID, [])
  })

  const deps = () => createTestDeps(db.sql, { env: { ...fakes.env, ...options.env?.() } })

  /** Delivers to `user-actions` (the URL Missive's rules call). */
  function userAction(payload: unknown, deliveryOptions: DeliveryOptions = {}) {
    return deliver(createFunctionApp(userActionFunction, deps()), payload, deliveryOptions)
  }

  function adminAction(action: string | null, payload: unknown, deliveryOptions: DeliveryOptions = {}) {
    const path = action === null ? 'admin-action' : `admin-action?action=${encodeURIComponent(action)}`
    return deliver(createFunctionApp(adminActionFunction, deps()), payload, { path, ...deliveryOptions })
  }

  return { db, fakes, deps, userAction, adminAction }
}
