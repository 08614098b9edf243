// Byte helpers shared by every codec: hex, UTF-8, concatenation and little/big-endian readers and
// writers over Uint8Array. Pure, engine-neutral (plain Uint8Array; no Node buffers, no TextEncoder dependence), and strict:
// anything malformed or out of range is a CodecError, never a silent truncation.

/** The one error type of the codec layer. */
export class CodecError extends Error {
  override name = "CodecError";
}

const HEX_DIGITS = "0123456789abcdef";

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    out += HEX_DIGITS[byte >> 4]! + HEX_DIGITS[byte & 15]!;
  }
  return out;
}

function hexNibble(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  return -1;
}

/** Parses hex (either case, no separators). */
export function fromHex(hex: string): Uint8Array {
  if (typeof hex !== "string") throw new CodecError("hex: expected a string");
  if (hex.length % 2 !== 0) throw new CodecError(`hex: odd length ${hex.length}`);
  const out = new Uint8Array(hex.length / 2);
  // for-of rather than charCodeAt(i): indexing a string is O(n) per call on XS.
  let index = 0;
  let high = 0;
  for (const char of hex) {
    const nibble = hexNibble(char.charCodeAt(0));
    if (nibble < 0) throw new CodecError(`hex: invalid character at offset ${index}`);
    if (index % 2 === 0) high = nibble;
    else out[index >> 1] = (high << 4) | nibble;
    index++;
  }
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Content equality. NOT constant time: never use it to compare secrets or MACs. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** UTF-8 encoding; lone surrogates become U+FFFD, as the WHATWG TextEncoder does. */
export function utf8Encode(text: string): Uint8Array {
  const out = new Uint8Array(utf8Length(text));
  let at = 0;
  // for-of walks code points in order; indexing with charCodeAt is O(n) per call on XS, whose
  // strings are stored as UTF-8.
  for (const char of text) {
    let code = char.codePointAt(0)!;
    if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;
    if (code < 0x80) {
      out[at++] = code;
      continue;
    }
    // A lead byte (110xxxxx, 1110xxxx or 11110xxx) then 10xxxxxx continuation bytes.
    const continuations = code < 0x800 ? 1 : code < 0x10000 ? 2 : 3;
    out[at++] = ((0xff80 >> continuations) & 0xff) | (code >> (6 * continuations));
    for (let shift = 6 * (continuations - 1); shift >= 0; shift -= 6) out[at++] = 0x80 | ((code >> shift) & 0x3f);
  }
  return out;
}

/** Number of bytes `utf8Encode(text)` produces. */
export function utf8Length(text: string): number {
  let length = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    length += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return length;
}

/**
 * Strict UTF-8 decoding in one pass (RFC 3629): the text, or the offset of the first byte that
 * breaks well-formed UTF-8 (an overlong form, a surrogate, a code point past U+10FFFF, a
 * truncated sequence).
 */
export function utf8DecodeOrOffset(bytes: Uint8Array): string | number {
  let out = "";
  let units: number[] = [];
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i]!;
    let code = lead;
    let count = 0;
    // Allowed range of the first continuation byte; the others are 0x80..0xbf.
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0x80) {
      if (lead >= 0xc2 && lead <= 0xdf) count = 1;
      else if (lead >= 0xe0 && lead <= 0xef) {
        count = 2;
        if (lead === 0xe0) low = 0xa0; // overlong
        if (lead === 0xed) high = 0x9f; // UTF-16 surrogates
      } else if (lead >= 0xf0 && lead <= 0xf4) {
        count = 3;
        if (lead === 0xf0) low = 0x90; // overlong
        if (lead === 0xf4) high = 0x8f; // beyond U+10FFFF
      } else return i;
      code = lead & (0x3f >> count);
      for (let k = 1; k <= count; k++) {
        const byte = bytes[i + k];
        if (byte === undefined || byte < low || byte > high) return i;
        code = (code << 6) | (byte & 0x3f);
        low = 0x80;
        high = 0xbf;
      }
    }
    i += count + 1;
    if (code >= 0x10000) {
      code -= 0x10000;
      units.push(0xd800 + (code >> 10), 0xdc00 + (code & 0x3ff));
    } else units.push(code);
    // Flush in small chunks: the spread goes on the stack, which is only a few hundred slots on ESP32.
    if (units.length >= 64) {
      out += String.fromCharCode(...units);
      units = [];
    }
  }
  return out + String.fromCharCode(...units);
}

/** Index of the first byte that breaks well-formed UTF-8 (RFC 3629), or -1 when all is valid. */
export function utf8InvalidOffset(bytes: Uint8Array): number {
  const decoded = utf8DecodeOrOffset(bytes);
  return typeof decoded === "number" ? decoded : -1;
}

/** Strict UTF-8 decoding: overlong forms, surrogates, code points past U+10FFFF and truncated sequences are errors. */
export function utf8Decode(bytes: Uint8Array): string {
  const decoded = utf8DecodeOrOffset(bytes);
  if (typeof decoded === "number") throw new CodecError(`invalid UTF-8 at byte ${decoded}`);
  return decoded;
}

/** CodecError unless `value` is a `bits`-bit integer (two's complement when `signed`). */
function checkInt(value: number, bits: number, signed: boolean): void {
  const min = signed ? -(2 ** (bits - 1)) : 0;
  if (!Number.isInteger(value) || value < min || value >= min + 2 ** bits) {
    throw new CodecError(`${signed ? "i" : "u"}${bits}: ${value} is out of range`);
  }
}

const U64_LIMIT = 1n << 64n;
const I64_MIN = -(1n << 63n);

/** A growable output buffer. Values are range-checked; nothing is silently truncated. */
export class ByteWriter {
  private buffer: Uint8Array;
  private view: DataView;
  private used = 0;

  constructor(initialCapacity = 64) {
    this.buffer = new Uint8Array(Math.max(1, initialCapacity));
    this.view = new DataView(this.buffer.buffer);
  }

  get length(): number {
    return this.used;
  }

  /** Claims `count` bytes and returns their offset. May replace buffer and view: call it before touching them. */
  private reserve(count: number): number {
    const at = this.used;
    const needed = at + count;
    if (needed > this.buffer.length) {
      let capacity = this.buffer.length * 2;
      while (capacity < needed) capacity *= 2;
      const grown = new Uint8Array(capacity);
      grown.set(this.buffer.subarray(0, at));
      this.buffer = grown;
      this.view = new DataView(grown.buffer);
    }
    this.used = needed;
    return at;
  }

  /**
   * A range-checked 8, 16 or 32-bit integer. The unsigned setters store a negative value as its
   * two's complement, so one path serves both signednesses.
   */
  private put(value: number, bits: number, signed: boolean, littleEndian: boolean): this {
    checkInt(value, bits, signed);
    const at = this.reserve(bits >> 3);
    if (bits === 8) this.buffer[at] = value;
    else if (bits === 16) this.view.setUint16(at, value, littleEndian);
    else this.view.setUint32(at, value, littleEndian);
    return this;
  }

  u8(value: number): this {
    return this.put(value, 8, false, false);
  }

  i8(value: number): this {
    return this.put(value, 8, true, false);
  }

  u16le(value: number): this {
    return this.put(value, 16, false, true);
  }

  u16be(value: number): this {
    return this.put(value, 16, false, false);
  }

  i16le(value: number): this {
    return this.put(value, 16, true, true);
  }

  u32le(value: number): this {
    return this.put(value, 32, false, true);
  }

  u32be(value: number): this {
    return this.put(value, 32, false, false);
  }

  i32le(value: number): this {
    return this.put(value, 32, true, true);
  }

  u64le(value: bigint | number): this {
    return this.put64(value, false);
  }

  i64le(value: bigint | number): this {
    return this.put64(value, true);
  }

  private put64(value: bigint | number, signed: boolean): this {
    const min = signed ? I64_MIN : 0n;
    // A fractional number is out of range too (BigInt() would throw a RangeError on it).
    let big = typeof value === "bigint" || Number.isInteger(value) ? BigInt(value) : min - 1n;
    if (big < min || big >= min + U64_LIMIT) throw new CodecError(`${signed ? "i" : "u"}64: ${value} is out of range`);
    // Two's complement by addition: XS 13.3 rounds some bit operations on negative bigints wrongly.
    if (big < 0n) big += U64_LIMIT;
    return this.put(Number(big & 0xffffffffn), 32, false, true).put(Number(big >> 32n), 32, false, true);
  }

  f32le(value: number): this {
    this.view.setFloat32(this.reserve(4), value, true);
    return this;
  }

  f64le(value: number): this {
    this.view.setFloat64(this.reserve(8), value, true);
    return this;
  }

  bytes(data: Uint8Array): this {
    const at = this.reserve(data.length);
    this.buffer.set(data, at);
    return this;
  }

  /** A copy of everything written so far; the writer stays usable. */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.used);
  }
}

/** A cursor over a byte array. Reading past the end throws CodecError("truncated ..."). */
export class ByteReader {
  private readonly data: Uint8Array;
  private readonly view: DataView;
  private position = 0;

  constructor(bytes: Uint8Array) {
    this.data = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get offset(): number {
    return this.position;
  }

  get remaining(): number {
    return this.data.length - this.position;
  }

  get done(): boolean {
    return this.position >= this.data.length;
  }

  private take(count: number): number {
    if (count > this.data.length - this.position) {
      throw new CodecError(`truncated: need ${count} bytes at offset ${this.position}`);
    }
    const at = this.position;
    this.position += count;
    return at;
  }

  u8(): number {
    return this.data[this.take(1)]!;
  }

  i8(): number {
    return this.view.getInt8(this.take(1));
  }

  u16le(): number {
    return this.view.getUint16(this.take(2), true);
  }

  u16be(): number {
    return this.view.getUint16(this.take(2), false);
  }

  i16le(): number {
    return this.view.getInt16(this.take(2), true);
  }

  u32le(): number {
    return this.view.getUint32(this.take(4), true);
  }

  u32be(): number {
    return this.view.getUint32(this.take(4), false);
  }

  i32le(): number {
    return this.view.getInt32(this.take(4), true);
  }

  u64le(): bigint {
    const at = this.take(8);
    return (BigInt(this.view.getUint32(at + 4, true)) << 32n) | BigInt(this.view.getUint32(at, true));
  }

  i64le(): bigint {
    const value = this.u64le();
    return value >= 1n << 63n ? value - U64_LIMIT : value;
  }

  f32le(): number {
    return this.view.getFloat32(this.take(4), true);
  }

  f64le(): number {
    return this.view.getFloat64(this.take(8), true);
  }

  /** The next `count` bytes as a view into the input (not a copy). */
  bytes(count: number): Uint8Array {
    if (!Number.isInteger(count) || count < 0) throw new CodecError(`invalid byte count ${count}`);
    const at = this.take(count);
    return this.data.subarray(at, at + count);
  }

  /** Everything not yet read, as a view. */
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }
}
