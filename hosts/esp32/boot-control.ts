// Which image runs and which runs next, on ESP32 with Moddable's modules.
//
// Moddable's `ota` writes the inactive slot through esp_ota_write, and its complete() runs
// esp_ota_end (which verifies the image, and its signature under secure boot) and
// esp_ota_set_boot_partition. It exposes nothing else: not the running slot's name, not its
// rollback state, not esp_ota_mark_app_valid_cancel_rollback. So matter-xs builds with ESP-IDF's
// own bootloader rollback (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE, see hosts/esp32/sdkconfig) and
// does the missing parts on the otadata partition itself, which Moddable's `flash` opens by name:
//   - the running slot and whether it is on trial come from the entry the bootloader followed;
//   - confirmRunning() rewrites that entry as VALID, exactly as esp_ota_mark_app_valid_cancel_rollback
//     does (same sector, erase then write: a power cut in between leaves the other sector, the
//     previous image, in charge, which is the safe outcome);
//   - an image that never confirms is rolled back by the bootloader on the next reset, including
//     one that crashes before JavaScript runs.
// One case otadata cannot tell: when the bootloader cannot load the selected image it boots the
// other slot without updating otadata. setNextBoot therefore records the new image's fingerprint
// (its ELF SHA-256) in NVS, and at boot a running image that does not match it is known to be the
// other slot.

import type { BootControl, FlashPartition } from "../../src/platform";
import {
  OTADATA_ENTRY_SIZE,
  OTADATA_SECTOR_SIZE,
  OtaState,
  activeSector,
  confirmedEntry,
  decodeEntry,
  encodeEntry,
  slotOf,
  type OtaSelectEntry,
} from "./otadata";

/** The OTA app partitions of hosts/esp32/partitions.csv, in subtype order (ota_0, ota_1). */
export const OTA_SLOTS = Object.freeze(["ota_0", "ota_1"] as const);

/** Raw access to the otadata partition (Moddable `flash`, "otadata"). */
export interface OtadataPartition {
  read(offset: number, length: number): Uint8Array;
  eraseSector(sector: number): void;
  write(offset: number, data: Uint8Array): void;
}

/** One esp_ota_begin ... esp_ota_end session on the next update partition (Moddable `ota`). */
export interface UpdateSession {
  write(data: Uint8Array): void;
  /** esp_ota_end (verifies the image) then esp_ota_set_boot_partition. */
  complete(): void;
  cancel(): void;
}

export interface BootHardware {
  otadata: OtadataPartition;
  /** Fingerprint (ELF SHA-256) of the running image and of the image in the update slot. */
  runningFingerprint(): Uint8Array | undefined;
  updateFingerprint(): Uint8Array | undefined;
  /** Raw reads of the update slot ("nextota"). */
  readUpdateSlot(offset: number, length: number): Uint8Array;
  updateSlotSize: number;
  beginUpdate(): UpdateSession;
}

/** Where setNextBoot leaves the fingerprint of the image it selected. */
export interface BootRecordStore {
  get(key: string): Uint8Array | undefined;
  set(key: string, value: Uint8Array): void;
  delete(key: string): void;
}

const RECORD_KEY = "trial";
const SECTOR = 0x1000;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

export class Esp32BootControl implements BootControl {
  readonly #hardware: BootHardware;
  readonly #records: BootRecordStore;
  readonly #running: number;
  #pending: boolean;
  #slot: OtaUpdatePartition | undefined;

  constructor(hardware: BootHardware, records: BootRecordStore) {
    this.#hardware = hardware;
    this.#records = records;
    const { entries, active } = this.#readOtadata();
    if (active === undefined) {
      // Freshly flashed: with no factory app the bootloader starts ota_0.
      this.#running = 0;
      this.#pending = false;
      return;
    }
    const entry = entries[active];
    const selected = slotOf(entry, OTA_SLOTS.length);
    this.#running = this.#bootedSelected(selected) ? selected : 1 - selected;
    this.#pending = this.#running === selected && entry.state === OtaState.PENDING_VERIFY;
  }

  runningSlot(): string {
    return OTA_SLOTS[this.#running]!;
  }

  updateSlot(): string {
    return OTA_SLOTS[1 - this.#running]!;
  }

  pendingConfirmation(): boolean {
    return this.#pending;
  }

  /** The update slot as a FlashPartition; created on first use. */
  updatePartition(): OtaUpdatePartition {
    this.#slot ??= new OtaUpdatePartition(this.#hardware);
    return this.#slot;
  }

  setNextBoot(slot: string): void {
    if (slot !== this.updateSlot()) {
      throw new Error(`only the update slot ${this.updateSlot()} can be selected, not ${JSON.stringify(slot)}`);
    }
    const partition = this.#slot;
    if (!partition?.hasImage()) throw new Error(`no image was written to ${slot} since it was erased`);
    const fingerprint = this.#hardware.updateFingerprint();
    if (!fingerprint) throw new Error(`${slot} does not start with an ESP32 app image`);
    this.#records.set(RECORD_KEY, Uint8Array.of(1 - this.#running, ...fingerprint));
    try {
      partition.complete();
    } catch (error) {
      this.#records.delete(RECORD_KEY);
      throw error;
    }
  }

  confirmRunning(): void {
    if (!this.#pending) return;
    const { entries, active } = this.#readOtadata();
    if (active === undefined) throw new Error("otadata has no selectable entry to confirm");
    const entry = entries[active];
    if (slotOf(entry, OTA_SLOTS.length) !== this.#running || entry.state !== OtaState.PENDING_VERIFY) {
      throw new Error("otadata changed since boot; the running image is no longer the one on trial");
    }
    const offset = active * OTADATA_SECTOR_SIZE;
    this.#hardware.otadata.eraseSector(active);
    this.#hardware.otadata.write(offset, encodeEntry(confirmedEntry(entry)));
    this.#pending = false;
  }

  #readOtadata(): { entries: [OtaSelectEntry, OtaSelectEntry]; active: 0 | 1 | undefined } {
    const read = (sector: number) => decodeEntry(this.#hardware.otadata.read(sector * OTADATA_SECTOR_SIZE, OTADATA_ENTRY_SIZE));
    const entries: [OtaSelectEntry, OtaSelectEntry] = [read(0), read(1)];
    return { entries, active: activeSector(entries) };
  }

  /** False only when a recorded fingerprint for `selected` proves the running image is another. */
  #bootedSelected(selected: number): boolean {
    const record = this.#records.get(RECORD_KEY);
    if (!record || record.length !== 33 || record[0] !== selected) return true;
    const running = this.#hardware.runningFingerprint();
    return !running || sameBytes(running, record.subarray(1));
  }
}

/**
 * The update slot as a FlashPartition. esp_ota_write only appends, erasing each sector just
 * before it writes into it, so: erase(0, ...) starts a new image (an esp_ota_begin), writes must
 * continue exactly where the previous one ended, and erases elsewhere are accepted only for
 * sectors the image has not reached yet (esp_ota_write erases them on the way). Reads return the
 * slot's raw content: bytes beyond the written end still hold the previous image, not 0xFF.
 */
export class OtaUpdatePartition implements FlashPartition {
  readonly size: number;
  readonly blockSize = SECTOR;
  readonly #hardware: BootHardware;
  #session: UpdateSession | undefined;
  #written = 0;

  constructor(hardware: BootHardware) {
    this.#hardware = hardware;
    this.size = hardware.updateSlotSize;
  }

  read(offset: number, length: number): Uint8Array {
    this.#checkRange(offset, length);
    return this.#hardware.readUpdateSlot(offset, length);
  }

  erase(offset: number, length: number): void {
    this.#checkRange(offset, length);
    if (offset % SECTOR !== 0 || length % SECTOR !== 0) throw new RangeError(`erase range ${offset}+${length} is not sector aligned`);
    if (length === 0) return;
    if (offset === 0) {
      this.#session?.cancel();
      this.#session = undefined;
      this.#written = 0;
      this.#session = this.#hardware.beginUpdate();
      return;
    }
    if (!this.#session) throw new RangeError("erase(0, ...) starts an image in the update slot; erase it first");
    if (offset < Math.ceil(this.#written / SECTOR) * SECTOR) {
      throw new RangeError(`cannot erase ${offset}+${length}: the image being written already reaches ${this.#written}; erase from 0 to start over`);
    }
  }

  write(offset: number, data: Uint8Array): void {
    this.#checkRange(offset, data.length);
    if (!this.#session) throw new RangeError("the update slot must be erased from 0 before it is written");
    if (offset !== this.#written) throw new RangeError(`update slot writes are sequential: expected offset ${this.#written}, got ${offset}`);
    if (data.length === 0) return;
    this.#session.write(data);
    this.#written += data.length;
  }

  hasImage(): boolean {
    return this.#session !== undefined && this.#written > 0;
  }

  complete(): void {
    const session = this.#session;
    if (!session) throw new Error("no image is being written");
    this.#session = undefined;
    this.#written = 0;
    session.complete();
  }

  #checkRange(offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`range ${offset}+${length} is outside the ${this.size}-byte update slot`);
    }
  }
}
