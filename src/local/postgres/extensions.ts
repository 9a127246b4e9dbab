import { existsSync } from 'node:fs'

// Which of Supabase's extensions the local stack runs for real and which it replaces with the SQL
// stand-ins of src/local/standins. A machine may have a real pg_net installed (built from source,
// say); pg_net only works when its library is in shared_preload_libraries, and creating it without
// that fails (`pg_net is not in shared_preload_libraries`). So the cluster preloads what is
// installed, and the real extension is used only where it can work; anything else gets the stand-in
// and the stack still starts.

export const EXTENSION_DIR = '/usr/share/postgresql/15/extension'
export const LIBRARY_DIR = '/usr/lib/postgresql/15/lib'

/** Extensions whose library must be preloaded by the server before CREATE EXTENSION works. */
export const PRELOADED_EXTENSIONS = ['pg_cron', 'pg_net']

export interface ExtensionDirs {
  extensionDir: string
  libraryDir: string
}

/** Installed means both halves are there: the control file (CREATE EXTENSION) and the shared library (preload). */
export function isInstalled(
  name: string,
  dirs: ExtensionDirs = { extensionDir: EXTENSION_DIR, libraryDir: LIBRARY_DIR },
): boolean {
  return existsSync(`${dirs.extensionDir}/${name}.control`) && existsSync(`${dirs.libraryDir}/${name}.so`)
}

/**
 * `shared_preload_libraries` for the local cluster: pg_cron always (it is installed before the
 * cluster starts), and every other preload-only extension that is installed here. A listed library
 * that is missing would stop the server from starting, hence the check.
 */
export function preloadLibraries(installed: (name: string) => boolean = (name) => isInstalled(name)): string[] {
  return PRELOADED_EXTENSIONS.filter((name) => name === 'pg_cron' || installed(name))
}

export interface ExtensionFacts {
  /** Listed in pg_available_extensions (its control file is installed). */
  available: boolean
  /** Its library must be in shared_preload_libraries (pg_net). */
  needsPreload: boolean
  /** Its library is in the running server's shared_preload_libraries. */
  preloaded: boolean
  /**
   * The caller can use the real one. Tests say no for pg_net: its background worker serves one
   * database (pg_net.database_name), and every test file has its own.
   */
  realAllowed: boolean
}

/** Real extension or stand-in: the real one only where it can work, so the stack always starts. */
export function chooseImplementation(facts: ExtensionFacts): 'real' | 'stand-in' {
  if (!facts.available || !facts.realAllowed) return 'stand-in'
  if (facts.needsPreload && !facts.preloaded) return 'stand-in'
  return 'real'
}
