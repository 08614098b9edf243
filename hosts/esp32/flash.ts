// FlashStore over Moddable's `flash` module, plus the ESP32 boot hardware BootControl needs.
//
// `flash` opens data partitions by label (esp_partition_find_first(DATA, ANY, label)) and two app
// partitions by role: "running" and "nextota" (esp_ota_get_next_update_partition). App slots are
// therefore reached by role here: the update slot's name opens an OtaUpdatePartition (writes go
// through `ota`), the running slot's name a read-only view. Reads and writes go through
// esp_partition_read/write, which decrypt and encrypt partitions flagged "encrypted" when flash
// encryption is on; encrypted writes must then be 16-byte aligned in offset and length.
import Flash from "flash";
import OTA from "ota";
import type { FlashPartition, FlashStore } from "../../src/platform";
import { Esp32BootControl, type BootHardware, type BootRecordStore, type UpdateSession } from "./boot-control";
import { APP_HEAD_LENGTH, appFingerprint } from "./otadata";

/**
 * Never handed out: labels `flash` treats as roles rather than partition names, and the system
 * partitions that ESP-IDF owns (raw writes there would corrupt NVS, the boot selection or RF data).
 */
const RESERVED_NAMES = new Set(["xs", "running", "nextota", "otadata", "nvs", "nvs_keys", "phy_init"]);

function toBytes(buffer: ArrayBuffer | HostBuffer): Uint8Array {
  // read() without useHostBuffer returns an ArrayBuffer.
  return new Uint8Array(buffer as ArrayBuffer);
}

function checkRange(offset: number, length: number, size: number, name: string): void {
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new RangeError(`range ${offset}+${length} is outside partition ${name} (${size} bytes)`);
  }
}

export class Esp32Partition implements FlashPartition {
  readonly size: number;
  readonly blockSize: number;
  readonly #flash: Flash;
  readonly #name: string;
  readonly #writable: boolean;

  constructor(flash: Flash, name: string, writable: boolean) {
    this.#flash = flash;
    this.#name = name;
    this.#writable = writable;
    this.size = flash.byteLength;
    this.blockSize = flash.blockSize;
  }

  read(offset: number, length: number): Uint8Array {
    checkRange(offset, length, this.size, this.#name);
    if (length === 0) return new Uint8Array(0);
    return toBytes(this.#flash.read(offset, length));
  }

  write(offset: number, data: Uint8Array): void {
    this.#checkWritable();
    checkRange(offset, data.length, this.size, this.#name);
    if (data.length > 0) this.#flash.write(offset, data.length, data);
  }

  erase(offset: number, length: number): void {
    this.#checkWritable();
    checkRange(offset, length, this.size, this.#name);
    if (offset % this.blockSize !== 0 || length % this.blockSize !== 0) {
      throw new RangeError(`erase range ${offset}+${length} of ${this.#name} is not aligned to ${this.blockSize}`);
    }
    for (let sector = offset / this.blockSize, end = (offset + length) / this.blockSize; sector < end; sector++) this.#flash.erase(sector);
  }

  #checkWritable(): void {
    if (!this.#writable) throw new Error(`partition ${this.#name} is the running image and is read-only`);
  }
}

function openData(name: string): Flash | undefined {
  try {
    return new Flash(name);
  } catch {
    // "can't find partition"
    return undefined;
  }
}

/** The ESP32 side of BootControl: otadata, the two app slots and Moddable's `ota`. */
export function esp32BootHardware(): BootHardware {
  const otadata = new Flash("otadata");
  const running = new Flash("running");
  const next = new Flash("nextota");
  const head = (flash: Flash) => appFingerprint(toBytes(flash.read(0, APP_HEAD_LENGTH)));
  return {
    otadata: {
      read: (offset, length) => toBytes(otadata.read(offset, length)),
      eraseSector: (sector) => otadata.erase(sector),
      write: (offset, data) => otadata.write(offset, data.length, data),
    },
    runningFingerprint: () => head(running),
    updateFingerprint: () => head(next),
    readUpdateSlot: (offset, length) => (length === 0 ? new Uint8Array(0) : toBytes(next.read(offset, length))),
    updateSlotSize: next.byteLength,
    beginUpdate(): UpdateSession {
      const session = new OTA();
      return {
        write: (data) => session.write(data),
        complete: () => session.complete(),
        cancel: () => session.cancel(),
      };
    },
  };
}

export class Esp32FlashStore implements FlashStore {
  readonly #boot: Esp32BootControl;
  #running: Esp32Partition | undefined;

  constructor(boot: Esp32BootControl) {
    this.#boot = boot;
  }

  open(name: string): FlashPartition | undefined {
    if (name === this.#boot.updateSlot()) return this.#boot.updatePartition();
    if (name === this.#boot.runningSlot()) {
      this.#running ??= new Esp32Partition(new Flash("running"), name, false);
      return this.#running;
    }
    if (RESERVED_NAMES.has(name)) return undefined;
    const flash = openData(name);
    return flash ? new Esp32Partition(flash, name, true) : undefined;
  }
}

/** Creates the boot control; its record lives in `records` (an NVS store of its own). */
export function createBootControl(records: BootRecordStore): Esp32BootControl {
  return new Esp32BootControl(esp32BootHardware(), records);
}
