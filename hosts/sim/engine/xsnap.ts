// Drives one XS engine process (matter-xs-engine, built by build.ts): the engine that runs the
// firmware on the desktop. It speaks xsnap-worker's protocol, so this driver works with either.
//
// The engine speaks netstrings on file descriptors 3 (from us) and 4 (to us). We send
// `e<source>` to evaluate a script and `?<bytes>` to call globalThis.handleCommand(ArrayBuffer).
// While either runs, the firmware may call issueCommand(ArrayBuffer): that arrives here as
// `?<bytes>` and must be answered with `/<reply>` before the engine continues. The engine ends
// a delivery with `.<meter JSON>\x01<result>` or `!<error text>`. Our engine also answers `h`
// (report the heap), `p`/`P` (reset the heap peaks, P after a full collection) and `G` (cap the
// heap's growth from its live size) without running any JavaScript, so asking does not disturb
// the figures.
import { spawn, type ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { ensureXsEngine } from "./build";

/** What XS reports after each delivery (the figures are taken after its promise jobs ran). */
export interface MeterUsage {
  /** XS instruction meter for this delivery. */
  compute: number;
  /** Bytes XS has taken from the system for slots, chunks and its stack, creation included. */
  allocate: number;
  /** Slots in use. Grows with every allocation, drops only when the collector runs. */
  currentHeapCount: number;
  /** Most slots in use at once since the engine started or its peaks were reset. */
  peakHeapCount: number;
  /** Slots the heap holds (in use or free). */
  maximumHeapCount: number;
  /** Chunk bytes in use (strings, array and buffer storage, closures' data). */
  currentChunksSize: number;
  peakChunksSize: number;
  /** Chunk bytes the heap holds. */
  maximumChunksSize: number;
  /** Bytes per slot: 32 on 64-bit hosts, 16 on ESP32. */
  slotSize: number;
}

/** The XS heap in the figures the project's memory targets use. */
export interface HeapStats {
  /** Live slots (exact right after a collection; includes garbage otherwise). */
  slots: number;
  peakSlots: number;
  /** Chunk bytes in use. */
  chunks: number;
  peakChunks: number;
  /** Bytes per slot (sizeof(txSlot)). */
  slotSize: number;
  /** slots × slotSize + chunks. */
  bytes: number;
  /** peakSlots × slotSize + peakChunks: an upper bound of the heap's peak, since the two peaks
   * need not coincide. */
  peakBytes: number;
  /** Capacity the heap has grown to, in slots and chunk bytes. */
  reservedSlots: number;
  reservedChunks: number;
  /** Bytes XS has taken from the system for slots, chunks and its stack (the meter's allocate). */
  allocated: number;
}

export interface DeliveryResult {
  meter: MeterUsage;
  /** The bytes the evaluated script or handleCommand returned (an ArrayBuffer or a view of one,
   * or what a returned promise fulfilled with), if any. */
  result: Uint8Array;
}

/** Answers the firmware's synchronous issueCommand calls. */
export type CommandHandler = (request: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/**
 * Sizes the XS machine is created with (XS's xsCreation). The defaults are xsnap-worker's, large
 * enough that the collector rarely runs. Small increments with a memoryLimit model a device: the
 * engine then collects often, and when the limit is reached the delivery fails with
 * "XS aborted: not enough memory" and the engine exits.
 */
export interface XsCreation {
  /** Chunk heap bytes at creation (default 32 MB). */
  initialChunkSize?: number;
  /** Chunk heap growth step in bytes; 0 makes the chunk heap fixed (default 4 MB). */
  incrementalChunkSize?: number;
  /** Slots at creation (default 262144). */
  initialHeapCount?: number;
  /** Slot growth step; 0 makes the slot heap fixed (default 131072). */
  incrementalHeapCount?: number;
  /** Stack slots (default 4096). Overflowing the stack aborts the engine, as on a device. */
  stackCount?: number;
  /** Cap on the bytes XS takes for slots, chunks and stack together, creation included
   * (default 2 GB). */
  memoryLimit?: number;
}

export interface XsWorkerOptions {
  handleCommand?: CommandHandler;
  /** Where the engine's print() and diagnostics go; defaults to this process's streams. */
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Parser buffer in KB (the engine's -s flag); large bundles need more than the default 8192. */
  parserBufferKB?: number;
  /** Machine sizes; see XsCreation. */
  creation?: XsCreation;
  /** XS instructions one delivery may run before the engine aborts (default unlimited). */
  computeLimit?: number;
}

export interface XsExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function engineArguments(options: XsWorkerOptions): string[] {
  const args: string[] = [];
  const add = (flag: string, value: number | undefined) => {
    if (value === undefined) return;
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${flag} needs a whole number, not ${value}`);
    args.push(flag, String(value));
  };
  const creation = options.creation ?? {};
  add("-s", options.parserBufferKB);
  add("--initial-chunks", creation.initialChunkSize);
  add("--incremental-chunks", creation.incrementalChunkSize);
  add("--initial-slots", creation.initialHeapCount);
  add("--incremental-slots", creation.incrementalHeapCount);
  add("--stack", creation.stackCount);
  add("--memory-limit", creation.memoryLimit);
  add("--compute-limit", options.computeLimit);
  return args;
}

export function heapStatsOf(meter: MeterUsage): HeapStats {
  return {
    slots: meter.currentHeapCount,
    peakSlots: meter.peakHeapCount,
    chunks: meter.currentChunksSize,
    peakChunks: meter.peakChunksSize,
    slotSize: meter.slotSize,
    bytes: meter.currentHeapCount * meter.slotSize + meter.currentChunksSize,
    peakBytes: meter.peakHeapCount * meter.slotSize + meter.peakChunksSize,
    reservedSlots: meter.maximumHeapCount,
    reservedChunks: meter.maximumChunksSize,
    allocated: meter.allocate,
  };
}

interface FrameWaiter {
  resolve: (frame: Uint8Array) => void;
  reject: (error: Error) => void;
}

export class XsWorker {
  private readonly child: ChildProcess;
  private readonly toWorker: Writable;
  private readonly fromWorker: Readable;
  /** Bytes received and not yet framed, and how many the next frame needs (0: unknown). */
  private received: Uint8Array[] = [];
  private receivedLength = 0;
  private frameNeeds = 0;
  private waiting: FrameWaiter | undefined;
  private exitError: Error | undefined;
  private busy: Promise<unknown> = Promise.resolve();
  private readonly handleCommand: CommandHandler;
  /** The end of the engine's stderr, to say why it exited. */
  private stderrTail = "";
  /** Settles once the process has exited and its pipes are closed. */
  readonly exited: Promise<XsExit>;

  constructor(options: XsWorkerOptions = {}) {
    const binary = ensureXsEngine();
    this.child = spawn(binary, engineArguments(options), { stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] });
    this.handleCommand = options.handleCommand ?? (() => new Uint8Array(0));
    const out = options.stdout ?? ((text: string) => process.stdout.write(text));
    const err = options.stderr ?? ((text: string) => process.stderr.write(text));
    // Decoded as streams, so a character split across two reads stays whole.
    this.child.stdout!.setEncoding("utf8").on("data", (text: string) => out(text));
    this.child.stderr!.setEncoding("utf8").on("data", (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-2000);
      err(text);
    });
    this.toWorker = this.child.stdio[3] as Writable;
    this.fromWorker = this.child.stdio[4] as Readable;
    this.fromWorker.on("data", (chunk: Buffer) => this.receive(new Uint8Array(chunk)));
    // "close" comes after the pipes drained, so a last `!` reply is read before the exit is seen.
    this.exited = new Promise((resolve) => {
      this.child.on("close", (code, signal) => {
        const reason = this.stderrTail
          .split("\n")
          .filter((line) => line.startsWith("matter-xs-engine: "))
          .pop();
        this.exitError = new Error(`XS engine exited (code ${code}, signal ${signal})${reason ? `: ${reason.slice(18)}` : ""}`);
        const waiter = this.waiting;
        this.waiting = undefined;
        waiter?.reject(this.exitError);
        resolve({ code, signal });
      });
    });
    this.child.on("error", (error) => {
      this.exitError ??= new Error(`XS engine failed: ${error.message}`);
      const waiter = this.waiting;
      this.waiting = undefined;
      waiter?.reject(this.exitError);
    });
    this.toWorker.on("error", () => {});
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Evaluates a script (for example a firmware bundle) in the engine's global scope. */
  evaluate(source: string): Promise<DeliveryResult> {
    return this.serialize(() => this.deliver("e", encoder.encode(source)));
  }

  /** Calls globalThis.handleCommand(bytes) inside the engine. */
  command(bytes: Uint8Array): Promise<DeliveryResult> {
    return this.serialize(() => this.deliver("?", bytes));
  }

  /** The heap figures now, without running any JavaScript in the engine. */
  async heapStats(): Promise<HeapStats> {
    const { meter } = await this.serialize(() => this.deliver("h", new Uint8Array(0)));
    return heapStatsOf(meter);
  }

  /**
   * Makes the peaks equal to the current figures, by default after a full collection (so that
   * "current" is the live heap), and returns the figures as reset.
   */
  async resetHeapPeaks(options: { gc?: boolean } = {}): Promise<HeapStats> {
    const prefix = options.gc === false ? "p" : "P";
    const { meter } = await this.serialize(() => this.deliver(prefix, new Uint8Array(0)));
    return heapStatsOf(meter);
  }

  /**
   * Starts a measurement of what the heap needs from here: after a full collection the free chunk
   * space is given up, and XS may then take at most `bytes` more from the system (for new slots
   * and chunks) before it aborts with "not enough memory". The free slots the collection left
   * stay usable; the returned figures show how many (reservedSlots - slots).
   */
  async limitHeapGrowth(bytes: number): Promise<HeapStats> {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`limitHeapGrowth needs a whole number of bytes, not ${bytes}`);
    const { meter } = await this.serialize(() => this.deliver("G", encoder.encode(String(bytes))));
    return heapStatsOf(meter);
  }

  /** Stops the engine. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.toWorker.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 2000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Kills the engine at once, as a power cut would. */
  kill(): void {
    this.child.kill("SIGKILL");
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const next = this.busy.then(work, work);
    this.busy = next.catch(() => undefined);
    return next;
  }

  private async deliver(prefix: "e" | "?" | "h" | "p" | "P" | "G", payload: Uint8Array): Promise<DeliveryResult> {
    this.writeFrame(prefix, payload);
    for (;;) {
      const frame = await this.nextFrame();
      const kind = String.fromCharCode(frame[0]!);
      const body = frame.subarray(1);
      if (kind === "?") {
        let reply: Uint8Array;
        try {
          reply = await this.handleCommand(body);
        } catch (error) {
          // The firmware sees an empty reply; the host's failure is reported here.
          process.stderr.write(`host command failed: ${(error as Error).stack}\n`);
          reply = new Uint8Array(0);
        }
        this.writeFrame("/", reply);
      } else if (kind === ".") {
        const split = body.indexOf(1);
        if (split < 0) throw new Error("XS engine sent a reply without its meter");
        const meter = JSON.parse(decoder.decode(body.subarray(0, split))) as MeterUsage;
        return { meter, result: body.slice(split + 1) };
      } else if (kind === "!") {
        throw new Error(`XS: ${decoder.decode(body)}`);
      } else {
        throw new Error(`XS engine sent an unexpected frame '${kind}'`);
      }
    }
  }

  private writeFrame(prefix: string, payload: Uint8Array): void {
    if (this.exitError) throw this.exitError;
    const head = encoder.encode(`${payload.length + 1}:${prefix}`);
    const frame = new Uint8Array(head.length + payload.length + 1);
    frame.set(head, 0);
    frame.set(payload, head.length);
    frame[frame.length - 1] = 0x2c; // ','
    this.toWorker.write(frame);
  }

  private nextFrame(): Promise<Uint8Array> {
    const ready = this.takeFrame();
    if (ready) return Promise.resolve(ready);
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  private receive(chunk: Uint8Array): void {
    this.received.push(chunk);
    this.receivedLength += chunk.length;
    if (!this.waiting) return;
    let frame: Uint8Array | undefined;
    try {
      frame = this.takeFrame();
    } catch (error) {
      const waiter = this.waiting;
      this.waiting = undefined;
      waiter.reject(error as Error);
      return;
    }
    if (frame) {
      const waiter = this.waiting;
      this.waiting = undefined;
      waiter.resolve(frame);
    }
  }

  /** Cuts the next netstring out of what was received; joins chunks only once a frame is whole,
   * so a large reply arriving in many pieces is copied once. */
  private takeFrame(): Uint8Array | undefined {
    if (this.receivedLength === 0 || this.receivedLength < this.frameNeeds) return undefined;
    const data = this.received.length === 1 ? this.received[0]! : concat(this.received, this.receivedLength);
    this.received = [data];
    const colon = data.indexOf(0x3a);
    if (colon < 0) {
      if (data.length > 10) throw new Error("XS engine sent a malformed netstring");
      return undefined;
    }
    const digits = decoder.decode(data.subarray(0, colon));
    if (!/^[0-9]{1,10}$/.test(digits)) throw new Error("XS engine sent a malformed netstring");
    const end = colon + 1 + Number(digits);
    if (data.length < end + 1) {
      this.frameNeeds = end + 1;
      return undefined;
    }
    if (data[end] !== 0x2c) throw new Error("XS engine sent a netstring without its ',' terminator");
    const frame = data.slice(colon + 1, end);
    const rest = data.subarray(end + 1);
    this.received = rest.length ? [rest] : [];
    this.receivedLength = rest.length;
    this.frameNeeds = 0;
    return frame;
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const joined = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
