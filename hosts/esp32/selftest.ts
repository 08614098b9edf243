// Boot self-test: exercises each part of a Platform once and reports what it found. It runs on
// every boot of the ESP32 image (hosts/esp32/main.ts) and touches nothing the firmware owns
// except one scratch key, which it removes.
import { ecdsaSign, ecdsaVerify, publicKeyFromPrivate } from "../../src/crypto/index";
import type { Platform } from "../../src/platform";

/** The factory data partition of hosts/esp32/partitions.csv. */
export const FACTORY_PARTITION = "factory";
export const FACTORY_PARTITION_SIZE = 0x6000;
const SCRATCH_KEY = "_selftest";

export interface SelfTestResult {
  name: string;
  passed: boolean;
  detail: string;
}

function check(name: string, body: () => string): SelfTestResult {
  try {
    return { name, passed: true, detail: body() };
  } catch (error) {
    return { name, passed: false, detail: error instanceof Error ? error.message : String(error) };
  }
}

function require(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

export function runSelfTest(platform: Platform): SelfTestResult[] {
  return [
    check("clock", () => {
      const first = platform.clock.now();
      const second = platform.clock.now();
      require(Number.isFinite(first) && second >= first, `clock went from ${first} to ${second}`);
      return `${second} ms since boot`;
    }),
    check("entropy", () => {
      const a = new Uint8Array(32);
      const b = new Uint8Array(32);
      platform.entropy.fill(a);
      platform.entropy.fill(b);
      require(a.some((byte, index) => byte !== b[index]), "two 32-byte draws were identical");
      require(a.some((byte) => byte !== a[0]), "a 32-byte draw repeats one byte");
      return "64 bytes drawn";
    }),
    check("storage", () => {
      const value = Uint8Array.of(1, 2, 3, 0xff);
      platform.storage.set(SCRATCH_KEY, value);
      const read = platform.storage.get(SCRATCH_KEY);
      platform.storage.delete(SCRATCH_KEY);
      require(read !== undefined && read.length === value.length && read.every((byte, index) => byte === value[index]), "read back differs");
      require(platform.storage.get(SCRATCH_KEY) === undefined, "delete left the key");
      return `round trip; keys up to ${platform.storage.maxKeyLength} chars, values up to ${platform.storage.maxValueLength} bytes`;
    }),
    check("factory partition", () => {
      const partition = platform.flash.open(FACTORY_PARTITION);
      require(partition !== undefined, `no "${FACTORY_PARTITION}" partition: flash hosts/esp32/partitions.csv`);
      require(partition!.size === FACTORY_PARTITION_SIZE, `"${FACTORY_PARTITION}" is ${partition!.size} bytes, expected ${FACTORY_PARTITION_SIZE}`);
      const head = partition!.read(0, 16);
      return head.every((byte) => byte === 0xff) ? "present, empty (not provisioned)" : "present, provisioned";
    }),
    check("boot", () => {
      const boot = platform.boot;
      require(boot !== undefined, "no boot control");
      return `running ${boot!.runningSlot()}, updates go to ${boot!.updateSlot()}${boot!.pendingConfirmation() ? ", on trial" : ""}`;
    }),
    check("crypto", () => {
      const privateKey = new Uint8Array(32).fill(0x5a);
      const message = Uint8Array.of(0x6d, 0x78, 0x73);
      const signature = ecdsaSign(privateKey, message);
      require(ecdsaVerify(publicKeyFromPrivate(privateKey), message, signature), "ECDSA P-256 signature does not verify");
      return "ECDSA P-256 sign and verify";
    }),
  ];
}
