import { createSql } from '../../shared/db/client.ts'
import { formatResults, runDoctor } from './checks.ts'

// npm run doctor -- <database-url> <functions-url>
//   database-url: the project's direct connection (Supabase: Settings → Database → URI)
//   functions-url: https://<ref>.supabase.co/functions/v1
const [databaseUrl, functionsUrl] = process.argv.slice(2)
if (!databaseUrl || !functionsUrl) {
  console.error('usage: npm run doctor -- <database-url> <functions-url>')
  process.exit(2)
}
const sql = createSql(databaseUrl, { max: 1 })
try {
  const results = await runDoctor(sql, functionsUrl)
  console.log(formatResults(results))
  const missing = results.filter((result) => !result.ok).length
  console.log(missing ? `\n${missing} check(s) missing` : '\nall ok')
  process.exitCode = missing ? 1 : 0
} catch (error) {
  console.error(`doctor could not run: ${(error as Error).message}`)
  process.exitCode = 2
} finally {
  await sql.end({ timeout: 5 })
}
