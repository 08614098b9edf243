// Onboarding payloads (Matter Core spec 5.1): the QR code text ("MT:" + base38 of an 88-bit
// packed payload, optionally followed by a TLV section) and the 11- or 21-digit manual pairing
// code with its Verhoeff check digit. Validation follows the reference SDK: producers may only
// write values the spec allows; consumers also accept rendezvous bits they do not know yet.
import { base38Decode, base38Encode } from "../codec/base38";
import { CodecError } from "../codec/bytes";
import { TlvWriter, decodeTlv, type TlvElement } from "../codec/tlv";

export class OnboardingError extends Error {
  override name = "OnboardingError";
}

export const CommissioningFlow = { Standard: 0, UserActionRequired: 1, Custom: 2 } as const;

/** Bits of rendezvousInformation. */
export const Rendezvous = { SoftAP: 1 << 0, BLE: 1 << 1, OnNetwork: 1 << 2, WiFiPAF: 1 << 3, NFC: 1 << 4, Thread: 1 << 5 } as const;
const KNOWN_RENDEZVOUS_BITS = 0x3f;

/** One field of the QR code's optional TLV section (spec 5.1.4): tags below 0x80 are Matter's, the rest the vendor's. */
export interface QrExtensionField {
  tag: number;
  value: string | number | bigint | Uint8Array;
}

export interface OnboardingPayload {
  version: number;
  vendorId: number;
  productId: number;
  commissioningFlow: number;
  rendezvousInformation: number;
  /** 12 bits. */
  discriminator: number;
  passcode: number;
  /** The optional TLV section; absent when the code carries none. */
  extension?: QrExtensionField[];
}

export interface ManualCodePayload {
  version: number;
  /** Present only in 21-digit codes. */
  vendorId?: number;
  productId?: number;
  /** A manual code only says whether VID/PID are present; like chip-tool, 21-digit codes read as Custom (2). */
  commissioningFlow: number;
  /** The top 4 bits of the 12-bit discriminator. */
  shortDiscriminator: number;
  passcode: number;
}

export const QR_PREFIX = "MT:";
const PACKED_BYTES = 11;

/** Matter-defined extension tags (spec 5.1.4.2). */
export const QrExtensionTag = { SerialNumber: 0x00, PbkdfIterations: 0x01, PbkdfSalt: 0x02, NumberOfDevices: 0x03, CommissioningTimeout: 0x04 } as const;

const INVALID_PASSCODES = [11111111, 22222222, 33333333, 44444444, 55555555, 66666666, 77777777, 88888888, 12345678, 87654321];

/** 1..99999998, excluding the trivially guessable values the spec forbids (00000000, 11111111, ..., 12345678, 87654321). */
export function isValidPasscode(passcode: number): boolean {
  return Number.isInteger(passcode) && passcode >= 1 && passcode <= 99999998 && !INVALID_PASSCODES.includes(passcode);
}

// ---------------------------------------------------------------------------------------------
// Verhoeff check digit over decimal strings (the dihedral group D5).

function dihedralProduct(j: number, k: number): number {
  if (j < 5) return k < 5 ? (j + k) % 5 : 5 + ((k - 5 + j) % 5);
  return k < 5 ? 5 + ((j - 5 - k + 5) % 5) : (j - k + 5) % 5;
}

const VERHOEFF_BASE_PERMUTATION = [1, 5, 7, 6, 2, 8, 3, 0, 9, 4];

/** The base permutation applied `times` times to `digit`. */
function permute(digit: number, times: number): number {
  for (let i = 0; i < times; i++) digit = VERHOEFF_BASE_PERMUTATION[digit]!;
  return digit;
}

function verhoeffSum(digits: string, firstPosition: number): number {
  if (!/^[0-9]*$/.test(digits)) throw new OnboardingError(`Verhoeff: '${digits}' not decimal digits`);
  let check = 0;
  for (let i = 0; i < digits.length; i++) {
    const digit = digits.charCodeAt(digits.length - 1 - i) - 0x30;
    check = dihedralProduct(check, permute(digit, (i + firstPosition) % 8));
  }
  return check;
}

/** The Verhoeff check digit for a string of decimal digits. */
export function verhoeffCheckDigit(digits: string): number {
  const sum = verhoeffSum(digits, 1);
  // The inverse in D5: rotations invert to 5 - j, reflections are their own inverse.
  return sum === 0 ? 0 : sum < 5 ? 5 - sum : sum;
}

/** True when the last digit is the Verhoeff check digit of the ones before it. */
export function verhoeffValidate(digitsWithCheck: string): boolean {
  return digitsWithCheck.length >= 1 && verhoeffSum(digitsWithCheck, 0) === 0;
}

// ---------------------------------------------------------------------------------------------
// QR code

interface Field {
  name: keyof OnboardingPayload;
  bits: number;
}

const QR_FIELDS: Field[] = [
  { name: "version", bits: 3 },
  { name: "vendorId", bits: 16 },
  { name: "productId", bits: 16 },
  { name: "commissioningFlow", bits: 2 },
  { name: "rendezvousInformation", bits: 8 },
  { name: "discriminator", bits: 12 },
  { name: "passcode", bits: 27 },
];
const PADDING_BITS = 4;

function checkField(name: string, value: unknown, bits: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new OnboardingError(`${name} ${String(value)} not in 0..${2 ** bits - 1}`);
  }
  return value;
}

function checkCommonConstraints(version: number, vendorId: number, productId: number, passcode: number): void {
  if (version !== 0) throw new OnboardingError(`version ${version} unsupported`);
  if (!isValidPasscode(passcode)) throw new OnboardingError(`passcode ${passcode} is not allowed`);
  if (vendorId !== 0 && vendorId > 0xfff4) throw new OnboardingError(`vendor id 0x${vendorId.toString(16)} is not a valid vendor id`);
  if (productId === 0 && vendorId !== 0) throw new OnboardingError("product id 0 needs vendor id 0");
}

function checkFlow(flow: number): void {
  if (flow > CommissioningFlow.Custom) throw new OnboardingError(`commissioning flow ${flow} is reserved`);
}

/** The MT: text of a payload. Only values the spec allows are written (rendezvous bits 0..5, flows 0..2). */
export function encodeQrPayload(p: OnboardingPayload): string {
  const values = QR_FIELDS.map((field) => checkField(field.name, p[field.name], field.bits));
  checkFlow(p.commissioningFlow);
  if (p.rendezvousInformation & ~KNOWN_RENDEZVOUS_BITS) throw new OnboardingError(`rendezvous 0x${p.rendezvousInformation.toString(16)}: reserved bits`);
  checkCommonConstraints(p.version, p.vendorId, p.productId, p.passcode);
  const packed = new Uint8Array(PACKED_BYTES);
  let bit = 0;
  QR_FIELDS.forEach((field, i) => {
    const value = values[i]!;
    for (let k = 0; k < field.bits; k++, bit++) if (Math.floor(value / 2 ** k) % 2) packed[bit >> 3]! |= 1 << (bit & 7);
  });
  const extension = p.extension && p.extension.length > 0 ? encodeExtension(p.extension) : new Uint8Array(0);
  const all = new Uint8Array(PACKED_BYTES + extension.length);
  all.set(packed);
  all.set(extension, PACKED_BYTES);
  return QR_PREFIX + base38Encode(all);
}

/**
 * The payload part of a scanned string, by the reference SDK's rule: the text after "MT:" up to the
 * next '%', where "MT:" starts the string or follows a '%'. Empty when there is none.
 */
export function extractQrPayloadText(text: string): string {
  for (const segment of text.split("%")) {
    if (segment.startsWith(QR_PREFIX) && segment.length > QR_PREFIX.length) return segment.slice(QR_PREFIX.length);
  }
  return "";
}

export function decodeQrPayload(text: string): OnboardingPayload {
  if (typeof text !== "string") throw new OnboardingError("QR code: expected a string");
  const body = extractQrPayloadText(text);
  if (body === "") throw new OnboardingError("QR code: no 'MT:' payload found");
  let bytes: Uint8Array;
  try {
    bytes = base38Decode(body);
  } catch (error) {
    throw new OnboardingError(`QR code: ${(error as Error).message}`);
  }
  if (bytes.length < PACKED_BYTES) throw new OnboardingError(`QR code: payload is ${bytes.length} bytes, needs at least ${PACKED_BYTES}`);
  const values: number[] = [];
  let bit = 0;
  for (const field of QR_FIELDS) {
    let value = 0;
    for (let k = 0; k < field.bits; k++, bit++) if (bytes[bit >> 3]! & (1 << (bit & 7))) value += 2 ** k;
    values.push(value);
  }
  if (bytes[PACKED_BYTES - 1]! >> (8 - PADDING_BITS)) throw new OnboardingError("QR code: padding bits are not zero");
  const [version, vendorId, productId, commissioningFlow, rendezvousInformation, discriminator, passcode] = values as [number, number, number, number, number, number, number];
  checkFlow(commissioningFlow);
  checkCommonConstraints(version, vendorId, productId, passcode);
  const payload: OnboardingPayload = { version, vendorId, productId, commissioningFlow, rendezvousInformation, discriminator, passcode };
  if (bytes.length > PACKED_BYTES) payload.extension = decodeExtension(bytes.subarray(PACKED_BYTES));
  return payload;
}

function checkExtensionField(field: QrExtensionField): void {
  const { tag, value } = field;
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff) throw new OnboardingError(`extension tag ${tag} is outside 0..255`);
  const isUnsigned = (typeof value === "number" && Number.isInteger(value) && value >= 0) || (typeof value === "bigint" && value >= 0n);
  const n = typeof value === "number" ? value : typeof value === "bigint" ? Number(value) : NaN;
  let ok = true;
  switch (tag) {
    case QrExtensionTag.SerialNumber:
      ok = typeof value === "string" || (isUnsigned && n <= 0xffffffff);
      break;
    case QrExtensionTag.PbkdfIterations:
      ok = isUnsigned && n >= 1000 && n <= 100000;
      break;
    case QrExtensionTag.PbkdfSalt:
      ok = value instanceof Uint8Array && value.length >= 16 && value.length <= 32;
      break;
    case QrExtensionTag.NumberOfDevices:
      ok = isUnsigned && n >= 1 && n <= 255;
      break;
    case QrExtensionTag.CommissioningTimeout:
      ok = isUnsigned;
      break;
  }
  if (!ok) throw new OnboardingError(`extension field ${tag} has an invalid value`);
}

function encodeExtension(fields: QrExtensionField[]): Uint8Array {
  const writer = new TlvWriter().startStructure(undefined);
  try {
    for (const field of fields) {
      checkExtensionField(field);
      const { tag, value } = field;
      if (typeof value === "string") writer.utf8(tag, value);
      else if (value instanceof Uint8Array) writer.bytes(tag, value);
      else if (tag < 0x80 && value >= 0) writer.uint(tag, value);
      else writer.int(tag, value);
    }
    return writer.end().finish();
  } catch (error) {
    if (error instanceof CodecError) throw new OnboardingError(`QR extension: ${error.message}`);
    throw error;
  }
}

function decodeExtension(bytes: Uint8Array): QrExtensionField[] {
  let root: TlvElement;
  try {
    root = decodeTlv(bytes, { maxDepth: 1, maxElements: 64 });
  } catch (error) {
    throw new OnboardingError(`QR code extension: ${(error as Error).message}`);
  }
  if (root.type !== "structure" || root.tag !== undefined) throw new OnboardingError("QR code extension: expected an anonymous structure");
  const fields: QrExtensionField[] = [];
  for (const element of root.value as TlvElement[]) {
    if (typeof element.tag !== "number") throw new OnboardingError("QR code extension: fields need context tags");
    if (element.type !== "utf8" && element.type !== "int" && element.type !== "uint" && element.type !== "bytes") {
      throw new OnboardingError(`QR code extension: field ${element.tag} has unsupported type ${element.type}`);
    }
    const field: QrExtensionField = { tag: element.tag, value: element.value as QrExtensionField["value"] };
    if (fields.some((other) => other.tag === field.tag)) throw new OnboardingError(`QR code extension: duplicate field ${field.tag}`);
    checkExtensionField(field);
    fields.push(field);
  }
  return fields;
}

// ---------------------------------------------------------------------------------------------
// Manual pairing code

const pad = (value: number, width: number) => String(value).padStart(width, "0");

export interface ManualCodeOptions {
  /** Write VID and PID (21 digits). Default: as the reference SDK, whenever the flow is not Standard. */
  withVendorAndProduct?: boolean;
}

/** The manual pairing code digits (no separators) for a QR-style payload or a decoded manual code. */
export function encodeManualCode(p: OnboardingPayload | ManualCodePayload, options: ManualCodeOptions = {}): string {
  const shortDiscriminator =
    "shortDiscriminator" in p ? checkField("shortDiscriminator", p.shortDiscriminator, 4) : checkField("discriminator", p.discriminator, 12) >> 8;
  const passcode = checkField("passcode", p.passcode, 27);
  checkField("version", p.version, 3);
  checkFlow(checkField("commissioningFlow", p.commissioningFlow, 2));
  const long = options.withVendorAndProduct ?? p.commissioningFlow !== CommissioningFlow.Standard;
  const vendorId = long ? checkField("vendorId", p.vendorId, 16) : 0;
  const productId = long ? checkField("productId", p.productId, 16) : 0;
  checkCommonConstraints(p.version, vendorId, productId, passcode);
  let digits = String((long ? 4 : 0) | (shortDiscriminator >> 2));
  digits += pad(((shortDiscriminator & 3) << 14) | (passcode & 0x3fff), 5);
  digits += pad(Math.floor(passcode / 0x4000), 4);
  if (long) digits += pad(vendorId, 5) + pad(productId, 5);
  return digits + verhoeffCheckDigit(digits);
}

export interface ManualCodeDecodeOptions {
  /**
   * Apply the payload rules commissioners apply (allowed passcodes, vendor and product ids).
   * Default true; false only unpacks the digits, for codes built to test bit packing.
   */
  validate?: boolean;
}

/** Parses an 11- or 21-digit manual pairing code; dashes and spaces between digits are ignored. */
export function decodeManualCode(text: string, options: ManualCodeDecodeOptions = {}): ManualCodePayload {
  if (typeof text !== "string") throw new OnboardingError("manual code: expected a string");
  const digits = text.replace(/[\s-]/g, "");
  if (!/^[0-9]+$/.test(digits)) throw new OnboardingError("manual code: only digits, dashes and spaces are allowed");
  if (digits.length !== 11 && digits.length !== 21) throw new OnboardingError(`manual code: ${digits.length} digits, expected 11 or 21`);
  if (!verhoeffValidate(digits)) throw new OnboardingError("manual code: check digit does not match");
  const first = digits.charCodeAt(0) - 0x30;
  if (first > 7) throw new OnboardingError(`manual code: leading digit ${first} is reserved for a future version`);
  const long = (first & 4) !== 0;
  if (long !== (digits.length === 21)) {
    throw new OnboardingError(`manual code: the leading digit says ${long ? "21" : "11"} digits, the code has ${digits.length}`);
  }
  const chunk2 = Number(digits.slice(1, 6));
  const chunk3 = Number(digits.slice(6, 10));
  if (chunk2 > 0xffff) throw new OnboardingError(`manual code: digits 2-6 (${digits.slice(1, 6)}) exceed 65535`);
  if (chunk3 > 0x1fff) throw new OnboardingError(`manual code: digits 7-10 (${digits.slice(6, 10)}) exceed 8191`);
  const shortDiscriminator = ((first & 3) << 2) | (chunk2 >> 14);
  const passcode = chunk3 * 0x4000 + (chunk2 & 0x3fff);
  const payload: ManualCodePayload = { version: 0, commissioningFlow: long ? CommissioningFlow.Custom : CommissioningFlow.Standard, shortDiscriminator, passcode };
  if (long) {
    payload.vendorId = Number(digits.slice(10, 15));
    payload.productId = Number(digits.slice(15, 20));
    if (payload.vendorId > 0xffff || payload.productId > 0xffff) throw new OnboardingError("manual code: vendor or product id exceeds 65535");
  }
  if (passcode === 0) throw new OnboardingError("manual code: passcode is 0");
  if (options.validate ?? true) checkCommonConstraints(0, payload.vendorId ?? 0, payload.productId ?? 0, passcode);
  return payload;
}
