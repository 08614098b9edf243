// `npm run bench`: the project's figures and its targets.
//
//  1. Rows (hosts/sim/bench/*.bench.ts, see bench/runner.ts): each operation timed on Node and
//     inside the XS engine, with the XS instruction count and heap need of one run. Each row is
//     defined once and the same code runs on both engines.
//  2. Commissioning (bench/commissioning.ts): wall time of a full commissioning of the XS simulator
//     and of a matter.js light by one matter.js controller, in a network namespace of its own; the
//     XS device's heap need for a commissioning and for a CASE session establishment.
//  3. Footprint (bench/footprint.ts): minified bundle sizes; the ESP32 memory budget.
//  4. A summary: every target with the measured value and PASS or FAIL.
//
// Heap need = the smallest heap above the idle figure with which the operation still succeeds
// (bench/heap.ts); README "Benchmarks" explains the method.
//
//   npm run bench [-- --budget <scale>] [-- --only <text>] [-- --sections <list>] [-- --runs <n>] [-- --probes <n>]
//     --budget 0.2        shorter timing runs (each row's time budget times 0.2)
//     --only ccm          only the rows whose name contains "ccm"
//     --sections rows,commissioning,footprint   which parts to run (default: all three)
//     --runs 3            timed commissionings of each device (default 1)
//     --probes 5          most runs of each heap search (default 5; 0: no searches)
import { readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { bundleForXs } from "./engine/bundle";
import { XsWorker, type HeapStats } from "./engine/xsnap";
import { runBenchmark, runBenchmarkAsync, type BenchOperation, type BenchResult } from "./bench/runner";
import { MEASURING_CREATION, UNBOUNDED_GROWTH, ESP32_SLOT_SIZE, esp32ChunkBytes, heapNeed, kb, searchGrowthLimit, slotBallastScript, type HeapNeed, type SearchResult } from "./bench/heap";
import { benchCommissioning, type CommissioningBenchResult, type HeapSearch } from "./bench/commissioning";
import { bundleSizes, esp32Budget, loadedFirmwareHeap, runtimeLoadedHeap, type BundleSizes, type Esp32Budget } from "./bench/footprint";

const here = dirname(fileURLToPath(import.meta.url));
const benchFolder = join(here, "bench");

const TARGETS = {
  commissioningGrowthBytes: 96 * 1024,
  commissioningGrowthEsp32Bytes: 64 * 1024,
  handshakeOverP256: 1.5,
  firmwareMinifiedBytes: 250 * 1024,
};
/** Heap searches bracket the need to this many bytes (the measuring engine's growth steps are 4 KB). */
const SEARCH_RESOLUTION = 4096;

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

interface RowHeapRun {
  ok: boolean;
  need?: HeapNeed;
  compute?: number;
}

/**
 * Heap runs of one row in a measuring engine: the bench bundle loaded, the row prepared and run
 * once untimed (first-use costs, curve tables, recorded handshakes), then for each run the slot
 * ballast and a growth limit, then the run measured. A run that exhausts its limit aborts the
 * engine; the next run gets a fresh one, so every run starts from the same idle state.
 */
class RowHeapRuns {
  #worker: XsWorker | undefined;

  constructor(
    private readonly source: string,
    private readonly parserBufferKB: number,
    private readonly index: number,
  ) {}

  async run(limit: number): Promise<RowHeapRun> {
    if (!this.#worker) {
      this.#worker = new XsWorker({ parserBufferKB: this.parserBufferKB, creation: MEASURING_CREATION, stderr: () => {} });
      await this.#worker.evaluate(this.source);
      await this.#worker.evaluate(`benchPrepare(${this.index})`);
    }
    const worker = this.#worker;
    await worker.evaluate(slotBallastScript());
    const start = await worker.limitHeapGrowth(limit);
    let compute: number;
    try {
      compute = (await worker.evaluate("benchOnce()")).meter.compute;
    } catch (error) {
      if (!/XS aborted: not enough memory/.test((error as Error).message)) throw error;
      await this.close();
      return { ok: false };
    }
    const end = await worker.heapStats();
    const collected = await worker.resetHeapPeaks();
    return { ok: true, need: heapNeed(start, end, collected), compute };
  }

  async close(): Promise<void> {
    await this.#worker?.close();
    this.#worker = undefined;
  }
}

function formatMs(result: BenchResult | undefined, bytesPerRun: number | undefined): string {
  if (!result) return "-";
  const ms = result.msPerRun < 1 ? result.msPerRun.toFixed(3) : result.msPerRun < 100 ? result.msPerRun.toFixed(2) : result.msPerRun.toFixed(0);
  const throughput = bytesPerRun ? `, ${((bytesPerRun / 1024 / result.msPerRun) * 1000).toFixed(0)} KB/s` : "";
  return `${ms} ms (${result.runs} runs${throughput})`;
}

function formatCompute(compute: number | undefined): string {
  if (compute === undefined) return "-";
  return compute >= 1e6 ? `${(compute / 1e6).toFixed(2)} M` : `${(compute / 1e3).toFixed(1)} k`;
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  console.log(line(rows[0]!));
  console.log(`| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`);
  for (const row of rows.slice(1)) console.log(line(row));
}

/** "85.1 KB (1157 slots + 47.0 KB chunks)". */
function describeNeed(need: HeapNeed): string {
  return `${kb(need.needBytes)} (${need.needSlots} slots + ${kb(need.needChunkBytes)} chunks)`;
}

/** The need a search settled on: the smallest successful limit plus the free slots that run had. */
function searchedNeed(search: SearchResult<HeapNeed>): number {
  return search.limit + (search.detail?.freeAtStartBytes ?? 0);
}

function describeSearch(search: SearchResult<HeapNeed>): string {
  const failed = search.failedAt === undefined ? "no limit tried failed" : `${kb(search.failedAt)} of growth aborts`;
  return `${failed}${search.converged ? "" : `; not converged to ${kb(SEARCH_RESOLUTION, 0)} in ${search.probes.length} runs`}`;
}

/**
 * The searched need split into slots and chunk bytes: the slots of the run at the limit, and the
 * rest of the limit as chunks (at least what that run's chunks took).
 */
function searchedSplit(search: HeapSearch): { slots: number; chunkBytes: number } {
  const detail = search.search.detail ?? search.unbounded;
  return { slots: detail.needSlots, chunkBytes: searchedNeed(search.search) - detail.needSlots * detail.slotSize };
}

/** ESP32 bytes for a 64-bit need: slots at 16 bytes, chunks within [half, same]. */
function esp32Range(need: { slots: number; chunkBytes: number }): { atLeast: number; atMost: number } {
  const chunks = esp32ChunkBytes(need.chunkBytes);
  return { atLeast: need.slots * ESP32_SLOT_SIZE + chunks.atLeast, atMost: need.slots * ESP32_SLOT_SIZE + chunks.atMost };
}

interface RowOutcome {
  operation: BenchOperation;
  index: number;
  xs: BenchResult;
  node: BenchResult;
  heap: RowHeapRun;
  search?: SearchResult<HeapNeed>;
}

type Verdict = "PASS" | "FAIL" | "INFO";

const startedAt = performance.now();

async function runRows(options: { budgetScale: number; only: string | undefined; maxProbes: number }): Promise<{ outcomes: RowOutcome[]; source: string }> {
  const modules = benchModules();
  const operations = await loadOperations(modules);
  const selected = operations.map((operation, index) => ({ operation, index })).filter(({ operation }) => !options.only || operation.name.toLowerCase().includes(options.only));
  const source = await xsBundle(modules);
  const parserBufferKB = Math.max(8192, Math.ceil(source.length / 1024) * 2);
  const worker = new XsWorker({ parserBufferKB });
  const outcomes: RowOutcome[] = [];
  const table = [["operation", "Node", "XS", "XS / Node", "XS instructions", "XS heap need (one run)"]];
  try {
    await worker.evaluate(source);
    const xsNames = JSON.parse(new TextDecoder().decode((await worker.evaluate("benchNames()")).result)) as string[];
    if (xsNames.length !== operations.length) throw new Error("the XS bundle and Node disagree on the benchmark table");
    for (const { operation, index } of selected) {
      const node = operation.async ? await runBenchmarkAsync(operation, options.budgetScale) : runBenchmark(operation, options.budgetScale);
      const xs = JSON.parse(new TextDecoder().decode((await worker.evaluate(`${operation.async ? "benchRunAsync" : "benchRun"}(${index}, ${options.budgetScale})`)).result)) as BenchResult;
      const heapRuns = new RowHeapRuns(source, parserBufferKB, index);
      let outcome: RowOutcome;
      try {
        const heap = await heapRuns.run(UNBOUNDED_GROWTH);
        if (!heap.ok || !heap.need) throw new Error(`${operation.name}: the measuring run failed without a limit`);
        outcome = { operation, index, xs, node, heap };
        // The OTA rows carry a target (memory independent of image size): search for their need.
        if (operation.name.startsWith("OTA download") && options.maxProbes > 0) {
          outcome.search = await searchGrowthLimit(
            heap.need.grownBytes,
            async (limit) => {
              const run = await heapRuns.run(limit);
              return { ok: run.ok, ...(run.need ? { detail: run.need } : {}) };
            },
            { resolution: SEARCH_RESOLUTION, maxProbes: options.maxProbes, knownDetail: heap.need },
          );
        }
      } finally {
        await heapRuns.close();
      }
      const heap = outcome.heap;
      outcomes.push(outcome);
      table.push([operation.name, formatMs(node, operation.bytesPerRun), formatMs(xs, operation.bytesPerRun), `${(xs.msPerRun / node.msPerRun).toFixed(1)}x`, formatCompute(heap.compute), kb(heap.need!.needBytes)]);
      console.error(`measured: ${operation.name} (${((performance.now() - startedAt) / 1000).toFixed(0)} s)`);
    }
  } finally {
    await worker.close();
  }
  console.log(`\nNode ${process.version} vs XS (matter-xs engine), ms per operation; heap need above idle, 64-bit:\n`);
  printTable(table);
  const searched = outcomes.filter((outcome) => outcome.search);
  if (searched.length) {
    console.log("\nHeap need searched over the growth limit (resolution 4 KB):");
    for (const { operation, search, heap } of searched) {
      console.log(`  ${operation.name}: ${kb(searchedNeed(search!))} — grew ${kb(heap.need!.grownBytes)} unbounded + ${kb(heap.need!.freeAtStartBytes)} free slots; ${describeSearch(search!)}; kept ${kb(heap.need!.keptBytes)} after a collection`);
    }
  }
  return { outcomes, source };
}

const PAIRED_RUNS = 21;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * A handshake's device side against its P-256 operations alone, on XS: alternating single runs
 * in a fresh engine (runPaired), medians compared; the instruction counts of the rows' measuring
 * runs alongside, which no load or collection disturbs.
 */
async function handshakeRatio(source: string, outcomes: RowOutcome[], whole: string, p256: string): Promise<{ ratio: number; text: string } | undefined> {
  const handshake = outcomes.find((outcome) => outcome.operation.name.startsWith(whole));
  const operations = outcomes.find((outcome) => outcome.operation.name.startsWith(p256));
  if (!handshake || !operations) return undefined;
  const worker = new XsWorker({ parserBufferKB: Math.max(8192, Math.ceil(source.length / 1024) * 2) });
  let times: { a: number[]; b: number[] };
  try {
    await worker.evaluate(source);
    times = JSON.parse(new TextDecoder().decode((await worker.evaluate(`benchPaired(${handshake.index}, ${operations.index}, ${PAIRED_RUNS})`)).result)) as { a: number[]; b: number[] };
  } finally {
    await worker.close();
  }
  const [a, b] = [median(times.a), median(times.b)];
  const ratio = a / b;
  const instructions = handshake.heap.compute && operations.heap.compute ? handshake.heap.compute / operations.heap.compute : undefined;
  const text = `${a.toFixed(1)} ms vs ${b.toFixed(1)} ms = ${ratio.toFixed(2)}x (medians of ${PAIRED_RUNS} alternating runs${instructions ? `; instructions ${instructions.toFixed(2)}x` : ""})`;
  return { ratio, text };
}

async function main(): Promise<void> {
  const budgetScale = Number(option("budget") ?? "1");
  const only = option("only")?.toLowerCase();
  const sections = new Set((option("sections") ?? "rows,commissioning,footprint").split(",").map((name) => name.trim()));
  const runs = Number(option("runs") ?? "1");
  const maxProbes = Number(option("probes") ?? "5");
  for (const name of sections) if (!["rows", "commissioning", "footprint"].includes(name)) throw new Error(`unknown section ${name} (rows, commissioning, footprint)`);
  const summary: [string, string, Verdict][] = [];

  let outcomes: RowOutcome[] = [];
  let rowsSource: string | undefined;
  if (sections.has("rows")) ({ outcomes, source: rowsSource } = await runRows({ budgetScale, only, maxProbes }));

  let commissioning: CommissioningBenchResult | undefined;
  if (sections.has("commissioning")) {
    console.error("commissioning: controller, matter.js light and XS simulator in a private network namespace");
    try {
      commissioning = await benchCommissioning({ runs, resolution: SEARCH_RESOLUTION, maxProbes, progress: (line) => console.error(`commissioning: ${line} (${((performance.now() - startedAt) / 1000).toFixed(0)} s)`) });
    } catch (error) {
      // The other parts still report; the targets that needed this one fail, saying why.
      const reason = (error as Error).message;
      console.log(`\nCommissioning could not be measured: ${reason}`);
      summary.push(["XS heap growth during commissioning above the idle device ≤ 96 KB (64-bit xsnap; ≤ 64 KB on ESP32)", `not measured: ${reason.split("\n")[0]}`, "FAIL"]);
    }
  }
  if (commissioning) {
    const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
    console.log("\nFull commissioning (PASE, attestation, CSR, AddNOC, CASE, CommissioningComplete) by one matter.js controller, by address:");
    console.log(`  matter.js light: ${commissioning.matterJsMs.map((ms) => `${ms.toFixed(0)} ms`).join(", ")}`);
    console.log(`  XS simulator:    ${commissioning.xsMs.map((ms) => `${ms.toFixed(0)} ms`).join(", ")}`);
    summary.push(["full commissioning wall time, XS simulator vs matter.js light (same controller)", `${mean(commissioning.xsMs).toFixed(0)} ms vs ${mean(commissioning.matterJsMs).toFixed(0)} ms (${runs} run${runs > 1 ? "s" : ""} each)`, "INFO"]);
    for (const [what, search] of [["commissioning", commissioning.commissioningHeap], ["CASE session establishment after commissioning", commissioning.caseHeap]] as [string, HeapSearch | undefined][]) {
      if (!search) continue;
      const need = search.search.detail ?? search.unbounded;
      console.log(`  XS heap need, ${what}: ${kb(searchedNeed(search.search))} — ${describeNeed(need)} in the run at the limit; grew ${kb(search.unbounded.grownBytes)} unbounded; ${describeSearch(search.search)}; kept ${kb(need.keptBytes)} after a collection; idle ${kb(search.idle.bytes)} (${search.idle.slots} slots + ${kb(search.idle.chunks)} chunks)`);
    }
    const heap = commissioning.commissioningHeap;
    if (heap) {
      const need = searchedNeed(heap.search);
      const split = searchedSplit(heap);
      const esp32 = esp32Range(split);
      summary.push([
        "XS heap growth during commissioning above the idle device ≤ 96 KB (64-bit xsnap; ≤ 64 KB on ESP32)",
        `${kb(need)}: ${split.slots} slots + ${kb(split.chunkBytes)} chunks; ${describeSearch(heap.search)}; on ESP32 ${kb(esp32.atLeast)}–${kb(esp32.atMost)}`,
        need <= TARGETS.commissioningGrowthBytes && heap.search.converged ? "PASS" : "FAIL",
      ]);
    }
    if (commissioning.caseHeap) {
      summary.push(["XS heap need of a CASE session establishment after commissioning", `${kb(searchedNeed(commissioning.caseHeap.search))}; ${describeSearch(commissioning.caseHeap.search)}`, "INFO"]);
    }
  }

  for (const [label, whole, p256] of [
    ["PASE", "PASE, device side", "PASE, the device's P-256 operations alone"],
    ["CASE", "CASE, device side as responder", "CASE, the responder's P-256 operations alone"],
  ] as const) {
    const ratio = await handshakeRatio(rowsSource!, outcomes, whole, p256);
    if (ratio) summary.push([`device side of ${label} on XS within 1.5× the time of its own P-256 operations`, ratio.text, ratio.ratio <= TARGETS.handshakeOverP256 ? "PASS" : "FAIL"]);
  }

  const ota = outcomes.filter((outcome) => outcome.search);
  if (ota.length >= 2) {
    const needs = ota.map((outcome) => searchedNeed(outcome.search!));
    const spread = Math.max(...needs) - Math.min(...needs);
    const converged = ota.every((outcome) => outcome.search!.converged);
    summary.push([
      "OTA memory independent of image size (heap need of a download)",
      `${ota.map((outcome, i) => `${outcome.operation.name.split(" (")[0]!.replace("OTA download ", "")}: ${kb(needs[i]!)}`).join(", ")} (differ by ${kb(spread)}; resolution ${kb(SEARCH_RESOLUTION, 0)})`,
      converged && spread <= SEARCH_RESOLUTION ? "PASS" : "FAIL",
    ]);
  }

  if (sections.has("footprint")) {
    const sizes: BundleSizes = await bundleSizes();
    console.log("\nFirmware bundle, esbuild-minified (gzip -9 for information):");
    console.log(`  simulator firmware (src/ + XS bridge): ${kb(sizes.firmware)} (gzip ${kb(sizes.firmwareGzip)})`);
    console.log(`  src/ only, from src/device's start (what an ESP32 image runs): ${kb(sizes.sourceOnly)} (gzip ${kb(sizes.sourceOnlyGzip)})`);
    console.log(`    by origin: ${sizes.sourceOnlyParts.map(([origin, bytes]) => `${origin} ${kb(bytes)}`).join(", ")}`);
    summary.push([
      "firmware bundle ≤ 250 KB minified",
      `${kb(sizes.firmware)} (src/ only ${kb(sizes.sourceOnly)}; gzip ${kb(sizes.firmwareGzip)} / ${kb(sizes.sourceOnlyGzip)})`,
      sizes.firmware <= TARGETS.firmwareMinifiedBytes ? "PASS" : "FAIL",
    ]);

    const heap = commissioning?.commissioningHeap;
    if (heap) {
      const loaded: HeapStats = await loadedFirmwareHeap();
      const runtimeLoaded = await runtimeLoadedHeap();
      const boot = { slots: heap.idle.slots - loaded.slots, chunkBytes: heap.idle.chunks - loaded.chunks };
      const lateModules = { slots: runtimeLoaded.slots, chunkBytes: runtimeLoaded.chunks };
      const growth = searchedSplit(heap);
      const budget: Esp32Budget = esp32Budget([boot, lateModules, growth]);
      console.log(`\nESP32 memory budget (manifest.json creation: ${kb(budget.creation.chunkBytes)} chunks and ${budget.creation.slots} slots of 16 bytes, ${budget.creation.fixed ? "fixed" : "growable"}):`);
      console.log(`  the firmware loaded (on the device in flash, except the run-time modules below): ${loaded.slots} slots + ${kb(loaded.chunks)} chunks on 64-bit xsnap, bytecode included`);
      console.log(`  what the device creates when it starts: ${boot.slots} slots + ${kb(boot.chunkBytes)} chunks on 64-bit (idle ${heap.idle.slots} slots + ${kb(heap.idle.chunks)} minus loaded ${loaded.slots} slots + ${kb(loaded.chunks)})`);
      console.log(`  loaded at run time: the curve with its base-point table, noble's sha2 and hkdf: ${lateModules.slots} slots + ${kb(lateModules.chunkBytes)} chunks (bytecode included; sha3 loads only for a SHA-3 OTA image)`);
      console.log(`  commissioning on top: ${growth.slots} slots + ${kb(growth.chunkBytes)} chunks`);
      console.log(`  all of it on ESP32: ${budget.verdict}`);
      console.log("  (chunks convert within [half, same], see bench/heap.ts; not counted: XS's 4-byte RAM alias of each preloaded object left unfrozen)");
      summary.push(["ESP32 heap (manifest creation sizes) holds the started device, the run-time modules and a commissioning", budget.verdict, budget.fits === "yes" ? "PASS" : "FAIL"]);
    } else {
      console.log("\nESP32 memory budget: needs the commissioning figures (--sections commissioning,footprint)");
    }
  }

  console.log(`\nSummary (${((performance.now() - startedAt) / 1000).toFixed(0)} s):\n`);
  // Targets first, figures for information after them.
  const ordered = [...summary.filter((row) => row[2] !== "INFO"), ...summary.filter((row) => row[2] === "INFO")];
  printTable([["target", "measured", "result"], ...ordered.map(([target, measured, verdict]) => [target, measured, verdict])]);
}

await main();
