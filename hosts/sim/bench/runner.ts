// The benchmark table's row type and the timing loop. Portable: the same code times each
// operation on Node and, bundled, inside the XS engine, so the two columns measure one thing.

/** One row of the benchmark table. */
export interface BenchOperation {
  name: string;
  /** Untimed setup; returns the work to time. `run` gets the iteration number (0, 1, ...). */
  prepare(): (run: number) => void | Promise<void>;
  /**
   * The work returns a promise and a run ends when it settles (protocol exchanges, whose steps
   * are promise jobs). Timed with runBenchmarkAsync; inside XS the engine drains the jobs.
   */
  async?: boolean;
  /** Bytes one run processes, to also print throughput. */
  bytesPerRun?: number;
  /** At least this many timed runs (default 3)... */
  minRuns?: number;
  /** ...and keep running until this much time has passed (default 1000 ms). */
  budgetMs?: number;
}

export interface BenchResult {
  name: string;
  runs: number;
  totalMs: number;
  msPerRun: number;
}

/** A millisecond clock: performance.now() where the engine has it, Date.now() otherwise. */
function clock(): () => number {
  const performance = (globalThis as { performance?: { now?: () => number } }).performance;
  return typeof performance?.now === "function" ? () => performance.now!() : () => Date.now();
}

/** Prepares, runs once untimed (first-use costs such as table building), then times runs. */
export function runBenchmark(operation: BenchOperation, budgetScale = 1): BenchResult {
  const now = clock();
  const work = operation.prepare();
  work(0);
  const minRuns = operation.minRuns ?? 3;
  const budget = (operation.budgetMs ?? 1000) * budgetScale;
  let runs = 0;
  const start = now();
  let elapsed = 0;
  while (runs < minRuns || elapsed < budget) {
    work(runs + 1);
    runs++;
    elapsed = now() - start;
  }
  return { name: operation.name, runs, totalMs: elapsed, msPerRun: elapsed / runs };
}

/** runBenchmark for rows whose work returns a promise: each run is awaited. */
export async function runBenchmarkAsync(operation: BenchOperation, budgetScale = 1): Promise<BenchResult> {
  const now = clock();
  const work = operation.prepare();
  await work(0);
  const minRuns = operation.minRuns ?? 3;
  const budget = (operation.budgetMs ?? 1000) * budgetScale;
  let runs = 0;
  const start = now();
  let elapsed = 0;
  while (runs < minRuns || elapsed < budget) {
    await work(runs + 1);
    runs++;
    elapsed = now() - start;
  }
  return { name: operation.name, runs, totalMs: elapsed, msPerRun: elapsed / runs };
}

/**
 * Two rows timed against each other: both prepared and run once untimed, then single runs
 * alternating a, b, a, b, ... `pairs` times. Returns each run's milliseconds; comparing medians
 * cancels drift in the machine's load and the odd garbage collection that a mean would charge
 * to whichever row happened to trigger it.
 */
export async function runPaired(a: BenchOperation, b: BenchOperation, pairs: number): Promise<{ a: number[]; b: number[] }> {
  const now = clock();
  const workA = a.prepare();
  await workA(0);
  const workB = b.prepare();
  await workB(0);
  const times = { a: [] as number[], b: [] as number[] };
  for (let run = 1; run <= pairs; run++) {
    let start = now();
    await workA(run);
    times.a.push(now() - start);
    start = now();
    await workB(run);
    times.b.push(now() - start);
  }
  return times;
}

/**
 * Inside XS: exposes the table to the host. benchNames() and benchRun(index, budgetScale) return
 * JSON in an ArrayBuffer (what the engine hands back from an evaluation); benchPrepare(index)
 * then benchOnce() run a row a single time, so the host can read the heap of one run;
 * benchPaired(a, b, pairs) returns runPaired's times.
 */
export function installXsBenchmarks(operations: BenchOperation[]): void {
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).buffer;
  const global = globalThis as Record<string, unknown>;
  let prepared: ((run: number) => void) | undefined;
  global.benchNames = () => encode(operations.map((operation) => operation.name));
  global.benchRun = (index: number, budgetScale: number) => encode(runBenchmark(operations[index]!, budgetScale));
  // The engine settles a promise an evaluation returns (running the job queue) before it replies.
  global.benchRunAsync = async (index: number, budgetScale: number) => encode(await runBenchmarkAsync(operations[index]!, budgetScale));
  global.benchPrepare = (index: number) => {
    prepared = operations[index]!.prepare();
    prepared(0);
  };
  global.benchOnce = () => prepared!(1);
  global.benchPaired = async (a: number, b: number, pairs: number) => encode(await runPaired(operations[a]!, operations[b]!, pairs));
}
