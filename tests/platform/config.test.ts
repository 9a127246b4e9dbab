import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../../src/shared/config/env.ts'
import { exampleEnv } from '../support/app.ts'

describe('config', () => {
  it('accepts .env.example as it is', () => {
    const config = parseConfig(exampleEnv)
    expect(config.SUPABASE_SECRET_KEYS.default).toMatch(/^sb_secret_/)
    expect(config.MISSIVE_API_BASE_URL).toBe('https://public.missiveapp.com/v1')
    expect(config.SIDEBAR_ALLOWED_ORIGINS).toContain('http://localhost:5173')
    expect(config.MISSIVE_MAX_PER_15_MINUTES).toBe(900)
  })

  it('names every missing or invalid variable', () => {
    const env = { ...exampleEnv, HMAC_SECRET: '', SUPABASE_SECRET_KEYS: 'not json', MISSIVE_MAX_PER_MINUTE: 'lots' }
    delete (env as Record<string, string | undefined>).DB_POOL_URL
    try {
      parseConfig(env)
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).variables.sort()).toEqual([
        'DB_POOL_URL',
        'HMAC_SECRET',
        'MISSIVE_MAX_PER_MINUTE',
        'SUPABASE_SECRET_KEYS',
      ])
      expect((error as Error).message).toContain('DB_POOL_URL is missing')
      expect((error as Error).message).toContain('SUPABASE_SECRET_KEYS is invalid')
    }
  })
})
