// Builds matter-xs-engine, our XS host program (matter-xs-engine.c), against the Moddable XS
// sources that the npm package @agoric/xsnap ships, with engine.mk. The output goes to
// node_modules/.cache/matter-xs/ (the package directory may be read-only). `npm test`,
// `npm start` and `npm run bench` call this first; it does nothing when the binary is newer than
// its sources, and concurrent callers wait for one build instead of racing.
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);
const engineDir = dirname(fileURLToPath(import.meta.url));
const projectRoot = join(engineDir, "../../..");

export function xsnapPackageDir(): string {
  return dirname(require.resolve("@agoric/xsnap/package.json"));
}

export function xsnapPackageVersion(): string {
  return (require("@agoric/xsnap/package.json") as { version: string }).version;
}

/** The package's own xsnap-worker, when its install script built one (not used by XsWorker). */
export function xsnapWorkerPath(): string {
  return join(xsnapPackageDir(), "xsnap-native/xsnap/build/bin/lin/release/xsnap-worker");
}

/** Where our engine is built; one directory per xsnap package version. */
export function xsEngineBuildDir(): string {
  return join(projectRoot, "node_modules/.cache/matter-xs", `engine-xsnap-${xsnapPackageVersion()}`);
}

export function xsEnginePath(): string {
  return join(xsEngineBuildDir(), "matter-xs-engine");
}

/** The XS version of the package's sources ("13.3.0"), from the defines in xsCommon.h. */
export function xsSourceVersion(): string {
  const header = readFileSync(join(xsnapPackageDir(), "moddable/xs/sources/xsCommon.h"), "utf8");
  return ["MAJOR", "MINOR", "PATCH"]
    .map((part) => {
      const found = header.match(new RegExp(`^#define XS_${part}_VERSION (\\d+)`, "m"));
      if (!found) throw new Error(`xsCommon.h has no XS_${part}_VERSION`);
      return found[1];
    })
    .join(".");
}

const ourSources = ["matter-xs-engine.c", "engine.mk"].map((name) => join(engineDir, name));

function isUpToDate(binary: string): boolean {
  if (!existsSync(binary)) return false;
  const built = statSync(binary).mtimeMs;
  return ourSources.every((source) => statSync(source).mtimeMs <= built);
}

function sleep(milliseconds: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, milliseconds);
}

/** Holds a directory lock while `work` runs; a lock older than `staleAfter` ms is broken. */
function withLock<T>(lock: string, work: () => T, staleAfter = 180_000): T {
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      try {
        if (Date.now() - statSync(lock).mtimeMs > staleAfter) rmdirSync(lock);
      } catch {
        // Released or broken by someone else meanwhile: try again.
      }
      sleep(200);
    }
  }
  try {
    return work();
  } finally {
    rmdirSync(lock);
  }
}

let checkedPath: string | undefined;

/** Returns the path of the engine binary, building it first when it is missing or stale. */
export function ensureXsEngine(log: (line: string) => void = () => {}): string {
  if (checkedPath) return checkedPath;
  const binary = xsEnginePath();
  if (!isUpToDate(binary)) {
    const out = xsEngineBuildDir();
    mkdirSync(dirname(out), { recursive: true });
    withLock(`${out}.lock`, () => {
      if (isUpToDate(binary)) return;
      const pkg = xsnapPackageDir();
      log(`building the XS engine (matter-xs-engine, XS sources of @agoric/xsnap ${xsnapPackageVersion()}) ...`);
      const started = Date.now();
      const make = spawnSync(
        "make",
        [
          "-f",
          join(engineDir, "engine.mk"),
          "-j2",
          "--silent",
          `XSNAP_PACKAGE=${pkg}`,
          `XSNAP_VERSION=${xsnapPackageVersion()}`,
          `OUT=${out}`,
        ],
        { cwd: engineDir, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" },
      );
      if (make.status !== 0 || !existsSync(binary)) {
        throw new Error(
          `building the XS engine failed (make exited with ${make.status ?? make.signal}); it needs make and a C compiler (gcc 10+ or clang)\n${make.stderr ?? ""}${make.error ?? ""}`,
        );
      }
      log(`built ${binary} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    });
  }
  checkedPath = binary;
  return binary;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const path = ensureXsEngine((line) => console.log(line));
  const version = spawnSync(path, ["--version"], { encoding: "utf8" });
  console.log(`XS engine: ${path}\n${version.stdout.trim()}`);
}
