// manifest.json against the tree: hosts/esp32/check-manifest.ts on the real repository, and on
// copies with one thing broken each, to show that each check catches what it is for.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkManifest, resolveLikeXs } from "../hosts/esp32/check-manifest";
import { repositoryRoot } from "./portable/vectors";

test("manifest.json lists every firmware module, resolves every import as XS does, and preloads only what can be preloaded", async (t) => {
  const { problems, advice } = await checkManifest(repositoryRoot);
  for (const note of advice) t.diagnostic(`${note} (npx tsx hosts/esp32/check-manifest.ts --write)`);
  assert.deepEqual(problems, [], problems.join("\n"));
});

test("XS module specifier resolution", () => {
  assert.equal(resolveLikeXs("src/crypto/aes", "./bytes"), "src/crypto/bytes");
  assert.equal(resolveLikeXs("src/crypto/aes", "../codec/tlv"), "src/codec/tlv");
  assert.equal(resolveLikeXs("test/suites/tlv.suite", "../../src/codec/tlv"), "src/codec/tlv");
  assert.equal(resolveLikeXs("@noble/curves/nist", "./abstract/weierstrass.js"), "@noble/curves/abstract/weierstrass");
  assert.equal(resolveLikeXs("@noble/curves/abstract/weierstrass", "../utils.js"), "@noble/curves/utils");
  assert.equal(resolveLikeXs("src/crypto/hash", "@noble/hashes/sha2.js"), "@noble/hashes/sha2");
  assert.equal(resolveLikeXs("src/x", "./data.json"), "src/data.json", "only .js and .mjs are dropped");
  assert.equal(resolveLikeXs("main", "../other"), undefined, "cannot climb above the root");
});

/** A scratch repository: the real tree by symbolic links, with manifest.json (and more) replaced. */
function scratch(mutate: (manifest: any, root: string) => void): string {
  const root = mkdtempSync(join(tmpdir(), "matter-xs-manifest-"));
  for (const entry of ["src", "test", "node_modules"]) symlinkSync(join(repositoryRoot, entry), join(root, entry));
  cpSync(join(repositoryRoot, "hosts"), join(root, "hosts"), { recursive: true, filter: (path) => !path.includes("node_modules") });
  const manifest = JSON.parse(readFileSync(join(repositoryRoot, "manifest.json"), "utf8"));
  mutate(manifest, root);
  writeFileSync(join(root, "manifest.json"), typeof manifest === "string" ? manifest : JSON.stringify(manifest));
  return root;
}

async function checkAfter(mutate: (manifest: any, root: string) => void) {
  const root = scratch(mutate);
  try {
    return await checkManifest(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function problemsAfter(mutate: (manifest: any, root: string) => void): Promise<string[]> {
  return (await checkAfter(mutate)).problems;
}

function expectProblem(problems: string[], pattern: RegExp): void {
  assert.ok(problems.some((problem) => pattern.test(problem)), `no problem matching ${pattern}; got:\n${problems.join("\n")}`);
}

test("the checker rejects a manifest that is not JSON", async () => {
  const root = scratch(() => {});
  try {
    writeFileSync(join(root, "manifest.json"), "{ \"modules\": ");
    expectProblem((await checkManifest(root)).problems, /not valid JSON/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the checker finds firmware modules the manifest leaves out", async () => {
  expectProblem(await problemsAfter((manifest) => delete manifest.modules["src/codec/*"]), /src\/codec\/tlv\.ts is not provided as module src\/codec\/tlv/);
});

test("the checker finds listed modules that do not exist", async () => {
  const problems = await problemsAfter((manifest) => {
    manifest.modules["src/ghost"] = "./src/ghost";
    manifest.modules["src/nowhere/*"] = "./src/nowhere/*";
  });
  expectProblem(problems, /src\/ghost -> \.\/src\/ghost does not resolve/);
  expectProblem(problems, /directory src\/nowhere, which does not exist/);
});

test("the checker finds imports XS could not load", async () => {
  const problems = await problemsAfter((manifest) => {
    delete manifest.platforms.esp32.modules["@noble/hashes/hmac"];
    delete manifest.modules["src/crypto"];
  });
  expectProblem(problems, /imports @noble\/hashes\/hmac\.js; XS looks for module @noble\/hashes\/hmac, which the manifest does not provide/);
  expectProblem(problems, /XS looks for module src\/crypto, which the manifest does not provide \(a directory import/);
});

test("the checker finds noble modules listed but never imported", async () => {
  expectProblem(
    await problemsAfter((manifest) => (manifest.platforms.esp32.modules["@noble/curves/ed25519"] = "./node_modules/@noble/curves/ed25519")),
    /@noble\/curves\/ed25519 is listed but nothing imports it/,
  );
});

test("the checker keeps the preload list exact and host-only modules off the device", async () => {
  const problems = await problemsAfter((manifest) => {
    const device = manifest.platforms.esp32;
    device.preload.splice(device.preload.indexOf("src/codec/tlv"), 1);
    device.preload.push("hosts/esp32/main", "@noble/hashes/sha2-runtime", "src/*");
    device.modules["hosts/esp32/sim-main"] = "./hosts/esp32/sim-main";
    manifest.platforms.lin.preload.pop();
  });
  expectProblem(problems, /preload hosts\/esp32\/main: the entry point calls native functions/);
  expectProblem(problems, /preload @noble\/hashes\/sha2-runtime: it writes state on every use/);
  expectProblem(problems, /platforms\.lin\.preload must list the device's preloaded modules/);
  expectProblem(problems, /preload src\/\*: mcconfig applies "\*" preload patterns to JavaScript modules only/);
  expectProblem(problems, /sim-main\.ts \(module hosts\/esp32\/sim-main\) must not go to the device/);
});

test("a preloadable module left out of the preload is advice, not a problem", async () => {
  const { problems, advice } = await checkAfter((manifest) => {
    const device = manifest.platforms.esp32;
    device.preload.splice(device.preload.indexOf("src/codec/tlv"), 1);
  });
  expectProblem(advice, /src\/codec\/tlv can be preloaded but is not listed/);
  assert.ok(!problems.some((problem) => /src\/codec\/tlv/.test(problem)), problems.join("\n"));
});

test("the checker validates the partition table and the GATT service", async () => {
  const problems = await problemsAfter((_manifest, root) => {
    const table = join(root, "hosts/esp32/partitions.csv");
    writeFileSync(table, readFileSync(table, "utf8")
      .replace("factory,   data, undefined, 0x11000,  0x6000", "factory,   data, undefined, 0x11000,  0x5000")
      .replace("ota_1,     app,  ota_1,     0x210000", "ota_1,     app,  ota_1,     0x200000"));
    const gatt = join(root, "hosts/esp32/bleservices/matter.json");
    writeFileSync(gatt, readFileSync(gatt, "utf8").replace("4F9C429F9D12", "4F9C429F9D13"));
  });
  expectProblem(problems, /factory must be 0x6000 bytes/);
  expectProblem(problems, /ota_0 and ota_1 overlap/);
  expectProblem(problems, /C2 UUID must be 18EE2EF5-263D-4559-959F-4F9C429F9D12/);
});

test("noble's scratch-writing hash modules are stand-ins on the device, loading the real ones at run time", async () => {
  const problems = await problemsAfter((manifest) => {
    manifest.platforms.esp32.modules["@noble/hashes/sha2"] = "./node_modules/@noble/hashes/sha2";
    delete manifest.platforms.esp32.modules["@noble/hashes/hkdf-runtime"];
  });
  expectProblem(problems, /esp32: module @noble\/hashes\/sha2 must be its stand-in hosts\/esp32\/runtime-loaded\/sha2\.ts/);
  expectProblem(problems, /esp32: module @noble\/hashes\/hkdf-runtime must be node_modules\/@noble\/hashes\/hkdf\.js, which its stand-in loads/);
});

test("the stand-ins present noble's hash shapes, and src/crypto through them computes what it computes on its own", async () => {
  const sha2 = await import("@noble/hashes/sha2.js");
  const sha3 = await import("@noble/hashes/sha3.js");
  const real: Record<string, unknown> = { ...sha2, ...sha3 };
  const { HASH_SHAPES } = await import("../hosts/esp32/runtime-loaded/late-hash");
  for (const [name, shape] of Object.entries(HASH_SHAPES)) {
    const hash = real[name] as { outputLen: number; blockLen: number; canXOF: boolean; oid: Uint8Array };
    assert.deepEqual({ outputLen: shape.outputLen, blockLen: shape.blockLen, canXOF: shape.canXOF, oid: [...shape.oid] }, { outputLen: hash.outputLen, blockLen: hash.blockLen, canXOF: hash.canXOF, oid: [...hash.oid] }, name);
  }
  // src/crypto bundled the way the device loads it: noble's sha2, sha3 and hkdf and src/crypto/curve
  // replaced by the stand-ins, and a "modules" whose importNow hands out the real ones under their
  // runtime names.
  const { build } = await import("esbuild");
  const standIns = join(repositoryRoot, "hosts/esp32/runtime-loaded");
  const bundled = await build({
    stdin: {
      contents: `export { sha256, hmacSha256, hkdfSha256, pbkdf2Sha256, ecdsaSign, ecdsaVerify, generateKeyPair, createHash, ecdh, spake2pComputeVerifier, spake2pVerifierShare } from "./src/crypto";`,
      resolveDir: repositoryRoot,
      loader: "ts",
    },
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    plugins: [{
      name: "device-modules",
      setup(builder) {
        builder.onResolve({ filter: /^@noble\/hashes\/(sha2|sha3|hkdf)\.js$/ }, (args) =>
          args.importer.startsWith(standIns) || args.namespace === "moddable" ? { path: args.path, external: true } : { path: join(standIns, args.path.slice("@noble/hashes/".length).replace(".js", ".ts")) });
        builder.onResolve({ filter: /^\.\/curve$/ }, (args) =>
          args.namespace === "moddable" ? undefined : args.importer.endsWith("src/crypto/p256.ts") || args.importer.endsWith("src/crypto/spake2p.ts") ? { path: join(standIns, "curve.ts") } : undefined);
        builder.onResolve({ filter: /^modules$/ }, () => ({ path: "modules", namespace: "moddable" }));
        builder.onLoad({ filter: /.*/, namespace: "moddable" }, () => ({
          // The runtime modules come from the test (globalThis.deviceRuntimeModules): importing them
          // here would make a cycle the device does not have (they load after everything else).
          contents: `export default class Modules { static importNow(name) { const runtime = globalThis.deviceRuntimeModules; if (!(name in runtime)) throw new Error("no module " + name); return runtime[name]; } }`,
          resolveDir: standIns,
          loader: "js",
        }));
      },
    }],
    logLevel: "silent",
  });
  const text = bundled.outputFiles[0]!.text;
  assert.match(text, /sha2-runtime/, "the bundle goes through the hash stand-ins");
  assert.match(text, /curve-runtime/, "the bundle goes through the curve stand-in");
  const directory = mkdtempSync(join(repositoryRoot, "node_modules/.cache/stand-ins-"));
  try {
    writeFileSync(join(directory, "device-crypto.mjs"), text);
    (globalThis as { deviceRuntimeModules?: object }).deviceRuntimeModules = {
      "@noble/hashes/sha2-runtime": sha2,
      "@noble/hashes/sha3-runtime": sha3,
      "@noble/hashes/hkdf-runtime": await import("@noble/hashes/hkdf.js"),
      "src/crypto/curve-runtime": await import("../src/crypto/curve"),
    };
    const device = await import(join(directory, "device-crypto.mjs"));
    const crypto = await import("../src/crypto");
    const message = new TextEncoder().encode("matter-xs stand-in check");
    const key = new Uint8Array(32).fill(7);
    assert.deepEqual(device.sha256(message), crypto.sha256(message));
    assert.deepEqual(device.hmacSha256(key, message), crypto.hmacSha256(key, message));
    assert.deepEqual(device.hkdfSha256(key, message, message, 48), crypto.hkdfSha256(key, message, message, 48));
    assert.deepEqual(device.pbkdf2Sha256(message, key, 1000, 32), crypto.pbkdf2Sha256(message, key, 1000, 32));
    for (const algorithm of ["sha-384", "sha-512", "sha3-224", "sha3-256", "sha3-384", "sha3-512"] as const) {
      assert.deepEqual(device.createHash(algorithm).update(message).digest(), crypto.createHash(algorithm).update(message).digest(), algorithm);
    }
    const pair = crypto.generateKeyPair({ bytes: (length: number) => new Uint8Array(length).fill(3) });
    const signature = device.ecdsaSign(pair.privateKey, message);
    assert.deepEqual(signature, crypto.ecdsaSign(pair.privateKey, message), "RFC 6979 signatures are deterministic");
    assert.ok(crypto.ecdsaVerify(pair.publicKey, message, signature));
    assert.ok(device.ecdsaVerify(pair.publicKey, message, signature));
    const peer = crypto.generateKeyPair({ bytes: (length: number) => new Uint8Array(length).fill(5) });
    assert.deepEqual(device.ecdh(pair.privateKey, peer.publicKey), crypto.ecdh(pair.privateKey, peer.publicKey));
    const salt = new Uint8Array(16).fill(9);
    const verifier = device.spake2pComputeVerifier(20202021, salt, 1000);
    assert.deepEqual(verifier, crypto.spake2pComputeVerifier(20202021, salt, 1000));
    assert.deepEqual(device.spake2pVerifierShare(pair.privateKey, verifier.w0), crypto.spake2pVerifierShare(pair.privateKey, verifier.w0));
  } finally {
    delete (globalThis as { deviceRuntimeModules?: object }).deviceRuntimeModules;
    rmSync(directory, { recursive: true, force: true });
  }
});

test("the checker refuses module-level regular expressions in the firmware (XS 8.2.3 release builds crash on them when preloaded)", async () => {
  const problems = await problemsAfter((_manifest, root) => {
    rmSync(join(root, "src"));
    cpSync(join(repositoryRoot, "src"), join(root, "src"), { recursive: true });
    writeFileSync(join(root, "src/codec/der.ts"), readFileSync(join(root, "src/codec/der.ts"), "utf8") + "\nconst DIGITS = /^[0-9]+$/;\nexport const isDigits = (text: string) => DIGITS.test(text);\n");
  });
  expectProblem(problems, /src\/codec\/der\.ts:\d+: a module-level regular expression in a preloaded module/);
});

test("the checker refuses module-level BigInt constants compared for equality (XS 8.2.3 finds preloaded BigInts unequal to run-time ones)", async () => {
  const problems = await problemsAfter((_manifest, root) => {
    rmSync(join(root, "src"));
    cpSync(join(repositoryRoot, "src"), join(root, "src"), { recursive: true });
    writeFileSync(join(root, "src/codec/bytes.ts"), readFileSync(join(root, "src/codec/bytes.ts"), "utf8") + "\nconst GROUP_PREFIX = 0xffff_ffff_ffff_0000n;\nexport const isGroupPrefix = (id: bigint) => id === GROUP_PREFIX;\n");
  });
  expectProblem(problems, /src\/codec\/bytes\.ts:\d+: GROUP_PREFIX, a module-level BigInt, is compared for equality/);
});
