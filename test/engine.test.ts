// The XS engine host (hosts/sim/engine/matter-xs-engine.c) and its driver XsWorker: results and
// errors, issueCommand round trips, large payloads, job draining, heap figures, aborts, kill.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { ensureXsEngine, xsSourceVersion } from "../hosts/sim/engine/build";
import { XsWorker, type XsWorkerOptions } from "../hosts/sim/engine/xsnap";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TIMEOUT = { timeout: 60_000 };

const workers: XsWorker[] = [];
function startWorker(options: XsWorkerOptions = {}): XsWorker {
  const worker = new XsWorker({ stderr: () => {}, ...options });
  workers.push(worker);
  return worker;
}
after(async () => {
  for (const worker of workers) worker.kill();
});

/** Evaluates `expression` and decodes the JSON text it returns (as UTF-8 bytes). */
async function evaluateJson<T = unknown>(worker: XsWorker, expression: string): Promise<T> {
  const { result } = await worker.evaluate(`new TextEncoder().encode(JSON.stringify(${expression}))`);
  return JSON.parse(decoder.decode(result)) as T;
}

describe("XS engine build", () => {
  it("runs the XS version whose sources the xsnap package ships", () => {
    const binary = ensureXsEngine();
    const run = spawnSync(binary, ["--version"], { encoding: "utf8" });
    assert.equal(run.status, 0);
    const version = xsSourceVersion();
    assert.match(version, /^\d+\.\d+\.\d+$/);
    assert.match(run.stdout, new RegExp(`XS ${version.replace(/\./g, "\\.")} `));
    assert.match(run.stdout, /slot (16|32) bytes/);
  });

  it("rejects bad command-line sizes instead of starting", () => {
    const run = spawnSync(ensureXsEngine(), ["--initial-slots", "lots"], { encoding: "utf8" });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /--initial-slots needs a whole number/);
  });
});

describe("evaluation", () => {
  it("returns ArrayBuffers, views of them and { result } unwrapped; other values as no bytes", TIMEOUT, async () => {
    const worker = startWorker();
    assert.deepEqual([...(await worker.evaluate("new Uint8Array([1, 2, 3]).buffer")).result], [1, 2, 3]);
    // A view contributes its own window, not the whole buffer.
    assert.deepEqual([...(await worker.evaluate("new Uint8Array([9, 8, 7, 6, 5]).subarray(1, 3)")).result], [8, 7]);
    assert.deepEqual([...(await worker.evaluate("new DataView(new Uint8Array([4, 5, 6]).buffer, 2)")).result], [6]);
    assert.deepEqual([...(await worker.evaluate("({ result: new Uint8Array([42]).buffer })")).result], [42]);
    assert.equal((await worker.evaluate("40 + 2")).result.length, 0);
    assert.equal((await worker.evaluate("undefined")).result.length, 0);
    // Evaluations share the global scope.
    await worker.evaluate("globalThis.counter = 41");
    assert.equal(await evaluateJson(worker, "++counter"), 42);
    await worker.close();
  });

  it("reports the instruction meter and the heap with every reply", TIMEOUT, async () => {
    const worker = startWorker();
    const small = (await worker.evaluate("1")).meter;
    const large = (await worker.evaluate("let total = 0; for (let i = 0; i < 10000; i++) total += i; total")).meter;
    assert.ok(small.compute > 0);
    assert.ok(large.compute > small.compute + 10000, `compute ${small.compute} then ${large.compute}`);
    for (const meter of [small, large]) {
      assert.ok(meter.currentHeapCount > 1000 && meter.currentHeapCount <= meter.peakHeapCount);
      assert.ok(meter.peakHeapCount <= meter.maximumHeapCount);
      assert.ok(meter.currentChunksSize > 0 && meter.currentChunksSize <= meter.peakChunksSize);
      assert.ok(meter.peakChunksSize <= meter.maximumChunksSize);
      assert.ok(meter.allocate >= meter.maximumHeapCount * meter.slotSize + meter.maximumChunksSize);
      assert.equal(meter.slotSize, process.arch.includes("64") ? 32 : 16);
    }
    await worker.close();
  });

  it("turns exceptions into errors with the message and stack, and keeps running", TIMEOUT, async () => {
    const worker = startWorker();
    await assert.rejects(worker.evaluate("function explode() { throw new TypeError('boom'); }\nexplode();"), (error: Error) => {
      assert.match(error.message, /^XS: TypeError: boom\n/);
      assert.match(error.message, /at explode \(/);
      return true;
    });
    await assert.rejects(worker.evaluate("let = ;"), /^Error: XS: SyntaxError: /);
    await assert.rejects(worker.evaluate("throw 'a plain string'"), /^Error: XS: a plain string$/);
    await assert.rejects(worker.evaluate("throw { toString() { throw new Error('nested'); } }"), /cannot be converted to a string/);
    // handleCommand is not defined yet.
    await assert.rejects(worker.command(new Uint8Array([1])), /^Error: XS: TypeError: (\(host\): )?globalThis.handleCommand is not a function$/);
    assert.equal(await evaluateJson(worker, "'still alive'"), "still alive");
    await worker.close();
  });

  it("answers with what a returned promise settles to, after the job queue drained", TIMEOUT, async () => {
    const worker = startWorker();
    const { result } = await worker.evaluate(`(async () => {
      let turns = 0;
      for (let i = 0; i < 100; i++) { await null; turns++; }
      await new Promise((resolve) => setImmediate(resolve));
      return new Uint8Array([turns]);
    })()`);
    assert.deepEqual([...result], [100]);
    await assert.rejects(worker.evaluate("(async () => { await null; throw new RangeError('later'); })()"), /^Error: XS: RangeError: later/);
    // A promise that never settles does not hold the reply back.
    assert.equal((await worker.evaluate("new Promise(() => {})")).result.length, 0);
    await worker.close();
  });

  it("runs promise jobs and setImmediate callbacks before replying", TIMEOUT, async () => {
    const worker = startWorker();
    await worker.evaluate(`
      globalThis.order = [];
      Promise.resolve().then(() => order.push("job 1")).then(() => order.push("job 2"));
      setImmediate((ignored) => { order.push("immediate"); Promise.resolve().then(() => order.push("job 3")); });
      order.push("script");
    `);
    // Read synchronously by the next delivery: everything above already ran.
    assert.deepEqual(await evaluateJson(worker, "order"), ["script", "job 1", "job 2", "immediate", "job 3"]);
    await worker.close();
  });
});

describe("issueCommand", () => {
  it("round-trips through a synchronous host handler, in order", TIMEOUT, async () => {
    const seen: string[] = [];
    const worker = startWorker({
      handleCommand: (request) => {
        const text = decoder.decode(request);
        seen.push(text);
        return encoder.encode(text.toUpperCase());
      },
    });
    await worker.evaluate(`globalThis.ask = (text) => new TextDecoder().decode(issueCommand(new TextEncoder().encode(text).buffer));`);
    const answers = await evaluateJson(worker, "['one', 'two', '', 'ünïcödé 🙂'].map(ask)");
    assert.deepEqual(answers, ["ONE", "TWO", "", "ÜNÏCÖDÉ 🙂"]);
    assert.deepEqual(seen, ["one", "two", "", "ünïcödé 🙂"]);
    await assert.rejects(worker.evaluate("issueCommand('not a buffer')"), /^Error: XS: TypeError: issueCommand: the request must be an ArrayBuffer/);
    await worker.close();
  });

  it("waits for an asynchronous host handler, also inside handleCommand", TIMEOUT, async () => {
    const worker = startWorker({
      handleCommand: async (request) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return request.map((byte) => byte + 1);
      },
    });
    await worker.evaluate(`globalThis.handleCommand = (bytes) => {
      const first = new Uint8Array(issueCommand(bytes));
      const second = new Uint8Array(issueCommand(first.buffer));
      return second;
    }`);
    const { result } = await worker.command(new Uint8Array([1, 2, 3]));
    assert.deepEqual([...result], [3, 4, 5]);
    await worker.close();
  });

  it("carries 1 MB both ways", TIMEOUT, async () => {
    const size = 1 << 20;
    const pattern = (index: number) => (index * 31 + (index >> 8)) & 0xff;
    let hostReceived: Uint8Array | undefined;
    const worker = startWorker({
      handleCommand: (request) => {
        hostReceived = request;
        return request.map((byte) => byte ^ 0x5a);
      },
    });
    await worker.evaluate(`globalThis.handleCommand = (buffer) => {
      const echoed = new Uint8Array(issueCommand(buffer));
      const made = new Uint8Array(${size});
      for (let i = 0; i < made.length; i++) made[i] = echoed[i] ^ 0x5a ^ 0xff;
      return made.buffer;
    }`);
    const sent = new Uint8Array(size).map((_, index) => pattern(index));
    const { result } = await worker.command(sent);
    assert.equal(hostReceived!.length, size);
    assert.ok(hostReceived!.every((byte, index) => byte === pattern(index)), "the host got the firmware's bytes intact");
    assert.equal(result.length, size);
    assert.ok(result.every((byte, index) => byte === (pattern(index) ^ 0xff)), "the firmware's 1 MB reply arrived intact");
    await worker.close();
  });
});

describe("heap figures", () => {
  it("grow with a large allocation, drop after a collection, and keep the peak until reset", TIMEOUT, async () => {
    const worker = startWorker();
    const idle = await worker.resetHeapPeaks();
    assert.equal(idle.peakSlots, idle.slots);
    assert.equal(idle.peakChunks, idle.chunks);
    assert.equal(idle.bytes, idle.slots * idle.slotSize + idle.chunks);
    // Asking does not disturb what it measures.
    assert.deepEqual(await worker.heapStats(), idle);

    const count = 50_000;
    await worker.evaluate(`globalThis.kept = Array.from({ length: ${count} }, (_, i) => ({ i }))`);
    const grown = await worker.heapStats();
    // An object with one property is two slots; the array's elements live in chunks.
    assert.ok(grown.slots - idle.slots >= 2 * count, `slots ${idle.slots} -> ${grown.slots}`);
    assert.ok(grown.chunks - idle.chunks >= count * grown.slotSize, `chunks ${idle.chunks} -> ${grown.chunks}`);
    assert.equal(grown.peakSlots, grown.slots);

    await worker.evaluate("globalThis.kept = undefined; gc()");
    const dropped = await worker.heapStats();
    assert.ok(dropped.slots < idle.slots + 200, `slots after gc ${dropped.slots}, idle ${idle.slots}`);
    assert.ok(dropped.chunks < idle.chunks + 4096, `chunks after gc ${dropped.chunks}, idle ${idle.chunks}`);
    assert.ok(dropped.peakSlots >= grown.slots, "the slot peak survives the collection");
    assert.ok(dropped.peakChunks >= grown.chunks, "the chunk peak survives the collection");

    const reset = await worker.resetHeapPeaks();
    assert.equal(reset.peakSlots, reset.slots);
    assert.equal(reset.peakChunks, reset.chunks);
    assert.ok(reset.peakBytes < idle.peakBytes + 8192);
    await worker.close();
  });

  it("resets peaks without collecting when asked, and agrees with the heapStats() global", TIMEOUT, async () => {
    const worker = startWorker();
    await worker.resetHeapPeaks();
    await worker.evaluate("for (let i = 0; i < 20000; i++) ({ garbage: i })");
    const withGarbage = await worker.heapStats();
    const notCollected = await worker.resetHeapPeaks({ gc: false });
    assert.equal(notCollected.slots, withGarbage.slots, "no collection ran");
    assert.equal(notCollected.peakSlots, notCollected.slots);
    const collected = await worker.resetHeapPeaks({ gc: true });
    assert.ok(collected.slots < withGarbage.slots - 20000, `${withGarbage.slots} -> ${collected.slots}`);

    const inside = await evaluateJson<Record<string, number>>(worker, "heapStats()");
    for (const key of ["slots", "peakSlots", "chunks", "peakChunks", "slotSize", "bytes", "peakBytes", "reservedSlots", "reservedChunks"]) {
      assert.equal(typeof inside[key], "number", key);
    }
    assert.equal(inside.slotSize, collected.slotSize);
    assert.equal(inside.bytes, inside.slots! * inside.slotSize! + inside.chunks!);
    // The evaluation itself allocates a little (the script, the result object).
    assert.ok(inside.slots! >= collected.slots && inside.slots! < collected.slots + 500);
    await worker.evaluate("globalThis.kept = new Array(10000).fill(1); globalThis.kept = undefined; resetHeapPeaks()");
    const afterGlobalReset = await evaluateJson<Record<string, number>>(worker, "heapStats()");
    assert.ok(afterGlobalReset.peakChunks! < collected.chunks + 10000 * collected.slotSize, "resetHeapPeaks() collected and reset");
    await worker.close();
  });
});

describe("aborts and process control", () => {
  it("fails visibly when a device-sized heap runs out, and exits", TIMEOUT, async () => {
    const worker = startWorker({
      creation: {
        initialChunkSize: 64 * 1024,
        incrementalChunkSize: 16 * 1024,
        initialHeapCount: 8192,
        incrementalHeapCount: 1024,
        stackCount: 1024,
        memoryLimit: 1024 * 1024,
      },
    });
    const idle = await worker.heapStats();
    assert.equal(idle.reservedChunks, 64 * 1024);
    await assert.rejects(
      worker.evaluate("const kept = []; for (;;) kept.push({ n: kept.length, text: 'x'.repeat(64) + kept.length });"),
      /^Error: XS: XS aborted: not enough memory \(/,
    );
    assert.deepEqual(await worker.exited, { code: 11, signal: null });
    await assert.rejects(worker.evaluate("1"), /XS engine exited \(code 11/);
  });

  it("fails visibly when a fixed heap is full", TIMEOUT, async () => {
    const worker = startWorker({ creation: { initialChunkSize: 64 * 1024, incrementalChunkSize: 0, initialHeapCount: 8192, incrementalHeapCount: 0 } });
    await assert.rejects(worker.evaluate("const kept = []; for (;;) kept.push({});"), /not enough memory/);
    assert.equal((await worker.exited).code, 11);
  });

  it("refuses creation sizes above the memory limit with a reason", TIMEOUT, async () => {
    const worker = startWorker({ creation: { memoryLimit: 100_000 } });
    await assert.rejects(worker.evaluate("1"), /code 11.*more than --memory-limit 100000/);
  });

  it("reports a stack overflow and exits", TIMEOUT, async () => {
    const worker = startWorker();
    await assert.rejects(worker.evaluate("function deeper(n) { return deeper(n + 1) + 1; } deeper(0)"), /^Error: XS: XS aborted: stack overflow/);
    assert.equal((await worker.exited).code, 12);
  });

  it("stops a runaway delivery at the compute limit", TIMEOUT, async () => {
    const worker = startWorker({ computeLimit: 5_000_000 });
    const { meter } = await worker.evaluate("let n = 0; for (let i = 0; i < 1000; i++) n += i; n");
    assert.ok(meter.compute < 5_000_000);
    await assert.rejects(worker.evaluate("for (;;) {}"), /^Error: XS: XS aborted: too much computation/);
    assert.equal((await worker.exited).code, 17);
  });

  it("reports an exception thrown by a setImmediate callback and exits", TIMEOUT, async () => {
    let stderr = "";
    const worker = startWorker({ stderr: (text) => (stderr += text) });
    await assert.rejects(worker.evaluate("setImmediate(() => { throw new Error('in a job'); })"), /unhandled exception in a job/);
    assert.equal((await worker.exited).code, 15);
    assert.match(stderr, /in a job/);
  });

  it("kill() ends a runaway engine at once", TIMEOUT, async () => {
    const worker = startWorker();
    const running = worker.evaluate("for (;;) {}");
    await new Promise((resolve) => setTimeout(resolve, 100));
    worker.kill();
    await assert.rejects(running, /XS engine exited \(code null, signal SIGKILL\)/);
    assert.deepEqual(await worker.exited, { code: null, signal: "SIGKILL" });
    await assert.rejects(worker.evaluate("1"), /XS engine exited/);
  });

  it("close() ends the engine cleanly", TIMEOUT, async () => {
    const worker = startWorker();
    await worker.evaluate("1");
    await worker.close();
    assert.deepEqual(await worker.exited, { code: 0, signal: null });
  });
});

describe("globals", () => {
  it("provides print, performance.now, setImmediate, TextEncoder/TextDecoder, harden and gc", TIMEOUT, async () => {
    let stdout = "";
    const worker = startWorker({ stdout: (text) => (stdout += text) });
    await worker.evaluate("print('hello', 42, null)");
    const facts = await evaluateJson<Record<string, unknown>>(
      worker,
      `(() => {
        const t0 = performance.now();
        let spin = 0; for (let i = 0; i < 100000; i++) spin += i;
        const t1 = performance.now();
        const text = "añ€🙂";
        const bytes = new TextEncoder().encode(text);
        const frozen = harden({ inner: { x: 1 } });
        return {
          clock: typeof t0 === "number" && t1 > t0,
          utf8: Array.from(bytes),
          decoded: new TextDecoder().decode(bytes) === text,
          fatal: (() => { try { new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xff])); return false; } catch { return true; } })(),
          hardened: Object.isFrozen(frozen) && Object.isFrozen(frozen.inner),
          gc: typeof gc === "function" && gc() === undefined,
          immediate: typeof setImmediate,
        };
      })()`,
    );
    assert.deepEqual(facts, {
      clock: true,
      utf8: [...encoder.encode("añ€🙂")],
      decoded: true,
      fatal: true,
      hardened: true,
      gc: true,
      immediate: "function",
    });
    await worker.close();
    assert.equal(stdout, "hello 42 null\n");
  });
});

describe("protocol", () => {
  /** Talks netstrings to a bare engine process. */
  function rawEngine() {
    const child = spawn(ensureXsEngine(), [], { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
    const toEngine = child.stdio[3] as Writable;
    const fromEngine = child.stdio[4] as Readable;
    let received = Buffer.alloc(0);
    const waiters: (() => void)[] = [];
    fromEngine.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      waiters.splice(0).forEach((wake) => wake());
    });
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    return {
      send(raw: string) {
        toEngine.write(raw);
      },
      async frame(): Promise<string> {
        for (;;) {
          const text = received.toString("latin1");
          const colon = text.indexOf(":");
          if (colon > 0) {
            const end = colon + 1 + Number(text.slice(0, colon));
            if (received.length > end) {
              received = received.subarray(end + 1);
              return text.slice(colon + 1, end);
            }
          }
          await new Promise<void>((resolve) => waiters.push(resolve));
        }
      },
      exited,
      close: () => toEngine.end(),
    };
  }

  it("answers R, h and unknown commands and stays in step", TIMEOUT, async () => {
    const engine = rawEngine();
    engine.send("1:R,");
    assert.equal(await engine.frame(), ".");
    engine.send("1:x,");
    assert.equal(await engine.frame(), "!unknown command 'x' (0x78)");
    engine.send("1:h,");
    assert.match(await engine.frame(), /^\.\{"compute":0,.*"slotSize":(16|32)\}\x01$/);
    engine.send("4:e1+1,");
    assert.match(await engine.frame(), /^\.\{"compute":\d+,/);
    engine.send("1:q,");
    assert.equal(await engine.exited, 0);
  });

  it("exits on a malformed netstring instead of hanging", TIMEOUT, async () => {
    const engine = rawEngine();
    engine.send("3:e1+1;");
    assert.equal(await engine.exited, 2);
    const truncated = rawEngine();
    truncated.send("100:e1+");
    truncated.close();
    assert.equal(await truncated.exited, 2);
  });

  it("exits when the host closes the channel", TIMEOUT, async () => {
    const engine = rawEngine();
    engine.close();
    assert.equal(await engine.exited, 0);
  });
});
