// Byte handling shared by the crypto modules (argument checks, wiping, big-endian integers). Not
// part of the facade; general byte helpers come from the codec layer below.
import { CryptoError } from "./errors";

export { concatBytes } from "../codec/bytes";

/** Throws CryptoError unless `value` is a Uint8Array (of exactly `length` bytes when given). */
export function requireBytes(value: unknown, name: string, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new CryptoError(`${name} must be a Uint8Array`);
  if (length !== undefined && value.length !== length) {
    throw new CryptoError(`${name} must be ${length} bytes, got ${value.length}`);
  }
}

/** Throws CryptoError unless `value` is an integer in [min, max]. */
export function requireInteger(value: unknown, name: string, min: number, max: number): asserts value is number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new CryptoError(`${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
}

/**
 * Compares two byte strings in time that depends only on their lengths (lengths are not
 * secret: tags and MACs have fixed, public sizes).
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  requireBytes(a, "a");
  requireBytes(b, "b");
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/** Overwrites secret buffers with zeros. */
export function wipe(...buffers: (Uint8Array | Uint32Array | undefined)[]): void {
  for (const buffer of buffers) buffer?.fill(0);
}

export function bytesToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

/** Big-endian, left-padded to `length` bytes; `value` must fit. */
export function bigIntToBytes(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let rest = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  if (rest !== 0n || value < 0n) throw new CryptoError(`integer does not fit in ${length} bytes`);
  return out;
}

/** Bytes of an ASCII label (protocol constants such as HKDF info strings). */
export function asciiBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) throw new CryptoError("label is not ASCII");
    out[i] = code;
  }
  return out;
}
