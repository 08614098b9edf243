// ASN.1 DER (ITU-T X.690), enough for X.509 v3, PKCS#10, ECDSA-Sig-Value and CMS SignedData.
// The decoder accepts DER only: definite minimal lengths, single-byte tags, nothing after the
// element. Nodes keep views of their bytes so signatures can be checked over the exact input.
import { CodecError, concatBytes, utf8Decode, utf8Encode } from "./bytes";

export interface DerNode {
  /** The identifier octet as is (0x30 SEQUENCE, 0xa0 [0] constructed, ...); single-byte tags only. */
  tag: number;
  constructed: boolean;
  /** Value octets (a view). */
  contents: Uint8Array;
  /** The whole element including its header (a view). */
  raw: Uint8Array;
  /** Parsed children when constructed, else []. */
  children: DerNode[];
}

export interface DerLimits {
  /** Deepest nesting accepted; the top-level element is depth 1. Default 16. */
  maxDepth?: number;
}

/** Universal tags (identifier octets) used by Matter's certificates. */
export const Der = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8String: 0x0c,
  NumericString: 0x12,
  PrintableString: 0x13,
  TeletexString: 0x14,
  IA5String: 0x16,
  UTCTime: 0x17,
  GeneralizedTime: 0x18,
  VisibleString: 0x1a,
  BMPString: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

const CONSTRUCTED = 0x20;
const CLASS_MASK = 0xc0;
const HIGH_TAG_NUMBER = 0x1f;
const DEFAULT_MAX_DEPTH = 16;

// ---------------------------------------------------------------------------------------------
// Decoding

function parseElement(input: Uint8Array, start: number, end: number, depth: number, maxDepth: number): DerNode {
  if (depth > maxDepth) throw new CodecError(`DER: nested deeper than ${maxDepth} at offset ${start}`);
  if (start >= end) throw new CodecError(`DER: truncated: no element at offset ${start}`);
  const tag = input[start]!;
  if (tag === 0x00) throw new CodecError(`DER: end-of-contents octets (tag 0x00) at offset ${start}`);
  if ((tag & HIGH_TAG_NUMBER) === HIGH_TAG_NUMBER) throw new CodecError(`DER: high-tag-number form (0x${tag.toString(16)}) at offset ${start} is not supported`);
  if (start + 1 >= end) throw new CodecError(`DER: truncated: no length at offset ${start + 1}`);
  const first = input[start + 1]!;
  let length: number;
  let header: number;
  if (first < 0x80) {
    length = first;
    header = 2;
  } else {
    if (first === 0x80) throw new CodecError(`DER: indefinite length at offset ${start + 1}`);
    const count = first & 0x7f;
    if (count > 4 || first === 0xff) throw new CodecError(`DER: ${count}-byte length at offset ${start + 1} is too long`);
    if (start + 2 + count > end) throw new CodecError(`DER: truncated length at offset ${start + 1}`);
    if (input[start + 2] === 0) throw new CodecError(`DER: non-minimal length (leading zero) at offset ${start + 1}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + input[start + 2 + i]!;
    if (length < 0x80) throw new CodecError(`DER: long-form length ${length} at offset ${start + 1} must use the short form`);
    header = 2 + count;
  }
  const contentStart = start + header;
  if (length > end - contentStart) {
    throw new CodecError(`DER: length ${length} at offset ${start + 1} runs past the end (${end - contentStart} bytes left)`);
  }
  const contentEnd = contentStart + length;
  const constructed = (tag & CONSTRUCTED) !== 0;
  const children: DerNode[] = [];
  if (constructed) {
    let at = contentStart;
    while (at < contentEnd) {
      const child = parseElement(input, at, contentEnd, depth + 1, maxDepth);
      children.push(child);
      at += child.raw.length;
    }
  }
  return {
    tag,
    constructed,
    contents: input.subarray(contentStart, contentEnd),
    raw: input.subarray(start, contentEnd),
    children,
  };
}

/** Decodes exactly one DER element; anything after it is an error. */
export function decodeDer(bytes: Uint8Array, limits?: DerLimits): DerNode {
  const node = parseElement(bytes, 0, bytes.length, 1, limits?.maxDepth ?? DEFAULT_MAX_DEPTH);
  if (node.raw.length !== bytes.length) {
    throw new CodecError(`DER: ${bytes.length - node.raw.length} trailing bytes at offset ${node.raw.length}`);
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// Encoding

function lengthOctets(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Uint8Array.of(0x80 | octets.length, ...octets);
}

/** A complete element with the given identifier octet and value octets. */
export function derElement(tag: number, contents: Uint8Array): Uint8Array {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff) throw new CodecError(`DER: tag ${tag} is not a single identifier octet`);
  if ((tag & HIGH_TAG_NUMBER) === HIGH_TAG_NUMBER) throw new CodecError(`DER: high-tag-number form (0x${tag.toString(16)}) is not supported`);
  return concatBytes(Uint8Array.of(tag), lengthOctets(contents.length), contents);
}

/** Re-encodes a decoded node from its tag and children (or contents): equals `raw` for DER input. */
export function derEncodeNode(node: DerNode): Uint8Array {
  if (!node.constructed) return derElement(node.tag, node.contents);
  return derElement(node.tag, concatBytes(...node.children.map(derEncodeNode)));
}

export function derSequence(...children: Uint8Array[]): Uint8Array {
  return derElement(Der.SEQUENCE, concatBytes(...children));
}

/** A SET in the order given; callers sort SET OF members where DER requires it. */
export function derSet(...children: Uint8Array[]): Uint8Array {
  return derElement(Der.SET, concatBytes(...children));
}

function checkTagNumber(tagNumber: number): void {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30) throw new CodecError(`DER: context tag number ${tagNumber} is outside 0..30`);
}

/** [n] EXPLICIT: a constructed context-specific element wrapping one complete element. */
export function derExplicit(tagNumber: number, content: Uint8Array): Uint8Array {
  checkTagNumber(tagNumber);
  return derElement(0xa0 | tagNumber, content);
}

/** [n] IMPLICIT: a context-specific element carrying the given value octets. */
export function derImplicit(tagNumber: number, contents: Uint8Array, constructed: boolean): Uint8Array {
  checkTagNumber(tagNumber);
  return derElement((constructed ? 0xa0 : 0x80) | tagNumber, contents);
}

/** Minimal two's complement octets of `value`. */
function signedOctets(value: bigint): Uint8Array {
  // Work on a non-negative number only: XS 13.3 rounds `>>` of negative bigints wrongly
  // (-256n >> 8n gives -2n).
  let length = 1;
  while (value < -(1n << BigInt(length * 8 - 1)) || value >= 1n << BigInt(length * 8 - 1)) length++;
  let rest = value < 0n ? value + (1n << BigInt(length * 8)) : value;
  const octets = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    octets[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return octets;
}

/**
 * INTEGER from a bigint or safe integer (two's complement), or from a Uint8Array holding an
 * unsigned big-endian magnitude (leading zeros dropped, a 0x00 added when the high bit is set).
 */
export function derInteger(value: bigint | number | Uint8Array): Uint8Array {
  if (value instanceof Uint8Array) {
    let first = 0;
    while (first < value.length - 1 && value[first] === 0) first++;
    const magnitude = value.subarray(first);
    if (magnitude.length === 0) return derElement(Der.INTEGER, Uint8Array.of(0));
    return derElement(Der.INTEGER, magnitude[0]! & 0x80 ? concatBytes(Uint8Array.of(0), magnitude) : magnitude);
  }
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new CodecError(`DER: ${value} is not a safe integer; pass a bigint`);
    value = BigInt(value);
  }
  if (typeof value !== "bigint") throw new CodecError("DER: INTEGER needs a bigint, number or Uint8Array");
  return derElement(Der.INTEGER, signedOctets(value));
}

const ARC = /^(0|[1-9][0-9]*)$/;

export function derOid(dotted: string): Uint8Array {
  const parts = typeof dotted === "string" ? dotted.split(".") : [];
  if (parts.length < 2 || !parts.every((part) => ARC.test(part))) throw new CodecError(`DER: invalid OID '${String(dotted)}'`);
  const arcs = parts.map((part) => BigInt(part));
  const [root, second] = arcs as [bigint, bigint];
  if (root > 2n || (root < 2n && second > 39n)) throw new CodecError(`DER: invalid OID '${dotted}' (first arcs out of range)`);
  const octets: number[] = [];
  const subidentifiers = [root * 40n + second, ...arcs.slice(2)];
  for (const subidentifier of subidentifiers) {
    const group: number[] = [Number(subidentifier & 0x7fn)];
    for (let rest = subidentifier >> 7n; rest > 0n; rest >>= 7n) group.unshift(Number(rest & 0x7fn) | 0x80);
    octets.push(...group);
  }
  return derElement(Der.OID, Uint8Array.from(octets));
}

/** BIT STRING; DER requires the unused low bits of the last octet to be zero. */
export function derBitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7) throw new CodecError(`DER: ${unusedBits} unused bits is outside 0..7`);
  if (bytes.length === 0 && unusedBits !== 0) throw new CodecError("DER: an empty BIT STRING has no unused bits");
  if (bytes.length > 0 && (bytes[bytes.length - 1]! & ((1 << unusedBits) - 1)) !== 0) throw new CodecError("DER: unused bits of a BIT STRING must be zero");
  return derElement(Der.BIT_STRING, concatBytes(Uint8Array.of(unusedBits), bytes));
}

export function derOctetString(bytes: Uint8Array): Uint8Array {
  return derElement(Der.OCTET_STRING, bytes);
}

export function derUtf8String(text: string): Uint8Array {
  return derElement(Der.UTF8String, utf8Encode(text));
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

export function derPrintableString(text: string): Uint8Array {
  if (!PRINTABLE.test(text)) throw new CodecError(`DER: '${text}' has characters outside PrintableString`);
  return derElement(Der.PrintableString, utf8Encode(text));
}

export function derIa5String(text: string): Uint8Array {
  if (!/^[\x00-\x7f]*$/.test(text)) throw new CodecError(`DER: '${text}' has characters outside IA5String`);
  return derElement(Der.IA5String, utf8Encode(text));
}

export function derNull(): Uint8Array {
  return Uint8Array.of(Der.NULL, 0);
}

export function derBoolean(value: boolean): Uint8Array {
  return Uint8Array.of(Der.BOOLEAN, 1, value ? 0xff : 0x00);
}

// Civil date <-> days since 1970-01-01 in the proleptic Gregorian calendar (no Date: exact for
// every year 0..9999 and the same on every engine).
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const dayOfEra = z - era * 146097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36524) - Math.floor(dayOfEra / 146096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shifted = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * shifted + 2) / 5) + 1;
  const month = shifted < 10 ? shifted + 3 : shifted - 9;
  return [yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

const pad = (value: number, width: number) => String(value).padStart(width, "0");

function timeDigits(unixSeconds: number, minYear: number, maxYear: number, what: string): [string, number] {
  if (!Number.isSafeInteger(unixSeconds)) throw new CodecError(`DER: ${what} needs whole seconds, got ${unixSeconds}`);
  const days = Math.floor(unixSeconds / 86400);
  const secondOfDay = unixSeconds - days * 86400;
  const [year, month, day] = civilFromDays(days);
  if (year < minYear || year > maxYear) throw new CodecError(`DER: year ${year} cannot be a ${what} (${minYear}..${maxYear})`);
  const clock = pad(Math.floor(secondOfDay / 3600), 2) + pad(Math.floor((secondOfDay % 3600) / 60), 2) + pad(secondOfDay % 60, 2);
  return [pad(month, 2) + pad(day, 2) + clock + "Z", year];
}

/** UTCTime YYMMDDHHMMSSZ, for years 1950..2049. */
export function derUtcTime(unixSeconds: number): Uint8Array {
  const [rest, year] = timeDigits(unixSeconds, 1950, 2049, "UTCTime");
  return derElement(Der.UTCTime, utf8Encode(pad(year % 100, 2) + rest));
}

/** GeneralizedTime YYYYMMDDHHMMSSZ, for years 0..9999. */
export function derGeneralizedTime(unixSeconds: number): Uint8Array {
  const [rest, year] = timeDigits(unixSeconds, 0, 9999, "GeneralizedTime");
  return derElement(Der.GeneralizedTime, utf8Encode(pad(year, 4) + rest));
}

// ---------------------------------------------------------------------------------------------
// Readers. Each accepts the universal tag it names, or an implicitly tagged (context-specific or
// application) primitive in its place.

function hexTag(tag: number): string {
  return "0x" + tag.toString(16).padStart(2, "0");
}

function expectPrimitive(node: DerNode, universalTag: number, what: string): Uint8Array {
  const universal = (node.tag & CLASS_MASK) === 0;
  if ((universal && node.tag !== universalTag) || node.constructed) {
    throw new CodecError(`DER: expected ${what} (${hexTag(universalTag)}), got tag ${hexTag(node.tag)}`);
  }
  return node.contents;
}

/** INTEGER as a bigint; rejects empty and non-minimal encodings. */
export function derReadInteger(node: DerNode): bigint {
  const octets = checkedIntegerOctets(node);
  let value = 0n;
  for (const octet of octets) value = (value << 8n) | BigInt(octet);
  if (octets[0]! & 0x80) value -= 1n << BigInt(octets.length * 8);
  return value;
}

function checkedIntegerOctets(node: DerNode): Uint8Array {
  const octets = expectPrimitive(node, Der.INTEGER, "INTEGER");
  if (octets.length === 0) throw new CodecError("DER: empty INTEGER");
  if (octets.length > 1 && ((octets[0] === 0x00 && !(octets[1]! & 0x80)) || (octets[0] === 0xff && octets[1]! & 0x80))) {
    throw new CodecError("DER: non-minimal INTEGER encoding");
  }
  return octets;
}

/** A non-negative INTEGER's big-endian magnitude without the sign octet (a view; zero is [0x00]). */
export function derReadUnsigned(node: DerNode): Uint8Array {
  const octets = checkedIntegerOctets(node);
  if (octets[0]! & 0x80) throw new CodecError("DER: negative INTEGER where an unsigned one is required");
  return octets.length > 1 && octets[0] === 0 ? octets.subarray(1) : octets;
}

export function derReadOid(node: DerNode): string {
  const octets = expectPrimitive(node, Der.OID, "OBJECT IDENTIFIER");
  if (octets.length === 0) throw new CodecError("DER: empty OBJECT IDENTIFIER");
  if (octets[octets.length - 1]! & 0x80) throw new CodecError("DER: truncated OBJECT IDENTIFIER subidentifier");
  const arcs: string[] = [];
  let start = 0;
  for (let i = 0; i < octets.length; i++) {
    if (i === start && octets[i] === 0x80) throw new CodecError("DER: non-minimal OBJECT IDENTIFIER subidentifier");
    if (octets[i]! & 0x80) continue;
    // Up to 7 octets (49 bits) stays exact in a number; longer arcs (2.25 UUIDs) use bigint.
    let value: number | bigint = 0;
    if (i - start < 7) {
      for (let k = start; k <= i; k++) value = value * 128 + (octets[k]! & 0x7f);
    } else {
      let big = 0n;
      for (let k = start; k <= i; k++) big = (big << 7n) | BigInt(octets[k]! & 0x7f);
      value = big;
    }
    if (arcs.length === 0) {
      const first = typeof value === "bigint" ? 2 : value < 40 ? 0 : value < 80 ? 1 : 2;
      arcs.push(String(first), String(typeof value === "bigint" ? value - 80n : value - first * 40));
    } else arcs.push(String(value));
    start = i + 1;
  }
  return arcs.join(".");
}

export function derReadBitString(node: DerNode): { bytes: Uint8Array; unusedBits: number } {
  const octets = expectPrimitive(node, Der.BIT_STRING, "BIT STRING");
  if (octets.length === 0) throw new CodecError("DER: empty BIT STRING");
  const unusedBits = octets[0]!;
  if (unusedBits > 7) throw new CodecError(`DER: BIT STRING with ${unusedBits} unused bits`);
  if (octets.length === 1 && unusedBits !== 0) throw new CodecError("DER: empty BIT STRING with unused bits");
  if ((octets[octets.length - 1]! & ((1 << unusedBits) - 1)) !== 0) throw new CodecError("DER: BIT STRING unused bits are not zero");
  return { bytes: octets.subarray(1), unusedBits };
}

export function derReadOctetString(node: DerNode): Uint8Array {
  return expectPrimitive(node, Der.OCTET_STRING, "OCTET STRING");
}

export function derReadBoolean(node: DerNode): boolean {
  const octets = expectPrimitive(node, Der.BOOLEAN, "BOOLEAN");
  if (octets.length !== 1 || (octets[0] !== 0x00 && octets[0] !== 0xff)) throw new CodecError("DER: BOOLEAN must be one octet, 0x00 or 0xff");
  return octets[0] === 0xff;
}

export function derReadNull(node: DerNode): null {
  if (expectPrimitive(node, Der.NULL, "NULL").length !== 0) throw new CodecError("DER: NULL with contents");
  return null;
}

function asciiOf(octets: Uint8Array, allowed: (code: number) => boolean, what: string): string {
  let out = "";
  for (const code of octets) {
    if (!allowed(code)) throw new CodecError(`DER: byte 0x${code.toString(16)} is not allowed in a ${what}`);
    out += String.fromCharCode(code);
  }
  return out;
}

/** The text of UTF8String, PrintableString, IA5String, NumericString, VisibleString, TeletexString (as Latin-1) or BMPString. */
export function derReadString(node: DerNode): string {
  if (node.constructed) throw new CodecError(`DER: constructed string (tag ${hexTag(node.tag)})`);
  const octets = node.contents;
  switch (node.tag) {
    case Der.UTF8String:
      return utf8Decode(octets);
    case Der.PrintableString:
      return asciiOf(octets, (c) => PRINTABLE.test(String.fromCharCode(c)), "PrintableString");
    case Der.IA5String:
      return asciiOf(octets, (c) => c < 0x80, "IA5String");
    case Der.NumericString:
      return asciiOf(octets, (c) => c === 0x20 || (c >= 0x30 && c <= 0x39), "NumericString");
    case Der.VisibleString:
      return asciiOf(octets, (c) => c >= 0x20 && c <= 0x7e, "VisibleString");
    case Der.TeletexString:
      return asciiOf(octets, () => true, "TeletexString");
    case Der.BMPString: {
      if (octets.length % 2 !== 0) throw new CodecError("DER: BMPString of odd length");
      let out = "";
      for (let i = 0; i < octets.length; i += 2) out += String.fromCharCode((octets[i]! << 8) | octets[i + 1]!);
      return out;
    }
    default:
      throw new CodecError(`DER: tag ${hexTag(node.tag)} is not a string type`);
  }
}

const TIME_DIGITS = /^[0-9]+Z$/;

/** UTCTime (YYMMDDHHMMSSZ; years 50..99 are 19xx) or GeneralizedTime (YYYYMMDDHHMMSSZ) as unix seconds. */
export function derReadTime(node: DerNode): number {
  const isUtc = node.tag === Der.UTCTime;
  if ((!isUtc && node.tag !== Der.GeneralizedTime) || node.constructed) throw new CodecError(`DER: expected UTCTime or GeneralizedTime, got tag ${hexTag(node.tag)}`);
  const text = asciiOf(node.contents, (c) => c < 0x80, "time");
  const expected = isUtc ? 13 : 15;
  if (text.length !== expected || !TIME_DIGITS.test(text)) {
    throw new CodecError(`DER: ${isUtc ? "UTCTime" : "GeneralizedTime"} '${text}' is not ${isUtc ? "YYMMDDHHMMSSZ" : "YYYYMMDDHHMMSSZ"}`);
  }
  const number = (from: number, length: number) => Number(text.slice(from, from + length));
  let year: number;
  let at: number;
  if (isUtc) {
    const yy = number(0, 2);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    at = 2;
  } else {
    year = number(0, 4);
    at = 4;
  }
  const month = number(at, 2);
  const day = number(at + 2, 2);
  const hour = number(at + 4, 2);
  const minute = number(at + 6, 2);
  const second = number(at + 8, 2);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    throw new CodecError(`DER: ${isUtc ? "UTCTime" : "GeneralizedTime"} '${text}' is not a valid date and time`);
  }
  return daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
}
