// The simulator's application image: what a boot slot (ota_0, ota_1) holds and what an OTA
// image's payload is. Like an ESP-IDF app image (esp_image_header_t, esp_app_desc_t and the
// appended SHA-256 the bootloader checks), it says how long the firmware is, which version it is,
// and carries a digest, so that the simulator's "bootloader" can find the firmware in a slot
// (whose bytes past the image are whatever was there before) and refuse a damaged one:
//
//   0   magic "MXSIMAPP"
//   8   format version (1), u8
//   9   version string length, u8 (1..64)
//   10  SoftwareVersion, u32 LE
//   14  firmware length, u32 LE
//   18  SHA-256 of the firmware, 32 bytes
//   50  version string (UTF-8)
//   ..  the firmware: the JavaScript bundle the XS engine evaluates (UTF-8)
//
// The version fields are for people and logs; the running firmware reports the version that was
// baked into its bundle.
import { createHash } from "node:crypto";
import type { FlashPartition } from "../../src/platform";

export const SIMULATOR_APP_MAGIC = "MXSIMAPP";
const FORMAT_VERSION = 1;
const FIXED_LENGTH = 50;
const MAX_VERSION_STRING = 64;

export interface SimulatorApp {
  softwareVersion: number;
  softwareVersionString: string;
  /** The firmware bundle (JavaScript). */
  script: string;
  /** SHA-256 of the firmware bytes, hex. */
  sha256: string;
  /** Bytes the whole image takes in its slot. */
  length: number;
}

export class SimulatorAppError extends Error {
  override name = "SimulatorAppError";
}

export function encodeSimulatorApp(app: { softwareVersion: number; softwareVersionString: string; script: string }): Uint8Array {
  if (!Number.isInteger(app.softwareVersion) || app.softwareVersion < 0 || app.softwareVersion > 0xffffffff) throw new RangeError(`software version ${app.softwareVersion}`);
  const versionString = new TextEncoder().encode(app.softwareVersionString);
  if (versionString.length < 1 || versionString.length > MAX_VERSION_STRING) throw new RangeError(`version string of ${versionString.length} bytes (1..${MAX_VERSION_STRING})`);
  const firmware = new TextEncoder().encode(app.script);
  const image = new Uint8Array(FIXED_LENGTH + versionString.length + firmware.length);
  const view = new DataView(image.buffer);
  image.set(new TextEncoder().encode(SIMULATOR_APP_MAGIC), 0);
  image[8] = FORMAT_VERSION;
  image[9] = versionString.length;
  view.setUint32(10, app.softwareVersion, true);
  view.setUint32(14, firmware.length, true);
  image.set(createHash("sha256").update(firmware).digest(), 18);
  image.set(versionString, FIXED_LENGTH);
  image.set(firmware, FIXED_LENGTH + versionString.length);
  return image;
}

/** Reads the image at the start of `source` (a slot, or a file's bytes); SimulatorAppError when there is none or it is damaged. */
export function readSimulatorApp(source: FlashPartition | Uint8Array): SimulatorApp {
  const size = source instanceof Uint8Array ? source.length : source.size;
  const read = (offset: number, length: number) => (source instanceof Uint8Array ? source.subarray(offset, offset + length) : source.read(offset, length));
  if (size < FIXED_LENGTH) throw new SimulatorAppError(`${size} bytes cannot hold an application image`);
  const fixed = read(0, FIXED_LENGTH);
  const magic = new TextDecoder().decode(fixed.subarray(0, 8));
  if (magic !== SIMULATOR_APP_MAGIC) {
    const erased = fixed.every((byte) => byte === 0xff);
    throw new SimulatorAppError(erased ? "the slot is erased" : "no application image (bad magic)");
  }
  if (fixed[8] !== FORMAT_VERSION) throw new SimulatorAppError(`application image format ${fixed[8]} is not ${FORMAT_VERSION}`);
  const view = new DataView(fixed.buffer, fixed.byteOffset, fixed.byteLength);
  const versionLength = fixed[9]!;
  const firmwareLength = view.getUint32(14, true);
  if (versionLength < 1 || versionLength > MAX_VERSION_STRING) throw new SimulatorAppError(`version string length ${versionLength}`);
  const length = FIXED_LENGTH + versionLength + firmwareLength;
  if (length > size) throw new SimulatorAppError(`the image claims ${length} bytes; only ${size} are there`);
  const firmware = read(FIXED_LENGTH + versionLength, firmwareLength);
  const digest = createHash("sha256").update(firmware).digest("hex");
  if (digest !== Buffer.from(fixed.subarray(18, 50)).toString("hex")) throw new SimulatorAppError("the firmware's SHA-256 does not match the image header");
  let script: string;
  let softwareVersionString: string;
  try {
    const decoder = new TextDecoder("utf-8", { fatal: true });
    softwareVersionString = decoder.decode(read(FIXED_LENGTH, versionLength));
    script = decoder.decode(firmware);
  } catch {
    throw new SimulatorAppError("the image is not UTF-8 text");
  }
  return { softwareVersion: view.getUint32(10, true), softwareVersionString, script, sha256: digest, length };
}
