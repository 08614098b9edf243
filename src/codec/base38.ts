// Base-38 (Matter Core spec 5.1.3.1), the text form of QR onboarding payloads: each 3-byte group,
// read little-endian, becomes 5 characters, least significant digit first; a final 2-byte group
// becomes 4 characters and a final single byte 2.
import { CodecError } from "./bytes";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-.";
const RADIX = 38;
/** Characters per group of 1, 2 or 3 bytes. */
const CHARS_FOR_BYTES = [0, 2, 4, 5] as const;

function digitValue(char: string): number {
  const code = char.charCodeAt(0);
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x5a) return code - 0x41 + 10;
  if (char === "-") return 36;
  if (char === ".") return 37;
  return -1;
}

export function base38Encode(bytes: Uint8Array): string {
  let out = "";
  for (let at = 0; at < bytes.length; at += 3) {
    const count = Math.min(3, bytes.length - at);
    let value = 0;
    for (let i = count - 1; i >= 0; i--) value = value * 256 + bytes[at + i]!;
    for (let i = 0; i < CHARS_FOR_BYTES[count]!; i++) {
      out += ALPHABET[value % RADIX]!;
      value = Math.floor(value / RADIX);
    }
  }
  return out;
}

export function base38Decode(text: string): Uint8Array {
  if (typeof text !== "string") throw new CodecError("base38: expected a string");
  // for-of: indexing a string is O(n) per call on XS.
  const chars = Array.from(text);
  const tail = chars.length % 5;
  if (tail === 1 || tail === 3) throw new CodecError(`base38: invalid length ${chars.length} (a final group has 2, 4 or 5 characters)`);
  const out = new Uint8Array(Math.floor(chars.length / 5) * 3 + (tail === 4 ? 2 : tail === 2 ? 1 : 0));
  let written = 0;
  for (let at = 0; at < chars.length; at += 5) {
    const length = Math.min(5, chars.length - at);
    const byteCount = length === 5 ? 3 : length === 4 ? 2 : 1;
    let value = 0;
    for (let i = length - 1; i >= 0; i--) {
      const digit = digitValue(chars[at + i]!);
      if (digit < 0) throw new CodecError(`base38: invalid character '${chars[at + i]}' at offset ${at + i}`);
      value = value * RADIX + digit;
    }
    if (value >= 2 ** (8 * byteCount)) {
      throw new CodecError(`base38: group at offset ${at} has value ${value}, which does not fit in ${byteCount} byte${byteCount > 1 ? "s" : ""}`);
    }
    for (let i = 0; i < byteCount; i++) {
      out[written++] = value & 0xff;
      value = Math.floor(value / 256);
    }
  }
  return out;
}
