// Both ends of the line protocol in wire.ts. The test side (ChildChannel) sends requests and
// waits for replies or events with deadlines; a child that dies fails every pending request at
// once, with the tail of its log in the message. The child side (ParentLink) runs handlers.
// MXS_MATTERJS_LOG=1 copies every child's log to the test's stderr as it comes.
import type { ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { decodeValue, encodeValue, type WireError, type WireEvent, type WireReply, type WireRequest } from "./wire";

export class ChildRequestError extends Error {
  constructor(
    readonly op: string,
    readonly wire: WireError,
  ) {
    super(`${op}: ${wire.name}: ${wire.message}`);
    this.name = "ChildRequestError";
  }
}

interface Pending {
  op: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

interface EventWaiter {
  matches(event: WireEvent): boolean;
  resolve(event: WireEvent): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

const LOG_TAIL = 12_000;
/** Events nobody waited for are kept for a later waitForEvent, the oldest dropped beyond this. */
const EVENTS_KEPT = 1_000;

export class ChildChannel {
  readonly #child: ChildProcess;
  readonly #label: string;
  readonly #pending = new Map<number, Pending>();
  readonly #events: WireEvent[] = [];
  readonly #waiters = new Set<EventWaiter>();
  readonly #listeners = new Set<(event: WireEvent) => void>();
  #nextId = 1;
  #log = "";
  #exit: string | undefined;
  readonly exited: Promise<void>;

  /** `child` must have been spawned with stdio ["pipe", "pipe", "pipe", "pipe"]. */
  constructor(child: ChildProcess, label: string) {
    this.#child = child;
    this.#label = label;
    const replies = child.stdio[3] as Readable | null;
    if (!child.stdin || !child.stdout || !child.stderr || !replies) throw new Error(`${label}: spawn it with four piped stdio entries`);
    const keepLog = (chunk: Buffer) => {
      this.#log = (this.#log + chunk.toString()).slice(-LOG_TAIL);
      if (process.env.MXS_MATTERJS_LOG) process.stderr.write(`[${label}] ${chunk.toString()}`);
    };
    child.stdout.on("data", keepLog);
    child.stderr.on("data", keepLog);
    // Requests written after the child died must not crash the test with EPIPE.
    child.stdin.on("error", () => {});
    createInterface({ input: replies }).on("line", (line) => this.#receive(line));
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.#exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
        const error = new Error(`${label} ${this.#exit}\n--- last output ---\n${this.#log}`);
        for (const pending of this.#pending.values()) {
          clearTimeout(pending.timer);
          pending.reject(error);
        }
        this.#pending.clear();
        for (const waiter of this.#waiters) {
          clearTimeout(waiter.timer);
          waiter.reject(error);
        }
        this.#waiters.clear();
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** The last lines the child logged, for failure messages. */
  get log(): string {
    return this.#log;
  }

  request<T = unknown>(op: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
    if (this.#exit !== undefined) return Promise.reject(new Error(`${this.#label} ${this.#exit}\n--- last output ---\n${this.#log}`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.#label}: no reply to ${op} within ${timeoutMs} ms\n--- last output ---\n${this.#log}`));
      }, timeoutMs);
      this.#pending.set(id, { op, resolve: resolve as (value: unknown) => void, reject, timer });
      this.#child.stdin!.write(JSON.stringify(encodeValue({ ...args, id, op })) + "\n");
    });
  }

  /** Resolves with the first event, past or future, that `matches`; consumes it. */
  waitForEvent(matches: (event: WireEvent) => boolean, timeoutMs: number, what = "event"): Promise<WireEvent> {
    const index = this.#events.findIndex(matches);
    if (index >= 0) return Promise.resolve(this.#events.splice(index, 1)[0]!);
    if (this.#exit !== undefined) return Promise.reject(new Error(`${this.#label} ${this.#exit} while waiting for ${what}`));
    return new Promise((resolve, reject) => {
      const waiter: EventWaiter = {
        matches,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(new Error(`${this.#label}: no ${what} within ${timeoutMs} ms\n--- last output ---\n${this.#log}`));
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /** Calls `listener` for every event from now on; returns a function that stops it. */
  onEvent(listener: (event: WireEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Ends the child: closes its stdin, which a child running ParentLink.serve takes as the order to
   * shut down cleanly; sends SIGTERM if it is still running after `graceMs`, SIGKILL after twice
   * that. With `signal` (SIGKILL for a power cut), sends that at once instead.
   */
  async terminate(signal?: NodeJS.Signals, graceMs = 5_000): Promise<void> {
    if (this.#exit !== undefined) return;
    const timers: NodeJS.Timeout[] = [];
    if (signal) {
      this.#child.kill(signal);
    } else {
      this.#child.stdin?.end();
      timers.push(setTimeout(() => this.#child.kill("SIGTERM"), graceMs));
    }
    timers.push(setTimeout(() => this.#child.kill("SIGKILL"), 2 * graceMs));
    await this.exited;
    for (const timer of timers) clearTimeout(timer);
  }

  #receive(line: string): void {
    let message: WireReply | WireEvent;
    try {
      message = decodeValue(JSON.parse(line)) as WireReply | WireEvent;
    } catch {
      this.#log = (this.#log + `unparsable line on the reply channel: ${line}\n`).slice(-LOG_TAIL);
      return;
    }
    if ("event" in message) {
      for (const listener of this.#listeners) listener(message);
      for (const waiter of this.#waiters) {
        if (waiter.matches(message)) {
          clearTimeout(waiter.timer);
          this.#waiters.delete(waiter);
          waiter.resolve(message);
          return;
        }
      }
      this.#events.push(message);
      if (this.#events.length > EVENTS_KEPT) this.#events.shift();
      return;
    }
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(new ChildRequestError(pending.op, message.error));
  }
}

export type RequestHandler = (request: WireRequest) => Promise<unknown> | unknown;

/** The child's side: requests from stdin, replies and events on file descriptor 3. */
export class ParentLink {
  readonly #out: Writable = createWriteStream("", { fd: 3 });

  /** Sends an unsolicited event to the test. */
  emit(event: WireEvent): void {
    this.#send(event);
  }

  /**
   * Runs one handler per request. Requests run concurrently (a subscription report may arrive
   * while a read is pending). Resolves when stdin closes and every request has been answered.
   */
  async serve(handlers: Record<string, RequestHandler>, describeError: (error: unknown) => WireError): Promise<void> {
    const running = new Set<Promise<void>>();
    for await (const line of createInterface({ input: process.stdin })) {
      if (!line.trim()) continue;
      const request = decodeValue(JSON.parse(line)) as WireRequest;
      const handler = handlers[request.op];
      const task = (async () => {
        try {
          if (!handler) throw new Error(`unknown op ${request.op}`);
          this.#send({ id: request.id, ok: true, result: (await handler(request)) ?? null });
        } catch (error) {
          this.#send({ id: request.id, ok: false, error: describeError(error) });
        }
      })();
      running.add(task);
      void task.finally(() => running.delete(task));
    }
    await Promise.all(running);
  }

  /** Flushes what is still queued for the test and closes the reply channel. */
  close(): Promise<void> {
    return new Promise((resolve) => this.#out.end(() => resolve()));
  }

  #send(message: WireReply | WireEvent): void {
    if (!this.#out.writableEnded) this.#out.write(JSON.stringify(encodeValue(message)) + "\n");
  }
}
