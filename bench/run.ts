import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

// `npm run bench`: runs every benchmark script in bench/ one after another (each starts its own
// throwaway PostgreSQL and fakes), so their figures are not disturbed by each other. Each script
// measures its baseline in the same run and prints ratios, because the machine is noisy.
// `npm run bench -- enqueue` runs only the scripts whose name contains "enqueue".

const dir = fileURLToPath(new URL('.', import.meta.url))
const filters = process.argv.slice(2)
const scripts = readdirSync(dir)
  .filter((file) => file.endsWith('.ts') && file !== 'run.ts')
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort()

let failed = 0
for (const script of scripts) {
  console.log(`\n=== ${script} ===`)
  const result = spawnSync(process.execPath, ['--import', 'tsx', `${dir}${script}`], { stdio: 'inherit' })
  if (result.status !== 0) {
    failed++
    console.log(`!!! ${script} exited with ${result.status ?? result.signal}`)
  }
}
process.exit(failed ? 1 : 0)
