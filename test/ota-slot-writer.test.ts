// The OTA slot writer on the simulator's NOR flash and key-value store: a signed image accepted,
// every refusal the requirement lists leaving the update slot erased and the running slot as it
// was, power cuts at random points of the download (flash and store dead from that operation on)
// followed by a resumed or restarted download that ends with the right image, and resumption
// refused where it would be unsafe.
import { test } from "node:test";
import assert from "node:assert/strict";
import { NodePlatform } from "../hosts/sim/platform/node";
import { concatBytes, utf8Encode } from "../src/codec/bytes";
import { ecdsaSign, publicKeyFromPrivate, sha256 } from "../src/crypto";
import { OtaFault, OtaImageError, otaFaultName } from "../src/ota/errors";
import { encodeOtaHeader, type OtaHeaderFields } from "../src/ota/image";
import { OtaSlotWriter, type OtaAcceptance, type OtaSlotWriterOptions } from "../src/ota/slot-writer";
import type { FlashPartition, KeyValueStore } from "../src/platform";

const SLOT_SIZE = 256 * 1024;
const BLOCK = 4096;
const signingKey = sha256(utf8Encode("slot writer test signing key"));
const otherKey = sha256(utf8Encode("slot writer test other key"));
const acceptance: OtaAcceptance = { vendorId: 0xfff1, productId: 0x8000, runningVersion: 5, signingKey: publicKeyFromPrivate(signingKey) };

function payloadOf(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed * 2654435761;
  for (let i = 0; i < length; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = x & 0xff;
  }
  return out;
}

interface ImageOptions extends Partial<OtaHeaderFields> {
  key?: Uint8Array | null;
  /** Header digest computed over these bytes instead of the payload. */
  digestOf?: Uint8Array;
}

function image(payload: Uint8Array, options: ImageOptions = {}): Uint8Array {
  const { key = signingKey, digestOf, ...fields } = options;
  const header = encodeOtaHeader(
    { vendorId: 0xfff1, productId: 0x8000, softwareVersion: 6, softwareVersionString: "6.0", payloadSize: payload.length, ...fields },
    sha256(digestOf ?? payload),
    key ? (message) => ecdsaSign(key, message) : undefined,
  );
  return concatBytes(header, payload);
}

function platform() {
  const node = new NodePlatform({ partitions: { ota_0: SLOT_SIZE, ota_1: SLOT_SIZE } });
  const running = node.flash.open("ota_0")!;
  running.erase(0, SLOT_SIZE);
  const firmware = payloadOf(100_000, 99);
  running.write(0, firmware);
  return { node, running, update: node.flash.open("ota_1")!, firmware };
}

function writer(update: FlashPartition, storage: KeyValueStore, extra: Partial<OtaSlotWriterOptions> = {}): OtaSlotWriter {
  return new OtaSlotWriter({ partition: update, slot: "ota_1", storage, acceptance, checkpointBytes: 8192, ...extra });
}

/** Feeds `file` from `offset` in pieces of varying size (BDX blocks are about 1 KB). */
function feed(target: OtaSlotWriter, file: Uint8Array, offset = 0, seed = 7): void {
  let step = seed;
  for (let at = offset; at < file.length; ) {
    step = (step * 1103515245 + 12345) & 0x7fffffff;
    const size = 1 + (step % 1500);
    target.write(file.subarray(at, at + size));
    at += size;
  }
}

function isErased(partition: FlashPartition): boolean {
  for (let at = 0; at < partition.size; at += 65536) {
    if (!partition.read(at, Math.min(65536, partition.size - at)).every((byte) => byte === 0xff)) return false;
  }
  return true;
}

function assertRefused(fn: () => void, fault: number, pattern?: RegExp): OtaImageError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof OtaImageError, `expected OtaImageError, got ${(error as Error).stack}`);
    assert.equal(error.fault, fault, `expected ${otaFaultName(fault)}, got ${otaFaultName(error.fault)}: ${error.message}`);
    if (pattern) assert.match(error.message, pattern);
    return error;
  }
  assert.fail(`expected a refusal (${otaFaultName(fault)})`);
}

test("a signed image for this device, newer, lands in the update slot", () => {
  const { node, running, update, firmware } = platform();
  const payload = payloadOf(150_000);
  const file = image(payload, { minApplicableVersion: 3, maxApplicableVersion: 5 });
  const target = writer(update, node.storage);
  assert.equal(target.begin(6), 0);
  feed(target, file);
  const header = target.finish();
  assert.equal(header.softwareVersion, 6);
  assert.deepEqual(update.read(0, payload.length), payload);
  assert.ok(update.read(payload.length, BLOCK - (payload.length % BLOCK)).every((byte) => byte === 0xff), "the rest of the last block is erased");
  assert.deepEqual(running.read(0, firmware.length), firmware);
  assert.ok(node.storage.get("ota.progress"), "a verified image is recorded until it is handed over");
  target.forget();
  assert.equal(node.storage.get("ota.progress"), undefined);
});

test("refused images leave the update slot erased and the running slot untouched", () => {
  const payload = payloadOf(40_000, 3);
  const tampered = payload.slice();
  tampered[30_000]! ^= 0x40;
  const signed = image(payload);
  const badSignature = signed.slice();
  const signatureAt = signed.length - payload.length - 1 - 64;
  badSignature[signatureAt + 10]! ^= 0x01;
  const headerSizeLie = signed.slice();
  const view = new DataView(headerSizeLie.buffer);
  view.setUint32(12, view.getUint32(12, true) + 3, true);

  const cases: { name: string; file: Uint8Array; fault: number; pattern?: RegExp; cut?: number; extra?: Uint8Array; offered?: number }[] = [
    { name: "bad signature", file: badSignature, fault: OtaFault.badSignature },
    { name: "signed by another key", file: image(payload, { key: otherKey }), fault: OtaFault.badSignature },
    { name: "unsigned", file: image(payload, { key: null }), fault: OtaFault.unsigned },
    { name: "wrong vendor", file: image(payload, { vendorId: 0xfff2 }), fault: OtaFault.wrongVendor, pattern: /for vendor 0xFFF2$/ },
    { name: "wrong product", file: image(payload, { productId: 0x8001 }), fault: OtaFault.wrongProduct },
    { name: "same version", file: image(payload, { softwareVersion: 5 }), fault: OtaFault.notNewer },
    { name: "older version", file: image(payload, { softwareVersion: 4 }), fault: OtaFault.notNewer },
    { name: "running version below the minimum", file: image(payload, { minApplicableVersion: 6, softwareVersion: 7 }), fault: OtaFault.notApplicable },
    { name: "running version above the maximum", file: image(payload, { maxApplicableVersion: 4 }), fault: OtaFault.notApplicable },
    { name: "another version than offered", file: signed, offered: 7, fault: OtaFault.unexpectedVersion },
    { name: "truncated payload", file: signed, cut: 1000, fault: OtaFault.sizeMismatch, pattern: /truncated payload/ },
    { name: "truncated header", file: signed.subarray(0, 40), fault: OtaFault.sizeMismatch, pattern: /truncated in its header/ },
    { name: "bytes after the payload", file: signed, extra: Uint8Array.of(0), fault: OtaFault.sizeMismatch },
    { name: "digest mismatch", file: concatBytes(signed.subarray(0, signed.length - payload.length), tampered), fault: OtaFault.digestMismatch },
    { name: "header size lies", file: headerSizeLie, fault: OtaFault.malformedHeader },
    { name: "larger than the slot", file: image(payloadOf(SLOT_SIZE + 1)), fault: OtaFault.tooLarge },
  ];
  for (const entry of cases) {
    const { node, running, update, firmware } = platform();
    const target = writer(update, node.storage);
    target.begin(entry.offered);
    const error = assertRefused(() => {
      feed(target, entry.cut ? entry.file.subarray(0, entry.file.length - entry.cut) : entry.file);
      if (entry.extra) target.write(entry.extra);
      target.finish();
    }, entry.fault, entry.pattern);
    assert.ok(isErased(update), `${entry.name}: the update slot is erased (${error.message})`);
    assert.deepEqual(running.read(0, firmware.length), firmware, `${entry.name}: running slot untouched`);
    assert.equal(node.storage.get("ota.progress"), undefined, `${entry.name}: no progress left`);
    assert.throws(() => target.write(new Uint8Array(1)), /not writing/, `${entry.name}: a refused writer takes no more`);
  }
});

/** Makes flash and store fail from one operation on, as a power cut would; `restore` is the next boot. */
class PowerLine {
  operations = 0;
  private cutAfter = Infinity;
  cutAt(operation: number): void {
    this.operations = 0;
    this.cutAfter = operation;
  }
  restore(): void {
    this.cutAfter = Infinity;
  }
  get isCut(): boolean {
    return this.operations >= this.cutAfter;
  }
  use(): void {
    if (this.operations >= this.cutAfter) throw new Error("power cut");
    this.operations++;
  }
}

function powered(partition: FlashPartition, line: PowerLine, tear: (offset: number, data: Uint8Array) => void): FlashPartition {
  return {
    size: partition.size,
    blockSize: partition.blockSize,
    read: (offset, length) => (line.use(), partition.read(offset, length)),
    write: (offset, data) => {
      line.use();
      // The cut may land in the middle of this write: part of it reaches the flash.
      if (line.isCut && data.length > 1) tear(offset, data);
      else partition.write(offset, data);
    },
    erase: (offset, length) => (line.use(), partition.erase(offset, length)),
  };
}

function poweredStore(store: KeyValueStore, line: PowerLine): KeyValueStore {
  return {
    maxKeyLength: store.maxKeyLength,
    maxValueLength: store.maxValueLength,
    get: (key) => (line.use(), store.get(key)),
    set: (key, value) => (line.use(), store.set(key, value)),
    delete: (key) => (line.use(), store.delete(key)),
    keys: (prefix) => (line.use(), store.keys(prefix)),
  };
}

test("power cuts at random points of the download: the next boot resumes or restarts, the image arrives intact", () => {
  const payload = payloadOf(100_000, 11);
  const file = image(payload);
  // Count the operations of a clean run, then cut at points spread over it.
  const probe = platform();
  const countLine = new PowerLine();
  const counted = writer(powered(probe.update, countLine, () => {}), poweredStore(probe.node.storage, countLine));
  counted.begin(6);
  feed(counted, file);
  counted.finish();
  const total = countLine.operations;
  assert.ok(total > 100, `a download is ${total} flash and store operations`);

  let resumed = 0;
  let seed = 12345;
  for (let round = 0; round < 40; round++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const cutAt = 1 + (seed % total);
    const { node, running, update, firmware } = platform();
    const line = new PowerLine();
    const torn = (offset: number, data: Uint8Array) => update.write(offset, data.subarray(0, data.length >> 1));
    const flash = powered(update, line, torn);
    const store = poweredStore(node.storage, line);
    line.cutAt(cutAt);
    const first = writer(flash, store);
    assert.throws(() => {
      first.begin(6);
      feed(first, file, 0, seed);
      first.finish();
    }, /power cut/, `cut at operation ${cutAt} of ${total}`);
    assert.deepEqual(running.read(0, firmware.length), firmware, "running slot untouched");

    line.restore();
    const second = writer(flash, store);
    const offset = second.begin(6);
    if (offset > 0) resumed++;
    assert.ok(offset === 0 || offset > file.length - payload.length, `resume offset ${offset}`);
    feed(second, file, offset, seed + 1);
    const header = second.finish();
    assert.equal(header.softwareVersion, 6);
    assert.deepEqual(update.read(0, payload.length), payload, `cut at ${cutAt}: the slot holds the payload`);
    assert.deepEqual(running.read(0, firmware.length), firmware);
  }
  assert.ok(resumed >= 10, `most cuts after the first checkpoint resume (${resumed} of 40 did)`);
});

test("a power cut while a refused image is erased: the next boot finishes the erase", () => {
  const payload = payloadOf(60_000, 5);
  const tampered = image(payload, { digestOf: payloadOf(60_000, 6) });
  for (const cutAfterErase of [0, 1]) {
    const { node, update } = platform();
    const line = new PowerLine();
    const store = poweredStore(node.storage, line);
    const flash: FlashPartition = {
      ...powered(update, line, () => {}),
      erase: (offset, length) => {
        line.use();
        if (offset === 0 && length > BLOCK) {
          // The discard erase: half of it happens, then the power goes.
          update.erase(0, BLOCK * cutAfterErase);
          line.cutAt(0);
          throw new Error("power cut");
        }
        update.erase(offset, length);
      },
    };
    const first = writer(flash, store);
    first.begin(6);
    feed(first, tampered);
    assert.throws(() => first.finish(), OtaImageError, "the refusal is still reported");
    assert.ok(!isErased(update), "the erase was cut short");
    line.restore();
    const second = writer(update, node.storage);
    assert.equal(second.begin(6), 0, "a discarded image is never resumed");
    assert.ok(isErased(update), "the next boot erased it");
    assert.equal(node.storage.get("ota.progress"), undefined);
  }
});

test("resuming re-reads the kept bytes: flash that changed meanwhile fails the digest", () => {
  const payload = payloadOf(80_000, 21);
  const file = image(payload);
  const { node, update } = platform();
  const first = writer(update, node.storage);
  first.begin(6);
  feed(first, file.subarray(0, 50_000));
  // The device restarts; meanwhile a byte of the part already recorded changed in flash.
  const block = update.read(0, BLOCK);
  block[1000]! ^= 0x10;
  update.erase(0, BLOCK);
  update.write(0, block);
  const second = writer(update, node.storage);
  const offset = second.begin(6);
  assert.ok(offset > file.length - payload.length, "resumed");
  feed(second, file, offset);
  assertRefused(() => second.finish(), OtaFault.digestMismatch);
  assert.ok(isErased(update));
});

test("no resumption into another slot, for another image, or where the partition cannot continue", () => {
  const payload = payloadOf(80_000, 31);
  const file = image(payload);
  const headerLength = file.length - payload.length;

  // The same image resumes past the last checkpoint.
  const { node, update, running, firmware } = platform();
  const first = writer(update, node.storage);
  first.begin(6);
  feed(first, file.subarray(0, 40_000));
  const second = writer(update, node.storage);
  const offset = second.begin(6);
  assert.equal(offset, headerLength + Math.floor((40_000 - headerLength) / 8192) * 8192);

  // Another version offered: the partial image is erased and the download starts over.
  const third = writer(update, node.storage);
  assert.equal(third.begin(7), 0);
  assert.ok(isErased(update));
  assert.equal(node.storage.get("ota.progress"), undefined);

  // A record for the other slot (that image now runs): forgotten, and that slot is not erased.
  const applied = writer(running, node.storage, { slot: "ota_0" });
  applied.begin(6);
  // Only the record matters here: write the header so it is saved, not payload into the running slot.
  applied.write(file.subarray(0, headerLength));
  assert.ok(node.storage.get("ota.progress"));
  const afterReboot = writer(update, node.storage);
  assert.equal(afterReboot.begin(6), 0);
  assert.equal(node.storage.get("ota.progress"), undefined);
  assert.deepEqual(running.read(0, firmware.length), firmware);

  // A partition that cannot continue an image (ESP32's ota after a restart): start over.
  const fresh = platform();
  const partial = writer(fresh.update, fresh.node.storage);
  partial.begin(6);
  feed(partial, file.subarray(0, 40_000));
  let written = 0;
  const sequential: FlashPartition = {
    size: fresh.update.size,
    blockSize: fresh.update.blockSize,
    read: (o, l) => fresh.update.read(o, l),
    erase: (o, l) => {
      if (o === 0) written = 0;
      fresh.update.erase(o, l);
    },
    write: (o, d) => {
      if (o !== written) throw new RangeError(`writes are sequential: expected ${written}, got ${o}`);
      fresh.update.write(o, d);
      written += d.length;
    },
  };
  const restarted = writer(sequential, fresh.node.storage);
  assert.equal(restarted.begin(6), 0);
  feed(restarted, file);
  restarted.finish();
  assert.deepEqual(fresh.update.read(0, payload.length), payload);
});
