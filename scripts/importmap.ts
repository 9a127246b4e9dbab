// `npm run importmap` writes, for every function, the import map the Supabase CLI uploads with it;
// `npm run importmap -- --check` fails when one is missing, stale or unsafe (CI runs it).
//
// Why per function: `supabase functions deploy` never reads the repository-root deno.json. It takes
// an import map only from `--import-map`, `[functions.<name>] import_map` in supabase/config.toml,
// `supabase/functions/<name>/deno.json` (then deno.jsonc, import_map.json) or
// `supabase/functions/import_map.json`. A per-function deno.json is the CLI's first choice without a
// flag or a config.toml entry, so it survives any deploy command an operator types. It holds only
// "imports": a copy of the root file would carry `"nodeModulesDir": "manual"`, which makes Deno look
// for a node_modules folder that is never uploaded.
//
// The map is derived from the root deno.json, so a package added there (and to package.json) is
// picked up by re-running this script. Each npm range is pinned to the version package-lock.json
// resolved, so a deploy runs the exact packages the tests ran, not whatever matches the range on
// deploy day.
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

export const projectRoot = fileURLToPath(new URL('../', import.meta.url))
export const functionsDir = `${projectRoot}supabase/functions`

/** File names the CLI reads as a function's import map, in its order of preference. */
export const perFunctionImportMaps = ['deno.json', 'deno.jsonc', 'import_map.json']
export const fallbackImportMap = 'import_map.json'

export type Imports = Record<string, string>

interface Lockfile {
  packages?: Record<string, { version?: string }>
}

// `npm:zod@^4`, `npm:/hono@^4/` (prefix mapping), `npm:@scope/pkg@~2.1/sub`.
const npmSpecifier = /^npm:(\/?)((?:@[^/@]+\/)?[^/@]+)@([^/]+)(\/.*)?$/

/** The root imports with every npm range replaced by the version package-lock.json resolved. */
export function pinnedImports(rootImports: Imports, lockfile: Lockfile): Imports {
  const pinned: Imports = {}
  for (const [key, target] of Object.entries(rootImports)) {
    const match = npmSpecifier.exec(target)
    const version = match ? lockfile.packages?.[`node_modules/${match[2]}`]?.version : undefined
    pinned[key] = match && version ? `npm:${match[1]}${match[2]}@${version}${match[4] ?? ''}` : target
  }
  return pinned
}

export function renderImportMap(imports: Imports): string {
  return JSON.stringify({ imports }, null, 2) + '\n'
}

/** Directories of supabase/functions that hold a function (an index.ts entry). */
export async function functionNames(dir = functionsDir): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  return entries
    .filter((entry) => entry.isDirectory() && existsSync(`${dir}/${entry.name}/index.ts`))
    .map((entry) => entry.name)
    .sort()
}

export async function expectedImportMap(root = projectRoot): Promise<string> {
  const deno = JSON.parse(await readFile(`${root}deno.json`, 'utf8')) as { imports?: Imports }
  const lockfile = JSON.parse(await readFile(`${root}package-lock.json`, 'utf8')) as Lockfile
  return renderImportMap(pinnedImports(deno.imports ?? {}, lockfile))
}

/** Problems with the import maps the CLI would discover; empty when all are current and safe. */
export async function importMapProblems(root = projectRoot): Promise<string[]> {
  const dir = `${root}supabase/functions`
  const expected = await expectedImportMap(root)
  const problems: string[] = []
  const discovered = [`${dir}/${fallbackImportMap}`]
  for (const name of await functionNames(dir)) {
    const path = `${dir}/${name}/deno.json`
    const current = existsSync(path) ? await readFile(path, 'utf8') : null
    if (current === null) problems.push(`${name}: supabase/functions/${name}/deno.json is missing`)
    else if (current !== expected) problems.push(`${name}: supabase/functions/${name}/deno.json is stale`)
    discovered.push(...perFunctionImportMaps.map((file) => `${dir}/${name}/${file}`))
  }
  for (const path of discovered.filter((file) => existsSync(file))) {
    if (/"nodeModulesDir"/.test(await readFile(path, 'utf8'))) {
      problems.push(`${path.slice(root.length)} sets nodeModulesDir, but node_modules is never uploaded`)
    }
  }
  return problems
}

export async function writeImportMaps(root = projectRoot): Promise<string[]> {
  const dir = `${root}supabase/functions`
  const expected = await expectedImportMap(root)
  const written: string[] = []
  for (const name of await functionNames(dir)) {
    const path = `${dir}/${name}/deno.json`
    if (existsSync(path) && (await readFile(path, 'utf8')) === expected) continue
    await writeFile(path, expected)
    written.push(name)
  }
  return written
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--check')) {
    const problems = await importMapProblems()
    if (problems.length) {
      console.error(`import maps for deploy are not current (run \`npm run importmap\`):\n  ${problems.join('\n  ')}`)
      process.exit(1)
    }
    console.log('import maps: every function has a current supabase/functions/<name>/deno.json')
  } else {
    const written = await writeImportMaps()
    console.log(written.length ? `import maps written for: ${written.join(', ')}` : 'import maps already current')
  }
}
