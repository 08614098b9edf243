// Rotating device identifier and the C3 additional data payload against CHIP's published test
// values (src/setup_payload/tests/TestAdditionalDataPayload.cpp), and the BLE service data layout.
import { BleCommissionableAdvertiser, decodeBleServiceData, encodeBleServiceData } from "../../src/discovery/ble-advertisement";
import { RotatingIdCounter, additionalDataPayload, rotatingDeviceId, rotatingDeviceIdHex } from "../../src/discovery/rotating-id";
import type { BleEvents, BlePeripheral } from "../../src/platform";
import { bytesEqual, deepEqual, equal, fromHex, suite, throws } from "../portable/harness";

const UNIQUE_ID = fromHex("00112233445566778899aabbccddeeff");

class RecordingBle implements BlePeripheral {
  serviceData: Uint8Array | undefined;
  additionalData: Uint8Array | undefined;
  advertise(serviceData: Uint8Array | undefined): void {
    this.serviceData = serviceData;
  }
  setAdditionalData(data: Uint8Array | undefined): void {
    this.additionalData = data;
  }
  indicate(): void {}
  disconnect(): void {}
  setHandler(_events: BleEvents): void {}
}

class MapStore {
  readonly maxKeyLength = 15;
  readonly maxValueLength = 4000;
  private readonly map = new Map<string, Uint8Array>();
  get(key: string) {
    return this.map.get(key);
  }
  set(key: string, value: Uint8Array) {
    if (key.length > this.maxKeyLength) throw new Error("key too long");
    this.map.set(key, value.slice());
  }
  delete(key: string) {
    this.map.delete(key);
  }
  keys(prefix: string) {
    return [...this.map.keys()].filter((key) => key.startsWith(prefix));
  }
}

export default suite("discovery-payloads", (test) => {
  test("rotating device id matches CHIP's vectors", () => {
    equal(rotatingDeviceIdHex(rotatingDeviceId(UNIQUE_ID, 10)), "0A00D00561E77A68A9FD975057375B9283A8");
    equal(rotatingDeviceIdHex(rotatingDeviceId(UNIQUE_ID, 0xffff)), "FFFF8BEA0C775F001981365D6362E1C0665A");
    throws(() => rotatingDeviceId(UNIQUE_ID.subarray(0, 15), 1), "at least 16");
    throws(() => rotatingDeviceId(UNIQUE_ID, 0x10000), "0..65535");
  });

  test("additional data payload (C3) matches CHIP's vectors", () => {
    bytesEqual(additionalDataPayload(rotatingDeviceId(UNIQUE_ID, 10)), "153000120A00D00561E77A68A9FD975057375B9283A818");
    bytesEqual(additionalDataPayload(rotatingDeviceId(UNIQUE_ID, 0xffff)), "15300012FFFF8BEA0C775F001981365D6362E1C0665A18");
    bytesEqual(additionalDataPayload(undefined), "1518");
  });

  test("the lifetime counter persists, advances per window and wraps at 16 bits", () => {
    const store = new MapStore();
    const counter = new RotatingIdCounter(store);
    equal(counter.value, 0);
    equal(counter.advance(), 1);
    equal(new RotatingIdCounter(store).value, 1);
    store.set("rdi.counter", Uint8Array.of(0xff, 0xff));
    equal(counter.advance(), 0);
  });

  test("BLE service data: opcode, 12-bit discriminator with version, VID, PID, flag", () => {
    const bytes = encodeBleServiceData({ discriminator: 0xf00, vendorId: 0xfff1, productId: 0x8000, additionalData: true });
    bytesEqual(bytes, "00000ff1ff008001");
    deepEqual(decodeBleServiceData(bytes), { opcode: 0, discriminator: 0xf00, version: 0, vendorId: 0xfff1, productId: 0x8000, additionalData: true });
    bytesEqual(encodeBleServiceData({ discriminator: 0x123, vendorId: 1, productId: 2, additionalData: false }), "0023010100020000");
    throws(() => encodeBleServiceData({ discriminator: 0x1000, vendorId: 1, productId: 1, additionalData: false }), "discriminator");
  });

  test("the advertiser shows service data and C3 while started, nothing after stop", () => {
    const ble = new RecordingBle();
    const advertiser = new BleCommissionableAdvertiser(ble);
    advertiser.start({ discriminator: 3840, vendorId: 0xfff1, productId: 0x8000, rotatingId: rotatingDeviceId(UNIQUE_ID, 10) });
    bytesEqual(ble.serviceData!, "00000ff1ff008001");
    bytesEqual(ble.additionalData!, "153000120A00D00561E77A68A9FD975057375B9283A818");
    equal(advertiser.advertising, true);
    advertiser.stop();
    equal(ble.serviceData, undefined);
    equal(ble.additionalData, undefined);
    equal(advertiser.advertising, false);
  });
});
