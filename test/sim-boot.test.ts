// The simulator's application images (hosts/sim/app-image.ts), `matter-xs firmware`, and how the
// simulator flashes the build from source into ota_0: only when the build changed, resetting the
// boot record as a cable flash does, and never over what OTA updates installed since. Booting from
// the slots, rollback and OTA over the air are in test/ota-sim.test.ts.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { run as runFirmwareTool } from "../hosts/cli/firmware";
import { CliError } from "../hosts/cli/args";
import { encodeSimulatorApp, readSimulatorApp, SimulatorAppError, SIMULATOR_APP_MAGIC } from "../hosts/sim/app-image";
import { SimulatedFlash } from "../hosts/sim/platform/flash";
import { FACTORY_SLOT, Simulator } from "../hosts/sim/simulator";

const work = mkdtempSync(join(tmpdir(), "matter-xs-sim-boot-"));
after(() => rmSync(work, { recursive: true, force: true }));

const script = `globalThis.answer = 42; // ünïcode survives`;

test("an application image round-trips from bytes and from a slot whose tail holds an older image", () => {
  const image = encodeSimulatorApp({ softwareVersion: 7, softwareVersionString: "7.0-rc1", script });
  assert.equal(new TextDecoder().decode(image.subarray(0, 8)), SIMULATOR_APP_MAGIC);
  const app = readSimulatorApp(image);
  assert.deepEqual(
    { ...app },
    { softwareVersion: 7, softwareVersionString: "7.0-rc1", script, sha256: createHash("sha256").update(script).digest("hex"), length: image.length },
  );

  const flash = new SimulatedFlash({ layout: { ota_1: 0x4000 } });
  const slot = flash.open("ota_1")!;
  slot.write(0, new Uint8Array(0x3000).fill(0x5a)); // what an older, longer image left
  slot.erase(0, 0x1000);
  slot.write(0, image);
  assert.deepEqual(readSimulatorApp(slot), app);
  flash.close();
});

test("damaged or missing images are refused with the reason", () => {
  const image = encodeSimulatorApp({ softwareVersion: 2, softwareVersionString: "2.0", script });
  const refused = (bytes: Uint8Array, pattern: RegExp) => assert.throws(() => readSimulatorApp(bytes), (error) => error instanceof SimulatorAppError && pattern.test(error.message));
  refused(new Uint8Array(4096).fill(0xff), /erased/);
  refused(new Uint8Array(10), /cannot hold/);
  const magic = image.slice();
  magic[0]! ^= 1;
  refused(magic, /bad magic/);
  const format = image.slice();
  format[8] = 2;
  refused(format, /format 2/);
  refused(image.subarray(0, image.length - 1), /claims \d+ bytes; only \d+/);
  const tampered = image.slice();
  tampered[tampered.length - 3]! ^= 0x01;
  refused(tampered, /SHA-256 does not match/);
  // Bytes that are not UTF-8, with a digest that matches them.
  const notText = image.slice();
  notText[notText.length - 1] = 0xff;
  notText.set(createHash("sha256").update(notText.subarray(50 + 3)).digest(), 18);
  refused(notText, /not UTF-8/);
  assert.throws(() => encodeSimulatorApp({ softwareVersion: 1, softwareVersionString: "", script }), RangeError);
  assert.throws(() => encodeSimulatorApp({ softwareVersion: 1, softwareVersionString: "x".repeat(65), script }), RangeError);
  assert.throws(() => encodeSimulatorApp({ softwareVersion: -1, softwareVersionString: "1", script }), RangeError);
});

test("matter-xs firmware writes the firmware built from source at the version asked for", async () => {
  const out = join(work, "firmware-9.bin");
  const printed: string[] = [];
  const log = console.log;
  console.log = (...parts: unknown[]) => void printed.push(parts.join(" "));
  try {
    assert.equal(await runFirmwareTool(["--version", "9", "--version-string", "9.1.0", "--out", out, "--minify"]), 0);
  } finally {
    console.log = log;
  }
  const app = readSimulatorApp(new Uint8Array(readFileSync(out)));
  assert.deepEqual([app.softwareVersion, app.softwareVersionString], [9, "9.1.0"]);
  // The version is baked into the bundle itself, which is what Basic Information reports.
  assert.match(app.script, /\b9\b/);
  assert.match(app.script, /"9\.1\.0"/);
  assert.match(printed.join("\n"), /simulator firmware 9\.1\.0 \(version 9\)/);
  await assert.rejects(runFirmwareTool(["--version", "9", "--out", out]), CliError);
  await assert.rejects(runFirmwareTool(["--version", "9", "--version-string", "x".repeat(65), "--out", out]), CliError);
});

test("the build from source is flashed into ota_0 once per build; a new build resets the boot record", async () => {
  const stateDir = join(work, "state");
  const create = (softwareVersion: number) => Simulator.create({ stateDir, softwareVersion, softwareVersionString: `${softwareVersion}.0`, log: () => {} });
  const ota0 = () => readSimulatorApp(new Uint8Array(readFileSync(join(stateDir, "flash", `${FACTORY_SLOT}.bin`))));
  await create(1);
  assert.deepEqual([ota0().softwareVersion, ota0().softwareVersionString], [1, "1.0"]);
  const flashed = JSON.parse(readFileSync(join(stateDir, "flashed.json"), "utf8"));
  assert.deepEqual(flashed, { sha256: ota0().sha256, softwareVersion: 1, softwareVersionString: "1.0" });

  // An OTA update is running from ota_1 and a later one overwrote ota_0: the same build does not flash again.
  const bootRecord = JSON.stringify({ active: "ota_1", trial: false, trialBoots: 0 });
  writeFileSync(join(stateDir, "boot.json"), bootRecord);
  const later = encodeSimulatorApp({ softwareVersion: 3, softwareVersionString: "3.0", script });
  const slotFile = join(stateDir, "flash", `${FACTORY_SLOT}.bin`);
  const slotBytes = new Uint8Array(readFileSync(slotFile)).fill(0xff);
  slotBytes.set(later);
  writeFileSync(slotFile, slotBytes);
  await create(1);
  assert.equal(readFileSync(join(stateDir, "boot.json"), "utf8"), bootRecord);
  assert.equal(ota0().softwareVersion, 3);

  // A different build is flashed, and the device starts from it.
  await create(2);
  assert.equal(ota0().softwareVersion, 2);
  assert.equal(existsSync(join(stateDir, "boot.json")), false, "the boot record is reset to ota_0");
  assert.equal(JSON.parse(readFileSync(join(stateDir, "flashed.json"), "utf8")).softwareVersion, 2);
});
