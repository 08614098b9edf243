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

// Universal tags (identifier octets) used by Matter's certificates, one constant each (they
// minify to short names) and together as `Der`.
export const DER_BOOLEAN = 0x01;
export const DER_INTEGER = 0x02;
export const DER_BIT_STRING = 0x03;
export const DER_OCTET_STRING = 0x04;
export const DER_NULL = 0x05;
export const DER_OID = 0x06;
export const DER_ENUMERATED = 0x0a;
export const DER_UTF8_STRING = 0x0c;
export const DER_NUMERIC_STRING = 0x12;
export const DER_PRINTABLE_STRING = 0x13;
export const DER_TELETEX_STRING = 0x14;
export const DER_IA5_STRING = 0x16;
export const DER_UTC_TIME = 0x17;
export const DER_GENERALIZED_TIME = 0x18;
export const DER_VISIBLE_STRING = 0x1a;
export const DER_BMP_STRING = 0x1e;
export const DER_SEQUENCE = 0x30;
export const DER_SET = 0x31;

/** The universal tags above by their ASN.1 names. */
export const Der = {
  BOOLEAN: DER_BOOLEAN,
  INTEGER: DER_INTEGER,
  BIT_STRING: DER_BIT_STRING,
  OCTET_STRING: DER_OCTET_STRING,
  NULL: DER_NULL,
  OID: DER_OID,
  ENUMERATED: DER_ENUMERATED,
  UTF8String: DER_UTF8_STRING,
  NumericString: DER_NUMERIC_STRING,
  PrintableString: DER_PRINTABLE_STRING,
  TeletexString: DER_TELETEX_STRING,
  IA5String: DER_IA5_STRING,
  UTCTime: DER_UTC_TIME,
  GeneralizedTime: DER_GENERALIZED_TIME,
  VisibleString: DER_VISIBLE_STRING,
  BMPString: DER_BMP_STRING,
  SEQUENCE: DER_SEQUENCE,
  SET: DER_SET,
} as const;

const CONSTRUCTED = 0x20;
const CLASS_MASK = 0xc0;
const HIGH_TAG_NUMBER = 0x1f;

// The character sets are predicates, not module-level regular expressions: a preloaded module
// holding several of those crashes Moddable's XS 8.2.3 release builds when they are used.

const PRINTABLE_PUNCTUATION = " '()+,-./:=?";

/** PrintableString's character set (X.680 41.4). */
export function isPrintableString(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const alphanumeric = (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
    if (!alphanumeric && !PRINTABLE_PUNCTUATION.includes(text[i]!)) return false;
  }
  return true;
}

/** Every character within [low, high]. */
function charactersWithin(text: string, low: number, high: number): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < low || code > high) return false;
  }
  return true;
}

/** IA5String's character set: ASCII. */
export function isIa5String(text: string): boolean {
  return charactersWithin(text, 0x00, 0x7f);
}

function fail(problem: string, at: number): never {
  throw new CodecError(`DER: ${problem} at offset ${at}`);
}

// ---------------------------------------------------------------------------------------------
// Decoding

function parseElement(input: Uint8Array, start: number, end: number, depth: number, maxDepth: number): DerNode {
  if (depth > maxDepth) fail(`nested deeper than ${maxDepth}`, start);
  if (start >= end) fail("truncated: no element", start);
  const tag = input[start]!;
  if (tag === 0x00) fail("end-of-contents octets (tag 0x00)", start);
  if ((tag & HIGH_TAG_NUMBER) === HIGH_TAG_NUMBER) fail(`unsupported high-tag-number form 0x${tag.toString(16)}`, start);
  const at = start + 1;
  if (at >= end) fail("truncated: no length", at);
  const first = input[at]!;
  let length = first;
  let contentStart = start + 2;
  if (first >= 0x80) {
    const count = first & 0x7f;
    if (count === 0) fail("indefinite length", at);
    if (count > 4) fail(`${count}-byte length is too long`, at);
    if (contentStart + count > end) fail("truncated length", at);
    if (input[contentStart] === 0) fail("non-minimal length (leading zero)", at);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + input[contentStart++]!;
    if (length < 0x80) fail(`long-form length ${length} must use the short form`, at);
  }
  if (length > end - contentStart) fail(`length ${length} runs past the end`, at);
  const contentEnd = contentStart + length;
  const constructed = (tag & CONSTRUCTED) !== 0;
  const children: DerNode[] = [];
  for (let child = contentStart; constructed && child < contentEnd; ) {
    const node = parseElement(input, child, contentEnd, depth + 1, maxDepth);
    children.push(node);
    child += node.raw.length;
  }
  return { tag, constructed, contents: input.subarray(contentStart, contentEnd), raw: input.subarray(start, contentEnd), children };
}

/** Decodes exactly one DER element; anything after it is an error. */
export function decodeDer(bytes: Uint8Array, limits?: DerLimits): DerNode {
  const node = parseElement(bytes, 0, bytes.length, 1, limits?.maxDepth ?? 16);
  const end = node.raw.length;
  if (end !== bytes.length) fail(`${bytes.length - end} trailing bytes`, end);
  return node;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** A complete element with the given identifier octet and value octets. */
export function derElement(tag: number, contents: Uint8Array): Uint8Array {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff) throw new CodecError(`DER: tag ${tag} is not a single identifier octet`);
  if ((tag & HIGH_TAG_NUMBER) === HIGH_TAG_NUMBER) throw new CodecError(`DER: high-tag-number form (0x${tag.toString(16)}) is not supported`);
  const length = contents.length;
  const lengthOctets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthOctets.unshift(rest % 256);
  const header = length < 0x80 ? [length] : [0x80 | lengthOctets.length, ...lengthOctets];
  return concatBytes(Uint8Array.of(tag, ...header), contents);
}

/** Re-encodes a decoded node from its tag and children (or contents): equals `raw` for DER input. */
export function derEncodeNode(node: DerNode): Uint8Array {
  return derElement(node.tag, node.constructed ? concatBytes(...node.children.map(derEncodeNode)) : node.contents);
}

export function derSequence(...children: Uint8Array[]): Uint8Array {
  return derElement(DER_SEQUENCE, concatBytes(...children));
}

/** A SET in the order given; callers sort SET OF members where DER requires it. */
export function derSet(...children: Uint8Array[]): Uint8Array {
  return derElement(DER_SET, concatBytes(...children));
}

/** [n] EXPLICIT: a constructed context-specific element wrapping one complete element. */
export function derExplicit(tagNumber: number, content: Uint8Array): Uint8Array {
  return derImplicit(tagNumber, content, true);
}

/** [n] IMPLICIT: a context-specific element carrying the given value octets. */
export function derImplicit(tagNumber: number, contents: Uint8Array, constructed: boolean): Uint8Array {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30) throw new CodecError(`DER: context tag number ${tagNumber} is outside 0..30`);
  return derElement((constructed ? 0xa0 : 0x80) | tagNumber, contents);
}

/**
 * INTEGER from a bigint or safe integer (two's complement), or from a Uint8Array holding an
 * unsigned big-endian magnitude (leading zeros dropped, a 0x00 added when the high bit is set).
 */
export function derInteger(value: bigint | number | Uint8Array): Uint8Array {
  if (value instanceof Uint8Array) {
    let first = 0;
    while (first < value.length - 1 && value[first] === 0) first++;
    const magnitude = value.length ? value.subarray(first) : Uint8Array.of(0);
    return derElement(DER_INTEGER, magnitude[0]! & 0x80 ? concatBytes(Uint8Array.of(0), magnitude) : magnitude);
  }
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new CodecError(`DER: ${value} is not a safe integer; pass a bigint`);
    value = BigInt(value);
  }
  if (typeof value !== "bigint") throw new CodecError("DER: INTEGER needs a bigint, number or Uint8Array");
  // Minimal two's complement, computed on a non-negative number only: XS 13.3 rounds `>>` of
  // negative bigints wrongly (-256n >> 8n gives -2n).
  let length = 1;
  while (value < -(1n << BigInt(length * 8 - 1)) || value >= 1n << BigInt(length * 8 - 1)) length++;
  let rest = value < 0n ? value + (1n << BigInt(length * 8)) : value;
  const octets = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--, rest >>= 8n) octets[i] = Number(rest & 0xffn);
  return derElement(DER_INTEGER, octets);
}

export function derOid(dotted: string): Uint8Array {
  const parts = typeof dotted === "string" ? dotted.split(".") : [];
  if (parts.length < 2 || !parts.every((part) => /^(0|[1-9][0-9]*)$/.test(part))) throw new CodecError(`DER: invalid OID '${String(dotted)}'`);
  const [root, second, ...rest] = parts.map(BigInt) as [bigint, bigint, ...bigint[]];
  if (root > 2n || (root < 2n && second > 39n)) throw new CodecError(`DER: invalid OID '${dotted}'`);
  const octets: number[] = [];
  for (const subidentifier of [root * 40n + second, ...rest]) {
    // Base 128, most significant group first, the high bit set on all but the last.
    let value = subidentifier;
    const group = [Number(value & 0x7fn)];
    while ((value >>= 7n) > 0n) group.unshift(Number(value & 0x7fn) | 0x80);
    octets.push(...group);
  }
  return derElement(DER_OID, Uint8Array.from(octets));
}

/** BIT STRING; DER requires the unused low bits of the last octet to be zero. */
export function derBitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7) throw new CodecError(`DER: ${unusedBits} unused bits is outside 0..7`);
  if (bytes.length === 0 ? unusedBits !== 0 : bytes[bytes.length - 1]! & ((1 << unusedBits) - 1)) {
    throw new CodecError("DER: BIT STRING unused bits must be zero, none if empty");
  }
  return derElement(DER_BIT_STRING, concatBytes(Uint8Array.of(unusedBits), bytes));
}

export function derOctetString(bytes: Uint8Array): Uint8Array {
  return derElement(DER_OCTET_STRING, bytes);
}

/** A UTF8String, PrintableString or IA5String, its characters checked against the type. */
export function derString(tag: number, text: string): Uint8Array {
  const name = tag === DER_PRINTABLE_STRING ? "PrintableString" : "IA5String";
  if (tag !== DER_UTF8_STRING && !(tag === DER_PRINTABLE_STRING ? isPrintableString : isIa5String)(text)) {
    throw new CodecError(`DER: '${text}' has characters outside ${name}`);
  }
  return derElement(tag, utf8Encode(text));
}

export function derUtf8String(text: string): Uint8Array {
  return derString(DER_UTF8_STRING, text);
}

export function derPrintableString(text: string): Uint8Array {
  return derString(DER_PRINTABLE_STRING, text);
}

export function derIa5String(text: string): Uint8Array {
  return derString(DER_IA5_STRING, text);
}

export function derNull(): Uint8Array {
  return Uint8Array.of(DER_NULL, 0);
}

export function derBoolean(value: boolean): Uint8Array {
  return Uint8Array.of(DER_BOOLEAN, 1, value ? 0xff : 0x00);
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

/** UTCTime YYMMDDHHMMSSZ (years 1950..2049) or GeneralizedTime YYYYMMDDHHMMSSZ (years 0..9999). */
function encodeTime(unixSeconds: number, utc: boolean): Uint8Array {
  const what = utc ? "UTCTime" : "GeneralizedTime";
  if (!Number.isSafeInteger(unixSeconds)) throw new CodecError(`DER: ${what} needs whole seconds, got ${unixSeconds}`);
  const days = Math.floor(unixSeconds / 86400);
  const second = unixSeconds - days * 86400;
  const [year, month, day] = civilFromDays(days);
  if (utc ? year < 1950 || year > 2049 : year < 0 || year > 9999) throw new CodecError(`DER: year ${year} cannot be a ${what}`);
  const text = [year, month, day, second / 3600, (second % 3600) / 60, second % 60].map((field, index) => String(Math.floor(field)).padStart(index ? 2 : 4, "0")).join("");
  return derElement(utc ? DER_UTC_TIME : DER_GENERALIZED_TIME, utf8Encode((utc ? text.slice(2) : text) + "Z"));
}

/** UTCTime YYMMDDHHMMSSZ, for years 1950..2049. */
export function derUtcTime(unixSeconds: number): Uint8Array {
  return encodeTime(unixSeconds, true);
}

/** GeneralizedTime YYYYMMDDHHMMSSZ, for years 0..9999. */
export function derGeneralizedTime(unixSeconds: number): Uint8Array {
  return encodeTime(unixSeconds, false);
}

// ---------------------------------------------------------------------------------------------
// Readers. Each accepts the universal tag it names, or an implicitly tagged (context-specific or
// application) primitive in its place.

function hexTag(tag: number): string {
  return "0x" + tag.toString(16).padStart(2, "0");
}

function expectPrimitive(node: DerNode, universalTag: number, what: string): Uint8Array {
  if (((node.tag & CLASS_MASK) === 0 && node.tag !== universalTag) || node.constructed) {
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
  const octets = expectPrimitive(node, DER_INTEGER, "INTEGER");
  if (octets.length === 0) throw new CodecError("DER: empty INTEGER");
  // The first nine bits may not be all zeros or all ones.
  if (octets.length > 1 && (octets[0] === 0x00 || octets[0] === 0xff) && (octets[0] & 0x80) === (octets[1]! & 0x80)) {
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
  const octets = expectPrimitive(node, DER_OID, "OBJECT IDENTIFIER");
  if (octets.length === 0) throw new CodecError("DER: empty OBJECT IDENTIFIER");
  if (octets[octets.length - 1]! & 0x80) throw new CodecError("DER: truncated OBJECT IDENTIFIER subidentifier");
  const arcs: (number | bigint)[] = [];
  let value: number | bigint = 0;
  for (const octet of octets) {
    if (value === 0 && octet === 0x80) throw new CodecError("DER: non-minimal OBJECT IDENTIFIER subidentifier");
    // Base 128. Numbers stay exact below 2^53, so an arc about to pass that goes on as a bigint
    // (2.25 UUID arcs are 128 bits).
    value = typeof value === "bigint" || value >= 2 ** 46 ? (BigInt(value) << 7n) | BigInt(octet & 0x7f) : value * 128 + (octet & 0x7f);
    if (octet & 0x80) continue;
    arcs.push(value);
    value = 0;
  }
  // The first subidentifier is 40 * first arc + second arc, the first arc being 0, 1 or 2.
  const packed = arcs[0]!;
  const first = packed < 40 ? 0 : packed < 80 ? 1 : 2;
  arcs.splice(0, 1, first, typeof packed === "bigint" ? packed - 80n : packed - first * 40);
  return arcs.join(".");
}

export function derReadBitString(node: DerNode): { bytes: Uint8Array; unusedBits: number } {
  const octets = expectPrimitive(node, DER_BIT_STRING, "BIT STRING");
  const unusedBits = octets[0];
  if (unusedBits === undefined) throw new CodecError("DER: empty BIT STRING");
  if (unusedBits > 7) throw new CodecError(`DER: BIT STRING with ${unusedBits} unused bits`);
  if (octets.length === 1 && unusedBits !== 0) throw new CodecError("DER: empty BIT STRING with unused bits");
  if (octets[octets.length - 1]! & ((1 << unusedBits) - 1)) throw new CodecError("DER: BIT STRING unused bits are not zero");
  return { bytes: octets.subarray(1), unusedBits };
}

export function derReadOctetString(node: DerNode): Uint8Array {
  return expectPrimitive(node, DER_OCTET_STRING, "OCTET STRING");
}

export function derReadBoolean(node: DerNode): boolean {
  const octets = expectPrimitive(node, DER_BOOLEAN, "BOOLEAN");
  if (octets.length !== 1 || (octets[0] !== 0x00 && octets[0] !== 0xff)) throw new CodecError("DER: BOOLEAN must be one octet, 0x00 or 0xff");
  return octets[0] === 0xff;
}

export function derReadNull(node: DerNode): null {
  if (expectPrimitive(node, DER_NULL, "NULL").length !== 0) throw new CodecError("DER: NULL with contents");
  return null;
}

/** Octets as Latin-1 characters (no spread: the stack is small on ESP32). */
function latin1(octets: Uint8Array): string {
  let text = "";
  for (const code of octets) text += String.fromCharCode(code);
  return text;
}

/** Character sets of the single-byte string types; TeletexString is read as Latin-1, unchecked. */
const CHARSETS: Readonly<Record<number, readonly [string, (text: string) => boolean]>> = Object.freeze({
  [DER_PRINTABLE_STRING]: ["PrintableString", isPrintableString],
  [DER_IA5_STRING]: ["IA5String", isIa5String],
  [DER_NUMERIC_STRING]: ["NumericString", (text: string) => /^[ 0-9]*$/.test(text)],
  [DER_VISIBLE_STRING]: ["VisibleString", (text: string) => charactersWithin(text, 0x20, 0x7e)],
  [DER_TELETEX_STRING]: ["TeletexString", () => true],
} as const);

/** The text of UTF8String, PrintableString, IA5String, NumericString, VisibleString, TeletexString (as Latin-1) or BMPString. */
export function derReadString(node: DerNode): string {
  const { tag, contents } = node;
  if (node.constructed) throw new CodecError(`DER: constructed string (tag ${hexTag(tag)})`);
  if (tag === DER_UTF8_STRING) return utf8Decode(contents);
  if (tag === DER_BMP_STRING) {
    if (contents.length % 2 !== 0) throw new CodecError("DER: BMPString of odd length");
    let text = "";
    for (let i = 0; i < contents.length; i += 2) text += String.fromCharCode((contents[i]! << 8) | contents[i + 1]!);
    return text;
  }
  const charset = CHARSETS[tag];
  if (!charset) throw new CodecError(`DER: tag ${hexTag(tag)} is not a string type`);
  const text = latin1(contents);
  if (!charset[1](text)) throw new CodecError(`DER: '${text}' is not a valid ${charset[0]}`);
  return text;
}

/** UTCTime (YYMMDDHHMMSSZ; years 50..99 are 19xx) or GeneralizedTime (YYYYMMDDHHMMSSZ) as unix seconds. */
export function derReadTime(node: DerNode): number {
  const isUtc = node.tag === DER_UTC_TIME;
  if ((!isUtc && node.tag !== DER_GENERALIZED_TIME) || node.constructed) throw new CodecError(`DER: expected UTCTime or GeneralizedTime, got tag ${hexTag(node.tag)}`);
  const text = latin1(node.contents);
  // Two digits per field, the first field doubled (the century) in GeneralizedTime only.
  const fields = /^(\d\d)?(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
  if (!fields || !fields[1] !== isUtc) throw new CodecError(`DER: '${text}' is not a valid ${isUtc ? "UTCTime" : "GeneralizedTime"}`);
  const [century, yy, month, day, hour, minute, second] = fields.slice(1).map(Number) as number[] as [number, number, number, number, number, number, number];
  const year = isUtc ? yy + (yy >= 50 ? 1900 : 2000) : century * 100 + yy;
  const days = daysFromCivil(year, month, day);
  // A day or month out of range comes back as another date.
  const [checkYear, checkMonth, checkDay] = civilFromDays(days);
  if (checkYear !== year || checkMonth !== month || checkDay !== day || hour > 23 || minute > 59 || second > 59) {
    throw new CodecError(`DER: '${text}' is not a valid ${isUtc ? "UTCTime" : "GeneralizedTime"}`);
  }
  return days * 86400 + hour * 3600 + minute * 60 + second;
}
