import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

// `npm run bench` must not pass by accident: a missed goal, a crash, or a script that reports
// nothing is a MISSED row and a non-zero exit (issue 15 #4). Scripts here are stand-ins that
// report through the same reporter as the real benches.

const root = fileURLToPath(new URL('../../', import.meta.url))
const report = join(root, 'bench/support/report.ts')
const dir = mkdtempSync(join(tmpdir(), 'bench-runner-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function script(name: string, body: string) {
  writeFileSync(join(dir, `${name}.ts`), `import { reportFigure } from ${JSON.stringify(report)}\n${body}\n`)
}

function run(...args: string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench/run.ts'), '--dir', dir, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: result.status, output: result.stdout + result.stderr }
}

script('alpha', "reportFigure({ bench: 'alpha', figure: 'speed', result: '1.2×', goal: '≤ 2×', met: true })")
script('beta', "reportFigure({ bench: 'beta', figure: 'speed', result: '2.5×', goal: '≤ 2×', met: false })")
script(
  'crash',
  "reportFigure({ bench: 'crash', figure: 'first', result: '1', goal: '1', met: true })\nthrow new Error('boom')",
)
script('silent', "console.log('all good, trust me')")

describe('bench runner', () => {
  it('passes only when every script reports and meets its goals', () => {
    const { status, output } = run('alpha')
    expect(output).toMatch(/alpha\s+\| speed\s+\| 1\.2×\s+\| ≤ 2×\s+\| met/)
    expect(output).toContain('every goal met')
    expect(output).toMatch(/cores: \d+/)
    expect(status).toBe(0)
  })

  it('fails on a missed goal, a crash and a silent script, each a row of the table, and writes markdown', () => {
    const file = join(dir, 'table.md')
    const { status, output } = run('--markdown', file)
    expect(status).toBe(1)
    const table = output.slice(output.indexOf('=== all figures'))
    expect(table).toMatch(/beta\s+\| speed\s+\| 2\.5×\s+\| ≤ 2×\s+\| MISSED/)
    expect(table).toMatch(/crash\s+\| script finished cleanly \| exited with 1/)
    expect(table).toMatch(/silent\s+\| script finished cleanly \| exited 0 but reported no figure/)
    expect(table).toContain('3 of 5 figures MISSED')
    const markdown = readFileSync(file, 'utf8')
    expect(markdown).toContain('| `beta` | speed | 2.5× | ≤ 2× | **MISSED** |')
    expect(markdown).toContain('| `alpha` | speed | 1.2× | ≤ 2× | met |')
    expect(markdown).toMatch(/- node: v\d+/)
  })
})
