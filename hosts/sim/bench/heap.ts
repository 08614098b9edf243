// What an operation needs from the XS heap, measured so that garbage does not count.
//
// XS frees memory only when it collects, and collects only when its heap is full, so the peak
// heap of a run on a roomy heap is mostly garbage. What a device needs is the smallest heap above
// its idle figure with which the operation still succeeds. To measure that:
//
//  1. The engine starts with creation sizes that hold the firmware's loading without growing, and
//     grows afterwards in small steps (64 slots, 1 KB of chunks): XS grows only when a collection
//     cannot make room, so the growth follows the live heap.
//  2. At idle (firmware loaded, device started, curve tables built) the free slots are filled with
//     a ballast of two-slot objects, and the engine's `G` command collects, gives up the free chunk
//     space and caps further growth at `limit` bytes. From then on the operation has the live idle
//     heap, a few free slots (counted), and whatever it can grow within the limit.
//  3. A run with a limit too high to matter shows how much XS grew: for a deterministic operation
//     that is exactly the smallest limit that works (with a lower one XS aborts at the last
//     growth). A search over the limit then confirms it, and also copes with operations whose
//     allocations vary from run to run (commissioning over a real network).
//
// The figures are 64-bit xsnap's (32-byte slots). esp32Heap() converts them to ESP32's sizes.
import type { HeapStats, XsCreation } from "../engine/xsnap";

/** Creation sizes for heap measurements: room to load the firmware, then growth in small steps. */
export const MEASURING_CREATION: XsCreation = {
  initialChunkSize: 4 * 1024 * 1024,
  incrementalChunkSize: 4096,
  initialHeapCount: 40 * 1024,
  incrementalHeapCount: 128,
};

/** A limit that never binds: the run shows what it grew. */
export const UNBOUNDED_GROWTH = 256 * 1024 * 1024;

/**
 * Script that fills the free slots left by a collection with a chain of two-slot objects, all
 * but `keep` (XS grows the slot heap when fewer than 64 stay free after two collections in a
 * row, so a handful free is as close to full as it gets). Chunks need no ballast: the `G`
 * command gives their free space up. Calling it again extends the chain.
 */
export function slotBallastScript(keep = 16): string {
  return `(() => {
  gc();
  const stats = heapStats();
  let chain = globalThis.benchSlotBallast ?? null;
  const nodes = Math.floor((stats.reservedSlots - stats.slots - ${keep}) / 2);
  for (let i = 0; i < nodes; i++) chain = { next: chain };
  globalThis.benchSlotBallast = chain;
})();`;
}

/** The heap at the start of a measurement, as limitHeapGrowth returned it. */
export type MeasurementStart = HeapStats;

export interface HeapNeed {
  /** Bytes XS took from the system during the run (new slots and chunks). */
  grownBytes: number;
  /** Free slot bytes the run had besides: the ballast leaves a few. */
  freeAtStartBytes: number;
  /** grownBytes + freeAtStartBytes: what the run had above the live idle heap. */
  needBytes: number;
  /** needBytes split into slots and chunks (slot count and chunk bytes). */
  needSlots: number;
  needChunkBytes: number;
  /** Live heap growth after a full collection at the end (what the operation keeps). */
  keptBytes: number;
  keptSlots: number;
  keptChunkBytes: number;
  slotSize: number;
}

/**
 * The need of a run from the figures at its start (limitHeapGrowth), at its end before any
 * collection (heapStats) and after a full collection (resetHeapPeaks).
 */
export function heapNeed(start: MeasurementStart, end: HeapStats, collected: HeapStats): HeapNeed {
  const slotSize = start.slotSize;
  const freeSlots = start.reservedSlots - start.slots;
  const grownBytes = end.allocated - start.allocated;
  const grownSlots = end.reservedSlots - start.reservedSlots;
  // Slot growth is metered at slotSize a slot; everything else XS took went to chunks.
  const needSlots = grownSlots + freeSlots;
  const keptSlots = collected.slots - start.slots;
  const keptChunkBytes = collected.chunks - start.chunks;
  return {
    grownBytes,
    freeAtStartBytes: freeSlots * slotSize,
    needBytes: grownBytes + freeSlots * slotSize,
    needSlots,
    needChunkBytes: grownBytes - grownSlots * slotSize,
    keptBytes: keptSlots * slotSize + keptChunkBytes,
    keptSlots,
    keptChunkBytes,
    slotSize,
  };
}

export interface ProbeOutcome<T> {
  ok: boolean;
  /** What the probe measured (for a run that succeeded: its HeapNeed and anything else). */
  detail?: T;
}

export interface SearchResult<T> {
  /** The smallest growth limit that succeeded, and what that run measured. */
  limit: number;
  detail: T | undefined;
  /** The largest limit that failed (undefined when none was tried or none failed). */
  failedAt: number | undefined;
  probes: { limit: number; ok: boolean }[];
  /** True when the bracket is down to `resolution`; false when maxProbes ran out first. */
  converged: boolean;
}

/**
 * Finds the smallest growth limit with which `probe` succeeds, to within `resolution` bytes.
 * `known` is a limit that succeeded (with `knownDetail`: the growth of an unbounded run, which a
 * limit of that size would not have stopped); without `knownDetail` it is tried first, and
 * raised until it works. The search steps down from it over multiples of `resolution`, doubling
 * the step while runs succeed, then bisects between the last failure and the last success. It
 * stops after `maxProbes` runs.
 */
export async function searchGrowthLimit<T>(
  known: number,
  probe: (limit: number) => Promise<ProbeOutcome<T>>,
  options: { resolution: number; maxProbes: number; knownDetail?: T },
): Promise<SearchResult<T>> {
  const { resolution, maxProbes } = options;
  const probes: { limit: number; ok: boolean }[] = [];
  let success = known;
  let detail = options.knownDetail;
  let failure: number | undefined;
  const run = async (limit: number) => {
    const outcome = await probe(limit);
    probes.push({ limit, ok: outcome.ok });
    if (outcome.ok) {
      success = limit;
      detail = outcome.detail;
    } else {
      failure = limit;
    }
    return outcome.ok;
  };
  if (options.knownDetail === undefined) {
    let confirmed = false;
    for (let step = resolution; !confirmed && probes.length < maxProbes; step *= 2) {
      confirmed = await run(success);
      if (!confirmed) success += step;
    }
    if (!confirmed) return { limit: success, detail, failedAt: failure, probes, converged: false };
  }
  // Down in doubling steps (the first to the multiple of `resolution` below) until a run fails.
  for (let step = resolution; failure === undefined && probes.length < maxProbes; step *= 2) {
    const limit = Math.floor((success - 1) / resolution) * resolution - (step - resolution);
    if (limit < 0) break;
    await run(limit);
  }
  // Bisect.
  while (failure !== undefined && success - failure > resolution && probes.length < maxProbes) {
    const limit = Math.round((failure + success) / 2 / resolution) * resolution;
    if (limit >= success || limit <= failure) break;
    await run(limit);
  }
  const converged = failure !== undefined && success - failure <= resolution;
  return { limit: success, detail, failedAt: failure, probes, converged };
}

/** ESP32 (32-bit XS): 16-byte slots; chunk bytes bounded as esp32ChunkBytes explains. */
export const ESP32_SLOT_SIZE = 16;

/**
 * Chunk bytes on ESP32 for `bytes` measured on 64-bit xsnap: at most the same. Chunks hold byte
 * data whose size does not depend on the word size (strings, buffers, typed arrays, BigInt digits,
 * bytecode) and structures of slots or pointers that halve (array items, Map and Set tables),
 * and every chunk's header shrinks from 16 bytes to 8. Without a per-chunk census the honest
 * conversion is an interval: [bytes / 2, bytes]; budgets use the upper end.
 */
export function esp32ChunkBytes(bytes: number): { atMost: number; atLeast: number } {
  return { atMost: bytes, atLeast: Math.ceil(bytes / 2) };
}

export function kb(bytes: number, digits = 1): string {
  return `${(bytes / 1024).toFixed(digits)} KB`;
}
