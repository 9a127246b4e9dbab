// One line per measured figure, so `npm run bench` can gather every script's figures into one
// table with their goals and fail when any goal is missed. A script calls `reportFigure` for each
// figure it checks against a goal (and may print whatever detail it likes around it); the runner
// (bench/run.ts) reads the `BENCH_FIGURE ` lines from the script's output.

export interface BenchFigure {
  /** The script (e.g. "send-drain", "history"). */
  bench: string
  /** What was measured, short (e.g. "rate vs windows", "sidebar first page p95 100 % / 1 %"). */
  figure: string
  /** The measured value as a person reads it (e.g. "1.42×", "98.7 %", "0 duplicates"). */
  result: string
  /** The goal as a person reads it (e.g. "≤ 2×", "≥ 95 %", "0"). */
  goal: string
  met: boolean
}

export const FIGURE_PREFIX = 'BENCH_FIGURE '

/** Prints the figure for the runner and marks the process as failed when its goal is missed. */
export function reportFigure(figure: BenchFigure): void {
  console.log(`${FIGURE_PREFIX}${JSON.stringify(figure)}`)
  if (!figure.met) process.exitCode = 1
}

/** Reads the figures back out of a script's output. */
export function parseFigures(output: string): BenchFigure[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith(FIGURE_PREFIX))
    .map((line) => JSON.parse(line.slice(FIGURE_PREFIX.length)) as BenchFigure)
}
