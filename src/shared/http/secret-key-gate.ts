import type { MiddlewareHandler } from 'hono'
import { timingSafeEqual } from 'hono/utils/buffer'

/** Whether `presented` equals one of the project's secret keys (SUPABASE_SECRET_KEYS). */
export async function hasSecretKey(
  presented: string | undefined,
  secretKeys: Record<string, string>,
): Promise<boolean> {
  if (!presented) return false
  let matched = false
  // Every key is compared, so the time taken does not reveal which one matched.
  for (const key of Object.values(secretKeys)) {
    if (await timingSafeEqual(presented, key)) matched = true
  }
  return matched
}

/**
 * Cron-called functions: the `apikey` header must carry a secret key. A legacy service-role JWT,
 * a user token or nothing gets 401 (upstream's `withSupabase({ auth: 'secret' })`).
 */
export function secretKeyGate(secretKeys: Record<string, string>): MiddlewareHandler {
  return async (c, next) => {
    if (!(await hasSecretKey(c.req.header('apikey'), secretKeys))) {
      return c.json({ message: 'Unauthorized: a valid secret key is required in the apikey header' }, 401)
    }
    await next()
  }
}
