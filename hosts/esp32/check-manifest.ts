// Checks manifest.json against the tree, the way mcconfig and XS will read it:
//  - it is JSON of the expected shape (build settings, creation, platforms esp32/lin/mac/win, the
//    GATT service, sdkconfig and partition files it names);
//  - every module it lists resolves to a file, every firmware module under src/ is listed, and
//    every ESP32 host module (and only those) goes to the device;
//  - every import in the firmware, the host and noble, resolved the way XS resolves it (relative to
//    the importing module's name, ".js" dropped), names a module the manifest provides, mapped to
//    the file Node's resolution picks; no node:* import reaches the device;
//  - the noble modules listed are exactly the ones imported (each one costs flash);
//  - the preload list holds only modules that can be preloaded (see PRELOAD below), by name,
//    because mcconfig's "*" preload patterns only match JavaScript modules; a preloadable module
//    left out is reported as advice (it costs RAM, it does not break the build);
//  - the partition table has the partitions the host opens, aligned, in 4 MB, without overlap.
//  - a directory import ("../crypto", meaning ../crypto/index.ts) has an index alias: XS looks for
//    a module named after the directory, so the manifest maps that name to a one-line module in
//    hosts/esp32/index-modules/ that re-exports the directory's index.
// `--write` rewrites the derived parts (src patterns, index aliases and their files, noble list,
// preload list) in manifest.json.
//
// PRELOAD: XS freezes what preloaded modules create (typed arrays, WeakMaps and WeakSets become
// read-only), and a preloaded module's imports are preloaded too. Some modules write such state
// on every use: noble's sha2 and sha3 (module-level scratch arrays), hkdf (a counter byte), and
// the curve src/crypto/curve builds (noble's point-validity WeakSet, and the WeakMaps of
// @noble/curves/abstract/curve). So the manifest gives their names to stand-ins
// (hosts/esp32/runtime-loaded/) that load the real module, listed as "<name>-runtime", with
// Modules.importNow at the first use. Everything reachable without going through a real one is
// preloaded into flash; the real ones and what only they import load into RAM. `main` modules
// call native functions and never preload.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, sep } from "node:path";
import { build, type Metafile, type Plugin } from "esbuild";

export const MANIFEST = "manifest.json";
export const DEVICE_PLATFORM = "esp32";
export const SIMULATOR_PLATFORMS = ["lin", "mac", "win"] as const;
/** The ESP32 host's own modules that never go to the device. */
const HOST_ONLY = new Set(["hosts/esp32/check-manifest.ts", "hosts/esp32/sim-main.ts"]);
const HOST_DIR = "hosts/esp32";
const SIM_MAIN = "hosts/esp32/sim-main";
/** Generated re-export modules that give directory imports a module name XS can find. */
export const INDEX_MODULES = "hosts/esp32/index-modules";
const DEVICE_MAIN = "hosts/esp32/main";
/** The stand-ins for modules that cannot be preloaded (see PRELOAD above), by module name. */
export const RUNTIME_LOADED_DIR = "hosts/esp32/runtime-loaded";
export const RUNTIME_LOADED: Readonly<Record<string, string>> = Object.freeze({
  "@noble/hashes/sha2": `${RUNTIME_LOADED_DIR}/sha2.ts`,
  "@noble/hashes/sha3": `${RUNTIME_LOADED_DIR}/sha3.ts`,
  "@noble/hashes/hkdf": `${RUNTIME_LOADED_DIR}/hkdf.ts`,
  "src/crypto/curve": `${RUNTIME_LOADED_DIR}/curve.ts`,
});
const RUNTIME_SUFFIX = "-runtime";
const isRuntimeLoaded = (name: string) => Object.hasOwn(RUNTIME_LOADED, name);
/** The name the manifest gives a file of RUNTIME_LOADED_DIR: the name it stands in for, or, for the hash stand-ins' shared module, one beside them. */
const standInName = (file: string) => Object.keys(RUNTIME_LOADED).find((name) => RUNTIME_LOADED[name] === file) ?? `@noble/hashes/${basename(withoutExtension(file))}`;
const GLOBALS = "hosts/esp32/globals";

/** Moddable SDK modules the manifest's includes provide, per platform. */
const SDK_MODULES: Record<string, ReadonlySet<string>> = {
  esp32: new Set([
    "bleserver", "btutils", "gatt", "gap", "sm", "flash", "preference", "ota", "system", "modules", "mc/config",
    "time", "timer", "net", "wifi", "text/decoder", "text/encoder", "embedded:io/socket/udp",
  ]),
  sim: new Set(["file", "modules", "mc/config", "text/decoder", "text/encoder", "time", "timer"]),
};

/** Partitions the host opens by name, with the size the firmware expects where it is fixed. */
const REQUIRED_PARTITIONS: Record<string, { type: string; size?: number }> = {
  nvs: { type: "data" },
  nvs_keys: { type: "data" },
  otadata: { type: "data", size: 0x2000 },
  phy_init: { type: "data" },
  factory: { type: "data", size: 0x6000 },
  ota_0: { type: "app" },
  ota_1: { type: "app" },
};
const FLASH_SIZE = 0x40_0000;
const MATTER_GATT: Record<string, string> = {
  service: "FFF6",
  C1: "18EE2EF5-263D-4559-959F-4F9C429F9D11",
  C2: "18EE2EF5-263D-4559-959F-4F9C429F9D12",
  C3: "64630238-8772-45F2-B87D-748A83218F04",
};

type Json = any;

export interface DerivedLists {
  srcPatterns: Record<string, string>;
  /** module name (a directory under src/) -> its index alias source */
  indexAliases: Record<string, string>;
  noble: Record<string, string>;
  preload: string[];
  simulatorPreload: string[];
}

export interface ManifestCheck {
  /** What breaks the build or keeps a module from loading. */
  problems: string[];
  /** What only costs memory: preloadable modules that are not preloaded. */
  advice: string[];
  derived: DerivedLists;
}

const posix = (path: string) => path.split(sep).join("/");

function listFiles(root: string, folder: string, recursive: boolean): string[] {
  const absolute = join(root, folder);
  if (!existsSync(absolute)) return [];
  const found: string[] = [];
  for (const name of readdirSync(absolute).sort()) {
    if (name.startsWith(".")) continue;
    const path = posix(join(folder, name));
    if (statSync(join(root, path)).isDirectory()) {
      if (recursive) found.push(...listFiles(root, path, true));
    } else found.push(path);
  }
  return found;
}

const isModuleSource = (path: string) => (path.endsWith(".ts") && !path.endsWith(".d.ts")) || path.endsWith(".js") || path.endsWith(".mjs");
const withoutExtension = (path: string) => path.replace(/\.(d\.ts|ts|js|mjs)$/, "");

/**
 * The module names a manifest "modules" object provides, the way mcconfig's ModulesRule builds
 * them: "dir/*" targets enumerate one directory (not recursively), other targets name one file.
 * Sources under $(...) are the SDK's and are not checked here.
 */
export function providedModules(root: string, modules: Json, problems: string[], where: string): Map<string, string> {
  const provided = new Map<string, string>();
  if (modules === undefined) return provided;
  if (typeof modules !== "object" || modules === null || Array.isArray(modules)) {
    problems.push(`${where}: "modules" must be an object`);
    return provided;
  }
  const add = (name: string, file: string) => {
    const previous = provided.get(name);
    if (previous && previous !== file) problems.push(`${where}: module ${name} is mapped to both ${previous} and ${file}`);
    provided.set(name, file);
  };
  for (const [target, value] of Object.entries(modules)) {
    const sources = Array.isArray(value) ? value : [value];
    for (const source of sources) {
      if (typeof source !== "string") {
        problems.push(`${where}: module ${target} has a non-string source`);
        continue;
      }
      if (source.startsWith("$(")) continue;
      if (!source.startsWith("./")) {
        problems.push(`${where}: module source ${source} must start with ./ (relative to the manifest) or $(...)`);
        continue;
      }
      const path = posix(source.slice(2));
      if (path.endsWith("/*")) {
        const folder = path.slice(0, -2);
        if (!existsSync(join(root, folder)) || !statSync(join(root, folder)).isDirectory()) {
          problems.push(`${where}: ${source} names directory ${folder}, which does not exist (mcconfig stops with "directory not found")`);
          continue;
        }
        const files = listFiles(root, folder, false).filter(isModuleSource);
        if (files.length === 0) problems.push(`${where}: ${source} matches no module`);
        const prefix = target === "*" ? "" : target.endsWith("/*") ? target.slice(0, -1) : undefined;
        if (prefix === undefined) {
          problems.push(`${where}: ${source} is a pattern but its target ${target} is not`);
          continue;
        }
        for (const file of files) add(prefix + basename(withoutExtension(file)), file);
      } else {
        const file = [".ts", ".js", ".mjs", ""].map((extension) => path + extension).find((candidate) => existsSync(join(root, candidate)) && statSync(join(root, candidate)).isFile() && isModuleSource(candidate));
        if (!file) {
          problems.push(`${where}: module ${target} -> ${source} does not resolve to a .ts or .js file`);
          continue;
        }
        add(target === "*" ? basename(withoutExtension(file)) : target, file);
      }
    }
  }
  return provided;
}

/** XS's module specifier resolution (fxFindModule, xs/platforms/mc/xsHosts.c). */
export function resolveLikeXs(importer: string, specifier: string): string | undefined {
  let name = specifier.startsWith("moddable:") ? specifier.slice(9) : specifier;
  const lastSlash = name.lastIndexOf("/");
  const lastDot = name.lastIndexOf(".");
  if (lastDot > lastSlash && (name.slice(lastDot) === ".js" || name.slice(lastDot) === ".mjs")) name = name.slice(0, lastDot);
  let ups = 0;
  let rest: string;
  if (name.startsWith("./")) {
    ups = 1;
    rest = name.slice(1);
  } else if (name.startsWith("../")) {
    let index = 2;
    ups = 2;
    while (name.startsWith("../", index + 1)) {
      ups++;
      index += 3;
    }
    rest = name.slice(index);
  } else return name;
  let base = "/" + importer;
  for (let cut = 0; cut < ups; cut++) {
    const slash = base.lastIndexOf("/");
    if (slash < 0) return undefined;
    base = base.slice(0, slash);
  }
  return (base + rest).slice(1);
}

/** The alias file for directory module `name` ("src/a/b" -> hosts/esp32/index-modules/a/b.js). */
export function indexAliasFile(name: string): string {
  return `${INDEX_MODULES}/${name.slice("src/".length)}.js`;
}

/** What an index alias contains: a re-export of the directory's index, relative to its module name. */
export function indexAliasSource(name: string): string {
  return `// Generated by hosts/esp32/check-manifest.ts --write: lets XS load the directory import "${name}".\nexport * from "./${basename(name)}/index";\n`;
}

/** The index file an alias stands for, when `file` is an alias. */
function aliasedIndex(file: string): string | undefined {
  return file.startsWith(INDEX_MODULES + "/") ? `src/${withoutExtension(file.slice(INDEX_MODULES.length + 1))}/index.ts` : undefined;
}

interface Graph {
  /** file -> imports (resolved file, or external specifier) */
  edges: Map<string, { specifier: string; file?: string }[]>;
}

async function importGraph(root: string, entries: string[]): Promise<Graph> {
  const external: Plugin = {
    name: "moddable-modules",
    setup(builder) {
      builder.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith("@noble/") ? undefined : { path: args.path, external: true }));
    },
  };
  const result = await build({
    entryPoints: entries.map((entry) => join(root, entry)),
    absWorkingDir: root,
    bundle: true,
    write: false,
    metafile: true,
    outdir: "out",
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    conditions: ["import", "default"],
    // Keep paths as the manifest sees them, even when parts of the tree are symbolic links.
    preserveSymlinks: true,
    logLevel: "silent",
    plugins: [external],
  });
  const metafile: Metafile = result.metafile;
  const edges = new Map<string, { specifier: string; file?: string }[]>();
  for (const [file, input] of Object.entries(metafile.inputs)) {
    edges.set(posix(file), input.imports.map((record) => ({
      specifier: record.original ?? record.path,
      ...(record.external ? {} : { file: posix(record.path) }),
    })));
  }
  return { edges };
}

function partitionProblems(root: string, path: string): string[] {
  const problems: string[] = [];
  if (!existsSync(join(root, path))) return [`partition table ${path} does not exist`];
  const rows = readFileSync(join(root, path), "utf8").split("\n").map((line) => line.trim()).filter((line) => line && !line.startsWith("#"));
  const seen = new Map<string, { type: string; offset: number; size: number; flags: string }>();
  const spans: { name: string; start: number; end: number }[] = [];
  for (const row of rows) {
    const [name, type, subtype, offsetText, sizeText, flags = ""] = row.split(",").map((cell) => cell.trim());
    if (!name || !type || !subtype || !offsetText || !sizeText) {
      problems.push(`${path}: incomplete row "${row}"`);
      continue;
    }
    const offset = Number(offsetText);
    const size = Number(sizeText);
    if (!Number.isInteger(offset) || !Number.isInteger(size) || size <= 0) {
      problems.push(`${path}: ${name} needs explicit numeric offset and size`);
      continue;
    }
    const alignment = type === "app" ? 0x10000 : 0x1000;
    if (offset % alignment !== 0) problems.push(`${path}: ${name} at 0x${offset.toString(16)} is not ${alignment === 0x10000 ? "64 KB" : "4 KB"} aligned`);
    if (size % 0x1000 !== 0) problems.push(`${path}: ${name} size 0x${size.toString(16)} is not a multiple of 4 KB`);
    if (offset + size > FLASH_SIZE) problems.push(`${path}: ${name} ends beyond 4 MB`);
    if (seen.has(name)) problems.push(`${path}: ${name} appears twice`);
    seen.set(name, { type, offset, size, flags });
    spans.push({ name, start: offset, end: offset + size });
  }
  spans.sort((a, b) => a.start - b.start);
  for (let index = 1; index < spans.length; index++) {
    if (spans[index]!.start < spans[index - 1]!.end) problems.push(`${path}: ${spans[index - 1]!.name} and ${spans[index]!.name} overlap`);
  }
  if (spans.length && spans[0]!.start < 0xd000) problems.push(`${path}: partitions must start after the table at 0xC000`);
  for (const [name, expected] of Object.entries(REQUIRED_PARTITIONS)) {
    const row = seen.get(name);
    if (!row) problems.push(`${path}: no ${name} partition`);
    else {
      if (row.type !== expected.type) problems.push(`${path}: ${name} must be of type ${expected.type}`);
      if (expected.size !== undefined && row.size !== expected.size) problems.push(`${path}: ${name} must be 0x${expected.size.toString(16)} bytes`);
    }
  }
  for (const name of ["factory", "nvs_keys"]) if (seen.get(name) && !seen.get(name)!.flags.includes("encrypted")) problems.push(`${path}: ${name} must be flagged encrypted`);
  return problems;
}

function gattProblems(root: string, folder: string): string[] {
  const path = `${folder}/matter.json`;
  if (!existsSync(join(root, path))) return [`GATT service ${path} does not exist (the "ble" entry lists ${folder})`];
  let service: Json;
  try {
    service = JSON.parse(readFileSync(join(root, path), "utf8")).service;
  } catch (error) {
    return [`${path}: ${(error as Error).message}`];
  }
  const problems: string[] = [];
  if (service?.uuid !== MATTER_GATT.service) problems.push(`${path}: service UUID must be ${MATTER_GATT.service}`);
  for (const name of ["C1", "C2", "C3"]) {
    const characteristic = service?.characteristics?.[name];
    if (characteristic?.uuid !== MATTER_GATT[name]) problems.push(`${path}: ${name} UUID must be ${MATTER_GATT[name]}`);
    if (characteristic?.type !== "Array") problems.push(`${path}: ${name} must have type "Array" (bytes in, exact ArrayBuffers out)`);
  }
  const properties = (name: string) => String(service?.characteristics?.[name]?.properties ?? "").split(",").map((item: string) => item.trim());
  if (!properties("C1").includes("write")) problems.push(`${path}: C1 must be writable`);
  if (!properties("C2").includes("indicate")) problems.push(`${path}: C2 must indicate`);
  if (!properties("C3").includes("read")) problems.push(`${path}: C3 must be readable`);
  return problems;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export async function checkManifest(root: string): Promise<ManifestCheck> {
  const problems: string[] = [];
  const empty: DerivedLists = { srcPatterns: {}, indexAliases: {}, noble: {}, preload: [], simulatorPreload: [] };
  let manifest: Json;
  try {
    manifest = JSON.parse(readFileSync(join(root, MANIFEST), "utf8"));
  } catch (error) {
    return { problems: [`${MANIFEST} is not valid JSON: ${(error as Error).message}`], advice: [], derived: empty };
  }
  if (typeof manifest !== "object" || manifest === null || Array.isArray(manifest)) return { problems: [`${MANIFEST} must be a JSON object`], advice: [], derived: empty };
  const advice: string[] = [];

  // Shape.
  const includes = manifest.include;
  if (!Array.isArray(includes) || !includes.includes("$(MODDABLE)/examples/manifest_base.json")) problems.push(`"include" must list $(MODDABLE)/examples/manifest_base.json`);
  for (const include of Array.isArray(includes) ? includes : []) {
    if (typeof include !== "string") problems.push(`"include" entries must be strings`);
    else if (include.startsWith("./") && !existsSync(join(root, include))) problems.push(`include ${include} does not exist`);
  }
  const platforms = manifest.platforms ?? {};
  for (const name of [DEVICE_PLATFORM, ...SIMULATOR_PLATFORMS, "..."]) if (!(name in platforms)) problems.push(`"platforms" has no ${name} entry`);
  const device = platforms[DEVICE_PLATFORM] ?? {};
  const mainOf = (platform: Json) => platform?.creation?.main ?? manifest.creation?.main;
  if (mainOf(device) !== DEVICE_MAIN) problems.push(`platforms.${DEVICE_PLATFORM} must start ${DEVICE_MAIN} (creation.main)`);
  for (const name of SIMULATOR_PLATFORMS) if (mainOf(platforms[name]) !== SIM_MAIN) problems.push(`platforms.${name} must start ${SIM_MAIN} (creation.main)`);
  for (const name of SIMULATOR_PLATFORMS.slice(1)) {
    if (!sameJson(platforms[name]?.modules, platforms[SIMULATOR_PLATFORMS[0]]?.modules)) problems.push(`platforms.${name}.modules must equal platforms.${SIMULATOR_PLATFORMS[0]}.modules`);
  }
  for (const key of ["chunk", "heap"]) {
    if (!Number.isInteger(device.creation?.[key]?.initial) || device.creation[key].initial <= 0) problems.push(`platforms.${DEVICE_PLATFORM}.creation.${key}.initial must be a positive integer`);
  }
  if (!Number.isInteger(device.creation?.stack) || device.creation.stack <= 0) problems.push(`platforms.${DEVICE_PLATFORM}.creation.stack must be a positive integer`);
  if (manifest.config?.production !== false) problems.push(`config.production must default to false (release builds set production=true on the mcconfig command line)`);
  const build = device.build ?? {};
  const buildPath = (value: unknown) => (typeof value === "string" && value.startsWith("./") ? value.slice(2) : undefined);
  const sdkconfig = buildPath(build.SDKCONFIGPATH);
  if (!sdkconfig || !existsSync(join(root, sdkconfig, "sdkconfig.defaults")) || !existsSync(join(root, sdkconfig, "sdkconfig.defaults.release"))) {
    problems.push(`platforms.${DEVICE_PLATFORM}.build.SDKCONFIGPATH must name a directory with sdkconfig.defaults and sdkconfig.defaults.release`);
  }
  const partitions = buildPath(build.PARTITIONS_FILE);
  if (!partitions) problems.push(`platforms.${DEVICE_PLATFORM}.build.PARTITIONS_FILE must name the partition table (./...)`);
  else problems.push(...partitionProblems(root, partitions));
  const ble = device.ble?.["*"];
  const bleFolder = Array.isArray(ble) && typeof ble[0] === "string" && ble[0].endsWith("/bleservices/*") ? buildPath(ble[0].slice(0, -2)) : undefined;
  if (!bleFolder) problems.push(`platforms.${DEVICE_PLATFORM}.ble must list ./.../bleservices/*`);
  else problems.push(...gattProblems(root, bleFolder));
  for (const type of manifest.typescript?.tsconfig?.compilerOptions?.types ?? []) {
    const path = buildPath(type);
    if (path && !existsSync(join(root, path + ".d.ts"))) problems.push(`typescript type file ${type}.d.ts does not exist`);
  }

  // Modules per platform.
  const common = providedModules(root, manifest.modules, problems, "modules");
  const onDevice = new Map([...common, ...providedModules(root, device.modules, problems, `platforms.${DEVICE_PLATFORM}.modules`)]);
  const onSimulator = new Map([...common, ...providedModules(root, platforms[SIMULATOR_PLATFORMS[0]]?.modules, problems, `platforms.${SIMULATOR_PLATFORMS[0]}.modules`)]);

  const srcFiles = listFiles(root, "src", true).filter((path) => path.endsWith(".ts") && !path.endsWith(".d.ts"));
  const hostFiles = listFiles(root, HOST_DIR, false).filter((path) => path.endsWith(".ts") && !path.endsWith(".d.ts"));
  const standInFiles = listFiles(root, RUNTIME_LOADED_DIR, false).filter((path) => path.endsWith(".ts") && !path.endsWith(".d.ts"));
  for (const [name, file] of Object.entries(RUNTIME_LOADED)) if (!standInFiles.includes(file)) problems.push(`${file} (the stand-in for ${name}) does not exist`);
  /** src files loaded at run time on the device: provided as "<name>-runtime", not under their own name. */
  const runtimeSrcFiles = new Set(Object.keys(RUNTIME_LOADED).filter((name) => name.startsWith("src/")).map((name) => `${name}.ts`));
  const suiteFiles = listFiles(root, "test/suites", false).filter((path) => path.endsWith(".ts"));
  const expect = (provided: Map<string, string>, files: string[], where: string) => {
    for (const file of files) {
      const name = withoutExtension(file) + (runtimeSrcFiles.has(file) ? RUNTIME_SUFFIX : "");
      if (provided.get(name) !== file) problems.push(`${where}: ${file} is not provided as module ${name}`);
    }
  };
  expect(onDevice, srcFiles, DEVICE_PLATFORM);
  expect(onDevice, hostFiles.filter((file) => !HOST_ONLY.has(file)), DEVICE_PLATFORM);
  expect(onSimulator, srcFiles, "simulator");
  for (const [where, provided] of [[DEVICE_PLATFORM, onDevice], ["simulator", onSimulator]] as const) {
    for (const file of standInFiles) if (provided.get(standInName(file)) !== file) problems.push(`${where}: ${file} is not provided as module ${standInName(file)}`);
  }
  expect(onSimulator, [...suiteFiles, "test/portable/harness.ts", `${SIM_MAIN}.ts`, `${HOST_DIR}/globals.ts`], "simulator");
  for (const [name, file] of onDevice) {
    if (HOST_ONLY.has(file) || file.startsWith("test/")) problems.push(`${DEVICE_PLATFORM}: ${file} (module ${name}) must not go to the device`);
  }

  // Imports, resolved as XS resolves them.
  const derived: DerivedLists = { srcPatterns: {}, indexAliases: {}, noble: {}, preload: [], simulatorPreload: [] };
  // A folder with a runtime-loaded module is listed file by file: its pattern would give that
  // module's name to the real file.
  for (const folder of [...new Set(srcFiles.map((file) => dirname(file)))].sort()) {
    const files = srcFiles.filter((file) => dirname(file) === folder);
    if (!files.some((file) => runtimeSrcFiles.has(file))) derived.srcPatterns[`${folder}/*`] = `./${folder}/*`;
    else {
      for (const file of files) {
        const name = withoutExtension(file);
        if (runtimeSrcFiles.has(file)) {
          derived.srcPatterns[name] = `./${withoutExtension(RUNTIME_LOADED[name]!)}`;
          derived.srcPatterns[name + RUNTIME_SUFFIX] = `./${name}`;
        } else derived.srcPatterns[name] = `./${name}`;
      }
    }
  }
  const nobleReached = new Set<string>();
  const graphs: { label: string; provided: Map<string, string>; sdk: ReadonlySet<string>; graph: Graph }[] = [];
  for (const [label, provided, sdk] of [[DEVICE_PLATFORM, onDevice, SDK_MODULES.esp32!], ["simulator", onSimulator, SDK_MODULES.sim!]] as const) {
    const entries = [...provided.values()].filter((file) => file.endsWith(".ts") && !file.startsWith("node_modules/"));
    let graph: Graph;
    try {
      graph = await importGraph(root, entries);
    } catch (error) {
      problems.push(`${label}: the modules do not bundle: ${(error as Error).message.split("\n")[0]}`);
      continue;
    }
    graphs.push({ label, provided, sdk, graph });
    const nameOf = new Map([...provided].map(([name, file]) => [file, name]));
    for (const [file, imports] of graph.edges) {
      if (file.startsWith("node_modules/@noble/")) nobleReached.add(file);
      const importer = nameOf.get(file);
      if (importer === undefined) {
        if (!file.startsWith("node_modules/@noble/")) problems.push(`${label}: ${file} is imported but not provided by the manifest`);
        continue;
      }
      for (const { specifier, file: target } of imports) {
        if (specifier.startsWith("node:")) {
          problems.push(`${label}: ${file} imports ${specifier}, which XS does not have`);
          continue;
        }
        if (target === undefined) {
          if (!sdk.has(specifier)) problems.push(`${label}: ${file} imports ${specifier}, which no Moddable SDK manifest included here provides`);
          continue;
        }
        const name = resolveLikeXs(importer, specifier);
        const isDirectoryImport = name !== undefined && name.startsWith("src/") && `${name}/index` === withoutExtension(target);
        if (isDirectoryImport) derived.indexAliases[name] = `./${withoutExtension(indexAliasFile(name))}`;
        const loaded = name === undefined ? undefined : provided.get(name);
        if (name === undefined) problems.push(`${label}: ${file} imports ${specifier}, which XS cannot resolve from module ${importer}`);
        else if (loaded === undefined) problems.push(`${label}: ${file} imports ${specifier}; XS looks for module ${name}, which the manifest does not provide${isDirectoryImport ? " (a directory import: it needs an index alias)" : ""}`);
        else if (isRuntimeLoaded(name)) {
          if (loaded !== RUNTIME_LOADED[name]) problems.push(`${label}: module ${name} must be its stand-in ${RUNTIME_LOADED[name]}`);
          if (provided.get(name + RUNTIME_SUFFIX) !== target) problems.push(`${label}: module ${name}${RUNTIME_SUFFIX} must be ${target}, which its stand-in loads`);
        } else if (loaded !== target && aliasedIndex(loaded) !== target) problems.push(`${label}: ${file} imports ${specifier}; XS loads ${loaded} but Node resolves ${target}`);
      }
    }
  }
  for (const [name, source] of Object.entries(derived.indexAliases)) {
    const file = source.slice(2) + ".js";
    if (!existsSync(join(root, file)) || readFileSync(join(root, file), "utf8") !== indexAliasSource(name)) problems.push(`index alias ${file} for ${name} is missing or out of date`);
  }
  for (const file of listFiles(root, INDEX_MODULES, true)) {
    const name = "src/" + withoutExtension(file.slice(INDEX_MODULES.length + 1));
    if (!(name in derived.indexAliases)) problems.push(`${file} aliases ${name}, which nothing imports as a directory`);
  }

  // noble files that are imported but not listed were reported above through their importers;
  // the reverse is dead weight in flash.
  for (const file of [...nobleReached].sort()) {
    const name = withoutExtension(file.slice("node_modules/".length));
    if (isRuntimeLoaded(name)) {
      derived.noble[name] = `./${withoutExtension(RUNTIME_LOADED[name]!)}`;
      derived.noble[name + RUNTIME_SUFFIX] = `./${withoutExtension(file)}`;
    } else derived.noble[name] = `./${withoutExtension(file)}`;
  }
  for (const file of standInFiles) {
    const name = standInName(file);
    if (name.startsWith("@noble/") && !(name in derived.noble)) derived.noble[name] = `./${withoutExtension(file)}`;
  }
  for (const [name, file] of onDevice) {
    if (file.startsWith("node_modules/@noble/") && !nobleReached.has(file)) problems.push(`${DEVICE_PLATFORM}: ${name} is listed but nothing imports it`);
  }

  // Preload: what the device's modules reach, as XS resolves their imports, without going
  // through a runtime-loaded module (its stand-in is reached instead), the entry point excepted.
  const deviceGraph = graphs.find((entry) => entry.label === DEVICE_PLATFORM);
  if (deviceGraph) {
    const runtimeNames = new Set(Object.keys(RUNTIME_LOADED).map((name) => name + RUNTIME_SUFFIX));
    const nameOf = new Map([...deviceGraph.provided].map(([name, file]) => [file, name]));
    const reached = new Set<string>();
    const visit = (name: string) => {
      if (reached.has(name) || runtimeNames.has(name)) return;
      reached.add(name);
      const file = deviceGraph.provided.get(name);
      for (const { specifier, file: target } of (file && deviceGraph.graph.edges.get(file)) || []) {
        if (target === undefined) continue;
        const imported = resolveLikeXs(name, specifier);
        if (imported !== undefined && deviceGraph.provided.has(imported)) visit(imported);
        else if (nameOf.has(target)) visit(nameOf.get(target)!);
      }
    };
    for (const [name, file] of deviceGraph.provided) if (!file.startsWith("node_modules/") && name !== DEVICE_MAIN && !runtimeNames.has(name)) visit(name);
    derived.preload = [...reached]
      // The Web globals first, so they exist while the other modules are preloaded.
      .sort((a, b) => Number(b === GLOBALS) - Number(a === GLOBALS) || (a < b ? -1 : a > b ? 1 : 0));
    const listed: unknown[] = [...(Array.isArray(manifest.preload) ? manifest.preload : []), ...(Array.isArray(device.preload) ? device.preload : [])];
    for (const name of listed) {
      if (typeof name !== "string") problems.push(`preload entries must be strings`);
      else if (name.includes("*")) problems.push(`preload ${name}: mcconfig applies "*" preload patterns to JavaScript modules only; list TypeScript modules by name`);
      else if (runtimeNames.has(name)) problems.push(`preload ${name}: it writes state on every use that a preloaded module cannot hold`);
      else if (!derived.preload.includes(name)) {
        problems.push(`preload ${name}: ${name === DEVICE_MAIN ? "the entry point calls native functions and cannot be preloaded" : onDevice.has(name) ? "only runtime-loaded modules import it, so preloading it would freeze their state" : "is not a module of the device build"}`);
      }
    }
    for (const name of derived.preload) if (!listed.includes(name)) advice.push(`preload: ${name} can be preloaded but is not listed`);
    if (listed[0] !== GLOBALS) problems.push(`preload: ${GLOBALS} must come first, so the Web globals exist while the other modules are preloaded`);
    // The simulator build preloads the same firmware, so that running it in mcsim checks the preload.
    const simulatorPreload = derived.preload.filter((name) => name.startsWith("@noble/") || onSimulator.has(name));
    for (const name of SIMULATOR_PLATFORMS) {
      if (!sameJson(platforms[name]?.preload, simulatorPreload)) problems.push(`platforms.${name}.preload must list the device's preloaded modules the simulator has: ${JSON.stringify(simulatorPreload)}`);
    }
    derived.simulatorPreload = simulatorPreload;
  }

  // Module-level regular expressions in preloaded firmware modules: with several in one module,
  // Moddable's XS 8.2.3 release builds crash when they are used (reproduced in mcsim), so the
  // firmware makes them where they are used.
  // Module-level BigInt constants compared for equality: XS 8.2.3 finds a preloaded BigInt unequal
  // to an equal one computed at run time (relational operators and arithmetic are right).
  for (const file of [...srcFiles, ...hostFiles]) {
    const text = readFileSync(join(root, file), "utf8");
    const lines = text.split("\n");
    lines.forEach((line, index) => {
      if (/^(export )?(const|let|var) [\w$]+(: [^=]+)? = \/[^/*]/.test(line)) problems.push(`${file}:${index + 1}: a module-level regular expression in a preloaded module; make it where it is used`);
      const bigint = /^(?:export )?const ([\w$]+)(?:: bigint)? = [^;]*\b(?:0x[0-9a-fA-F_]+|\d[\d_]*)n\b/.exec(line);
      if (bigint && new RegExp(`[!=]==?\\s*${bigint[1]}\\b|\\b${bigint[1]}\\s*[!=]==?`).test(text)) {
        problems.push(`${file}:${index + 1}: ${bigint[1]}, a module-level BigInt, is compared for equality; XS 8.2.3 finds a preloaded BigInt unequal to an equal run-time one: use a literal where it is compared`);
      }
    });
  }

  // The derived lists as manifest.json holds them.
  if (!sameJson(pick(manifest.modules, (key) => key.startsWith("src/")), { ...derived.srcPatterns, ...derived.indexAliases })) {
    problems.push(`"modules" must map exactly these src patterns and index aliases: ${JSON.stringify({ ...derived.srcPatterns, ...derived.indexAliases })}`);
  }
  if (!sameJson(pick(device.modules, (key) => key.startsWith("@noble/")), derived.noble)) {
    problems.push(`platforms.${DEVICE_PLATFORM}.modules must list exactly the noble modules the firmware imports`);
  }
  if (!sameJson(pick(platforms[SIMULATOR_PLATFORMS[0]]?.modules, (key) => key.startsWith("@noble/")), derived.noble)) {
    problems.push(`platforms.${SIMULATOR_PLATFORMS[0]}.modules must list exactly the noble modules the firmware imports`);
  }
  return { problems, advice, derived };
}

function pick(object: Json, keep: (key: string) => boolean): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object ?? {})) if (keep(key)) picked[key] = value;
  return picked;
}

/** Rewrites the derived parts of manifest.json; everything else is kept as it is. */
export function writeDerived(root: string, derived: DerivedLists): void {
  const manifest = JSON.parse(readFileSync(join(root, MANIFEST), "utf8"));
  const replace = (modules: Record<string, unknown>, prefix: string, entries: Record<string, string>) => {
    const kept = Object.entries(modules ?? {}).filter(([key]) => !key.startsWith(prefix));
    return Object.fromEntries([...Object.entries(entries), ...kept]);
  };
  manifest.modules = replace(manifest.modules, "src/", { ...derived.srcPatterns, ...derived.indexAliases });
  for (const file of listFiles(root, INDEX_MODULES, true)) rmSync(join(root, file));
  for (const name of Object.keys(derived.indexAliases)) {
    const file = join(root, indexAliasFile(name));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, indexAliasSource(name));
  }
  manifest.platforms[DEVICE_PLATFORM].modules = replace(manifest.platforms[DEVICE_PLATFORM].modules, "@noble/", derived.noble);
  for (const name of SIMULATOR_PLATFORMS) manifest.platforms[name].modules = replace(manifest.platforms[name].modules, "@noble/", derived.noble);
  manifest.platforms[DEVICE_PLATFORM].preload = derived.preload;
  for (const name of SIMULATOR_PLATFORMS) manifest.platforms[name].preload = derived.simulatorPreload;
  delete manifest.preload;
  writeFileSync(join(root, MANIFEST), JSON.stringify(manifest, null, "\t") + "\n");
}

async function main(): Promise<number> {
  const root = join(dirname(new URL(import.meta.url).pathname), "..", "..");
  const check = await checkManifest(root);
  if (process.argv.includes("--write")) {
    // The preload list follows the module names the manifest provides, so a rewrite that changes
    // those settles on a second pass.
    writeDerived(root, check.derived);
    let again = await checkManifest(root);
    if (again.problems.length > 0) {
      writeDerived(root, again.derived);
      again = await checkManifest(root);
    }
    for (const problem of again.problems) console.log(problem);
    console.log(again.problems.length === 0 ? `${MANIFEST}: derived lists rewritten, all checks pass` : `${MANIFEST}: ${again.problems.length} problems remain`);
    return again.problems.length === 0 ? 0 : 1;
  }
  for (const problem of check.problems) console.log(problem);
  for (const note of check.advice) console.log(`advice: ${note}`);
  console.log(check.problems.length === 0 ? `${relative(process.cwd(), join(root, MANIFEST)) || MANIFEST}: ok` : `${check.problems.length} problems (npx tsx hosts/esp32/check-manifest.ts --write fixes the derived lists)`);
  return check.problems.length === 0 ? 0 : 1;
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) process.exitCode = await main();
