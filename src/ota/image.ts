// The Matter OTA image file (spec 11.21.2) and the matter-xs signature it carries.
//
//   offset  size  field
//   0       4     FileIdentifier 0x1BEEF11E (u32 LE)
//   4       8     TotalSize: the whole file (u64 LE)
//   12      4     HeaderSize: the TLV header that follows (u32 LE)
//   16      H     an anonymous TLV structure:
//                   0 VendorID u16, 1 ProductID u16, 2 SoftwareVersion u32,
//                   3 SoftwareVersionString (1..64), 4 PayloadSize u64,
//                   5 MinApplicableSoftwareVersion u32 (opt), 6 MaxApplicableSoftwareVersion u32 (opt),
//                   7 ReleaseNotesURL (1..256, opt), 8 ImageDigestType u8 (IANA Named Information
//                   Hash Algorithm registry: 1 sha-256 ...), 9 ImageDigest
//                   0x80 matter-xs signature, 64 bytes (opt, always the last member)
//   16+H    P     the payload (PayloadSize bytes, nothing after it)
//
// The signature is ECDSA P-256 with SHA-256, by the firmware-signing key, over
//   file bytes [0, start of the signature element) || SHA-256(payload)
// i.e. the fixed header (with its sizes), every header field, and the payload through its SHA-256.
// It sits in the TLV header because a standard reader skips a context tag it does not know (CHIP's
// OTAImageHeaderParser leaves the structure after ImageDigest with ExitContainer; matter.js's
// TlvObject skips unknown ids), whereas bytes after the payload break the spec's rule that the
// payload is all data past the header (matter.js's reader then reports a size mismatch).
//
// The parsers here are strict where CHIP is: fields in ascending tag order, header at most 1024
// bytes, string lengths bounded; and stricter where sizes meet: TotalSize must equal 16 +
// HeaderSize + PayloadSize, the digest length must match its type.
import { ByteReader, ByteWriter, CodecError, concatBytes, toHex, utf8Length } from "../codec/bytes";
import { decodeTlv, TlvWriter, tlvTagToString, type TlvElement } from "../codec/tlv";
import { createHash, createSha256, ecdsaVerify, P256_SIGNATURE_LENGTH, type HashAlgorithm, type HashStream, type Sha256Stream } from "../crypto";
import { OtaFault, OtaImageError } from "./errors";

export const OTA_FILE_IDENTIFIER = 0x1beef11e;
export const OTA_FIXED_HEADER_LENGTH = 16;
/** Largest TLV header accepted (CHIP's kMaxHeaderSize). */
export const OTA_MAX_HEADER_LENGTH = 1024;
export const OTA_MAX_VERSION_STRING_LENGTH = 64;
export const OTA_MAX_RELEASE_NOTES_URL_LENGTH = 256;
/** Context tag of the matter-xs signature: far above the spec's 0..9, so a new spec field cannot collide. */
export const OTA_SIGNATURE_TAG = 0x80;
/** The signature element as the encoder writes it: control (context tag, 1-byte length), tag, length, r || s. */
const SIGNATURE_ELEMENT_LENGTH = 3 + P256_SIGNATURE_LENGTH;
const SIGNATURE_ELEMENT_PREFIX = [0x30, OTA_SIGNATURE_TAG, P256_SIGNATURE_LENGTH] as const;
const END_OF_CONTAINER = 0x18;

const Tag = {
  vendorId: 0,
  productId: 1,
  softwareVersion: 2,
  softwareVersionString: 3,
  payloadSize: 4,
  minApplicableVersion: 5,
  maxApplicableVersion: 6,
  releaseNotesUrl: 7,
  imageDigestType: 8,
  imageDigest: 9,
} as const;

export interface OtaDigestType {
  id: number;
  /** The registry's name ("sha-256-128"). */
  name: string;
  algorithm: HashAlgorithm;
  /** Digest length in bytes (truncated for sha-256-128 ... sha-256-32). */
  length: number;
}

/** The IANA Named Information Hash Algorithm registry (RFC 6920), as ImageDigestType uses it. */
// Ids 1..12 in order: the algorithm and its (possibly truncated) length in bytes; the truncated
// SHA-256 variants are named after their length in bits.
export const OTA_DIGEST_TYPES: readonly Readonly<OtaDigestType>[] = Object.freeze(
  (
    [
      ["sha-256", 32],
      ["sha-256", 16],
      ["sha-256", 15],
      ["sha-256", 12],
      ["sha-256", 8],
      ["sha-256", 4],
      ["sha-384", 48],
      ["sha-512", 64],
      ["sha3-224", 28],
      ["sha3-256", 32],
      ["sha3-384", 48],
      ["sha3-512", 64],
    ] as const
  ).map(([algorithm, length], index) =>
    Object.freeze({ id: index + 1, name: index > 0 && index < 6 ? `${algorithm}-${length * 8}` : algorithm, algorithm, length }),
  ),
);

export const OTA_DIGEST_SHA256 = 1;

export function otaDigestType(id: number): OtaDigestType | undefined {
  return OTA_DIGEST_TYPES.find((type) => type.id === id);
}

export interface OtaImageHeader {
  /** TotalSize: the whole file in bytes. */
  totalSize: number;
  /** HeaderSize: the TLV header's length (the fixed header's 16 bytes not included). */
  headerSize: number;
  vendorId: number;
  productId: number;
  softwareVersion: number;
  softwareVersionString: string;
  payloadSize: number;
  minApplicableVersion?: number;
  maxApplicableVersion?: number;
  releaseNotesUrl?: string;
  imageDigestType: number;
  imageDigest: Uint8Array;
  /** The matter-xs signature (r || s), when the image carries one. */
  signature?: Uint8Array;
  /** Everything before the payload: the fixed header and the TLV header (16 + headerSize bytes). */
  headerBytes: Uint8Array;
  /** How many leading bytes of headerBytes the signature covers (all of it up to the signature element). */
  signedLength: number;
}

function malformed(message: string): OtaImageError {
  return new OtaImageError(OtaFault.malformedHeader, `OTA image: ${message}`);
}

/** Reads the fixed header's fields; the magic and the header size limit are checked. */
export function decodeOtaFixedHeader(bytes: Uint8Array): { totalSize: number; headerSize: number } {
  if (bytes.length < OTA_FIXED_HEADER_LENGTH) throw malformed(`fixed header of ${bytes.length} bytes`);
  const reader = new ByteReader(bytes.subarray(0, OTA_FIXED_HEADER_LENGTH));
  const identifier = reader.u32le();
  if (identifier !== OTA_FILE_IDENTIFIER) throw malformed(`file identifier 0x${identifier.toString(16)}`);
  const low = reader.u32le();
  const high = reader.u32le();
  // Beyond 2^53 a size is not a safe number, and no firmware image comes near it.
  if (high > 0x1fffff) throw malformed("total size beyond any image");
  const totalSize = high * 0x1_0000_0000 + low;
  const headerSize = reader.u32le();
  if (headerSize === 0) throw malformed("header size is 0");
  if (headerSize > OTA_MAX_HEADER_LENGTH) throw malformed(`header size ${headerSize} exceeds the ${OTA_MAX_HEADER_LENGTH}-byte limit`);
  return { totalSize, headerSize };
}

function expectUint(element: TlvElement, name: string, max: number): number {
  if (element.type !== "uint") throw malformed(`${name} is a ${element.type}`);
  const value = element.value;
  if (typeof value !== "number" || value > max) throw malformed(`${name} ${value} over ${max}`);
  return value;
}

function expectText(element: TlvElement, name: string, maxLength: number): string {
  if (element.type !== "utf8") throw malformed(`${name} is a ${element.type}`);
  const text = element.value as string;
  const length = utf8Length(text);
  if (length < 1 || length > maxLength) throw malformed(`${name} of ${length} bytes, not 1..${maxLength}`);
  return text;
}

function expectBytes(element: TlvElement, name: string): Uint8Array {
  if (element.type !== "bytes") throw malformed(`${name} is a ${element.type}`);
  return element.value as Uint8Array;
}

/** Decodes a complete header (fixed header and TLV header, exactly, no payload bytes). */
export function decodeOtaHeader(headerBytes: Uint8Array): OtaImageHeader {
  const { totalSize, headerSize } = decodeOtaFixedHeader(headerBytes);
  if (headerBytes.length !== OTA_FIXED_HEADER_LENGTH + headerSize) {
    throw malformed(`header of ${headerBytes.length} bytes, not ${OTA_FIXED_HEADER_LENGTH + headerSize}`);
  }
  const tlv = headerBytes.subarray(OTA_FIXED_HEADER_LENGTH);
  let root: TlvElement;
  try {
    root = decodeTlv(tlv, { maxDepth: 4, maxElements: 64 });
  } catch (error) {
    // The TLV must end exactly where HeaderSize says: a header size that lies lands here.
    throw malformed(`header TLV: ${(error as Error).message}`);
  }
  if (root.type !== "structure" || root.tag !== undefined) throw malformed("header not an anonymous structure");

  const fields = new Map<number, TlvElement>();
  let previous = -1;
  const members = root.value as TlvElement[];
  for (let index = 0; index < members.length; index++) {
    const member = members[index]!;
    if (typeof member.tag !== "number") throw malformed(`header member with ${tlvTagToString(member.tag)} tag`);
    if (member.tag <= previous) throw malformed(`header member ${member.tag} after ${previous}`);
    previous = member.tag;
    if (member.tag === OTA_SIGNATURE_TAG && index !== members.length - 1) throw malformed("signature not last");
    // Context tags between 10 and the signature's are future fields: skipped as CHIP skips them, and signed.
    fields.set(member.tag, member);
  }
  // Each reader takes the field's element and its name for messages.
  const required = <T>(tag: number, name: string, read: (element: TlvElement, name: string) => T): T => {
    const field = fields.get(tag);
    if (!field) throw malformed(`missing ${name} (tag ${tag})`);
    return read(field, name);
  };
  const uint = (max: number) => (element: TlvElement, name: string) => expectUint(element, name, max);

  const header: OtaImageHeader = {
    totalSize,
    headerSize,
    vendorId: required(Tag.vendorId, "VendorID", uint(0xffff)),
    productId: required(Tag.productId, "ProductID", uint(0xffff)),
    softwareVersion: required(Tag.softwareVersion, "SoftwareVersion", uint(0xffffffff)),
    softwareVersionString: required(Tag.softwareVersionString, "SoftwareVersionString", (element, name) => expectText(element, name, OTA_MAX_VERSION_STRING_LENGTH)),
    payloadSize: required(Tag.payloadSize, "PayloadSize", uint(Number.MAX_SAFE_INTEGER)),
    imageDigestType: required(Tag.imageDigestType, "ImageDigestType", uint(0xff)),
    imageDigest: required(Tag.imageDigest, "ImageDigest", expectBytes),
    headerBytes,
    signedLength: headerBytes.length,
  };
  const min = fields.get(Tag.minApplicableVersion);
  if (min) header.minApplicableVersion = expectUint(min, "MinApplicableSoftwareVersion", 0xffffffff);
  const max = fields.get(Tag.maxApplicableVersion);
  if (max) header.maxApplicableVersion = expectUint(max, "MaxApplicableSoftwareVersion", 0xffffffff);
  const url = fields.get(Tag.releaseNotesUrl);
  if (url) header.releaseNotesUrl = expectText(url, "ReleaseNotesURL", OTA_MAX_RELEASE_NOTES_URL_LENGTH);

  const digestType = otaDigestType(header.imageDigestType);
  if (!digestType) {
    throw new OtaImageError(OtaFault.unsupportedDigest, `OTA image: ImageDigestType ${header.imageDigestType}`);
  }
  if (header.imageDigest.length !== digestType.length) {
    throw malformed(`ImageDigest is ${header.imageDigest.length} bytes, not ${digestType.length}`);
  }
  if (totalSize !== OTA_FIXED_HEADER_LENGTH + headerSize + header.payloadSize) {
    throw malformed(`total size ${totalSize} != 16 + ${headerSize} + ${header.payloadSize}`);
  }

  const signature = fields.get(OTA_SIGNATURE_TAG);
  if (signature) {
    const value = expectBytes(signature, "signature");
    if (value.length !== P256_SIGNATURE_LENGTH) throw malformed(`signature of ${value.length} bytes`);
    // The signed range ends where the element starts; fix the element's encoding so that range is unambiguous.
    const start = headerBytes.length - SIGNATURE_ELEMENT_LENGTH - 1;
    for (let i = 0; i < SIGNATURE_ELEMENT_PREFIX.length; i++) {
      if (headerBytes[start + i] !== SIGNATURE_ELEMENT_PREFIX[i]) throw malformed("signature not in canonical encoding");
    }
    header.signature = value;
    header.signedLength = start;
  }
  return header;
}

/**
 * A streaming header parser: feed the file's bytes as they arrive, in pieces of any size. It keeps
 * at most 16 + 1024 bytes, and says how many bytes of each piece were header.
 */
export class OtaHeaderParser {
  private fixed: Uint8Array | undefined = new Uint8Array(OTA_FIXED_HEADER_LENGTH);
  private buffer: Uint8Array | undefined;
  private filled = 0;
  private result: OtaImageHeader | undefined;

  /** The header, once complete. */
  get header(): OtaImageHeader | undefined {
    return this.result;
  }

  get complete(): boolean {
    return this.result !== undefined;
  }

  /** Header bytes received so far. */
  get received(): number {
    return this.filled;
  }

  /**
   * The fewest further bytes that can complete the header (16 minus what arrived, until the fixed
   * header is in and the full length known); 0 once complete.
   */
  get bytesNeeded(): number {
    if (this.result) return 0;
    return (this.buffer ? this.buffer.length : OTA_FIXED_HEADER_LENGTH) - this.filled;
  }

  /** Takes header bytes from the start of `chunk`; returns how many it took (the rest is payload). */
  push(chunk: Uint8Array): number {
    if (this.result) return 0;
    let taken = 0;
    if (!this.buffer) {
      const fixed = this.fixed!;
      taken = Math.min(chunk.length, OTA_FIXED_HEADER_LENGTH - this.filled);
      fixed.set(chunk.subarray(0, taken), this.filled);
      this.filled += taken;
      if (this.filled < OTA_FIXED_HEADER_LENGTH) return taken;
      const { headerSize } = decodeOtaFixedHeader(fixed);
      this.buffer = new Uint8Array(OTA_FIXED_HEADER_LENGTH + headerSize);
      this.buffer.set(fixed);
      this.fixed = undefined;
    }
    const buffer = this.buffer;
    const more = Math.min(chunk.length - taken, buffer.length - this.filled);
    buffer.set(chunk.subarray(taken, taken + more), this.filled);
    this.filled += more;
    taken += more;
    if (this.filled === buffer.length) this.result = decodeOtaHeader(buffer);
    return taken;
  }
}

/** What a complete image proved. */
export interface OtaImageSummary {
  header: OtaImageHeader;
  /** SHA-256 of the payload (what the signature covers). */
  payloadSha256: Uint8Array;
  /** The payload's digest with the header's ImageDigestType. */
  payloadDigest: Uint8Array;
  digestMatches: boolean;
}

/**
 * Reads a whole image as a stream: the header, then the payload, hashing it with the header's
 * digest type and with SHA-256 for the signature. Memory stays constant whatever the image size.
 */
export class OtaImageReader {
  private readonly parser = new OtaHeaderParser();
  private sha256: Sha256Stream | undefined;
  private digest: HashStream | undefined;
  private received = 0;
  private finished = false;

  get header(): OtaImageHeader | undefined {
    return this.parser.header;
  }

  /** Bytes of the whole file consumed so far. */
  get bytesRead(): number {
    return this.parser.received + this.received;
  }

  get payloadReceived(): number {
    return this.received;
  }

  /**
   * Feeds the next bytes of the file; returns the part of `chunk` that is payload (a view, maybe
   * empty). Throws OtaImageError for a bad header or for bytes beyond the payload's size.
   */
  push(chunk: Uint8Array): Uint8Array {
    if (this.finished) throw new Error("OTA image already finished");
    const taken = this.parser.push(chunk);
    const header = this.parser.header;
    if (!header) return chunk.subarray(chunk.length);
    if (!this.sha256) {
      this.sha256 = createSha256();
      const type = otaDigestType(header.imageDigestType)!;
      if (type.algorithm !== "sha-256") this.digest = createHash(type.algorithm);
    }
    const payload = chunk.subarray(taken);
    if (payload.length === 0) return payload;
    if (payload.length > header.payloadSize - this.received) {
      throw new OtaImageError(OtaFault.sizeMismatch, `OTA image: more than the ${header.payloadSize} payload bytes`);
    }
    this.received += payload.length;
    this.sha256.update(payload);
    this.digest?.update(payload);
    return payload;
  }

  /** Ends the stream: the payload must be complete. Compares the digest; the signature is checked separately. */
  finish(): OtaImageSummary {
    const header = this.parser.header;
    if (!header) {
      throw new OtaImageError(OtaFault.sizeMismatch, `OTA image: truncated in its header`);
    }
    if (this.received !== header.payloadSize) {
      throw new OtaImageError(OtaFault.sizeMismatch, `OTA image: truncated payload (${this.received} of ${header.payloadSize} bytes)`);
    }
    if (this.finished) throw new Error("OTA image already finished");
    this.finished = true;
    const type = otaDigestType(header.imageDigestType)!;
    this.sha256 ??= createSha256(); // an empty payload ends before any push created it
    const payloadSha256 = this.sha256.digest();
    const full = this.digest ? this.digest.digest() : payloadSha256;
    const payloadDigest = full.subarray(0, type.length);
    return { header, payloadSha256, payloadDigest, digestMatches: constantEqual(payloadDigest, header.imageDigest) };
  }
}

function constantEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/** The message the matter-xs signature is over: the header up to the signature element, then SHA-256(payload). */
export function otaSignedMessage(header: OtaImageHeader, payloadSha256: Uint8Array): Uint8Array {
  return concatBytes(header.headerBytes.subarray(0, header.signedLength), payloadSha256);
}

/** True when the image is signed and the signature verifies with `publicKey` (65-byte uncompressed P-256). */
export function verifyOtaSignature(header: OtaImageHeader, payloadSha256: Uint8Array, publicKey: Uint8Array): boolean {
  if (!header.signature) return false;
  return ecdsaVerify(publicKey, otaSignedMessage(header, payloadSha256), header.signature);
}

/** Parses and checks a whole image held in memory (tools and tests; the device streams). */
export function readOtaImage(file: Uint8Array): OtaImageSummary & { payload: Uint8Array } {
  const reader = new OtaImageReader();
  const payload = reader.push(file);
  return { ...reader.finish(), payload };
}

export interface OtaHeaderFields {
  vendorId: number;
  productId: number;
  softwareVersion: number;
  softwareVersionString: string;
  payloadSize: number;
  minApplicableVersion?: number;
  maxApplicableVersion?: number;
  releaseNotesUrl?: string;
}

/** Signs the message otaSignedMessage describes, returning r || s (64 bytes). */
export type OtaSigner = (message: Uint8Array) => Uint8Array;

function checkUint(value: number, name: string, max: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) throw new CodecError(`OTA header: ${name} must be an integer in 0..${max}, got ${value}`);
}

/**
 * Builds the header (fixed header and TLV) for a payload of `fields.payloadSize` bytes whose
 * SHA-256 is `payloadSha256`, with ImageDigestType sha-256. With `sign`, the matter-xs signature
 * is appended; without, the image is a plain Matter image.
 */
export function encodeOtaHeader(fields: OtaHeaderFields, payloadSha256: Uint8Array, sign?: OtaSigner): Uint8Array {
  checkUint(fields.vendorId, "vendor id", 0xffff);
  checkUint(fields.productId, "product id", 0xffff);
  checkUint(fields.softwareVersion, "software version", 0xffffffff);
  checkUint(fields.payloadSize, "payload size", Number.MAX_SAFE_INTEGER);
  if (fields.minApplicableVersion !== undefined) checkUint(fields.minApplicableVersion, "min applicable version", 0xffffffff);
  if (fields.maxApplicableVersion !== undefined) checkUint(fields.maxApplicableVersion, "max applicable version", 0xffffffff);
  if (payloadSha256.length !== 32) throw new CodecError("OTA header: the payload digest must be a 32-byte SHA-256");

  const writer = new TlvWriter().startStructure(undefined);
  writer.uint(Tag.vendorId, fields.vendorId);
  writer.uint(Tag.productId, fields.productId);
  writer.uint(Tag.softwareVersion, fields.softwareVersion);
  writer.utf8(Tag.softwareVersionString, fields.softwareVersionString);
  writer.uint(Tag.payloadSize, fields.payloadSize);
  if (fields.minApplicableVersion !== undefined) writer.uint(Tag.minApplicableVersion, fields.minApplicableVersion);
  if (fields.maxApplicableVersion !== undefined) writer.uint(Tag.maxApplicableVersion, fields.maxApplicableVersion);
  if (fields.releaseNotesUrl !== undefined) writer.utf8(Tag.releaseNotesUrl, fields.releaseNotesUrl);
  writer.uint(Tag.imageDigestType, OTA_DIGEST_SHA256);
  writer.bytes(Tag.imageDigest, payloadSha256);
  const unsigned = writer.end().finish();
  const body = unsigned.subarray(0, unsigned.length - 1); // the members, without the end of the structure
  const headerSize = body.length + (sign ? SIGNATURE_ELEMENT_LENGTH : 0) + 1;
  if (headerSize > OTA_MAX_HEADER_LENGTH) throw new CodecError(`OTA header: ${headerSize} bytes exceeds the ${OTA_MAX_HEADER_LENGTH}-byte limit`);

  const fixed = new ByteWriter(OTA_FIXED_HEADER_LENGTH)
    .u32le(OTA_FILE_IDENTIFIER)
    .u64le(BigInt(OTA_FIXED_HEADER_LENGTH + headerSize) + BigInt(fields.payloadSize))
    .u32le(headerSize)
    .finish();
  const signed = concatBytes(fixed, body);
  let headerBytes: Uint8Array;
  if (sign) {
    const signature = sign(concatBytes(signed, payloadSha256));
    if (!(signature instanceof Uint8Array) || signature.length !== P256_SIGNATURE_LENGTH) {
      throw new CodecError(`OTA header: the signer returned ${signature?.length} bytes, expected ${P256_SIGNATURE_LENGTH}`);
    }
    headerBytes = concatBytes(signed, Uint8Array.from(SIGNATURE_ELEMENT_PREFIX), signature, Uint8Array.of(END_OF_CONTAINER));
  } else {
    headerBytes = concatBytes(signed, Uint8Array.of(END_OF_CONTAINER));
  }
  // What we write must read back: the field constraints (string lengths, ...) live in the decoder.
  try {
    decodeOtaHeader(headerBytes);
  } catch (error) {
    throw new CodecError((error as Error).message);
  }
  return headerBytes;
}

/** Hex of a digest, for logs and tools. */
export function describeDigest(header: OtaImageHeader): string {
  const type = otaDigestType(header.imageDigestType);
  return `${type ? type.name : `type ${header.imageDigestType}`}:${toHex(header.imageDigest)}`;
}
