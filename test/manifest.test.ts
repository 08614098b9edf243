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
    delete manifest.platforms.esp32.modules["@noble/hashes/sha2"];
    delete manifest.modules["src/crypto"];
  });
  expectProblem(problems, /imports @noble\/hashes\/sha2\.js; XS looks for module @noble\/hashes\/sha2, which the manifest does not provide/);
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
    device.preload.push("src/crypto/hash", "@noble/hashes/sha2", "src/*");
    device.modules["hosts/esp32/sim-main"] = "./hosts/esp32/sim-main";
  });
  expectProblem(problems, /preload src\/crypto\/hash: imports noble/);
  expectProblem(problems, /preload @noble\/hashes\/sha2: noble cannot be preloaded/);
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
