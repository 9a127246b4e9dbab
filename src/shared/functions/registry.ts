import { makeFunction } from '../broadcasts/make-function.ts'
import { sendNowFunction } from '../broadcasts/send-now-function.ts'
import { broadcastSettingFunction } from '../broadcasts/settings-function.ts'
import { broadcastSidebarFunction } from '../broadcasts/sidebar-function.ts'
import { campaignFunction } from '../campaigns/campaign-function.ts'
import { archiveDoubleFailuresFunction } from '../hygiene/archive-double-failures-function.ts'
import { handleFailedDeliveriesFunction } from '../hygiene/failed-deliveries-function.ts'
import type { FunctionDefinition } from '../http/function-app.ts'
import { reconcileTwilioStatusFunction } from '../reconcile/reconcile-function.ts'
import { sendMessagesFunction } from '../sending/send-messages-function.ts'
import { adminActionFunction } from '../webhooks/admin-action-function.ts'
import { userActionFunction } from '../webhooks/user-action-function.ts'

/** Every edge function, as deployed under supabase/functions/<name> and served by the local gateway. */
export const functionDefinitions: FunctionDefinition[] = [
  makeFunction,
  sendNowFunction,
  sendMessagesFunction,
  reconcileTwilioStatusFunction,
  handleFailedDeliveriesFunction,
  archiveDoubleFailuresFunction,
  userActionFunction,
  adminActionFunction,
  broadcastSettingFunction,
  broadcastSidebarFunction,
  campaignFunction,
]
