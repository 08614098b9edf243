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
import { ByteWriter, bytesEqual, concatBytes, utf8Length } from "../codec/bytes";
import { decodeTlv, TlvWriter, type TlvElement } from "../codec/tlv";
import { ecdsaSign, isValidPublicKey, publicKeyFromPrivate, sha256 } from "../crypto";
import { hex4, parseAttestationCertificate, validateDacAgainstPai } from "../certs/attestation";
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
  optional: boolean;
}

/** The payload fields, in the order the writer puts them; the n-th has context tag n. */
const FIELDS: readonly FieldSpec[] = (
  [
    ["vendorId", "uint", 1, 0xfffe],
    ["productId", "uint", 1, 0xffff],
    ["vendorName", "utf8", 1, 32],
    ["productName", "utf8", 1, 32],
    ["hardwareVersion", "uint", 0, 0xffff],
    ["hardwareVersionString", "utf8", 1, 64],
    ["serialNumber", "utf8", 1, 32],
    ["discriminator", "uint", 0, 0xfff],
    ["passcode", "uint", 1, 99999998],
    ["pbkdfIterations", "uint", 1000, 100000],
    ["pbkdfSalt", "bytes", 16, 32],
    ["spake2pW0", "bytes", 32, 32],
    ["spake2pL", "bytes", 65, 65],
    ["rotatingDeviceIdUniqueId", "bytes", 16, 32],
    ["dacCertificate", "bytes", 1, MAX_ATTESTATION_CERT_LENGTH],
    ["dacPrivateKey", "bytes", 32, 32],
    ["paiCertificate", "bytes", 1, MAX_ATTESTATION_CERT_LENGTH],
    ["certificationDeclaration", "bytes", 1, MAX_CD_LENGTH],
    ["firmwareSigningKey", "bytes", 65, 65],
  ] as const
).map(([name, kind, min, max], index) => ({ tag: index + 1, name, kind, min, max, optional: name === "passcode" }));

/** Fields that reach the device only inside DeviceAttestation (or, for the CD, decoded). */
const ATTESTATION_FIELDS: string[] = ["dacCertificate", "dacPrivateKey", "paiCertificate", "certificationDeclaration"];

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
    throw new FactoryDataError("magic", "erased: the device was never provisioned");
  }
  for (let i = 0; i < 4; i++) {
    if (header[i] !== FACTORY_MAGIC.charCodeAt(i)) throw new FactoryDataError("magic", "not a factory data image");
  }
  const view = new DataView(header.buffer, header.byteOffset, FACTORY_HEADER_LENGTH);
  const version = view.getUint16(4, true);
  if (version !== FACTORY_FORMAT_VERSION) throw new FactoryDataError("version", `format version ${version} is not supported`);
  if (view.getUint16(6, true) !== 0) throw new FactoryDataError("version", "reserved header bytes are not zero");
  const length = view.getUint32(8, true);
  if (length > MAX_PAYLOAD_LENGTH) throw new FactoryDataError("length", `payload length ${length} exceeds the partition`);
  if (FACTORY_HEADER_LENGTH + length + FACTORY_DIGEST_LENGTH > available) throw new FactoryDataError("length", `payload length ${length}: the image is truncated`);
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
  for (const { tag, type, value } of root.value as TlvElement[]) {
    const spec = typeof tag === "number" ? FIELDS[tag - 1] : undefined;
    if (!spec) throw new FactoryDataError("payload", `unknown field tag ${String(tag)}`);
    const { name, kind, min, max } = spec;
    if (fields[name] !== undefined) throw new FactoryDataError(name, "appears twice");
    if (type !== kind) throw new FactoryDataError(name, `must be ${kind}, found ${type}`);
    const checked = kind === "uint" ? value : typeof value === "string" ? utf8Length(value) : (value as Uint8Array).length;
    if (typeof checked !== "number" || checked < min || checked > max) {
      throw new FactoryDataError(name, `${kind === "uint" ? "" : "length "}${String(checked)} is outside ${min}..${max}`);
    }
    fields[name] = value as number | string | Uint8Array;
  }
  for (const { name, optional } of FIELDS) {
    if (!optional && fields[name] === undefined) throw new FactoryDataError(name, "is missing");
  }
  return fields;
}

/** Runs `check`, reporting its failure as a FactoryDataError of `field`. */
function forField<T>(field: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw new FactoryDataError(field, (error as Error).message);
  }
}

function checkConsistency(fields: RawFields): CertificationDeclaration {
  const { vendorId, productId, passcode } = fields as { vendorId: number; productId: number; passcode?: number };
  if (passcode !== undefined && !isValidSetupPasscode(passcode)) throw new FactoryDataError("passcode", "is a forbidden trivial passcode");
  let w0 = 0n;
  for (const byte of fields.spake2pW0 as Uint8Array) w0 = (w0 << 8n) | BigInt(byte);
  if (w0 >= P256_ORDER) throw new FactoryDataError("spake2pW0", "is not reduced mod the P-256 order");
  for (const name of ["spake2pL", "firmwareSigningKey"] as const) {
    if (!isValidPublicKey(fields[name] as Uint8Array)) throw new FactoryDataError(name, "is not a valid uncompressed P-256 point");
  }

  const dac = forField("dacCertificate", () => parseAttestationCertificate(fields.dacCertificate as Uint8Array));
  const pai = forField("paiCertificate", () => parseAttestationCertificate(fields.paiCertificate as Uint8Array));
  let dacPublicKey: Uint8Array | undefined;
  try {
    dacPublicKey = publicKeyFromPrivate(fields.dacPrivateKey as Uint8Array);
  } catch {
    // reported below
  }
  if (!dacPublicKey) throw new FactoryDataError("dacPrivateKey", "is not a valid P-256 private key");
  if (!bytesEqual(dacPublicKey, dac.x509.publicKey)) throw new FactoryDataError("dacPrivateKey", "does not match the DAC's public key");
  try {
    validateDacAgainstPai(dac, pai);
  } catch (error) {
    throw new FactoryDataError("dacCertificate", `does not chain to the PAI: ${(error as Error).message}`);
  }
  if (dac.vendorId !== vendorId) throw new FactoryDataError("vendorId", `${hex4(vendorId)} differs from the DAC's ${hex4(dac.vendorId)}`);
  if (dac.productId !== productId) throw new FactoryDataError("productId", `${hex4(productId)} differs from the DAC's ${hex4(dac.productId)}`);

  // The CD's signature is for commissioners to check against the CSA's CD signing keys, which a
  // device does not hold; here it must parse and name this vendor and product.
  const cd = forField("certificationDeclaration", () => decodeCdContent(parseSignedCd(fields.certificationDeclaration as Uint8Array).content));
  const cdProblem =
    cd.vendorId !== vendorId
      ? `vendor id ${hex4(cd.vendorId)} differs from ${hex4(vendorId)}`
      : !cd.productIds.includes(productId)
        ? `does not list product id ${hex4(productId)}`
        : // Spec 6.2.3.1: with a DAC origin the DAC carries the origin's ids, else the CD's.
          cd.dacOriginVendorId !== undefined && (dac.vendorId !== cd.dacOriginVendorId || dac.productId !== cd.dacOriginProductId)
          ? "DAC origin vendor/product ids differ from the DAC's"
          : "";
  if (cdProblem) throw new FactoryDataError("certificationDeclaration", cdProblem);
  return cd;
}

/** Validates a factory image (header, digest, every field, consistency) and returns its contents. */
export function decodeFactoryImage(image: Uint8Array): FactoryData {
  const length = readHeader(image.subarray(0, FACTORY_HEADER_LENGTH), image.length);
  const end = FACTORY_HEADER_LENGTH + length;
  if (!bytesEqual(sha256(image.subarray(0, end)), image.subarray(end, end + FACTORY_DIGEST_LENGTH))) {
    throw new FactoryDataError("digest", "SHA-256 mismatch: the image is corrupt");
  }
  const fields = readFields(image.subarray(FACTORY_HEADER_LENGTH, end));
  const certificationDeclaration = checkConsistency(fields);
  // Copies, so the caller's buffer (holding the DAC key) can be wiped.
  const copy = (name: keyof FactoryDataInput) => (fields[name] as Uint8Array).slice();
  const data: Record<string, unknown> = {};
  for (const { name } of FIELDS) {
    const value = fields[name];
    if (value !== undefined && !ATTESTATION_FIELDS.includes(name)) data[name] = value instanceof Uint8Array ? value.slice() : value;
  }
  data.certificationDeclaration = certificationDeclaration;
  // The key lives only in this closure: not a property, not enumerable, never serialised.
  const key = copy("dacPrivateKey");
  data.attestation = Object.freeze({
    dacCertificate: copy("dacCertificate"),
    paiCertificate: copy("paiCertificate"),
    certificationDeclaration: copy("certificationDeclaration"),
    signWithDac: (message: Uint8Array) => ecdsaSign(key, message),
  });
  return data as unknown as FactoryData;
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
