// ESP-IDF's OTA data partition ("otadata"): two 4 KB sectors, each starting with one
// esp_ota_select_entry_t (32 bytes, little-endian):
//   0  ota_seq    u32   boot slot = (ota_seq - 1) % number of OTA app partitions
//   4  seq_label  20 bytes (unused, kept as read)
//   24 ota_state  u32   NEW 0, PENDING_VERIFY 1, VALID 2, INVALID 3, ABORTED 4, UNDEFINED 0xFFFFFFFF
//   28 crc        u32   CRC-32 of the 4 ota_seq bytes, computed as esp_rom_crc32_le(UINT32_MAX, ...)
// The bootloader boots the valid entry with the highest sequence number. With
// CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE it turns a NEW entry into PENDING_VERIFY when it boots it,
// and a PENDING_VERIFY entry into ABORTED (booting the previous image) if the app never confirmed.

export const OTADATA_SECTOR_SIZE = 0x1000;
export const OTADATA_ENTRY_SIZE = 32;

export const OtaState = Object.freeze({
  NEW: 0,
  PENDING_VERIFY: 1,
  VALID: 2,
  INVALID: 3,
  ABORTED: 4,
  UNDEFINED: 0xffff_ffff,
} as const);

export interface OtaSelectEntry {
  sequence: number;
  label: Uint8Array;
  state: number;
  crc: number;
}

/** CRC-32 (reflected, polynomial 0xEDB88320) continuing from `previous`, as zlib's crc32(data, previous). */
export function crc32(data: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb8_8320 : crc >>> 1;
  }
  return ~crc >>> 0;
}

function sequenceBytes(sequence: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, sequence, true);
  return bytes;
}

/** The CRC the bootloader expects for `sequence` (bootloader_common_ota_select_crc). */
export function sequenceCrc(sequence: number): number {
  return crc32(sequenceBytes(sequence), 0xffff_ffff);
}

export function decodeEntry(bytes: Uint8Array): OtaSelectEntry {
  if (bytes.length < OTADATA_ENTRY_SIZE) throw new RangeError(`otadata entry needs ${OTADATA_ENTRY_SIZE} bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, OTADATA_ENTRY_SIZE);
  return {
    sequence: view.getUint32(0, true),
    label: bytes.slice(4, 24),
    state: view.getUint32(24, true),
    crc: view.getUint32(28, true),
  };
}

export function encodeEntry(entry: OtaSelectEntry): Uint8Array {
  if (entry.label.length !== 20) throw new RangeError("otadata label must be 20 bytes");
  const bytes = new Uint8Array(OTADATA_ENTRY_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, entry.sequence, true);
  bytes.set(entry.label, 4);
  view.setUint32(24, entry.state, true);
  view.setUint32(28, entry.crc, true);
  return bytes;
}

/** bootloader_common_ota_select_valid: a written entry with a matching CRC that was not given up on. */
export function isSelectable(entry: OtaSelectEntry): boolean {
  return entry.sequence !== 0xffff_ffff && entry.crc === sequenceCrc(entry.sequence) &&
    entry.state !== OtaState.INVALID && entry.state !== OtaState.ABORTED;
}

/** Index (0 or 1) of the sector the bootloader follows, or undefined when neither is selectable. */
export function activeSector(entries: readonly [OtaSelectEntry, OtaSelectEntry]): 0 | 1 | undefined {
  const [first, second] = entries;
  const firstOk = isSelectable(first);
  const secondOk = isSelectable(second);
  if (firstOk && secondOk) return first.sequence >= second.sequence ? 0 : 1;
  if (firstOk) return 0;
  if (secondOk) return 1;
  return undefined;
}

/** The OTA app slot index an entry selects. */
export function slotOf(entry: OtaSelectEntry, slotCount: number): number {
  return (entry.sequence - 1) % slotCount;
}

/** The entry that marks `entry` valid, as esp_ota_mark_app_valid_cancel_rollback writes it. */
export function confirmedEntry(entry: OtaSelectEntry): OtaSelectEntry {
  return { ...entry, state: OtaState.VALID, crc: sequenceCrc(entry.sequence) };
}

// The image header of an ESP32 app: esp_image_header_t (24 bytes, magic 0xE9), the first segment
// header (8 bytes), then esp_app_desc_t (magic 0xABCD5432) whose app_elf_sha256 sits 144 bytes in.
export const APP_IMAGE_MAGIC = 0xe9;
export const APP_DESC_MAGIC = 0xabcd_5432;
const APP_DESC_OFFSET = 32;
const ELF_SHA256_OFFSET = APP_DESC_OFFSET + 144;
/** How many bytes of an app partition `appFingerprint` needs. */
export const APP_HEAD_LENGTH = ELF_SHA256_OFFSET + 32;

/** The ELF SHA-256 recorded in an app image's descriptor, or undefined when `head` is no app image. */
export function appFingerprint(head: Uint8Array): Uint8Array | undefined {
  if (head.length < APP_HEAD_LENGTH || head[0] !== APP_IMAGE_MAGIC) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.length);
  if (view.getUint32(APP_DESC_OFFSET, true) !== APP_DESC_MAGIC) return undefined;
  return head.slice(ELF_SHA256_OFFSET, ELF_SHA256_OFFSET + 32);
}
