import { sign } from 'hono/jwt'
import { fileURLToPath } from 'node:url'
import { loadLocalEnvironment } from './env-file.ts'

/**
 * Mints a Supabase-style user access token for the local gateway (HS256 with SUPABASE_JWT_SECRET),
 * carrying the claims the sidebar reads: `exp` and `app_metadata.anon_key`.
 */
export function mintUserToken(secret: string, options: { hours?: number; email?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return sign(
    {
      sub: '00000000-0000-4000-8000-000000000001',
      email: options.email ?? 'editor@localhost',
      role: 'authenticated',
      aud: 'authenticated',
      iat: now,
      exp: now + (options.hours ?? 24) * 3600,
      app_metadata: { provider: 'email', anon_key: 'sb_publishable_local_anon' },
    },
    secret,
    'HS256',
  )
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const { env } = loadLocalEnvironment(root)
  if (!env.SUPABASE_JWT_SECRET) {
    console.error('SUPABASE_JWT_SECRET is missing (set it in .env or the environment)')
    process.exit(1)
  }
  console.log(await mintUserToken(env.SUPABASE_JWT_SECRET))
}
