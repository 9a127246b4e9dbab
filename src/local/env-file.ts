import { existsSync, readFileSync } from 'node:fs'

/** Parses a dotenv file: `KEY=value`, `#` comments, optional single or double quotes. */
export function parseEnvFile(text: string): Record<string, string> {
  const values: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    const match = line.match(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)\s*$/)
    if (!match) continue
    let value = match[2]
    const quoted = value.match(/^(['"])(.*)\1$/)
    if (quoted) value = quoted[2]
    else value = value.replace(/\s+#.*$/, '')
    values[match[1]] = value
  }
  return values
}

/**
 * The local stack's environment: the process environment wins, then `.env`, then `.env.example`
 * (so a fresh clone runs with no configuration at all).
 */
export function loadLocalEnvironment(root: string): { env: Record<string, string | undefined>; source: string } {
  const file = existsSync(`${root}/.env`) ? '.env' : '.env.example'
  const fromFile = existsSync(`${root}/${file}`) ? parseEnvFile(readFileSync(`${root}/${file}`, 'utf8')) : {}
  return { env: { ...fromFile, ...process.env }, source: file }
}
