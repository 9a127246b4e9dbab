// `npm run check:deploy`: for every function, rebuilds in a temporary directory exactly what
// `supabase functions deploy` uploads — the entry, every file reached from it by relative imports,
// and the import map the CLI chooses — and type-checks it there with the pinned Deno. No
// node_modules, no package.json and no root deno.json are present, as on Supabase, so a bare import
// the import map does not map fails here (`Import "zod" not a dependency`) instead of at deploy.
//
// npm packages then come from Deno's cache or the npm registry (DENO_DIR, default ~/.cache/deno),
// which is how the bundler resolves them too.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, relative, resolve } from 'node:path'
import { promisify } from 'node:util'
import { fallbackImportMap, functionNames, perFunctionImportMaps, projectRoot } from './importmap.ts'

const run = promisify(execFile)

/** `[functions.<name>] import_map = "…"` from supabase/config.toml (paths relative to supabase/). */
export function configuredImportMap(configToml: string, name: string): string | undefined {
  const section = configToml.split(/^\[/m).find((part) => part.startsWith(`functions.${name}]`))
  const match = section && /^\s*import_map\s*=\s*"([^"]+)"/m.exec(section)
  return match ? match[1] : undefined
}

/** The import map the CLI picks for a function: config.toml, then the function's own files, then the shared fallback. */
export function chooseImportMap(root: string, name: string, configToml: string): string | undefined {
  const configured = configuredImportMap(configToml, name)
  if (configured) return resolve(root, 'supabase', configured)
  const own = perFunctionImportMaps.map((file) => `${root}supabase/functions/${name}/${file}`).find(existsSync)
  if (own) return own
  const fallback = `${root}supabase/functions/${fallbackImportMap}`
  return existsSync(fallback) ? fallback : undefined
}

// Static `import … from '…'`, `export … from '…'`, side-effect `import '…'` and dynamic `import('…')`.
const relativeSpecifiers = [
  /\b(?:import|export)\b[^'"]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]/g,
  /\bimport\s*['"](\.{1,2}\/[^'"]+)['"]/g,
  /\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g,
]

/** Every file reached from `entry` through relative imports, as the CLI walks them. */
export async function relativeImportClosure(entry: string): Promise<string[]> {
  const seen = new Set<string>()
  const pending = [resolve(entry)]
  while (pending.length) {
    const file = pending.pop()!
    if (seen.has(file)) continue
    if (!existsSync(file)) throw new Error(`${file} is imported but does not exist`)
    seen.add(file)
    const text = await readFile(file, 'utf8')
    for (const pattern of relativeSpecifiers) {
      for (const match of text.matchAll(pattern)) pending.push(resolve(dirname(file), match[1]))
    }
  }
  return [...seen].sort()
}

/** Copies one function's upload into `dir` (same paths relative to the project) and returns the import map's copy. */
export async function assembleUpload(root: string, name: string, dir: string, configToml: string): Promise<string> {
  const importMap = chooseImportMap(root, name, configToml)
  if (!importMap) throw new Error(`${name}: the CLI finds no import map (run \`npm run importmap\`)`)
  const mapText = await readFile(importMap, 'utf8')
  if (/"nodeModulesDir"/.test(mapText)) {
    throw new Error(`${name}: ${relative(root, importMap)} sets nodeModulesDir; node_modules is never uploaded`)
  }
  const files = [...await relativeImportClosure(`${root}supabase/functions/${name}/index.ts`), importMap]
  for (const file of files) {
    const path = relative(root, file)
    if (path.startsWith('..') || path.split('/').includes('node_modules')) {
      throw new Error(`${name}: ${path} would not be uploaded`)
    }
    await mkdir(dirname(`${dir}/${path}`), { recursive: true })
    await copyFile(file, `${dir}/${path}`)
  }
  return `${dir}/${relative(root, importMap)}`
}

/**
 * Type-checks every function from its own copy of its upload. Functions whose import maps say the
 * same thing are checked by one Deno process (one graph, npm types loaded once); each entry still
 * reaches only the files of its own copy, so a file missing from one upload fails that function.
 */
export async function checkUploads(root: string, names: string[], configToml: string): Promise<string[]> {
  const dir = await mkdtemp(`${tmpdir()}/txt-outlier-upload-`)
  try {
    const groups = new Map<string, { importMap: string; entries: string[] }>()
    const failures: string[] = []
    for (const name of names) {
      try {
        const importMap = await assembleUpload(root, name, `${dir}/${name}`, configToml)
        const text = await readFile(importMap, 'utf8')
        // A map with relative targets resolves against its own location: such a map is checked alone.
        const key = /"\.{1,2}\//.test(text) ? importMap : `${importMap.split('/').pop()}\n${text}`
        const group = groups.get(key) ?? { importMap, entries: [] }
        group.entries.push(`${name}/supabase/functions/${name}/index.ts`)
        groups.set(key, group)
      } catch (error) {
        failures.push(`${name}: ${(error as Error).message}`)
      }
    }
    for (const { importMap, entries } of groups.values()) {
      const mapFlag = /\/(deno\.jsonc?)$/.test(importMap)
        ? ['--config', importMap]
        : ['--no-config', '--import-map', importMap]
      try {
        await run(`${root}node_modules/.bin/deno`, ['check', '--quiet', ...mapFlag, ...entries], {
          cwd: dir,
          env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
          maxBuffer: 16 * 1024 * 1024,
        })
      } catch (error) {
        const failure = error as Error & { stdout?: string; stderr?: string }
        failures.push(
          `${entries.map((entry) => entry.split('/')[0]).join(', ')}:\n${
            (failure.stderr || failure.stdout || failure.message).trim()
          }`,
        )
      }
    }
    return failures
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const configToml = await readFile(`${projectRoot}supabase/config.toml`, 'utf8')
  const names = await functionNames()
  const failures = await checkUploads(projectRoot, names, configToml)
  if (failures.length) {
    console.error(failures.join('\n\n'))
    process.exit(1)
  }
  console.log(`every function type-checks from exactly its uploaded files: ${names.join(', ')}`)
}
