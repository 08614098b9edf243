// The simulator's A/B boot control: trial starts, confirmation, rollback of an image that never
// confirms, a boot record that survives restarts and torn writes; and the whole apply path with
// the slot writer, including power cuts between its steps.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryBootRecordStore, NodePlatform, SimBootControl } from "../hosts/sim/platform/node";
import { concatBytes, utf8Encode } from "../src/codec/bytes";
import { ecdsaSign, publicKeyFromPrivate, sha256 } from "../src/crypto";
import { encodeOtaHeader } from "../src/ota/image";
import { OtaSlotWriter } from "../src/ota/slot-writer";

const work = mkdtempSync(join(tmpdir(), "matter-xs-ota-boot-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

test("a fresh device runs ota_0; an update runs on trial and stays once confirmed", () => {
  const store = new MemoryBootRecordStore();
  const boot = new SimBootControl({ store });
  assert.equal(boot.runningSlot(), "ota_0");
  assert.equal(boot.updateSlot(), "ota_1");
  assert.equal(boot.pendingConfirmation(), false);
  assert.throws(() => boot.setNextBoot("ota_0"), /only the update slot ota_1/);
  boot.setNextBoot("ota_1");
  assert.equal(boot.runningSlot(), "ota_0", "nothing changes before the restart");
  assert.equal(boot.pendingConfirmation(), false, "the running image is not the one on trial");

  assert.equal(boot.powerOn(), "ota_1");
  assert.equal(boot.pendingConfirmation(), true);
  assert.equal(boot.updateSlot(), "ota_0");
  boot.confirmRunning();
  assert.equal(boot.pendingConfirmation(), false);
  assert.equal(boot.powerOn(), "ota_1");
  assert.equal(boot.powerOn(), "ota_1", "a confirmed image keeps running");
  assert.deepEqual(boot.bootRecord, { active: "ota_1", trial: false, trialBoots: 0 });
});

test("an image that never confirms runs its trial starts, then the previous slot is back", () => {
  for (const maxTrialBoots of [1, 3]) {
    const boot = new SimBootControl({ store: new MemoryBootRecordStore(), maxTrialBoots });
    boot.setNextBoot("ota_1");
    for (let start = 1; start <= maxTrialBoots; start++) {
      assert.equal(boot.powerOn(), "ota_1", `trial start ${start}`);
      assert.equal(boot.pendingConfirmation(), true);
    }
    assert.equal(boot.powerOn(), "ota_0", "rolled back");
    assert.equal(boot.pendingConfirmation(), false);
    assert.equal(boot.bootRecord.rejected, "ota_1");
    assert.equal(boot.updateSlot(), "ota_1");
    assert.equal(boot.powerOn(), "ota_0");
  }
});

test("the boot record lives in boot.json, replaced atomically, and survives restarts", () => {
  const directory = join(work, "device-a");
  const first = new NodePlatform({ directory, boot: true });
  assert.equal(first.boot!.runningSlot(), "ota_0");
  first.boot!.setNextBoot("ota_1");
  first.close();
  assert.ok(!existsSync(join(directory, "boot.json.tmp")), "no temporary file left");
  assert.deepEqual(JSON.parse(readFileSync(join(directory, "boot.json"), "utf8")), { active: "ota_1", trial: true, trialBoots: 0, previous: "ota_0" });

  // A write torn before its rename leaves only a temporary file: the record is unchanged.
  writeFileSync(join(directory, "boot.json.tmp"), '{"active":"ota_0","tri');
  const second = new NodePlatform({ directory, boot: true });
  assert.equal(second.boot!.runningSlot(), "ota_1");
  assert.equal(second.boot!.pendingConfirmation(), true);
  second.close();
  const third = new NodePlatform({ directory, boot: true });
  assert.equal(third.boot!.runningSlot(), "ota_0", "the unconfirmed trial was rolled back");
  third.close();
  assert.equal(new NodePlatform({ directory }).boot, undefined, "boot control is opt-in");
});

const signingKey = sha256(utf8Encode("boot test signing key"));

function signedImage(payload: Uint8Array, version: number): Uint8Array {
  const header = encodeOtaHeader(
    { vendorId: 0xfff1, productId: 0x8000, softwareVersion: version, softwareVersionString: String(version), payloadSize: payload.length },
    sha256(payload),
    (message) => ecdsaSign(signingKey, message),
  );
  return concatBytes(header, payload);
}

function device(directory: string) {
  const platform = new NodePlatform({ directory, boot: true, partitions: { ota_0: 0x40000, ota_1: 0x40000 } });
  const boot = platform.boot!;
  const slot = boot.updateSlot();
  const writer = new OtaSlotWriter({
    partition: platform.flash.open(slot)!,
    slot,
    storage: platform.storage,
    acceptance: { vendorId: 0xfff1, productId: 0x8000, runningVersion: 1, signingKey: publicKeyFromPrivate(signingKey) },
  });
  return { platform, boot, writer };
}

test("apply: power cuts between verifying, selecting and forgetting never lose the running image", () => {
  const payload = new Uint8Array(100_000).map((_, i) => (i * 7 + 3) & 0xff);
  const file = signedImage(payload, 2);
  // Steps of an apply: finish() records the verified image; setNextBoot; forget().
  for (const cutAfter of ["finish", "setNextBoot", "forget"] as const) {
    const directory = join(work, `apply-${cutAfter}`);
    const before = device(directory);
    before.writer.begin(2);
    before.writer.write(file);
    before.writer.finish();
    if (cutAfter !== "finish") before.boot.setNextBoot("ota_1");
    if (cutAfter === "forget") before.writer.forget();
    before.platform.close(); // the power goes

    const after = device(directory);
    if (cutAfter === "finish") {
      // Still the old image; the verified download is found again and checked anew.
      assert.equal(after.boot.runningSlot(), "ota_0");
      const offset = after.writer.begin(2);
      assert.equal(offset, file.length, "the complete image waits in the slot");
      const header = after.writer.finish();
      assert.equal(header.softwareVersion, 2);
      after.boot.setNextBoot("ota_1");
      after.writer.forget();
      after.platform.close();
      const rebooted = device(directory);
      assert.equal(rebooted.boot.runningSlot(), "ota_1");
      rebooted.platform.close();
    } else {
      assert.equal(after.boot.runningSlot(), "ota_1", "the new image starts on trial");
      assert.equal(after.boot.pendingConfirmation(), true);
      assert.deepEqual(after.platform.flash.open("ota_1")!.read(0, payload.length), payload);
      // Its writer targets the other slot now: a leftover record is forgotten, ota_1 not erased.
      assert.equal(after.writer.begin(), 0);
      assert.equal(after.platform.storage.get("ota.progress"), undefined);
      assert.deepEqual(after.platform.flash.open("ota_1")!.read(0, payload.length), payload);
      after.boot.confirmRunning();
      after.platform.close();
      const rebooted = device(directory);
      assert.equal(rebooted.boot.runningSlot(), "ota_1");
      assert.equal(rebooted.boot.pendingConfirmation(), false);
      rebooted.platform.close();
    }
  }
});
