import { afterAll, beforeAll, beforeEach } from 'vitest'
import { type MissiveFake, type MissiveFakeOptions, startMissiveFake } from '../../src/local/fakes/missive.ts'
import { startTwilioFake, type TwilioFake } from '../../src/local/fakes/twilio.ts'
import { exampleEnv } from './app.ts'

export interface Fakes {
  missive: MissiveFake
  twilio: TwilioFake
  /** Environment overrides that point the clients at these fakes. */
  env: Record<string, string>
}

export const missiveTokens = [
  exampleEnv.MISSIVE_SECRET_BROADCAST_FIRST_MESSAGES,
  exampleEnv.MISSIVE_SECRET_BROADCAST_SECOND_MESSAGES,
  exampleEnv.MISSIVE_SECRET_NON_BROADCAST,
  exampleEnv.MISSIVE_SECRET_CAMPAIGN_READ_CONVERSATION,
]

/** Starts the Missive and Twilio fakes on loopback with the sandbox credentials of .env.example. */
export async function startFakes(options: Partial<MissiveFakeOptions> = {}): Promise<Fakes> {
  const twilio = await startTwilioFake({
    accountSid: exampleEnv.TWILIO_ACCOUNT_SID,
    authToken: exampleEnv.TWILIO_AUTH_TOKEN,
  })
  const missive = await startMissiveFake({
    tokens: missiveTokens,
    organizationId: exampleEnv.MISSIVE_ORGANIZATION_ID,
    twilio,
    ...options,
  })
  return {
    missive,
    twilio,
    env: { MISSIVE_API_BASE_URL: missive.baseUrl, TWILIO_API_BASE_URL: twilio.baseUrl },
  }
}

/** Fakes for a whole test file, reset (requests, faults, data) before each test. */
export function useFakes(options: Partial<MissiveFakeOptions> = {}): Fakes {
  let fakes: Fakes | undefined
  beforeAll(async () => {
    fakes = await startFakes(options)
  })
  beforeEach(() => {
    fakes?.missive.reset()
    fakes?.twilio.reset()
  })
  afterAll(async () => {
    await fakes?.missive.close()
    await fakes?.twilio.close()
  })
  const get = () => {
    if (!fakes) throw new Error('the fakes start in beforeAll; use them inside a test or hook')
    return fakes
  }
  return {
    get missive() {
      return get().missive
    },
    get twilio() {
      return get().twilio
    },
    get env() {
      return get().env
    },
  }
}
