import { readdir, readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { migrationsDir } from '../../src/local/postgres/migrate.ts'
import { migrationHashes, releasedManifest } from '../../scripts/release-migrations.ts'

const upstreamLastVersion = '20250508095220'

describe('released migrations', () => {
  it('are never edited or removed: the schema changes through new files only', async () => {
    const released = JSON.parse(await readFile(releasedManifest, 'utf8')) as Record<string, string>
    const current = await migrationHashes()
    for (const [file, hash] of Object.entries(released)) expect(current[file], file).toBe(hash)
  })

  it("keep one file per upstream version, and ours sort after upstream's last", async () => {
    const files = (await readdir(migrationsDir)).filter((file) => file.endsWith('.sql')).sort()
    // The 18 versions that upstream's databases list in supabase_migrations.schema_migrations; without
    // a local file for each, `supabase db push` refuses to run on such a database.
    const upstream = files.filter((file) => file.split('_')[0] <= upstreamLastVersion)
    expect(upstream).toHaveLength(18)
    for (const file of upstream) {
      const text = await readFile(`${migrationsDir}/${file}`, 'utf8')
      const statements = text.split('\n').filter((line) => line.trim() && !line.trim().startsWith('--'))
      expect(statements, `${file} is a placeholder and holds no SQL`).toEqual([])
    }
    expect(files.length).toBeGreaterThan(upstream.length)
  })
})
