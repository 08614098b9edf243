// The firmware's size and the ESP32 memory budget, for `npm run bench`.
//
// Size: the esbuild-minified bundle the simulator runs (src/ plus the XS bridge), and a bundle of
// src/ alone from the entry an ESP32 image uses (`start` of src/device), with gzip for reference.
//
// Budget: the manifest's ESP32 creation sizes are fixed heaps (incremental 0), so a device fits
// only if its slots and its chunks each fit. Every module but the entry point and the few that
// load at run time (hosts/esp32/runtime-loaded: the curve with its base-point table, noble's sha2
// and hkdf) is preloaded there, so bytecode and what those modules create when they load stay in
// flash. What lives in RAM: what the device creates when it starts (the idle device's live heap
// minus that of the same firmware loaded but not started), the run-time modules (counted here with
// their bytecode, an overstatement), and what an operation adds (the commissioning need).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { XsHost } from "../bridge/host";
import { bundleForXs } from "../engine/bundle";
import { XsWorker, type HeapStats } from "../engine/xsnap";
import { NodePlatform } from "../platform/node";
import { DEFAULT_SOFTWARE_VERSION, DEFAULT_SOFTWARE_VERSION_STRING, buildFirmwareImage } from "../simulator";
import { ESP32_SLOT_SIZE, MEASURING_CREATION, esp32ChunkBytes, kb } from "./heap";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "../../..");

export interface BundleSizes {
  /** buildFirmwareImage(…, minify = true): what the simulator's XS engine runs. */
  firmware: number;
  firmwareGzip: number;
  /** src/ alone, from src/device's `start` (what an ESP32 image runs), minified. */
  sourceOnly: number;
  sourceOnlyGzip: number;
  /** Minified bytes of the src/-only bundle by origin (src/<folder>, @noble/<package>), largest first. */
  sourceOnlyParts: [string, number][];
}

export async function bundleSizes(): Promise<BundleSizes> {
  const firmware = await buildFirmwareImage({ softwareVersion: DEFAULT_SOFTWARE_VERSION, softwareVersionString: DEFAULT_SOFTWARE_VERSION_STRING }, true);
  const sourceOnly = await bundleForXs({ resolveDir: join(root, "src"), contents: `import { start } from "./device";\nglobalThis.start = start;\n`, minify: true });
  const bytes = (text: string) => new TextEncoder().encode(text);
  return {
    firmware: bytes(firmware).length,
    firmwareGzip: gzipSync(bytes(firmware), { level: 9 }).length,
    sourceOnly: bytes(sourceOnly).length,
    sourceOnlyGzip: gzipSync(bytes(sourceOnly), { level: 9 }).length,
    sourceOnlyParts: await sourceOnlyParts(),
  };
}

/** Where the src/-only bundle's bytes come from: esbuild's metafile of the same build. */
async function sourceOnlyParts(): Promise<[string, number][]> {
  const result = await build({
    stdin: { contents: `import { start } from "./device";\nglobalThis.start = start;\n`, resolveDir: join(root, "src"), loader: "ts", sourcefile: "entry.ts" },
    bundle: true,
    write: false,
    format: "iife",
    target: "es2020",
    platform: "neutral",
    mainFields: ["module", "main"],
    conditions: ["import", "default"],
    minify: true,
    legalComments: "none",
    logLevel: "silent",
    metafile: true,
  });
  const parts = new Map<string, number>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const origin = /node_modules\/(@noble\/[^/]+)\//.exec(input)?.[1] ?? /^src\/([^/]+)\//.exec(input)?.[1]?.replace(/^/, "src/") ?? (input.startsWith("src/") ? "src/*.ts" : "other");
      parts.set(origin, (parts.get(origin) ?? 0) + bytesInOutput);
    }
  }
  return [...parts].sort((a, b) => b[1] - a[1]);
}

/** Live heap (after a collection) of the simulator's firmware evaluated but not started. */
export async function loadedFirmwareHeap(): Promise<HeapStats> {
  const platform = new NodePlatform({ log: () => {} });
  const host = new XsHost({ platform, log: () => {}, engine: { creation: MEASURING_CREATION } });
  try {
    await host.evaluate(await buildFirmwareImage({ softwareVersion: DEFAULT_SOFTWARE_VERSION, softwareVersionString: DEFAULT_SOFTWARE_VERSION_STRING }));
    return await host.worker.resetHeapPeaks();
  } finally {
    await host.stop();
    platform.close();
  }
}

/**
 * What the modules the device loads at run time take (their stand-ins are in
 * hosts/esp32/runtime-loaded): src/crypto/curve with noble's curve modules and the base-point
 * table it builds, noble's sha2 and hkdf. The live heap of an engine that evaluated them, after a
 * collection, minus that of an engine that evaluated nothing; it overstates the device, where
 * their bytecode and the preloaded modules they import are in flash.
 */
export async function runtimeLoadedHeap(): Promise<{ slots: number; chunks: number }> {
  const measure = async (contents: string) => {
    const source = await bundleForXs({ resolveDir: root, contents });
    const worker = new XsWorker({ creation: MEASURING_CREATION, stderr: () => {} });
    try {
      await worker.evaluate(source);
      return await worker.resetHeapPeaks();
    } finally {
      await worker.close();
    }
  };
  const empty = await measure("globalThis.runtimeLoaded = [];\n");
  // SHA-3 is left out: it loads only for an OTA image whose digest is SHA-3, after commissioning.
  const loaded = await measure(
    `import * as curve from "./src/crypto/curve";\nimport * as sha2 from "@noble/hashes/sha2.js";\nimport * as hkdf from "@noble/hashes/hkdf.js";\n` +
    `globalThis.runtimeLoaded = [curve, sha2, hkdf];\n`,
  );
  return { slots: loaded.slots - empty.slots, chunks: loaded.chunks - empty.chunks };
}

export interface Esp32Creation {
  chunkBytes: number;
  slots: number;
  stackSlots: number;
  fixed: boolean;
}

/** platforms.esp32.creation of manifest.json. */
export function esp32Creation(): Esp32Creation {
  const manifest = JSON.parse(readFileSync(join(root, "manifest.json"), "utf8")) as {
    platforms: { esp32: { creation: { chunk: { initial: number; incremental: number }; heap: { initial: number; incremental: number }; stack: number } } };
  };
  const creation = manifest.platforms.esp32.creation;
  return {
    chunkBytes: creation.chunk.initial,
    slots: creation.heap.initial,
    stackSlots: creation.stack,
    fixed: creation.chunk.incremental === 0 && creation.heap.incremental === 0,
  };
}

/** Slots and chunk bytes measured on 64-bit xsnap. */
export interface HeapPart {
  slots: number;
  chunkBytes: number;
}

export interface Esp32Budget {
  creation: Esp32Creation;
  /** Slots needed (exact count: a slot is a slot), and chunk bytes on ESP32 as an interval. */
  slots: number;
  chunkBytes: { atLeast: number; atMost: number };
  fits: "yes" | "no" | "maybe";
  /** One line for the report. */
  verdict: string;
}

/** ESP32 RAM for `parts` (each measured on 64-bit) against the manifest's creation sizes. */
export function esp32Budget(parts: HeapPart[], creation = esp32Creation()): Esp32Budget {
  const slots = parts.reduce((sum, part) => sum + part.slots, 0);
  const chunks = esp32ChunkBytes(parts.reduce((sum, part) => sum + part.chunkBytes, 0));
  const slotRoom = creation.slots - slots;
  const need = `${slots} slots (${kb(slots * ESP32_SLOT_SIZE)}) of ${creation.slots}, chunks ${kb(chunks.atLeast)}–${kb(chunks.atMost)} of ${kb(creation.chunkBytes)}`;
  let fits: Esp32Budget["fits"];
  let verdict: string;
  if (slotRoom < 0 || chunks.atLeast > creation.chunkBytes) {
    fits = "no";
    const over = [slotRoom < 0 ? `${-slotRoom} slots too many` : "", chunks.atLeast > creation.chunkBytes ? `chunks over by at least ${kb(chunks.atLeast - creation.chunkBytes)}` : ""].filter(Boolean).join(", ");
    verdict = `does NOT fit (${over}): ${need}`;
  } else if (chunks.atMost > creation.chunkBytes) {
    fits = "maybe";
    verdict = `may not fit (chunks within ${kb(creation.chunkBytes - chunks.atLeast)} at best, over by ${kb(chunks.atMost - creation.chunkBytes)} at worst): ${need}`;
  } else {
    fits = "yes";
    const headroom = slotRoom * ESP32_SLOT_SIZE + (creation.chunkBytes - chunks.atMost);
    verdict = `fits with ${kb(headroom)} headroom (${kb(slotRoom * ESP32_SLOT_SIZE)} of slots, at least ${kb(creation.chunkBytes - chunks.atMost)} of chunks): ${need}`;
  }
  return { creation, slots, chunkBytes: chunks, fits, verdict };
}
