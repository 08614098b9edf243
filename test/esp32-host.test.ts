// The ESP32 host's logic, with Moddable's modules replaced by fakes that behave as their SDK
// sources do (preference erases before it writes; otadata as ESP-IDF lays it out; the bootloader's
// NEW -> PENDING_VERIFY -> ABORTED transitions; bleserver's one connection).
import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32 as zlibCrc32 } from "node:zlib";
import { TickExtender } from "../hosts/esp32/ticks";
import { fillFromRandom, randomInteger } from "../hosts/esp32/random";
import { NvsKeyValueStore, type PreferenceApi } from "../hosts/esp32/nvs-store";
import {
  OTADATA_SECTOR_SIZE,
  OtaState,
  activeSector,
  appFingerprint,
  crc32,
  decodeEntry,
  encodeEntry,
  sequenceCrc,
  type OtaSelectEntry,
} from "../hosts/esp32/otadata";
import { Esp32BootControl, type BootHardware, type UpdateSession } from "../hosts/esp32/boot-control";
import {
  DEFAULT_ATT_MTU,
  FAST_ADVERTISING_MS,
  FAST_INTERVAL,
  INDICATION_GRACE_MS,
  MatterBlePeripheral,
  SLOW_INTERVAL,
  type BleServerPort,
} from "../hosts/esp32/ble-peripheral";
import type { BleEvents } from "../src/platform";

// --- clock ---

test("the tick extender stays monotonic across the 32-bit wrap and XS's signed integers", () => {
  let raw = 0xffff_fff0 | 0; // as XS hands it over: negative
  const ticks = new TickExtender(() => raw);
  assert.equal(ticks.now(), 0xffff_fff0);
  raw = 0x10; // wrapped: 0x20 ms later
  assert.equal(ticks.now(), 0xffff_fff0 + 0x20);
  raw = 0x7fff_ffff;
  assert.equal(ticks.now(), 0x1_7fff_ffff);
  raw = 0x8000_0000 | 0;
  assert.equal(ticks.now(), 0x1_8000_0000);
});

// --- entropy ---

const RAND_MAX = 0x7fff_ffff;
const asMathRandom = (integer: number) => integer / RAND_MAX;

test("random bytes come three at a time from each accepted Math.random draw", () => {
  const draws = [0x00abcdef, 127 * 0x100_0000 /* rejected */, 0x7e_123456, 0x00000001];
  let index = 0;
  const bytes = new Uint8Array(7);
  fillFromRandom(bytes, () => asMathRandom(draws[index++]!));
  assert.deepEqual([...bytes], [0xef, 0xcd, 0xab, 0x56, 0x34, 0x12, 0x01]);
  assert.equal(index, 4, "the draw at 127 * 2^24 is rejected, so four draws fill seven bytes");
});

test("every byte value is equally likely from uniform draws", () => {
  // Walk r over whole blocks of 2^24 values: each low byte must appear equally often.
  const counts = new Array<number>(256).fill(0);
  let r = 0;
  const bytes = new Uint8Array(3 * 4096);
  fillFromRandom(bytes, () => asMathRandom((r = (r + 0x1_0001) % (127 * 0x100_0000))));
  for (let index = 0; index < bytes.length; index += 3) counts[bytes[index]!]!++;
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `low bytes are not uniform: ${Math.min(...counts)}..${Math.max(...counts)}`);
});

test("a Math.random that is not the ESP32 one is refused", () => {
  assert.throws(() => randomInteger(0.1234567890123), /not r \/ 0x7FFFFFFF/);
  assert.throws(() => fillFromRandom(new Uint8Array(1), () => 1), /not r \/ 0x7FFFFFFF/);
  assert.equal(randomInteger(asMathRandom(RAND_MAX - 1)), RAND_MAX - 1);
});

// --- NVS key-value store ---

class PowerCut extends Error {}

/** Moddable's preference on ESP32: set erases the key, then writes it; a cut can land in between. */
class FakePreference implements PreferenceApi {
  readonly domains = new Map<string, Map<string, ArrayBuffer>>();
  cutAfterSteps = Infinity;
  steps = 0;

  #step(): void {
    if (++this.steps > this.cutAfterSteps) throw new PowerCut();
  }
  #domain(name: string): Map<string, ArrayBuffer> {
    if (name.length > 15) throw new Error("nvs_open fail");
    let domain = this.domains.get(name);
    if (!domain) this.domains.set(name, (domain = new Map()));
    return domain;
  }
  set(domain: string, key: string, value: ArrayBuffer): void {
    if (key.length > 15) throw new Error("nvs set fail");
    this.#step();
    this.#domain(domain).delete(key);
    this.#step();
    this.#domain(domain).set(key, value.slice(0));
  }
  get(domain: string, key: string): ArrayBuffer | undefined {
    return this.domains.get(domain)?.get(key)?.slice(0);
  }
  delete(domain: string, key: string): void {
    this.#step();
    this.domains.get(domain)?.delete(key);
  }
  keys(domain: string): string[] {
    return [...(this.domains.get(domain)?.keys() ?? [])];
  }
}

const bytes = (...values: number[]) => Uint8Array.from(values);

test("the NVS store round-trips values, lists keys by prefix and deletes", () => {
  const preference = new FakePreference();
  const store = new NvsKeyValueStore(preference, "mxs.a", "mxs.b");
  assert.equal(store.maxKeyLength, 15);
  assert.equal(store.maxValueLength, 3999);
  store.set("fabric.1", bytes(1, 2, 3));
  store.set("fabric.2", new Uint8Array(0));
  store.set("counter", bytes(9));
  store.set("fabric.1", bytes(4));
  assert.deepEqual(store.get("fabric.1"), bytes(4));
  assert.deepEqual(store.get("fabric.2"), new Uint8Array(0));
  assert.deepEqual(store.keys("fabric."), ["fabric.1", "fabric.2"]);
  assert.deepEqual(store.keys(""), ["counter", "fabric.1", "fabric.2"]);
  store.delete("fabric.1");
  assert.equal(store.get("fabric.1"), undefined);
  assert.deepEqual(store.keys("fabric."), ["fabric.2"]);
  // One copy per key at rest.
  const copies = [...preference.domains.values()].reduce((total, domain) => total + domain.size, 0);
  assert.equal(copies, 2);
});

test("the NVS store refuses keys and values NVS cannot hold", () => {
  const store = new NvsKeyValueStore(new FakePreference(), "mxs.a", "mxs.b");
  assert.throws(() => store.set("sixteen-chars-xx", bytes(1)), /1 to 15 printable ASCII/);
  assert.throws(() => store.set("", bytes(1)), /1 to 15 printable ASCII/);
  assert.throws(() => store.set("caf\u00e9", bytes(1)), /printable ASCII/);
  assert.throws(() => store.set("with space", bytes(1)), /printable ASCII/);
  assert.throws(() => store.set("big", new Uint8Array(4000)), /exceeds 3999/);
  store.set("big", new Uint8Array(3999));
  assert.throws(() => new NvsKeyValueStore(new FakePreference(), "a-namespace-too-long", "b"), /NVS namespace/);
});

test("a power cut at any point of a set leaves the old or the new value", () => {
  for (let cut = 0; cut < 8; cut++) {
    const preference = new FakePreference();
    const store = new NvsKeyValueStore(preference, "mxs.a", "mxs.b");
    store.set("key", bytes(1));
    store.set("key", bytes(2));
    preference.steps = 0;
    preference.cutAfterSteps = cut;
    let completed = true;
    try {
      store.set("key", bytes(3));
    } catch (error) {
      assert.ok(error instanceof PowerCut);
      completed = false;
    }
    preference.cutAfterSteps = Infinity;
    const after = new NvsKeyValueStore(preference, "mxs.a", "mxs.b").get("key");
    if (completed) assert.deepEqual(after, bytes(3));
    else assert.ok(after && (after[0] === 2 || after[0] === 3), `cut after ${cut} steps left ${after && [...after]}`);
    // And the store goes on working from there.
    store.set("key", bytes(4));
    assert.deepEqual(new NvsKeyValueStore(preference, "mxs.a", "mxs.b").get("key"), bytes(4));
  }
});

test("Moddable's own erase-then-write set does lose a key on a power cut (why the store uses two namespaces)", () => {
  const preference = new FakePreference();
  preference.set("plain", "key", bytes(1).buffer);
  preference.steps = 0;
  preference.cutAfterSteps = 1;
  assert.throws(() => preference.set("plain", "key", bytes(2).buffer), PowerCut);
  assert.equal(preference.get("plain", "key"), undefined);
});

// --- otadata ---

test("otadata CRCs match ESP-IDF's (zlib crc32 seeded with 0xFFFFFFFF over the sequence number)", () => {
  assert.equal(sequenceCrc(1), 0x4743989a);
  for (const sequence of [1, 2, 3, 0x1234, 0xfffffffe]) {
    const le = new Uint8Array(4);
    new DataView(le.buffer).setUint32(0, sequence, true);
    assert.equal(sequenceCrc(sequence), zlibCrc32(le, 0xffffffff));
  }
  const text = new TextEncoder().encode("123456789");
  assert.equal(crc32(text), 0xcbf43926, "the standard CRC-32 check value");
});

const label = () => new Uint8Array(20).fill(0xff);
const entry = (sequence: number, state: number, crc = sequenceCrc(sequence)): OtaSelectEntry => ({ sequence, label: label(), state, crc });
const erased = (): OtaSelectEntry => decodeEntry(new Uint8Array(32).fill(0xff));

test("the bootloader's choice of otadata entry", () => {
  assert.equal(activeSector([erased(), erased()]), undefined);
  assert.equal(activeSector([entry(1, OtaState.VALID), erased()]), 0);
  assert.equal(activeSector([entry(1, OtaState.VALID), entry(2, OtaState.NEW)]), 1);
  assert.equal(activeSector([entry(3, OtaState.UNDEFINED), entry(2, OtaState.VALID)]), 0);
  assert.equal(activeSector([entry(1, OtaState.VALID), entry(2, OtaState.ABORTED)]), 0);
  assert.equal(activeSector([entry(1, OtaState.VALID), entry(2, OtaState.INVALID)]), 0);
  assert.equal(activeSector([entry(1, OtaState.VALID), entry(2, OtaState.VALID, 0x12345678)]), 0, "bad CRC");
  const encoded = encodeEntry(entry(7, OtaState.PENDING_VERIFY));
  assert.deepEqual(decodeEntry(encoded), entry(7, OtaState.PENDING_VERIFY));
  assert.deepEqual([...encoded.subarray(24, 28)], [1, 0, 0, 0]);
});

function appImage(fingerprintByte: number): Uint8Array {
  const image = new Uint8Array(256).fill(0);
  image[0] = 0xe9;
  new DataView(image.buffer).setUint32(32, 0xabcd5432, true);
  image.fill(fingerprintByte, 176, 208);
  return image;
}

test("an app image's fingerprint is its descriptor's ELF SHA-256", () => {
  assert.deepEqual(appFingerprint(appImage(0x42)), new Uint8Array(32).fill(0x42));
  const notAnImage = appImage(0x42);
  notAnImage[0] = 0xff;
  assert.equal(appFingerprint(notAnImage), undefined);
  const noDescriptor = appImage(0x42);
  noDescriptor[32] = 0;
  assert.equal(appFingerprint(noDescriptor), undefined);
});

// --- boot control ---

/** Two OTA slots, otadata and an ESP-IDF bootloader with rollback, all in memory. */
class FakeDevice {
  otadata = new Uint8Array(2 * OTADATA_SECTOR_SIZE).fill(0xff);
  slots: Uint8Array[] = [new Uint8Array(4096).fill(0xff), new Uint8Array(4096).fill(0xff)];
  running = 0;
  records = new Map<string, Uint8Array>();
  /** Image that fails to load, as the bootloader would find it. */
  corrupt = new Set<number>();

  entries(): [OtaSelectEntry, OtaSelectEntry] {
    return [decodeEntry(this.otadata.subarray(0, 32)), decodeEntry(this.otadata.subarray(OTADATA_SECTOR_SIZE, OTADATA_SECTOR_SIZE + 32))];
  }
  writeEntry(sector: number, value: OtaSelectEntry): void {
    this.otadata.fill(0xff, sector * OTADATA_SECTOR_SIZE, (sector + 1) * OTADATA_SECTOR_SIZE);
    this.otadata.set(encodeEntry(value), sector * OTADATA_SECTOR_SIZE);
  }
  /** What esp_ota_set_boot_partition writes (rollback enabled): the next sequence, state NEW. */
  selectForBoot(slot: number): void {
    const entries = this.entries();
    const active = activeSector(entries);
    const current = active === undefined ? 0 : entries[active].sequence;
    let sequence = current + 1;
    while ((sequence - 1) % 2 !== slot) sequence++;
    this.writeEntry(active === undefined ? 0 : 1 - active, entry(sequence, OtaState.NEW));
  }
  /** The ESP-IDF bootloader with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE. */
  reset(): void {
    let entries = this.entries();
    let active = activeSector(entries);
    if (active !== undefined && entries[active].state === OtaState.PENDING_VERIFY) {
      this.writeEntry(active, { ...entries[active], state: OtaState.ABORTED });
      entries = this.entries();
      active = activeSector(entries);
    }
    if (active !== undefined && entries[active].state === OtaState.NEW) {
      this.writeEntry(active, { ...entries[active], state: OtaState.PENDING_VERIFY });
      entries = this.entries();
    }
    const selected = active === undefined ? 0 : (entries[active].sequence - 1) % 2;
    this.running = this.corrupt.has(selected) ? 1 - selected : selected;
  }
  hardware(): BootHardware {
    const device = this;
    const next = () => device.slots[1 - device.running]!;
    return {
      otadata: {
        read: (offset, length) => device.otadata.slice(offset, offset + length),
        eraseSector: (sector) => device.otadata.fill(0xff, sector * OTADATA_SECTOR_SIZE, (sector + 1) * OTADATA_SECTOR_SIZE),
        write: (offset, data) => device.otadata.set(data, offset),
      },
      runningFingerprint: () => appFingerprint(device.slots[device.running]!),
      updateFingerprint: () => appFingerprint(next()),
      readUpdateSlot: (offset, length) => next().slice(offset, offset + length),
      updateSlotSize: 4096,
      beginUpdate(): UpdateSession {
        const target = 1 - device.running;
        let written = 0;
        return {
          write(data) {
            if (written === 0 && data[0] !== 0xe9) throw new Error("write failed");
            device.slots[target]!.set(data, written);
            written += data.length;
          },
          complete() {
            if (!appFingerprint(device.slots[target]!)) throw new Error("end failed");
            device.selectForBoot(target);
          },
          cancel() {},
        };
      },
    };
  }
  boot(): Esp32BootControl {
    const records = this.records;
    return new Esp32BootControl(this.hardware(), {
      get: (key) => records.get(key),
      set: (key, value) => void records.set(key, value.slice()),
      delete: (key) => void records.delete(key),
    });
  }
}

function applyUpdate(boot: Esp32BootControl, image: Uint8Array): void {
  const slot = boot.updatePartition();
  slot.erase(0, 4096);
  slot.write(0, image.subarray(0, 100));
  slot.write(100, image.subarray(100));
  boot.setNextBoot(boot.updateSlot());
}

test("a freshly flashed device runs ota_0 and updates go to ota_1", () => {
  const device = new FakeDevice();
  device.slots[0] = appImage(1);
  device.reset();
  const boot = device.boot();
  assert.equal(boot.runningSlot(), "ota_0");
  assert.equal(boot.updateSlot(), "ota_1");
  assert.equal(boot.pendingConfirmation(), false);
  boot.confirmRunning(); // nothing on trial: no effect
  assert.deepEqual(device.entries().map((value) => value.sequence), [0xffffffff, 0xffffffff]);
});

test("an update boots on trial and stays once confirmed", () => {
  const device = new FakeDevice();
  device.slots[0] = appImage(1);
  device.reset();
  applyUpdate(device.boot(), appImage(2));
  device.reset();
  let boot = device.boot();
  assert.equal(device.running, 1);
  assert.equal(boot.runningSlot(), "ota_1");
  assert.equal(boot.pendingConfirmation(), true);
  boot.confirmRunning();
  assert.equal(boot.pendingConfirmation(), false);
  const active = activeSector(device.entries());
  assert.equal(device.entries()[active!].state, OtaState.VALID);
  device.reset();
  boot = device.boot();
  assert.equal(boot.runningSlot(), "ota_1");
  assert.equal(boot.pendingConfirmation(), false);
  assert.equal(boot.updateSlot(), "ota_0");
});

test("an update that never confirms is rolled back by the bootloader on the next reset", () => {
  const device = new FakeDevice();
  device.slots[0] = appImage(1);
  device.reset();
  applyUpdate(device.boot(), appImage(2));
  device.reset();
  assert.equal(device.boot().pendingConfirmation(), true);
  device.reset(); // crashed or reset before confirming
  const boot = device.boot();
  assert.equal(device.running, 0);
  assert.equal(boot.runningSlot(), "ota_0");
  assert.equal(boot.pendingConfirmation(), false);
});

test("when the bootloader cannot load the new image, the recorded fingerprint tells which slot runs", () => {
  const device = new FakeDevice();
  device.slots[0] = appImage(1);
  device.reset();
  applyUpdate(device.boot(), appImage(2));
  device.corrupt.add(1);
  device.reset();
  const boot = device.boot();
  assert.equal(device.running, 0, "the bootloader fell back");
  assert.equal(boot.runningSlot(), "ota_0", "otadata still names ota_1, the fingerprint does not match it");
  assert.equal(boot.pendingConfirmation(), false);
  assert.equal(boot.updateSlot(), "ota_1");
});

test("only the update slot can be selected, and only with an image in it", () => {
  const device = new FakeDevice();
  device.slots[0] = appImage(1);
  device.reset();
  const boot = device.boot();
  assert.throws(() => boot.setNextBoot("ota_0"), /only the update slot ota_1/);
  assert.throws(() => boot.setNextBoot("ota_1"), /no image was written/);
  const slot = boot.updatePartition();
  slot.erase(0, 4096);
  assert.throws(() => slot.write(0, Uint8Array.of(0x00)), /write failed/, "esp_ota_write refuses a first byte that is not 0xE9");
});

test("the update slot takes sequential writes only", () => {
  const device = new FakeDevice();
  device.slots[0] = appImage(1);
  device.reset();
  const slot = device.boot().updatePartition();
  assert.equal(slot.size, 4096);
  assert.equal(slot.blockSize, 4096);
  assert.throws(() => slot.write(0, appImage(2)), /must be erased from 0/);
  assert.throws(() => slot.erase(0, 100), /not sector aligned/);
  slot.erase(0, 4096);
  slot.write(0, appImage(2).subarray(0, 10));
  assert.throws(() => slot.write(20, Uint8Array.of(1)), /sequential: expected offset 10, got 20/);
  assert.throws(() => slot.write(4090, new Uint8Array(10)), /outside the 4096-byte update slot/);
  assert.deepEqual(slot.read(0, 10), appImage(2).subarray(0, 10));
});

// --- BLE ---

class FakeTimers {
  now = 0;
  pending: { at: number; callback: () => void; id: number }[] = [];
  #id = 0;
  setTimer = (ms: number, callback: () => void) => {
    const id = ++this.#id;
    this.pending.push({ at: this.now + ms, callback, id });
    return id;
  };
  clearTimer = (handle: unknown) => {
    this.pending = this.pending.filter((timer) => timer.id !== handle);
  };
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = this.pending.filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.pending = this.pending.filter((timer) => timer !== due);
      this.now = due.at;
      due.callback();
    }
    this.now = until;
  }
}

function bleRig() {
  const timers = new FakeTimers();
  const calls: string[] = [];
  const port: BleServerPort = {
    startAdvertising: (data, interval) => calls.push(`advertise ${[...data].join(",")} ${interval.min}-${interval.max}`),
    stopAdvertising: () => calls.push("stop"),
    indicate: (data) => calls.push(`indicate ${[...data].join(",")}`),
    disconnect: () => calls.push("disconnect"),
  };
  const events: string[] = [];
  const handler: BleEvents = {
    connected: (connection, mtu) => events.push(`connected ${connection} ${mtu}`),
    disconnected: (connection) => events.push(`disconnected ${connection}`),
    received: (connection, data) => events.push(`received ${connection} ${[...data].join(",")}`),
    subscribed: (connection, on) => events.push(`subscribed ${connection} ${on}`),
    confirmed: (connection) => events.push(`confirmed ${connection}`),
  };
  const peripheral = new MatterBlePeripheral(timers);
  peripheral.setHandler(handler);
  return { timers, calls, events, peripheral, port };
}

test("advertising waits for the server, runs fast for 30 s, then slow, and resumes after a disconnect", () => {
  const { timers, calls, peripheral, port } = bleRig();
  const data = bytes(0, 1, 2, 3, 4, 5, 6, 7);
  peripheral.advertise(data);
  assert.deepEqual(calls, []);
  peripheral.attach(port);
  assert.deepEqual(calls, ["stop", `advertise 0,1,2,3,4,5,6,7 ${FAST_INTERVAL.min}-${FAST_INTERVAL.max}`]);
  timers.advance(FAST_ADVERTISING_MS);
  assert.equal(calls.at(-1), `advertise 0,1,2,3,4,5,6,7 ${SLOW_INTERVAL.min}-${SLOW_INTERVAL.max}`);
  peripheral.onConnected(3);
  calls.length = 0;
  peripheral.onDisconnected(3);
  assert.equal(calls.at(-1), `advertise 0,1,2,3,4,5,6,7 ${FAST_INTERVAL.min}-${FAST_INTERVAL.max}`);
  peripheral.advertise(undefined);
  assert.equal(calls.at(-1), "stop");
  assert.throws(() => peripheral.advertise(bytes(1, 2)), /8 bytes/);
});

test("connected is reported with the MTU, before anything else from the central", () => {
  const { events, peripheral, port } = bleRig();
  peripheral.attach(port);
  peripheral.onConnected(1);
  assert.deepEqual(events, []);
  peripheral.onMtuExchanged(247);
  peripheral.onWritten("C1", bytes(0x65, 0x6c));
  assert.deepEqual(events, ["connected 1 247", "received 1 101,108"]);

  const second = bleRig();
  second.peripheral.attach(second.port);
  second.peripheral.onConnected(2);
  second.peripheral.onSubscription("C2", true);
  assert.deepEqual(second.events, [`connected 2 ${DEFAULT_ATT_MTU}`, "subscribed 2 true"], "no MTU exchange: the default MTU");
});

test("indications go one at a time: a central write or the grace period confirms the one in flight", () => {
  const { timers, calls, events, peripheral, port } = bleRig();
  peripheral.attach(port);
  peripheral.onConnected(1);
  peripheral.onMtuExchanged(100);
  assert.throws(() => peripheral.indicate(1, bytes(1)), /not subscribed/);
  peripheral.onSubscription("C2", true);
  calls.length = 0;
  events.length = 0;
  peripheral.indicate(1, bytes(1));
  peripheral.indicate(1, bytes(2));
  peripheral.indicate(1, bytes(3));
  assert.deepEqual(calls, ["indicate 1"]);
  peripheral.onWritten("C1", bytes(9)); // the central wrote: it has confirmed indication 1
  assert.deepEqual(calls, ["indicate 1", "indicate 2"]);
  assert.deepEqual(events, ["confirmed 1", "received 1 9"]);
  timers.advance(INDICATION_GRACE_MS - 1);
  assert.deepEqual(calls, ["indicate 1", "indicate 2"]);
  timers.advance(1);
  assert.deepEqual(calls, ["indicate 1", "indicate 2", "indicate 3"]);
  timers.advance(INDICATION_GRACE_MS);
  assert.deepEqual(events, ["confirmed 1", "received 1 9", "confirmed 1", "confirmed 1"]);
  assert.throws(() => peripheral.indicate(7, bytes(1)), /connection 7 is not open/);
});

test("unsubscribing or disconnecting drops queued indications", () => {
  const { timers, calls, events, peripheral, port } = bleRig();
  peripheral.attach(port);
  peripheral.onConnected(1);
  peripheral.onSubscription("C2", true);
  peripheral.indicate(1, bytes(1));
  peripheral.indicate(1, bytes(2));
  peripheral.onDisconnected(1);
  timers.advance(10 * INDICATION_GRACE_MS);
  assert.equal(calls.filter((call) => call.startsWith("indicate")).length, 1);
  assert.deepEqual(events, ["connected 1 23", "subscribed 1 true", "disconnected 1"]);
});

test("C3 reads the additional data, empty until set", () => {
  const { peripheral } = bleRig();
  assert.deepEqual(peripheral.onRead("C3"), new Uint8Array(0));
  const data = bytes(0x15, 0x30, 0x00);
  peripheral.setAdditionalData(data);
  data[0] = 0; // the peripheral keeps its own copy
  assert.deepEqual(peripheral.onRead("C3"), bytes(0x15, 0x30, 0x00));
  peripheral.setAdditionalData(undefined);
  assert.deepEqual(peripheral.onRead("C3"), new Uint8Array(0));
});
