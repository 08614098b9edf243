// `npm run bench`: times every operation of hosts/sim/bench/*.bench.ts on Node and inside the XS
// engine in one run and prints them side by side. To add rows, add a *.bench.ts file whose
// default export is a BenchOperation[] (see bench/runner.ts); each row is defined once and the
// same code is timed on both engines.
//
//   npm run bench [-- --budget <scale>] [-- --only <text>]
//     --budget 0.2   shorter runs (each row's time budget times 0.2)
//     --only ccm     rows whose name contains "ccm"
import { readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { bundleForXs } from "./engine/bundle";
import { XsWorker } from "./engine/xsnap";
import { runBenchmark, runBenchmarkAsync, type BenchOperation, type BenchResult } from "./bench/runner";

const here = dirname(fileURLToPath(import.meta.url));
const benchFolder = join(here, "bench");

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

function benchModules(): string[] {
  return readdirSync(benchFolder)
    .filter((file) => file.endsWith(".bench.ts"))
    .sort()
    .map((file) => join(benchFolder, file));
}

async function loadOperations(modules: string[]): Promise<BenchOperation[]> {
  const tables = await Promise.all(modules.map(async (module) => ((await import(pathToFileURL(module).href)) as { default: BenchOperation[] }).default));
  return tables.flat();
}

/** The same modules, bundled for XS, in the same order as on Node. */
async function xsBundle(modules: string[]): Promise<string> {
  const imports = modules.map((module, i) => `import table${i} from ${JSON.stringify("./" + relative(benchFolder, module))};`);
  const tables = modules.map((_, i) => `...table${i}`).join(", ");
  return bundleForXs({
    resolveDir: benchFolder,
    contents: `import { installXsBenchmarks } from "./runner";\n${imports.join("\n")}\ninstallXsBenchmarks([${tables}]);\n`,
  });
}

/** Small initial heap and growth steps, so the collector runs as it would on an ESP32. */
const DEVICE_LIKE_HEAP = { initialChunkSize: 256 * 1024, incrementalChunkSize: 16 * 1024, initialHeapCount: 8192, incrementalHeapCount: 1024 };

interface HeapFigures {
  bytes: number;
  peakBytes: number;
}

/**
 * One more run of row `index` in `worker` (prepared and warmed up first): the XS instruction
 * meter for it, which unlike time does not depend on what else the machine is doing, and the
 * heap peak during it with how far above the live heap before the run it went ("n/a" where the
 * engine driver cannot report the heap). `worker` is sized like a device: it grows its heap in
 * small steps and so collects often, and the peak is close to what the run needs live.
 */
async function singleRun(worker: XsWorker, index: number): Promise<{ compute: string; heap: string }> {
  const heap = worker as { heapStats?: () => Promise<HeapFigures>; resetHeapPeaks?: (options: { gc: boolean }) => Promise<HeapFigures> };
  await worker.evaluate(`benchPrepare(${index})`);
  const before = await heap.resetHeapPeaks?.({ gc: true });
  const { meter } = await worker.evaluate("benchOnce()");
  const after = await heap.heapStats?.();
  const compute = meter.compute >= 1e6 ? `${(meter.compute / 1e6).toFixed(2)} M` : `${(meter.compute / 1e3).toFixed(1)} k`;
  if (!before || !after) return { compute, heap: "n/a" };
  return { compute, heap: `${(after.peakBytes / 1024).toFixed(0)} KB (+${((after.peakBytes - before.bytes) / 1024).toFixed(0)} KB)` };
}

function formatMs(result: BenchResult | undefined, bytesPerRun: number | undefined): string {
  if (!result) return "-";
  const ms = result.msPerRun < 1 ? result.msPerRun.toFixed(3) : result.msPerRun < 100 ? result.msPerRun.toFixed(2) : result.msPerRun.toFixed(0);
  const throughput = bytesPerRun ? `, ${((bytesPerRun / 1024 / result.msPerRun) * 1000).toFixed(0)} KB/s` : "";
  return `${ms} ms (${result.runs} runs${throughput})`;
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  console.log(line(rows[0]!));
  console.log(`| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`);
  for (const row of rows.slice(1)) console.log(line(row));
}

async function main(): Promise<void> {
  const budgetScale = Number(option("budget") ?? "1");
  const only = option("only")?.toLowerCase();
  const modules = benchModules();
  const operations = await loadOperations(modules);
  const selected = operations.map((operation, index) => ({ operation, index })).filter(({ operation }) => !only || operation.name.toLowerCase().includes(only));

  const source = await xsBundle(modules);
  const parserBufferKB = Math.max(8192, Math.ceil(source.length / 1024) * 2);
  const worker = new XsWorker({ parserBufferKB });
  const deviceSizedWorker = new XsWorker({ parserBufferKB, creation: DEVICE_LIKE_HEAP });
  const rows = [["operation", "Node", "XS", "XS / Node", "XS instructions", "XS peak heap (one run)"]];
  try {
    await worker.evaluate(source);
    await deviceSizedWorker.evaluate(source);
    const xsNames = JSON.parse(new TextDecoder().decode((await worker.evaluate("benchNames()")).result)) as string[];
    if (xsNames.length !== operations.length) throw new Error("the XS bundle and Node disagree on the benchmark table");
    for (const { operation, index } of selected) {
      const node = operation.async ? await runBenchmarkAsync(operation, budgetScale) : runBenchmark(operation, budgetScale);
      const xs = JSON.parse(new TextDecoder().decode((await worker.evaluate(`${operation.async ? "benchRunAsync" : "benchRun"}(${index}, ${budgetScale})`)).result)) as BenchResult;
      const single = await singleRun(deviceSizedWorker, index);
      rows.push([operation.name, formatMs(node, operation.bytesPerRun), formatMs(xs, operation.bytesPerRun), `${(xs.msPerRun / node.msPerRun).toFixed(1)}x`, single.compute, single.heap]);
      console.error(`measured: ${operation.name}`);
    }
  } finally {
    await worker.close();
    await deviceSizedWorker.close();
  }
  console.log(`\nNode ${process.version} vs XS (matter-xs engine), ms per operation:\n`);
  printTable(rows);
}

await main();
