// npm run upgrade:check -- <database-url>
// Before `supabase db push` on a database that runs upstream: can the push run, and is now a good
// moment (README "Taking over a database that runs upstream"). After it: does every cron job run,
// is anything of upstream's left that breaks or leaks. Prints ok/fix per check; exits 1 on a fix.
import { createSql } from '../src/shared/db/client.ts'
import { formatResults } from '../src/local/upgrade/check-result.ts'
import { runUpgradeCheck } from '../src/local/upgrade/upgrade-check.ts'

const url = process.argv[2]
if (!url || url.startsWith('-')) {
  console.error(
    'usage: npm run upgrade:check -- <database-url>   (e.g. the session pooler or direct URL of the project)',
  )
  process.exit(2)
}

const sql = createSql(url, { max: 1 })
try {
  const { phase, results } = await runUpgradeCheck(sql)
  console.log(formatResults(results))
  if (phase === 'before') console.log('(the "after" checks run once every migration of supabase/migrations is applied)')
  process.exitCode = results.every((r) => r.ok) ? 0 : 1
} catch (error) {
  console.error(`upgrade:check could not finish: ${(error as Error).message}`)
  process.exitCode = 2
} finally {
  await sql.end({ timeout: 5 })
}
