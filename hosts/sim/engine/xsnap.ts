// Drives one xsnap-worker process: the XS engine that runs the firmware on the desktop.
//
// The worker speaks netstrings on file descriptors 3 (from us) and 4 (to us). We send
// `e<source>` to evaluate a script and `?<bytes>` to call globalThis.handleCommand(ArrayBuffer).
// While either runs, the firmware may call issueCommand(ArrayBuffer): that arrives here as
// `?<bytes>` and must be answered with `/<reply>` before the worker continues. The worker ends
// a delivery with `.<meter JSON>\x01<result>` or `!<error text>`.
import { spawn, type ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { ensureXsEngine } from "./build";

/** What XS reports after each delivery. Slots are 32 bytes each on 64-bit builds. */
export interface MeterUsage {
  /** Live slots in the XS heap. */
  currentHeapCount: number;
  /** XS instruction meter for this delivery. */
  compute: number;
  /** Bytes XS has allocated for slots and chunks together. */
  allocate: number;
}

export interface DeliveryResult {
  meter: MeterUsage;
  /** The ArrayBuffer the evaluated script or handleCommand returned, if any. */
  result: Uint8Array;
}

/** Answers the firmware's synchronous issueCommand calls. */
export type CommandHandler = (request: Uint8Array) => Uint8Array | Promise<Uint8Array>;

export interface XsWorkerOptions {
  handleCommand?: CommandHandler;
  /** Where the engine's print() and diagnostics go; defaults to this process's streams. */
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Parser buffer in KB (the worker's -s flag); large bundles need more than the default. */
  parserBufferKB?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class XsWorker {
  private readonly child: ChildProcess;
  private readonly toWorker: Writable;
  private readonly fromWorker: Readable;
  private buffered = new Uint8Array(0);
  private waiting: ((frame: Uint8Array) => void) | undefined;
  private exitError: Error | undefined;
  private busy: Promise<unknown> = Promise.resolve();
  private readonly handleCommand: CommandHandler;

  constructor(options: XsWorkerOptions = {}) {
    const binary = ensureXsEngine();
    const args = options.parserBufferKB ? ["-s", String(options.parserBufferKB)] : [];
    this.child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] });
    this.handleCommand = options.handleCommand ?? (() => new Uint8Array(0));
    const out = options.stdout ?? ((text: string) => process.stdout.write(text));
    const err = options.stderr ?? ((text: string) => process.stderr.write(text));
    this.child.stdout!.on("data", (chunk: Buffer) => out(chunk.toString("utf8")));
    this.child.stderr!.on("data", (chunk: Buffer) => err(chunk.toString("utf8")));
    this.toWorker = this.child.stdio[3] as Writable;
    this.fromWorker = this.child.stdio[4] as Readable;
    this.fromWorker.on("data", (chunk: Buffer) => this.receive(new Uint8Array(chunk)));
    this.child.on("exit", (code, signal) => {
      this.exitError = new Error(`XS engine exited (code ${code}, signal ${signal})`);
      const waiter = this.waiting;
      this.waiting = undefined;
      waiter?.(new Uint8Array(0));
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

  /** Stops the engine. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.toWorker.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 2000);
    await exited;
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

  private async deliver(prefix: "e" | "?", payload: Uint8Array): Promise<DeliveryResult> {
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
      this.waiting = (frame) => (this.exitError && frame.length === 0 ? reject(this.exitError) : resolve(frame));
    });
  }

  private receive(chunk: Uint8Array): void {
    const joined = new Uint8Array(this.buffered.length + chunk.length);
    joined.set(this.buffered, 0);
    joined.set(chunk, this.buffered.length);
    this.buffered = joined;
    if (!this.waiting) return;
    const frame = this.takeFrame();
    if (frame) {
      const waiter = this.waiting;
      this.waiting = undefined;
      waiter(frame);
    }
  }

  private takeFrame(): Uint8Array | undefined {
    const colon = this.buffered.indexOf(0x3a);
    if (colon < 0) return undefined;
    const length = Number(decoder.decode(this.buffered.subarray(0, colon)));
    if (!Number.isInteger(length)) throw new Error("XS engine sent a malformed netstring");
    const end = colon + 1 + length;
    if (this.buffered.length < end + 1) return undefined;
    const frame = this.buffered.slice(colon + 1, end);
    this.buffered = this.buffered.slice(end + 1);
    return frame;
  }
}
