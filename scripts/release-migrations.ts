// Records the SHA-256 of every migration file in supabase/migrations/released.json. A released
// migration may be applied on a production database already, so it is never edited again: the
// schema changes only through new files. tests/platform/released-migrations.test.ts fails when a
// released file changed or disappeared. Run `npm run migrations:release` when a new file is final
// (that is, when it ships).
import { createHash } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { migrationsDir } from '../src/local/postgres/migrate.ts'

export const releasedManifest = `${migrationsDir}/released.json`

export async function migrationHashes(): Promise<Record<string, string>> {
  const files = (await readdir(migrationsDir)).filter((file) => file.endsWith('.sql')).sort()
  const hashes: Record<string, string> = {}
  for (const file of files) {
    hashes[file] = createHash('sha256').update(await readFile(`${migrationsDir}/${file}`)).digest('hex')
  }
  return hashes
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const previous = JSON.parse(await readFile(releasedManifest, 'utf8').catch(() => '{}')) as Record<string, string>
  const current = await migrationHashes()
  const changed = Object.keys(previous).filter((file) => previous[file] !== current[file])
  if (changed.length) {
    console.error(`released migrations changed or removed (write a new migration instead): ${changed.join(', ')}`)
    process.exit(1)
  }
  await writeFile(releasedManifest, JSON.stringify(current, null, 2) + '\n')
  console.log(`released: ${Object.keys(current).length} migration files`)
}
