// The benchmark's device: the simulator on the XS engine in a process of its own, started inside
// the benchmark's network namespace, reporting its heap over stdout and taking orders on stdin.
//
//   node --import tsx hosts/sim/bench/device-driver.ts '<options JSON>'
//     { stateDir, port, interfaceName, passcode, discriminator, creation?, growthLimit? }
//
// It boots the device, builds the curve tables and collects: that is the idle device. With
// `growthLimit` it then fills the free slots with ballast and caps the heap's growth there
// (heap.ts explains why). Lines it prints, each "bench-device <event> <JSON>":
//   ready    { idle, start? }       idle: live heap after a collection; start: the limited heap
//   report   { end, collected, events }   on "report": the heap now, then after a full
//                                  collection; the sessions and commissioning seen since ready
//   aborted  { message }            the engine ran out of memory (or died); the process exits
//   stopped  {}                     on "stop", after a clean shutdown
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import type { HeapStats, XsCreation } from "../engine/xsnap";
import { Simulator } from "../simulator";
import { slotBallastScript } from "./heap";

interface DriverOptions {
  stateDir: string;
  port: number;
  interfaceName?: string;
  passcode?: number;
  discriminator?: number;
  creation?: XsCreation;
  growthLimit?: number;
}

export const DRIVER_PREFIX = "bench-device";

function emit(event: string, body: unknown = {}): void {
  process.stdout.write(`${DRIVER_PREFIX} ${event} ${JSON.stringify(body)}\n`);
}

/** The engine's abort reaches the host as a failed delivery; the simulator logs it. */
const ENGINE_GONE = /XS aborted|XS engine exited/;

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? "{}") as DriverOptions;
  let aborted = false;
  const abort = (message: string) => {
    if (aborted) return;
    aborted = true;
    emit("aborted", { message });
    process.exit(3);
  };
  // What the device did, so the benchmark can check the operation it measured really happened.
  const events: { type: string; kind?: string; resumed?: boolean }[] = [];
  const simulator = await Simulator.create({
    stateDir: options.stateDir,
    engine: "xs",
    port: options.port,
    ...(options.interfaceName ? { interfaceName: options.interfaceName } : {}),
    ...(options.passcode !== undefined ? { passcode: options.passcode } : {}),
    ...(options.discriminator !== undefined ? { discriminator: options.discriminator } : {}),
    ...(options.creation ? { xsCreation: options.creation } : {}),
    onEvent: (event) => {
      if (event.type === "session-established") events.push({ type: event.type, kind: event.kind, resumed: event.resumed });
      else if (event.type === "commissioning-complete") events.push({ type: event.type });
    },
    log: (level, message) => {
      if (ENGINE_GONE.test(message)) abort(message);
      else if (level === "warn" || level === "error") process.stderr.write(`[${level}] ${message}\n`);
    },
  });
  const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      const message = (error as Error).message;
      if (ENGINE_GONE.test(message)) abort(message);
      throw error;
    }
  };

  await guarded(() => simulator.start());
  await guarded(() => simulator.control({ op: "warm-up-curve" }));
  const idle = (await guarded(() => simulator.resetHeapPeaks())) as HeapStats;
  let start: HeapStats | undefined;
  if (options.growthLimit !== undefined) {
    await guarded(() => simulator.evaluate(slotBallastScript()));
    start = await guarded(() => simulator.limitHeapGrowth(options.growthLimit!));
  }
  events.length = 0;
  emit("ready", { idle, ...(start ? { start } : {}) });

  const input = createInterface({ input: process.stdin });
  for await (const line of input) {
    const command = line.trim();
    if (command === "report") {
      const end = await guarded(() => simulator.heapStats());
      const collected = await guarded(() => simulator.resetHeapPeaks());
      emit("report", { end, collected, events: events.splice(0) });
    } else if (command === "stop") {
      await guarded(() => simulator.stop());
      emit("stopped");
      break;
    } else if (command) {
      process.stderr.write(`unknown command ${JSON.stringify(command)}\n`);
    }
  }
  process.exit(0);
}

// Run as a program; imported (for DRIVER_PREFIX), nothing happens.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: Error) => {
    process.stderr.write(`device driver failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  });
}
