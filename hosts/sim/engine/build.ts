// Builds the XS engine (xsnap-worker) from the Moddable XS sources that the npm package
// @agoric/xsnap ships. npm 11 does not run that package's install script, so `npm test`,
// `npm start` and `npm run bench` call this first; it does nothing when the binary exists.
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);

export function xsnapPackageDir(): string {
  return dirname(require.resolve("@agoric/xsnap/package.json"));
}

export function xsnapWorkerPath(): string {
  return join(xsnapPackageDir(), "xsnap-native/xsnap/build/bin/lin/release/xsnap-worker");
}

export function ensureXsEngine(log: (line: string) => void = () => {}): string {
  const binary = xsnapWorkerPath();
  if (existsSync(binary)) return binary;
  const pkg = xsnapPackageDir();
  const version = (require("@agoric/xsnap/package.json") as { version: string }).version;
  log(`building the XS engine (xsnap-worker ${version}) from ${pkg}/moddable ...`);
  const make = spawnSync(
    "make",
    [
      `MODDABLE=${join(pkg, "moddable")}`,
      "GOAL=release",
      `XSNAP_VERSION=${version}`,
      // The package's own build passes this: the XS sources probe __has_builtin.
      'CC=cc "-D__has_builtin(x)=1"',
      "-j2",
      "-f",
      "xsnap-worker.mk",
    ],
    { cwd: join(pkg, "xsnap-native/xsnap/makefiles/lin"), stdio: ["ignore", "inherit", "inherit"] },
  );
  if (make.status !== 0 || !existsSync(binary)) {
    throw new Error(`building xsnap-worker failed (make exited with ${make.status}); needs make and a C compiler`);
  }
  return binary;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const path = ensureXsEngine((line) => console.log(line));
  console.log(`XS engine: ${path}`);
}
