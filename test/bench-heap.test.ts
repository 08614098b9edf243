// The benchmark's heap methodology (hosts/sim/bench/heap.ts) and the engine's `G` command under
// it: free chunk space given up, growth capped at the byte, the ballast leaving few free slots,
// the need of a deterministic operation equal to the smallest limit that lets it finish, and the
// search over limits.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { XsWorker } from "../hosts/sim/engine/xsnap";
import { MEASURING_CREATION, UNBOUNDED_GROWTH, heapNeed, searchGrowthLimit, slotBallastScript } from "../hosts/sim/bench/heap";
import { esp32Budget } from "../hosts/sim/bench/footprint";

const TIMEOUT = { timeout: 60_000 };
const workers: XsWorker[] = [];
function startWorker(): XsWorker {
  const worker = new XsWorker({ stderr: () => {}, creation: MEASURING_CREATION });
  workers.push(worker);
  return worker;
}
after(() => {
  for (const worker of workers) worker.kill();
});

/** Churns garbage, then keeps 600 objects with a string and a buffer each alive. */
const OPERATION = `(() => {
  let churn = 0;
  for (let i = 0; i < 20000; i++) churn += [i, i + 1].length;
  const kept = [];
  for (let i = 0; i < 600; i++) kept.push({ a: i, b: "x".repeat(40) + i, c: new Uint8Array(24) });
  globalThis.benchResult = kept.length + churn;
})()`;

async function measure(limit: number): Promise<{ ok: boolean; worker: XsWorker; start?: Awaited<ReturnType<XsWorker["limitHeapGrowth"]>> }> {
  const worker = startWorker();
  await worker.evaluate(slotBallastScript());
  const start = await worker.limitHeapGrowth(limit);
  try {
    await worker.evaluate(OPERATION);
    return { ok: true, worker, start };
  } catch (error) {
    assert.match((error as Error).message, /XS aborted: not enough memory/);
    return { ok: false, worker };
  }
}

describe("the engine's growth limit (G)", () => {
  it("gives up the free chunk space and caps what XS may take", TIMEOUT, async () => {
    const worker = startWorker();
    const before = await worker.resetHeapPeaks();
    assert.ok(before.reservedChunks > before.chunks + 1024 * 1024, "a roomy heap to start with");
    const start = await worker.limitHeapGrowth(64 * 1024);
    assert.equal(start.reservedChunks, start.chunks, "no free chunk space left");
    assert.equal(start.allocated, before.allocated, "nothing released, nothing taken");
    // 40 KB of buffer fits in the 64 KB allowed, and is taken from the system.
    await worker.evaluate("globalThis.first = new Uint8Array(40 * 1024)");
    const grown = await worker.heapStats();
    assert.ok(grown.allocated - start.allocated >= 40 * 1024 && grown.allocated - start.allocated <= 64 * 1024);
    // Another 40 KB does not, even with the first one dropped: the space given up does not come back.
    await assert.rejects(worker.evaluate("globalThis.first = undefined; gc(); globalThis.second = new Uint8Array(40 * 1024); globalThis.third = new Uint8Array(40 * 1024)"), /XS aborted: not enough memory/);
    assert.equal((await worker.exited).code, 11);
  });

  it("refuses a count that is not a whole number of bytes", TIMEOUT, async () => {
    const worker = startWorker();
    await assert.rejects(worker.limitHeapGrowth(-1), RangeError);
    await assert.rejects(worker.limitHeapGrowth(1.5), RangeError);
  });
});

describe("heap need", () => {
  it("leaves only a few free slots behind the ballast", TIMEOUT, async () => {
    const worker = startWorker();
    await worker.evaluate(slotBallastScript());
    const start = await worker.limitHeapGrowth(0);
    const free = start.reservedSlots - start.slots;
    // XS grows the slot heap when fewer than its growth step stay free: that many is the floor.
    assert.ok(free >= 0 && free < 2 * MEASURING_CREATION.incrementalHeapCount!, `${free} free slots`);
  });

  it("of a deterministic operation is the smallest limit that lets it finish", TIMEOUT, async () => {
    const unbounded = await measure(UNBOUNDED_GROWTH);
    assert.ok(unbounded.ok);
    const end = await unbounded.worker.heapStats();
    const collected = await unbounded.worker.resetHeapPeaks();
    const need = heapNeed(unbounded.start!, end, collected);
    // 600 objects of a few slots, 600 strings and 600 buffers stay alive at the peak.
    assert.ok(need.grownBytes > 600 * 3 * 32 && need.grownBytes < 512 * 1024, `grew ${need.grownBytes}`);
    assert.equal(need.needBytes, need.grownBytes + need.freeAtStartBytes);
    assert.equal(need.needSlots * 32 + need.needChunkBytes, need.needBytes);
    assert.ok(need.keptBytes > 0 && need.keptBytes <= need.needBytes);
    // Exactly enough succeeds; one slot growth step less aborts.
    assert.equal((await measure(need.grownBytes)).ok, true);
    assert.equal((await measure(need.grownBytes - MEASURING_CREATION.incrementalHeapCount! * 32)).ok, false);
  });
});

describe("searchGrowthLimit", () => {
  const threshold = (need: number, noise: (limit: number) => number = () => 0) => async (limit: number) => ({ ok: limit + noise(limit) >= need, detail: limit });

  it("brackets a threshold from a known success to within the resolution", async () => {
    const probed: number[] = [];
    const result = await searchGrowthLimit(100_000, async (limit) => (probed.push(limit), threshold(61_000)(limit)), { resolution: 4096, maxProbes: 12, knownDetail: 100_000 });
    assert.ok(result.converged);
    assert.ok(result.limit >= 61_000 && result.limit - result.failedAt! <= 4096, JSON.stringify(result));
    assert.ok(result.failedAt! < 61_000);
    assert.equal(result.detail, result.limit);
    assert.deepEqual(result.probes.map((probe) => probe.limit), probed);
  });

  it("stops at the first failure below a success that is already tight", async () => {
    const result = await searchGrowthLimit(86_000, threshold(85_000), { resolution: 4096, maxProbes: 8, knownDetail: 86_000 });
    assert.deepEqual(result.probes, [{ limit: 81_920, ok: false }]);
    assert.equal(result.limit, 86_000);
    assert.ok(result.converged);
  });

  it("climbs when the known figure fails here, and reports when probes run out", async () => {
    const result = await searchGrowthLimit(50_000, threshold(70_000), { resolution: 4096, maxProbes: 8 });
    assert.ok(result.limit >= 70_000 && result.failedAt! < 70_000 && result.converged, JSON.stringify(result));
    const short = await searchGrowthLimit(200_000, threshold(10_000), { resolution: 1024, maxProbes: 2, knownDetail: 200_000 });
    assert.equal(short.converged, false);
    assert.equal(short.probes.length, 2);
  });
});

describe("esp32Budget", () => {
  const creation = { chunkBytes: 65536, slots: 4096, stackSlots: 512, fixed: true };

  it("counts slots exactly and chunks at their worse end", () => {
    const budget = esp32Budget([{ slots: 1000, chunkBytes: 20_000 }, { slots: 1000, chunkBytes: 20_000 }], creation);
    assert.equal(budget.fits, "yes");
    assert.equal(budget.slots, 2000);
    assert.deepEqual(budget.chunkBytes, { atLeast: 20_000, atMost: 40_000 });
    // 2096 slots of 16 bytes and 25536 chunk bytes to spare.
    assert.match(budget.verdict, /^fits with 57\.7 KB headroom/);
  });

  it("says plainly when slots or chunks cannot fit, and when only the worse end does not", () => {
    assert.equal(esp32Budget([{ slots: 4097, chunkBytes: 0 }], creation).fits, "no");
    assert.match(esp32Budget([{ slots: 4097, chunkBytes: 0 }], creation).verdict, /^does NOT fit \(1 slots too many\)/);
    assert.equal(esp32Budget([{ slots: 10, chunkBytes: 140_000 }], creation).fits, "no");
    assert.equal(esp32Budget([{ slots: 10, chunkBytes: 100_000 }], creation).fits, "maybe");
    assert.equal(esp32Budget([{ slots: 4096, chunkBytes: 65536 }], creation).fits, "yes");
  });
});
