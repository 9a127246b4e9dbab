import type { MissiveTokens } from '../../src/shared/missive/index.ts'

export const TOKENS: MissiveTokens = {
  firstMessages: 'missive_pat-first',
  secondMessages: 'missive_pat-second',
  nonBroadcast: 'missive_pat-non-broadcast',
  readConversation: 'missive_pat-read-conversation',
}
export const ORGANIZATION_ID = '7deec8a7-0000-4000-8000-000000000001'
export const FROM_PHONE = '+18005550199'
export const ACCOUNT_SID = `AC${'1'.repeat(32)}`
export const AUTH_TOKEN = 'fake_auth_token'
