import { spawn } from 'node:child_process'
import { readdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { type BenchFigure, parseFigures } from './support/report.ts'

// `npm run bench`: runs every benchmark script in bench/ one after another (each starts its own
// throwaway PostgreSQL and fakes, so their figures do not disturb each other), shows their output
// live, gathers the figures they report (bench/support/report.ts) and ends with ONE table of every
// figure against its goal and the machine it ran on. It exits non-zero when any goal is missed or
// any script fails: a script that crashes, exits non-zero or reports no figure is a row marked
// MISSED, so a broken bench cannot pass by saying nothing.
//
//   npm run bench                       every script; send-drain runs twice: its short mode and its
//                                       long mode (≥ 4 min at Missive's real limits, where the
//                                       15-minute window binds, as in production)
//   npm run bench -- drain history      only the scripts whose name contains "drain" or "history"
//   npm run bench -- --quick            without send-drain's long mode
//   npm run bench -- --markdown bench-results.md   also writes the table and the machine as markdown

interface Options {
  /** Where the scripts are: bench/ unless `--dir` (the runner's own test) says otherwise. */
  dir: string
  filters: string[]
  long: boolean
  markdown: string | null
}

function parseArgs(args: string[]): Options {
  const options: Options = {
    dir: fileURLToPath(new URL('.', import.meta.url)),
    filters: [],
    long: true,
    markdown: null,
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--quick') options.long = false
    else if (arg === '--markdown') {
      const file = args[++i]
      if (!file) throw new Error('--markdown needs a file name')
      options.markdown = file
    } else if (arg.startsWith('--markdown=')) options.markdown = arg.slice('--markdown='.length)
    else if (arg === '--dir') {
      const dir = args[++i]
      if (!dir) throw new Error('--dir needs a directory')
      options.dir = dir.endsWith('/') ? dir : `${dir}/`
    } else if (arg.startsWith('--')) throw new Error(`unknown option ${arg} (known: --quick, --markdown <file>)`)
    else options.filters.push(arg)
  }
  return options
}

interface Row extends BenchFigure {
  seconds: number
}

const options = parseArgs(process.argv.slice(2))
const dir = options.dir
const scripts = readdirSync(dir)
  .filter((file) => file.endsWith('.ts') && file !== 'run.ts')
  .filter((file) => options.filters.length === 0 || options.filters.some((filter) => file.includes(filter)))
  .sort()
if (scripts.length === 0) {
  console.error(`no bench script matches ${options.filters.join(', ')}`)
  process.exit(1)
}

/** One script in a child process; its output is shown as it comes and kept for the figures. */
function runScript(script: string, args: string[]): Promise<{ output: string; exit: string | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `${dir}${script}`, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      process.stdout.write(chunk)
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      process.stderr.write(chunk)
    })
    child.on('error', (error) => resolve({ output, exit: `could not start: ${error.message}` }))
    child.on('close', (code, signal) => resolve({ output, exit: code === 0 ? null : `exited with ${code ?? signal}` }))
  })
}

const started = new Date()
const rows: Row[] = []
const runs = scripts.flatMap((script) => {
  const name = script.replace(/\.ts$/, '')
  const list = [{ script, name, args: [] as string[] }]
  if (options.long && name === 'send-drain') list.push({ script, name: 'send-drain-long', args: ['--long'] })
  return list
})
for (const run of runs) {
  console.log(`\n=== ${run.name} ===`)
  const t0 = performance.now()
  const { output, exit } = await runScript(run.script, run.args)
  const seconds = (performance.now() - t0) / 1000
  let figures: BenchFigure[] = []
  try {
    figures = parseFigures(output)
  } catch (error) {
    figures = []
    console.log(`!!! ${run.name}: unreadable figure line (${error instanceof Error ? error.message : error})`)
  }
  rows.push(...figures.map((figure) => ({ ...figure, seconds })))
  // A non-zero exit is explained by a missed figure (reportFigure sets it); otherwise it is a crash.
  if (figures.length === 0 || (exit !== null && figures.every((figure) => figure.met))) {
    const result = exit ?? 'exited 0 but reported no figure'
    console.log(`!!! ${run.name} ${result}`)
    rows.push({
      bench: run.name,
      figure: 'script finished cleanly',
      result,
      goal: 'exit 0, ≥ 1 figure',
      met: false,
      seconds,
    })
  }
}

const machine = describeMachine(started)
const missed = rows.filter((row) => !row.met)
console.log(`\n=== all figures (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s) ===`)
console.log(textTable(rows))
console.log(machine.map(([key, value]) => `${key}: ${value}`).join('\n'))
console.log(missed.length === 0 ? 'every goal met' : `${missed.length} of ${rows.length} figures MISSED`)
if (options.markdown) {
  writeFileSync(options.markdown, markdown(rows, machine))
  console.log(`markdown written to ${options.markdown}`)
}
process.exit(missed.length === 0 ? 0 : 1)

function describeMachine(at: Date): Array<[string, string]> {
  const cores = cpus()
  const load = loadavg().map((value) => value.toFixed(2)).join(', ')
  const end = new Date()
  return [
    ['cores', String(cores.length)],
    ['model', cores[0]?.model.trim() ?? 'unknown'],
    ['memory', `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['load average (1, 5, 15 min) at the end', load],
    ['node', process.version],
    ['date', `${at.toISOString().slice(0, 16).replace('T', ' ')}–${end.toISOString().slice(11, 16)} UTC`],
    ['total time', `${((end.getTime() - at.getTime()) / 1000).toFixed(0)} s`],
    ['command', `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`],
  ]
}

function textTable(list: Row[]): string {
  const header = ['bench', 'figure', 'result', 'goal', 'met']
  const body = list.map((row) => [row.bench, row.figure, row.result, row.goal, row.met ? 'met' : 'MISSED'])
  const widths = header.map((title, i) => Math.max(title.length, ...body.map((cells) => cells[i]!.length)))
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n')
}

function markdown(list: Row[], about: Array<[string, string]>): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
  const lines = [
    '| bench | figure | result | goal | met |',
    '|---|---|---|---|---|',
    ...list.map((row) =>
      `| \`${cell(row.bench)}\` | ${cell(row.figure)} | ${cell(row.result)} | ${cell(row.goal)} | ${
        row.met ? 'met' : '**MISSED**'
      } |`
    ),
    '',
    ...about.map(([key, value]) => `- ${key}: ${value}`),
    '',
  ]
  return lines.join('\n')
}
