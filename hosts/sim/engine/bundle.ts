// Bundles firmware code into one script for the XS engine.
//
// XS 13.3 (the version @agoric/xsnap ships) fails on class static fields that construct their
// own class (noble's `static BASE = new Point(...)`), so the bundle is lowered to ES2020, which
// turns static fields into assignments after the class. Everything else the firmware uses
// (BigInt, typed arrays, async functions) XS runs natively.
import { build } from "esbuild";

export interface XsBundleOptions {
  /** Source of the entry module. */
  contents: string;
  /** Directory that relative imports in `contents` resolve from. */
  resolveDir: string;
  minify?: boolean;
  /** Name of the global the entry's exports are assigned to (IIFE bundles). */
  globalName?: string;
  /** Compile-time constants (esbuild `define`), e.g. the firmware version baked into an image. */
  define?: Record<string, string>;
}

export async function bundleForXs(options: XsBundleOptions): Promise<string> {
  const result = await build({
    stdin: { contents: options.contents, resolveDir: options.resolveDir, loader: "ts", sourcefile: "xs-bundle-entry.ts" },
    bundle: true,
    write: false,
    format: "iife",
    ...(options.globalName ? { globalName: options.globalName } : {}),
    target: "es2020",
    platform: "neutral",
    mainFields: ["module", "main"],
    conditions: ["import", "default"],
    minify: options.minify ?? false,
    ...(options.define ? { define: options.define } : {}),
    legalComments: "none",
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}
