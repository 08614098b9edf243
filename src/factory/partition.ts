// The factory partition: everything a device is given once, at manufacturing, as one versioned,
// integrity-checked image in a raw flash partition (0x6000 bytes on ESP32).
//
//   offset  size  field
//   0       4     magic "MXFD"
//   4       2     format version (little endian), 1
//   6       2     reserved, 0
//   8       4     payload length N (little endian)
//   12      N     payload: a Matter TLV anonymous structure, one context tag per field (below)
//   12+N    32    SHA-256 of bytes 0 .. 12+N
//   ...           erased (0xFF) up to the end of the partition
//
// The writer (the manufacturing tool) and the reader (the device at boot) share this module. The
// reader refuses an image that is corrupt, truncated or inconsistent (the DAC key does not match
// the DAC, the DAC does not chain to the PAI, VID/PID disagree with the certificates or the CD)
// with a FactoryDataError naming the field, rather than booting with half an identity.
import { ByteReader, ByteWriter, bytesEqual, concatBytes } from "../codec/bytes";
import { decodeTlv, TlvWriter, type TlvElement } from "../codec/tlv";
import { ecdsaSign, isValidPublicKey, publicKeyFromPrivate, sha256 } from "../crypto";
import { parseAttestationCertificate, validateDacAgainstPai, type AttestationCertificate } from "../certs/attestation";
import { decodeCdContent, parseSignedCd, MAX_CD_LENGTH, type CertificationDeclaration } from "../certs/cd";
import type { FlashPartition } from "../platform";

/** First four bytes of every image (ASCII). */
export const FACTORY_MAGIC = "MXFD";
export const FACTORY_FORMAT_VERSION = 1;
export const FACTORY_HEADER_LENGTH = 12;
export const FACTORY_DIGEST_LENGTH = 32;
/** The ESP32 data partition the image lives in. */
export const FACTORY_PARTITION_SIZE = 0x6000;
const MAX_PAYLOAD_LENGTH = FACTORY_PARTITION_SIZE - FACTORY_HEADER_LENGTH - FACTORY_DIGEST_LENGTH;
/** Largest DER attestation certificate (spec 6.2.2: 600 bytes). */
export const MAX_ATTESTATION_CERT_LENGTH = 600;
/** Order of the P-256 group: w0 is a scalar below it. */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

export class FactoryDataError extends Error {
  override name = "FactoryDataError";
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`factory data: ${field}: ${detail}`);
  }
}

/** Passcodes 1..99999998 except the trivially guessable ones (spec 5.1.7.1). */
export function isValidSetupPasscode(passcode: number): boolean {
  if (!Number.isInteger(passcode) || passcode < 1 || passcode > 99999998) return false;
  if (passcode === 12345678 || passcode === 87654321) return false;
  return passcode % 11111111 !== 0;
}

/** What the manufacturing tool writes. */
export interface FactoryDataInput {
  vendorId: number;
  productId: number;
  vendorName: string;
  productName: string;
  hardwareVersion: number;
  hardwareVersionString: string;
  serialNumber: string;
  /** 12 bits. */
  discriminator: number;
  /** Stored only when asked for (the simulator prints it); a device needs just the verifier. */
  passcode?: number;
  pbkdfIterations: number;
  pbkdfSalt: Uint8Array;
  /** SPAKE2+ verifier: w0 (32-byte scalar) and L (65-byte point). */
  spake2pW0: Uint8Array;
  spake2pL: Uint8Array;
  /** Input to the rotating device identifier (spec 5.4.2.4.1): at least 128 bits. */
  rotatingDeviceIdUniqueId: Uint8Array;
  dacCertificate: Uint8Array;
  dacPrivateKey: Uint8Array;
  paiCertificate: Uint8Array;
  certificationDeclaration: Uint8Array;
  /** Uncompressed P-256 public key that OTA images must be signed with. */
  firmwareSigningKey: Uint8Array;
}

/** The attestation credentials; the DAC private key is reachable only through signWithDac. */
export interface DeviceAttestation {
  readonly dacCertificate: Uint8Array;
  readonly paiCertificate: Uint8Array;
  readonly certificationDeclaration: Uint8Array;
  /** ECDSA-SHA256 signature (raw r||s) of `message` with the DAC private key. */
  signWithDac(message: Uint8Array): Uint8Array;
}

/** What the device reads back: everything public, plus the attestation signer. */
export interface FactoryData extends Omit<FactoryDataInput, "dacCertificate" | "dacPrivateKey" | "paiCertificate" | "certificationDeclaration"> {
  certificationDeclaration: CertificationDeclaration;
  attestation: DeviceAttestation;
}

type FieldKind = "uint" | "utf8" | "bytes";

interface FieldSpec {
  tag: number;
  name: keyof FactoryDataInput;
  kind: FieldKind;
  /** Inclusive bounds: the value range for uint, the length (bytes for utf8 and bytes). */
  min: number;
  max: number;
  optional?: boolean;
}

/** The payload fields, in the order the writer puts them. */
const FIELDS: readonly FieldSpec[] = [
  { tag: 1, name: "vendorId", kind: "uint", min: 1, max: 0xfffe },
  { tag: 2, name: "productId", kind: "uint", min: 1, max: 0xffff },
  { tag: 3, name: "vendorName", kind: "utf8", min: 1, max: 32 },
  { tag: 4, name: "productName", kind: "utf8", min: 1, max: 32 },
  { tag: 5, name: "hardwareVersion", kind: "uint", min: 0, max: 0xffff },
  { tag: 6, name: "hardwareVersionString", kind: "utf8", min: 1, max: 64 },
  { tag: 7, name: "serialNumber", kind: "utf8", min: 1, max: 32 },
  { tag: 8, name: "discriminator", kind: "uint", min: 0, max: 0xfff },
  { tag: 9, name: "passcode", kind: "uint", min: 1, max: 99999998, optional: true },
  { tag: 10, name: "pbkdfIterations", kind: "uint", min: 1000, max: 100000 },
  { tag: 11, name: "pbkdfSalt", kind: "bytes", min: 16, max: 32 },
  { tag: 12, name: "spake2pW0", kind: "bytes", min: 32, max: 32 },
  { tag: 13, name: "spake2pL", kind: "bytes", min: 65, max: 65 },
  { tag: 14, name: "rotatingDeviceIdUniqueId", kind: "bytes", min: 16, max: 32 },
  { tag: 15, name: "dacCertificate", kind: "bytes", min: 1, max: MAX_ATTESTATION_CERT_LENGTH },
  { tag: 16, name: "dacPrivateKey", kind: "bytes", min: 32, max: 32 },
  { tag: 17, name: "paiCertificate", kind: "bytes", min: 1, max: MAX_ATTESTATION_CERT_LENGTH },
  { tag: 18, name: "certificationDeclaration", kind: "bytes", min: 1, max: MAX_CD_LENGTH },
  { tag: 19, name: "firmwareSigningKey", kind: "bytes", min: 65, max: 65 },
];

/** Wraps a payload in the header and digest. Exposed so tests can seal deliberately bad payloads. */
export function sealFactoryPayload(payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_PAYLOAD_LENGTH) {
    throw new FactoryDataError("length", `payload of ${payload.length} bytes does not fit the ${FACTORY_PARTITION_SIZE}-byte partition`);
  }
  const header = new ByteWriter();
  for (let i = 0; i < 4; i++) header.u8(FACTORY_MAGIC.charCodeAt(i));
  header.u16le(FACTORY_FORMAT_VERSION);
  header.u16le(0);
  header.u32le(payload.length);
  const body = concatBytes(header.finish(), payload);
  return concatBytes(body, sha256(body));
}

/** Encodes the payload TLV without any consistency checks (the tool runs decode on the result). */
export function encodeFactoryPayload(input: FactoryDataInput): Uint8Array {
  const writer = new TlvWriter();
  writer.startStructure(undefined);
  for (const field of FIELDS) {
    const value = input[field.name];
    if (value === undefined) {
      if (field.optional) continue;
      throw new FactoryDataError(field.name, "is missing");
    }
    if (field.kind === "uint") writer.uint(field.tag, value as number);
    else if (field.kind === "utf8") writer.utf8(field.tag, value as string);
    else writer.bytes(field.tag, value as Uint8Array);
  }
  writer.end();
  return writer.finish();
}

/**
 * Builds the factory image from the tool's inputs and proves it by reading it back with the
 * device-side checks, so an image that a device would refuse is never written.
 */
export function encodeFactoryImage(input: FactoryDataInput): Uint8Array {
  const image = sealFactoryPayload(encodeFactoryPayload(input));
  decodeFactoryImage(image);
  return image;
}

/** The image padded with erased flash (0xFF) to the partition size. */
export function padFactoryImage(image: Uint8Array, size = FACTORY_PARTITION_SIZE): Uint8Array {
  if (image.length > size) throw new FactoryDataError("length", `image of ${image.length} bytes is larger than the ${size}-byte partition`);
  const padded = new Uint8Array(size).fill(0xff);
  padded.set(image);
  return padded;
}

function readHeader(header: Uint8Array, available: number): number {
  if (header.length < FACTORY_HEADER_LENGTH) throw new FactoryDataError("length", "image is shorter than its header");
  if (header[0] === 0xff && header[1] === 0xff && header[2] === 0xff && header[3] === 0xff) {
    throw new FactoryDataError("magic", "the partition is erased: this device was never provisioned");
  }
  for (let i = 0; i < 4; i++) {
    if (header[i] !== FACTORY_MAGIC.charCodeAt(i)) throw new FactoryDataError("magic", "not a factory data image");
  }
  const reader = new ByteReader(header.subarray(4, FACTORY_HEADER_LENGTH));
  const version = reader.u16le();
  if (version !== FACTORY_FORMAT_VERSION) {
    throw new FactoryDataError("version", `format version ${version} is not supported (expected ${FACTORY_FORMAT_VERSION})`);
  }
  if (reader.u16le() !== 0) throw new FactoryDataError("version", "reserved header bytes are not zero");
  const length = reader.u32le();
  if (length > MAX_PAYLOAD_LENGTH) throw new FactoryDataError("length", `payload length ${length} exceeds the partition`);
  if (FACTORY_HEADER_LENGTH + length + FACTORY_DIGEST_LENGTH > available) {
    throw new FactoryDataError("length", `payload length ${length} runs past the end of the image (truncated?)`);
  }
  return length;
}

type RawFields = Partial<Record<keyof FactoryDataInput, number | string | Uint8Array>>;

function readFields(payload: Uint8Array): RawFields {
  let root: TlvElement;
  try {
    root = decodeTlv(payload, { maxDepth: 2, maxElements: 64 });
  } catch (error) {
    throw new FactoryDataError("payload", (error as Error).message);
  }
  if (root.type !== "structure" || root.tag !== undefined) throw new FactoryDataError("payload", "is not an anonymous TLV structure");
  const fields: RawFields = {};
  const seen = new Set<number>();
  for (const element of root.value as TlvElement[]) {
    const spec = FIELDS.find((candidate) => candidate.tag === element.tag);
    if (!spec) throw new FactoryDataError("payload", `unknown field tag ${String(element.tag)}`);
    if (seen.has(spec.tag)) throw new FactoryDataError(spec.name, "appears twice");
    seen.add(spec.tag);
    if (element.type !== spec.kind) throw new FactoryDataError(spec.name, `must be ${spec.kind}, found ${element.type}`);
    if (spec.kind === "uint") {
      const value = element.value;
      if (typeof value !== "number" || value < spec.min || value > spec.max) {
        throw new FactoryDataError(spec.name, `${String(value)} is outside ${spec.min}..${spec.max}`);
      }
      fields[spec.name] = value;
    } else {
      const value = element.value as string | Uint8Array;
      const length = typeof value === "string" ? utf8Length(value) : value.length;
      if (length < spec.min || length > spec.max) {
        throw new FactoryDataError(spec.name, `length ${length} is outside ${spec.min}..${spec.max}`);
      }
      fields[spec.name] = value;
    }
  }
  for (const spec of FIELDS) {
    if (!spec.optional && fields[spec.name] === undefined) throw new FactoryDataError(spec.name, "is missing");
  }
  return fields;
}

function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) length += 1;
    else if (code < 0x800) length += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      length += 4;
      i++;
    } else length += 3;
  }
  return length;
}

function parseCertificate(der: Uint8Array, field: string): AttestationCertificate {
  try {
    return parseAttestationCertificate(der);
  } catch (error) {
    throw new FactoryDataError(field, (error as Error).message);
  }
}

function checkConsistency(fields: RawFields): { certificationDeclaration: CertificationDeclaration } {
  const vendorId = fields.vendorId as number;
  const productId = fields.productId as number;
  if (fields.passcode !== undefined && !isValidSetupPasscode(fields.passcode as number)) {
    throw new FactoryDataError("passcode", "is one of the forbidden trivial passcodes");
  }
  const w0 = fields.spake2pW0 as Uint8Array;
  let w0Value = 0n;
  for (const byte of w0) w0Value = (w0Value << 8n) | BigInt(byte);
  if (w0Value >= P256_ORDER) throw new FactoryDataError("spake2pW0", "is not reduced modulo the P-256 group order");
  if (!isValidPublicKey(fields.spake2pL as Uint8Array)) throw new FactoryDataError("spake2pL", "is not a valid P-256 point");
  if (!isValidPublicKey(fields.firmwareSigningKey as Uint8Array)) {
    throw new FactoryDataError("firmwareSigningKey", "is not a valid uncompressed P-256 public key");
  }

  const dac = parseCertificate(fields.dacCertificate as Uint8Array, "dacCertificate");
  const pai = parseCertificate(fields.paiCertificate as Uint8Array, "paiCertificate");
  let dacPublicKey: Uint8Array;
  try {
    dacPublicKey = publicKeyFromPrivate(fields.dacPrivateKey as Uint8Array);
  } catch {
    throw new FactoryDataError("dacPrivateKey", "is not a valid P-256 private key");
  }
  if (!bytesEqual(dacPublicKey, dac.x509.publicKey)) throw new FactoryDataError("dacPrivateKey", "does not match the DAC's public key");
  try {
    validateDacAgainstPai(dac, pai);
  } catch (error) {
    throw new FactoryDataError("dacCertificate", `does not chain to the PAI: ${(error as Error).message}`);
  }
  if (dac.vendorId !== vendorId) throw new FactoryDataError("vendorId", `0x${hex(vendorId)} differs from the DAC's 0x${hex(dac.vendorId!)}`);
  if (dac.productId !== productId) throw new FactoryDataError("productId", `0x${hex(productId)} differs from the DAC's 0x${hex(dac.productId!)}`);

  // The CD's signature is for commissioners to check against the CSA's CD signing keys, which a
  // device does not hold; here it must parse and name this vendor and product.
  let declaration: CertificationDeclaration;
  try {
    declaration = decodeCdContent(parseSignedCd(fields.certificationDeclaration as Uint8Array).content);
  } catch (error) {
    throw new FactoryDataError("certificationDeclaration", (error as Error).message);
  }
  if (declaration.vendorId !== vendorId) {
    throw new FactoryDataError("certificationDeclaration", `vendor id 0x${hex(declaration.vendorId)} differs from 0x${hex(vendorId)}`);
  }
  if (!declaration.productIds.includes(productId)) {
    throw new FactoryDataError("certificationDeclaration", `does not list product id 0x${hex(productId)}`);
  }
  // Spec 6.2.3.1: with a DAC origin the DAC carries the origin's ids, else the CD's.
  if (declaration.dacOriginVendorId !== undefined) {
    if (dac.vendorId !== declaration.dacOriginVendorId || dac.productId !== declaration.dacOriginProductId) {
      throw new FactoryDataError("certificationDeclaration", "DAC origin vendor/product ids differ from the DAC's");
    }
  }
  return { certificationDeclaration: declaration };
}

function hex(value: number): string {
  return value.toString(16).toUpperCase().padStart(4, "0");
}

function makeAttestation(dacCertificate: Uint8Array, paiCertificate: Uint8Array, cd: Uint8Array, dacPrivateKey: Uint8Array): DeviceAttestation {
  // The key lives only in this closure: not a property, not enumerable, never serialised.
  const key = dacPrivateKey.slice();
  return Object.freeze({
    dacCertificate,
    paiCertificate,
    certificationDeclaration: cd,
    signWithDac: (message: Uint8Array) => ecdsaSign(key, message),
  });
}

/** Validates a factory image (header, digest, every field, consistency) and returns its contents. */
export function decodeFactoryImage(image: Uint8Array): FactoryData {
  const length = readHeader(image.subarray(0, FACTORY_HEADER_LENGTH), image.length);
  const body = image.subarray(0, FACTORY_HEADER_LENGTH + length);
  const digest = image.subarray(FACTORY_HEADER_LENGTH + length, FACTORY_HEADER_LENGTH + length + FACTORY_DIGEST_LENGTH);
  if (!bytesEqual(sha256(body), digest)) throw new FactoryDataError("digest", "SHA-256 does not match: the image is corrupt");
  const fields = readFields(body.subarray(FACTORY_HEADER_LENGTH));
  const { certificationDeclaration } = checkConsistency(fields);
  const data: FactoryData = {
    vendorId: fields.vendorId as number,
    productId: fields.productId as number,
    vendorName: fields.vendorName as string,
    productName: fields.productName as string,
    hardwareVersion: fields.hardwareVersion as number,
    hardwareVersionString: fields.hardwareVersionString as string,
    serialNumber: fields.serialNumber as string,
    discriminator: fields.discriminator as number,
    pbkdfIterations: fields.pbkdfIterations as number,
    pbkdfSalt: (fields.pbkdfSalt as Uint8Array).slice(),
    spake2pW0: (fields.spake2pW0 as Uint8Array).slice(),
    spake2pL: (fields.spake2pL as Uint8Array).slice(),
    rotatingDeviceIdUniqueId: (fields.rotatingDeviceIdUniqueId as Uint8Array).slice(),
    firmwareSigningKey: (fields.firmwareSigningKey as Uint8Array).slice(),
    certificationDeclaration,
    attestation: makeAttestation(
      (fields.dacCertificate as Uint8Array).slice(),
      (fields.paiCertificate as Uint8Array).slice(),
      (fields.certificationDeclaration as Uint8Array).slice(),
      fields.dacPrivateKey as Uint8Array,
    ),
  };
  if (fields.passcode !== undefined) data.passcode = fields.passcode as number;
  return data;
}

/** The device side: reads and validates the factory partition from flash. */
export function readFactoryData(partition: FlashPartition): FactoryData {
  if (partition.size < FACTORY_HEADER_LENGTH + FACTORY_DIGEST_LENGTH) {
    throw new FactoryDataError("length", `partition of ${partition.size} bytes cannot hold factory data`);
  }
  const length = readHeader(partition.read(0, FACTORY_HEADER_LENGTH), partition.size);
  const image = partition.read(0, FACTORY_HEADER_LENGTH + length + FACTORY_DIGEST_LENGTH);
  try {
    return decodeFactoryImage(image);
  } finally {
    // This copy of the image holds the DAC private key; do not leave it on the heap.
    image.fill(0);
  }
}
