// Commissioning on a real network, for `npm run bench`: one matter.js controller commissions the
// matter.js On/Off light and the XS simulator (PASE, attestation, CSR, AddNOC, CASE,
// CommissioningComplete), inside a network namespace created here and deleted afterwards, so the
// multicast stays inside. Then the XS device's heap need (heap.ts) for a whole commissioning and
// for one CASE session establishment after commissioning, each the smallest growth limit with
// which the device still gets through.
//
// The XS device runs in device-driver.ts, a process of its own inside the namespace. Every run
// starts from a copy of a state directory (uncommissioned, or commissioned for the CASE runs), so
// runs do not influence each other. A device that runs out of memory aborts; the controller is
// then replaced (after a failed commissioning) or given a fresh unlimited device to finish its
// pending CASE attempt on (after a failed CASE run), so the next run starts clean.
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { ChildProcess } from "node:child_process";
import { readCertificateFile } from "../../cli/keys";
import { MatterJsController, type MatterJsPeer } from "../../../test/support/matterjs/controller";
import { sharedTestTrust, type AttestationTrust } from "../../../test/support/matterjs/credentials";
import { MatterJsDevice } from "../../../test/support/matterjs/device";
import { namespaceName, withNetworkNamespace, type NetworkNamespace } from "../../../test/support/matterjs/netns";
import { repositoryRoot } from "../../../test/portable/vectors";
import type { HeapStats, XsCreation } from "../engine/xsnap";
import { Simulator } from "../simulator";
import { DRIVER_PREFIX } from "./device-driver";
import { MEASURING_CREATION, UNBOUNDED_GROWTH, heapNeed, searchGrowthLimit, type HeapNeed, type SearchResult } from "./heap";

const PASSCODE = 20202021;
const XS_DISCRIMINATOR = 3840;
const XS_PORT = 5540;
const LIGHT_PORT = 5600;
const LIGHT_DISCRIMINATOR = 3999;
const COMMISSION_TIMEOUT_MS = 120_000;

export interface CommissioningBenchOptions {
  /** Timed commissionings of each device (default 1). */
  runs?: number;
  /** Heap searches: resolution in bytes and most runs each (0 runs: no heap figures). */
  resolution?: number;
  maxProbes?: number;
  progress?: (line: string) => void;
}

export interface HeapSearch {
  /** The XS heap at idle (live after a collection), 64-bit. */
  idle: HeapStats;
  /** The unbounded run's figures. */
  unbounded: HeapNeed;
  search: SearchResult<HeapNeed>;
}

export interface CommissioningBenchResult {
  matterJsMs: number[];
  xsMs: number[];
  commissioningHeap: HeapSearch | undefined;
  caseHeap: HeapSearch | undefined;
}

interface DriverOptions {
  stateDir: string;
  creation?: XsCreation;
  growthLimit?: number;
}

interface DeviceReport {
  end: HeapStats;
  collected: HeapStats;
  events: { type: string; kind?: string; resumed?: boolean }[];
}

interface ReadyReport {
  idle: HeapStats;
  start?: HeapStats;
}

/** One run of device-driver.ts inside the namespace. */
class BenchDevice {
  readonly ready: Promise<ReadyReport>;
  /** Settles with the engine's message when the device aborts (out of memory). */
  readonly aborted: Promise<string>;
  readonly #child: ChildProcess;
  readonly #waiters = new Map<string, ((body: any) => void)[]>();
  #stderr = "";
  readonly #exited: Promise<void>;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.stdin?.on("error", () => {});
    child.stderr?.on("data", (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-8000);
      if (process.env.MXS_BENCH_LOG) process.stderr.write(`[bench device] ${chunk.toString()}`);
    });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const match = /^(\S+) (\S+) (.*)$/.exec(line);
      if (!match || match[1] !== DRIVER_PREFIX) return;
      const waiting = this.#waiters.get(match[2]!)?.shift();
      waiting?.(JSON.parse(match[3]!));
    });
    this.#exited = new Promise((resolve) => child.once("exit", () => resolve()));
    this.aborted = this.#next("aborted").then((body: { message: string }) => body.message);
    const failed = this.#exited.then(() => {
      throw new Error(`the bench device exited before it was ready\n${this.#stderr}`);
    });
    this.ready = Promise.race([this.#next("ready"), failed, this.aborted.then((message) => Promise.reject(new Error(`the bench device aborted while starting: ${message}`)))]);
    this.ready.catch(() => {});
  }

  static start(namespace: NetworkNamespace, options: DriverOptions): BenchDevice {
    const driverOptions = { ...options, port: XS_PORT, interfaceName: "lo", passcode: PASSCODE, discriminator: XS_DISCRIMINATOR };
    const child = namespace.spawn(process.execPath, ["--import", "tsx", "hosts/sim/bench/device-driver.ts", JSON.stringify(driverOptions)], {
      cwd: repositoryRoot,
      env: process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    return new BenchDevice(child);
  }

  #next(event: string): Promise<any> {
    return new Promise((resolve) => {
      const list = this.#waiters.get(event) ?? [];
      list.push(resolve);
      this.#waiters.set(event, list);
    });
  }

  /** The heap now and after a full collection, and what the device did since it was ready. */
  async report(): Promise<DeviceReport> {
    const reply = this.#next("report");
    this.#child.stdin!.write("report\n");
    return reply;
  }

  /** Clean shutdown (state saved), then the process ends; killed if it takes too long. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.stdin!.write("stop\n");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 15_000);
    await this.#exited;
    clearTimeout(timer);
  }

  get diagnostics(): string {
    return this.#stderr;
  }
}

/** Resolves with `work`, or rejects as soon as the device aborts. */
async function unlessAborted<T>(device: BenchDevice, work: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; message: string }> {
  work.catch(() => {});
  return Promise.race([work.then((value) => ({ ok: true as const, value })), device.aborted.then((message) => ({ ok: false as const, message }))]);
}

function copyState(from: string): string {
  const directory = mkdtempSync(join(tmpdir(), "mxs-bench-device-"));
  cpSync(from, directory, { recursive: true });
  return directory;
}

export async function benchCommissioning(options: CommissioningBenchOptions = {}): Promise<CommissioningBenchResult> {
  const runs = options.runs ?? 1;
  const resolution = options.resolution ?? 4096;
  const maxProbes = options.maxProbes ?? 5;
  const progress = options.progress ?? (() => {});
  const scratch = mkdtempSync(join(tmpdir(), "mxs-bench-commissioning-"));
  try {
    // The XS device's identity, provisioned once outside the namespace; every run copies it.
    const uncommissioned = join(scratch, "uncommissioned");
    const simulator = await Simulator.create({ stateDir: uncommissioned, passcode: PASSCODE, discriminator: XS_DISCRIMINATOR, log: () => {} });
    const shared = sharedTestTrust();
    const trust: AttestationTrust = {
      paaCerts: [...shared.paaCerts, readCertificateFile(simulator.identity.paaCertificatePath!, "PAA")],
      cdSigningCerts: [...shared.cdSigningCerts, readCertificateFile(simulator.identity.cdSigningCertificatePath!, "CD signing certificate")],
    };

    return await withNetworkNamespace(namespaceName("mxs-bench"), async (namespace) => {
      const startController = () => MatterJsController.start(namespace, { ...trust, interface: "lo", label: "bench" });
      let controller = await startController();
      const result: CommissioningBenchResult = { matterJsMs: [], xsMs: [], commissioningHeap: undefined, caseHeap: undefined };
      let commissioned: { state: string; peer: MatterJsPeer } | undefined;
      try {
        // ---- wall time, both devices, same controller ----
        for (let run = 0; run < runs; run++) {
          const light = await MatterJsDevice.start(namespace, { port: LIGHT_PORT, discriminator: LIGHT_DISCRIMINATOR });
          try {
            const peer = await controller.commission({ address: "127.0.0.1", port: LIGHT_PORT, passcode: PASSCODE, timeoutMs: COMMISSION_TIMEOUT_MS });
            result.matterJsMs.push(peer.commissioningMs);
            progress(`commissioned the matter.js light in ${peer.commissioningMs.toFixed(0)} ms`);
          } finally {
            await light.stop();
          }
          const state = copyState(uncommissioned);
          const device = BenchDevice.start(namespace, { stateDir: state });
          try {
            await device.ready;
            const peer = await controller.commission({ address: "127.0.0.1", port: XS_PORT, passcode: PASSCODE, timeoutMs: COMMISSION_TIMEOUT_MS });
            result.xsMs.push(peer.commissioningMs);
            progress(`commissioned the XS simulator in ${peer.commissioningMs.toFixed(0)} ms`);
            await device.stop();
            // The last one's commissioned state is where the CASE runs start from.
            if (commissioned) rmSync(commissioned.state, { recursive: true, force: true });
            commissioned = { state, peer };
          } catch (error) {
            rmSync(state, { recursive: true, force: true });
            throw new Error(`commissioning the XS simulator failed: ${(error as Error).message}\n--- device ---\n${device.diagnostics}\n--- controller ---\n${controller.log.slice(-4000)}`);
          } finally {
            await device.stop();
          }
        }
        if (maxProbes === 0) return result;

        // ---- heap: one CASE session establishment after commissioning ----
        const fromCommissioned = commissioned!;
        const caseRun = async (limit: number): Promise<{ ok: boolean; detail?: HeapNeed; idle?: HeapStats }> => {
          const state = copyState(fromCommissioned.state);
          const device = BenchDevice.start(namespace, { stateDir: state, creation: MEASURING_CREATION, growthLimit: limit });
          try {
            const ready = await device.ready;
            const reconnecting = fromCommissioned.peer.reconnect(60);
            const outcome = await unlessAborted(device, reconnecting);
            if (outcome.ok) {
              const { end, collected, events } = await device.report();
              requireEvents("the CASE run", events, ["case session"]);
              return { ok: true, detail: heapNeed(ready.start!, end, collected), idle: ready.idle };
            }
            // The controller is still trying: let it finish on a device with room, then go on.
            const recoveryState = copyState(fromCommissioned.state);
            const recovery = BenchDevice.start(namespace, { stateDir: recoveryState });
            try {
              await recovery.ready;
              await reconnecting.catch(() => fromCommissioned.peer.reconnect(60));
            } finally {
              await recovery.stop();
              rmSync(recoveryState, { recursive: true, force: true });
            }
            return { ok: false };
          } finally {
            await device.stop();
            rmSync(state, { recursive: true, force: true });
          }
        };
        result.caseHeap = await searchOperation("CASE", caseRun, { resolution, maxProbes, progress });

        // ---- heap: a whole commissioning ----
        const commissioningRun = async (limit: number): Promise<{ ok: boolean; detail?: HeapNeed; idle?: HeapStats }> => {
          const state = copyState(uncommissioned);
          const device = BenchDevice.start(namespace, { stateDir: state, creation: MEASURING_CREATION, growthLimit: limit });
          try {
            const ready = await device.ready;
            const outcome = await unlessAborted(device, controller.commission({ address: "127.0.0.1", port: XS_PORT, passcode: PASSCODE, timeoutMs: COMMISSION_TIMEOUT_MS }));
            if (outcome.ok) {
              const { end, collected, events } = await device.report();
              requireEvents("the commissioning run", events, ["pase session", "case session", "commissioning-complete"]);
              return { ok: true, detail: heapNeed(ready.start!, end, collected), idle: ready.idle };
            }
            // The controller may wait minutes for a device that is gone: a fresh one is quicker.
            await controller.stop({ kill: true });
            controller = await startController();
            return { ok: false };
          } finally {
            await device.stop();
            rmSync(state, { recursive: true, force: true });
          }
        };
        result.commissioningHeap = await searchOperation("commissioning", commissioningRun, { resolution, maxProbes, progress });
        return result;
      } finally {
        if (commissioned) rmSync(commissioned.state, { recursive: true, force: true });
        await controller.stop();
      }
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Throws unless the device reported each of `expected` in order ("pase session", "case session"
 * for a full CASE handshake, "commissioning-complete", which arrives over CASE): the figures must be
 * of the operation named.
 */
function requireEvents(what: string, events: DeviceReport["events"], expected: string[]): void {
  const seen = events.map((event) => (event.type === "session-established" ? `${event.kind}${event.resumed ? " resumption" : ""} session` : event.type));
  let index = 0;
  for (const name of seen) if (name === expected[index]) index++;
  if (index < expected.length) throw new Error(`${what}: the device reported ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)} in that order`);
}

/** An unbounded run for the growth, then the search for the smallest limit that works. */
async function searchOperation(
  what: string,
  run: (limit: number) => Promise<{ ok: boolean; detail?: HeapNeed; idle?: HeapStats }>,
  options: { resolution: number; maxProbes: number; progress: (line: string) => void },
): Promise<HeapSearch> {
  const first = await run(UNBOUNDED_GROWTH);
  if (!first.ok || !first.detail || !first.idle) throw new Error(`${what}: the XS device failed even with unbounded growth`);
  options.progress(`${what}: grew ${(first.detail.grownBytes / 1024).toFixed(1)} KB without a limit`);
  const search = await searchGrowthLimit(
    first.detail.grownBytes,
    async (limit) => {
      const outcome = await run(limit);
      options.progress(`${what}: growth limit ${(limit / 1024).toFixed(1)} KB ${outcome.ok ? "succeeded" : "ran out of memory"}`);
      return outcome;
    },
    { resolution: options.resolution, maxProbes: options.maxProbes, knownDetail: first.detail },
  );
  return { idle: first.idle, unbounded: first.detail, search };
}
