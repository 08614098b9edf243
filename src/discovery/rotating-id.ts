// Rotating Device Identifier (Matter Core spec 5.4.2.4 / CHIP AdditionalDataPayloadGenerator):
//   RDI = counter (2 bytes, little-endian) || last 16 bytes of SHA-256(uniqueId || counter LE)
// The lifetime counter is persisted and advances each time the commissioning window opens, so
// that a controller cannot link two windows of the same device. The unique id (at least 16 bytes)
// comes from the factory data and never leaves the device.
import { TlvWriter } from "../codec/tlv";
import { createSha256 } from "../crypto";
import type { KeyValueStore } from "../platform";

export const ROTATING_ID_MIN_UNIQUE_ID_LENGTH = 16;
export const ROTATING_ID_LENGTH = 18;
const HASH_SUFFIX_LENGTH = 16;
/** Additional data payload (C3, spec 5.4.2.5.7): tag of the rotating device id. */
const ADDITIONAL_DATA_ROTATING_ID_TAG = 0x00;
/** Where the lifetime counter lives in the key-value store. */
export const ROTATING_ID_COUNTER_KEY = "rdi.counter";

export function rotatingDeviceId(uniqueId: Uint8Array, lifetimeCounter: number): Uint8Array {
  if (uniqueId.length < ROTATING_ID_MIN_UNIQUE_ID_LENGTH) {
    throw new RangeError(`rotating id: unique id of ${uniqueId.length} bytes, at least 16 needed`);
  }
  if (!Number.isInteger(lifetimeCounter) || lifetimeCounter < 0 || lifetimeCounter > 0xffff) {
    throw new RangeError(`lifetime counter ${lifetimeCounter} is outside 0..65535`);
  }
  const counter = Uint8Array.of(lifetimeCounter & 0xff, lifetimeCounter >> 8);
  const hash = createSha256();
  hash.update(uniqueId);
  hash.update(counter);
  const digest = hash.digest();
  const out = new Uint8Array(ROTATING_ID_LENGTH);
  out.set(counter, 0);
  out.set(digest.subarray(digest.length - HASH_SUFFIX_LENGTH), 2);
  return out;
}

/** Upper-case hex, as the RI TXT key carries it. */
export function rotatingDeviceIdHex(id: Uint8Array): string {
  let out = "";
  for (const byte of id) out += (byte < 16 ? "0" : "") + byte.toString(16);
  return out.toUpperCase();
}

/** The value of C3: an anonymous TLV structure holding the rotating device id. */
export function additionalDataPayload(rotatingId: Uint8Array | undefined): Uint8Array {
  const writer = new TlvWriter().startStructure(undefined);
  if (rotatingId) writer.bytes(ADDITIONAL_DATA_ROTATING_ID_TAG, rotatingId);
  return writer.end().finish();
}

/** The persisted lifetime counter: `advance()` when a commissioning window opens. */
export class RotatingIdCounter {
  constructor(
    private readonly storage: KeyValueStore,
    private readonly key: string = ROTATING_ID_COUNTER_KEY,
  ) {}

  /** The current value (0 before the first window). */
  get value(): number {
    const stored = this.storage.get(this.key);
    if (!stored || stored.length !== 2) return 0;
    return stored[0]! | (stored[1]! << 8);
  }

  /** Moves to the next value (wrapping at 16 bits), stores it, and returns it. */
  advance(): number {
    const next = (this.value + 1) & 0xffff;
    this.storage.set(this.key, Uint8Array.of(next & 0xff, next >> 8));
    return next;
  }
}
