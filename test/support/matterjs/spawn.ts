// Starting a matter.js child script inside a network namespace.
//
// matter.js reads every `--name=value` argument and every MATTER_* environment variable as its own
// configuration, so the script gets no arguments at all and an environment with only the MATTER_*
// settings chosen here: its storage root and the one interface its mDNS may use.
//
// The scripts are bundled with esbuild once per test process: loading matter.js as one file
// takes a tenth of the CPU time of resolving its thousand modules one by one through tsx, which
// matters on a shared two-core machine where every test starts several of these processes.
import { build, type Plugin } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChildChannel } from "./channel";
import type { NetworkNamespace } from "./netns";
import { repositoryRoot } from "../../portable/vectors";

export type ChildScript = "controller-main" | "device-main";

export interface MatterJsChildOptions {
  /** matter.js storage root (MATTER_PATH_ROOT): everything the node persists goes below it. */
  storagePath: string;
  /** The only interface matter.js's mDNS binds to (MATTER_MDNS_NETWORKINTERFACE). */
  networkInterface: string;
  label: string;
}

/**
 * matter.js has SQLite storage drivers (node:sqlite from Node 22, bun:sqlite) that it loads only
 * when asked to; bundling hoists their imports, so they get stand-ins that fail only if used.
 * These nodes use file storage.
 */
const sqliteAsStub: Plugin = {
  name: "sqlite-stub",
  setup(builder) {
    builder.onResolve({ filter: /^(bun|node):sqlite$/ }, (args) => ({ path: args.path, namespace: "sqlite-stub" }));
    builder.onLoad({ filter: /.*/, namespace: "sqlite-stub" }, (args) => ({
      contents: `const unavailable = () => { throw new Error(${JSON.stringify(args.path)} + " is not available to the harness"); };
export const constants = {};
export class Database { constructor() { unavailable(); } }
export class DatabaseSync { constructor() { unavailable(); } }`,
      loader: "js",
    }));
  },
};

let bundles: Promise<string> | undefined;

/** Directory holding controller-main.mjs and device-main.mjs, built on first use. */
function bundleDirectory(): Promise<string> {
  bundles ??= (async () => {
    const directory = mkdtempSync(join(tmpdir(), "mxs-matterjs-bundles-"));
    process.once("exit", () => rmSync(directory, { recursive: true, force: true }));
    await build({
      entryPoints: ["controller-main", "device-main"].map((name) => join(repositoryRoot, "test/support/matterjs", `${name}.ts`)),
      outdir: directory,
      outExtension: { ".js": ".mjs" },
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      plugins: [sqliteAsStub],
      // Some dependencies are CommonJS and call require().
      banner: { js: "import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);" },
      logLevel: "silent",
    });
    return directory;
  })();
  return bundles;
}

export async function spawnMatterJsChild(namespace: NetworkNamespace, script: ChildScript, options: MatterJsChildOptions): Promise<ChildChannel> {
  const directory = await bundleDirectory();
  const environment: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("MATTER_")) environment[key] = value;
  environment.MATTER_PATH_ROOT = options.storagePath;
  environment.MATTER_MDNS_NETWORKINTERFACE = options.networkInterface;
  // The script shuts its node down itself when stdin closes or SIGTERM arrives.
  environment.MATTER_RUNTIME_SIGNALS = "false";
  const child = namespace.spawn(process.execPath, [join(directory, `${script}.mjs`)], {
    cwd: repositoryRoot,
    env: environment,
    stdio: ["pipe", "pipe", "pipe", "pipe"],
  });
  return new ChildChannel(child, options.label);
}
