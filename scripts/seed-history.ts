import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { HISTORY_DEFAULTS, seedHistory } from '../src/local/history/seed-history.ts'
import { createSql } from '../src/shared/db/client.ts'

// npm run seed:history [-- [database-url] [--scale 0.01]]
// Fills a database with years of history (src/local/history/seed-history.ts); by default the dev
// stack's. Adds to what is there: run it on a fresh `npm run dev` database or a throwaway one.

const DEV_DATABASE = 'postgresql://postgres@127.0.0.1:54322/postgres'

const { values, positionals } = parseArgs({
  options: { scale: { type: 'string', default: '1' }, help: { type: 'boolean', short: 'h' } },
  allowPositionals: true,
})
if (values.help) {
  console.log(`usage: npm run seed:history -- [database-url] [--scale N]
  database-url  default ${DEV_DATABASE}
  --scale N     fraction of the default history (${HISTORY_DEFAULTS.authors} authors, ${HISTORY_DEFAULTS.broadcasts} broadcasts,
                ${HISTORY_DEFAULTS.campaigns} campaigns, ${HISTORY_DEFAULTS.statuses} statuses, ${HISTORY_DEFAULTS.twilioMessages} twilio_messages); default 1`)
  process.exit(0)
}
const scale = Number(values.scale)
if (!Number.isFinite(scale) || scale <= 0 || scale > 4) {
  console.error(`--scale must be a number in (0, 4], got ${values.scale}`)
  process.exit(2)
}
const url = positionals[0] ?? DEV_DATABASE
const sql = createSql(url, { max: 1 })
try {
  const start = performance.now()
  const summary = await seedHistory(sql, { scale })
  const seeded = performance.now()
  // Fresh statistics, so the first queries on the new volume plan as they will in production.
  await sql`VACUUM ANALYZE`
  const done = performance.now()
  console.log(`seeded ${url.replace(/:[^:@/]*@/, ':***@')} at scale ${scale}:`)
  for (const [name, count] of Object.entries(summary)) {
    console.log(`  ${name.padEnd(22)} ${count.toLocaleString('en-US')}`)
  }
  console.log(
    `  in ${((seeded - start) / 1000).toFixed(1)} s (+ ${((done - seeded) / 1000).toFixed(1)} s VACUUM ANALYZE)`,
  )
} catch (error) {
  console.error('seed:history failed:', error)
  process.exitCode = 1
} finally {
  await sql.end({ timeout: 5 })
}
