import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { afterAll, describe, expect, it } from 'vitest'
import {
  assembleUpload,
  chooseImportMap,
  configuredImportMap,
  relativeImportClosure,
} from '../../scripts/check-deploy-bundle.ts'
import { importMapProblems, pinnedImports, projectRoot } from '../../scripts/importmap.ts'

// What `supabase functions deploy` uploads (issue 12): the CI step `npm run check:deploy`
// type-checks these uploads under Deno; these tests pin the pieces it is built from.

const scratch: string[] = []
afterAll(() => Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true }))))

describe('import maps for deploy', () => {
  it('every function has the import map the CLI finds, current with the root deno.json', async () => {
    expect(await importMapProblems()).toEqual([])
  })

  it('pins each npm range to the version package-lock.json resolved, prefix mappings included', () => {
    const lock = {
      packages: { 'node_modules/hono': { version: '4.13.19' }, 'node_modules/@a/b': { version: '2.1.3' } },
    }
    expect(pinnedImports({
      hono: 'npm:hono@^4.13.0',
      'hono/': 'npm:/hono@^4.13.0/',
      '@a/b': 'npm:@a/b@~2.1.0',
      other: 'npm:other@^1.0.0',
    }, lock)).toEqual({
      hono: 'npm:hono@4.13.19',
      'hono/': 'npm:/hono@4.13.19/',
      '@a/b': 'npm:@a/b@2.1.3',
      other: 'npm:other@^1.0.0',
    })
  })

  it('reports a missing map and one that sets nodeModulesDir, which the bundler would misread', async () => {
    const root = await mkdtemp(`${tmpdir()}/importmap-`)
    scratch.push(root)
    await mkdir(`${root}/supabase/functions/a`, { recursive: true })
    await mkdir(`${root}/supabase/functions/b`, { recursive: true })
    await writeFile(`${root}/deno.json`, JSON.stringify({ nodeModulesDir: 'manual', imports: { zod: 'npm:zod@^4' } }))
    await writeFile(`${root}/package-lock.json`, JSON.stringify({ packages: {} }))
    await writeFile(`${root}/supabase/functions/a/index.ts`, '')
    await writeFile(`${root}/supabase/functions/b/index.ts`, '')
    await writeFile(`${root}/supabase/functions/b/deno.json`, JSON.stringify({ nodeModulesDir: 'manual' }))
    const problems = await importMapProblems(`${root}/`)
    expect(problems).toContain('a: supabase/functions/a/deno.json is missing')
    expect(problems).toContain('b: supabase/functions/b/deno.json is stale')
    expect(problems.some((line) => line.includes('supabase/functions/b/deno.json sets nodeModulesDir'))).toBe(true)
  })
})

describe('what the CLI uploads', () => {
  it('chooses config.toml, then the function directory, then supabase/functions/import_map.json', async () => {
    const root = `${await mkdtemp(`${tmpdir()}/choose-`)}/`
    scratch.push(root)
    await mkdir(`${root}supabase/functions/f`, { recursive: true })
    expect(chooseImportMap(root, 'f', '')).toBeUndefined()
    await writeFile(`${root}supabase/functions/import_map.json`, '{}')
    expect(chooseImportMap(root, 'f', '')).toBe(`${root}supabase/functions/import_map.json`)
    await writeFile(`${root}supabase/functions/f/deno.json`, '{}')
    expect(chooseImportMap(root, 'f', '')).toBe(`${root}supabase/functions/f/deno.json`)
    const toml =
      '[functions.g]\nimport_map = "./x.json"\n[functions.f]\nverify_jwt = false\nimport_map = "./maps/f.json"\n'
    expect(configuredImportMap(toml, 'f')).toBe('./maps/f.json')
    expect(chooseImportMap(root, 'f', toml)).toBe(`${root}supabase/maps/f.json`)
  })

  it("an entry's upload is the files its relative imports reach, never node_modules or package.json", async () => {
    const files = (await relativeImportClosure(`${projectRoot}supabase/functions/make/index.ts`))
      .map((file) => file.slice(projectRoot.length))
    expect(files).toContain('supabase/functions/make/index.ts')
    expect(files).toContain('src/shared/config/env.ts')
    expect(files).toContain('src/shared/broadcasts/make.ts')
    expect(files.some((file) => file.startsWith('src/local/') || file.includes('node_modules'))).toBe(false)

    const dir = await mkdtemp(`${tmpdir()}/upload-`)
    scratch.push(dir)
    const map = await assembleUpload(projectRoot, 'make', dir, '')
    expect(map).toBe(`${dir}/supabase/functions/make/deno.json`)
  })
})
