import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { afterAll, describe, expect, it } from 'vitest'
import { chooseImplementation, isInstalled, preloadLibraries } from '../../src/local/postgres/extensions.ts'

// A machine with a real pg_net installed but not preloaded used to stop `npm run dev` and `npm test`
// (`pg_net is not in shared_preload_libraries`). Simulated with a scratch extension directory, so the
// machine's /usr/share/postgresql is never touched.

const dirs: string[] = []
afterAll(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))))

async function fakeInstall(files: string[]) {
  const dir = await mkdtemp(`${tmpdir()}/pg-ext-`)
  dirs.push(dir)
  await mkdir(`${dir}/extension`)
  await mkdir(`${dir}/lib`)
  for (const file of files) await writeFile(`${dir}/${file}`, '')
  return { extensionDir: `${dir}/extension`, libraryDir: `${dir}/lib` }
}

describe('local extensions', () => {
  it('preloads pg_net when it is installed (control file and library), and not otherwise', async () => {
    const installed = await fakeInstall(['extension/pg_net.control', 'lib/pg_net.so'])
    const controlOnly = await fakeInstall(['extension/pg_net.control'])
    expect(preloadLibraries((name) => isInstalled(name, installed))).toEqual(['pg_cron', 'pg_net'])
    // A listed library that is missing would stop the server from starting.
    expect(preloadLibraries((name) => isInstalled(name, controlOnly))).toEqual(['pg_cron'])
    expect(preloadLibraries(() => false)).toEqual(['pg_cron'])
  })

  it('uses a real pg_net only where it is preloaded; otherwise the stand-in, and the stack starts', () => {
    const pgNet = { available: true, needsPreload: true, realAllowed: true }
    expect(chooseImplementation({ ...pgNet, preloaded: true })).toBe('real')
    expect(chooseImplementation({ ...pgNet, preloaded: false })).toBe('stand-in')
    expect(chooseImplementation({ ...pgNet, available: false, preloaded: false })).toBe('stand-in')
    // Tests keep the stand-in: a real pg_net worker serves one database, and each test file has its own.
    expect(chooseImplementation({ ...pgNet, preloaded: true, realAllowed: false })).toBe('stand-in')
    expect(chooseImplementation({ available: true, needsPreload: false, preloaded: false, realAllowed: true }))
      .toBe('real')
  })
})
