// X.509 v3 certificates restricted to what Matter uses (RFC 5280 profile of spec 6.2 and 6.5):
// ECDSA-with-SHA256 signatures over P-256 keys. A strict parser that keeps the exact bytes of the
// to-be-signed part (signatures are checked over them), and an encoder that builds the same DER
// shapes CHIP produces, shared by operational certificates and attestation certificates.
import {
  Der,
  decodeDer,
  derBitString,
  derBoolean,
  derElement,
  derExplicit,
  derGeneralizedTime,
  derIa5String,
  derImplicit,
  derInteger,
  derOctetString,
  derOid,
  derPrintableString,
  derReadBitString,
  derReadBoolean,
  derReadInteger,
  derReadOid,
  derReadString,
  derReadTime,
  derSequence,
  derSet,
  derUtcTime,
  derUtf8String,
  type DerNode,
} from "../codec/der";
import { ecdsaSign, ecdsaVerify, isValidPublicKey, sha256, signatureFromDer, signatureToDer } from "../crypto";
import { CertificateError } from "./errors";
import { Oid, KEY_USAGE_ALL } from "./oids";

/** One attribute of a distinguished name; Matter allows exactly one attribute per RDN. */
export interface NameAttribute {
  oid: string;
  value: string;
  /** Der.UTF8String, Der.PrintableString or Der.IA5String. */
  stringTag: number;
}
export type Name = NameAttribute[];

export interface Extension {
  oid: string;
  critical: boolean;
  /** The extnValue octets: the DER encoding of the extension's own value. */
  value: Uint8Array;
}

export interface BasicConstraints {
  ca: boolean;
  pathLength?: number;
}

export interface X509Certificate {
  der: Uint8Array;
  /** The TBSCertificate exactly as encoded: what the signature covers. */
  tbs: Uint8Array;
  /** Content octets of the serialNumber INTEGER (positive, minimal). */
  serialNumber: Uint8Array;
  issuer: Name;
  /** The issuer Name exactly as encoded. */
  issuerDer: Uint8Array;
  subject: Name;
  subjectDer: Uint8Array;
  /** Unix seconds; 253402300799 (99991231235959Z) means "no well-defined expiration". */
  notBefore: number;
  notAfter: number;
  /** Uncompressed P-256 point (65 bytes). */
  publicKey: Uint8Array;
  extensions: Extension[];
  basicConstraints?: BasicConstraints;
  /** KeyUsage named bits as flags (see KeyUsage in ./oids); undefined when the extension is absent. */
  keyUsage?: number;
  extendedKeyUsage?: string[];
  subjectKeyId?: Uint8Array;
  authorityKeyId?: Uint8Array;
  /** Raw r||s (64 bytes). */
  signature: Uint8Array;
}

/** 9999-12-31T23:59:59Z, RFC 5280's "no well-defined expiration date". */
export const NO_EXPIRATION_UNIX = 253402300799;
const YEAR_2050_UNIX = 2524608000;
/** Largest DER certificate accepted (CHIP kMaxDERCertLength is 600; leave room for other profiles). */
export const MAX_X509_LENGTH = 2048;

/** Runs `parse`, reporting any failure (codec, crypto or our own) as a CertificateError with a context prefix. */
export function withContext<T>(context: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof Error) throw new CertificateError(`${context}: ${error.message}`);
    throw error;
  }
}

function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new CertificateError(`${what} is missing`);
  if (node.tag !== tag) {
    throw new CertificateError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${node.tag.toString(16)}`);
  }
  return node;
}

/** Parses an AlgorithmIdentifier that must be ecdsa-with-SHA256 without parameters (RFC 5758). */
function readSignatureAlgorithm(node: DerNode | undefined, what: string): void {
  const sequence = expectTag(node, Der.SEQUENCE, what);
  const oid = derReadOid(expectTag(sequence.children[0], Der.OID, `${what} algorithm`));
  if (oid !== Oid.ecdsaWithSha256) throw new CertificateError(`${what}: unsupported algorithm ${oid} (only ecdsa-with-SHA256)`);
  if (sequence.children.length !== 1) throw new CertificateError(`${what}: ecdsa-with-SHA256 takes no parameters`);
}

const STRING_TAGS = [Der.UTF8String, Der.PrintableString, Der.IA5String] as number[];

export function parseName(node: DerNode | undefined, what: string): Name {
  const sequence = expectTag(node, Der.SEQUENCE, what);
  const name: Name = [];
  for (const rdn of sequence.children) {
    expectTag(rdn, Der.SET, `${what} RDN`);
    if (rdn.children.length !== 1) throw new CertificateError(`${what}: multi-valued RDNs are not supported`);
    const attribute = expectTag(rdn.children[0], Der.SEQUENCE, `${what} attribute`);
    if (attribute.children.length !== 2) throw new CertificateError(`${what}: attribute must be a type and a value`);
    const oid = derReadOid(expectTag(attribute.children[0], Der.OID, `${what} attribute type`));
    const valueNode = attribute.children[1]!;
    if (!STRING_TAGS.includes(valueNode.tag)) {
      throw new CertificateError(`${what}: attribute ${oid} has unsupported string type 0x${valueNode.tag.toString(16)}`);
    }
    name.push({ oid, value: derReadString(valueNode), stringTag: valueNode.tag });
  }
  return name;
}

export function encodeName(name: Name): Uint8Array {
  return derSequence(
    ...name.map((attribute) => derSet(derSequence(derOid(attribute.oid), encodeString(attribute.stringTag, attribute.value)))),
  );
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

function encodeString(tag: number, value: string): Uint8Array {
  switch (tag) {
    case Der.UTF8String:
      return derUtf8String(value);
    case Der.PrintableString:
      if (!PRINTABLE.test(value)) throw new CertificateError(`"${value}" is not a valid PrintableString`);
      return derPrintableString(value);
    case Der.IA5String:
      // eslint-disable-next-line no-control-regex
      if (!/^[\x00-\x7f]*$/.test(value)) throw new CertificateError(`"${value}" is not a valid IA5String`);
      return derIa5String(value);
    default:
      throw new CertificateError(`unsupported string type 0x${tag.toString(16)}`);
  }
}

/** Times before 2050 are UTCTime, later ones GeneralizedTime (RFC 5280 4.1.2.5). */
export function encodeTime(unixSeconds: number): Uint8Array {
  return unixSeconds < YEAR_2050_UNIX ? derUtcTime(unixSeconds) : derGeneralizedTime(unixSeconds);
}

/** DER of the KeyUsage BIT STRING for a set of flags: named bits, trailing zero bits dropped. */
export function encodeKeyUsageBits(flags: number): Uint8Array {
  if (!Number.isInteger(flags) || flags < 0 || (flags & ~KEY_USAGE_ALL) !== 0) {
    throw new CertificateError(`key usage 0x${flags.toString(16)} has unknown bits`);
  }
  if (flags === 0) return derBitString(new Uint8Array(0), 0);
  let highest = 0;
  for (let bit = 0; bit < 9; bit++) if (flags & (1 << bit)) highest = bit;
  const bytes = new Uint8Array((highest >> 3) + 1);
  for (let bit = 0; bit <= highest; bit++) if (flags & (1 << bit)) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  return derBitString(bytes, bytes.length * 8 - (highest + 1));
}

function readKeyUsageBits(node: DerNode): number {
  const { bytes, unusedBits } = derReadBitString(expectTag(node, Der.BIT_STRING, "key usage"));
  if (bytes.length > 2) throw new CertificateError("key usage: more bits than KeyUsage defines");
  let flags = 0;
  for (let bit = 0; bit < bytes.length * 8; bit++) if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) flags |= 1 << bit;
  if (bytes.length > 0) {
    const lastUsed = bytes.length * 8 - 1 - unusedBits;
    // DER named bit lists drop trailing zero bits, so the last used bit is set.
    if (!(flags & (1 << lastUsed)) || flags >> (lastUsed + 1) !== 0) throw new CertificateError("key usage: bit string is not minimal DER");
  }
  if ((flags & ~KEY_USAGE_ALL) !== 0) throw new CertificateError("key usage: unknown bits set");
  return flags;
}

export function basicConstraintsExtension(ca: boolean, pathLength?: number): Extension {
  const parts: Uint8Array[] = [];
  if (ca) parts.push(derBoolean(true));
  if (pathLength !== undefined) {
    if (!ca) throw new CertificateError("basic constraints: a path length needs cA");
    parts.push(derInteger(pathLength));
  }
  return { oid: Oid.basicConstraints, critical: true, value: derSequence(...parts) };
}

export function keyUsageExtension(flags: number): Extension {
  return { oid: Oid.keyUsage, critical: true, value: encodeKeyUsageBits(flags) };
}

export function extendedKeyUsageExtension(purposes: string[]): Extension {
  if (purposes.length === 0) throw new CertificateError("extended key usage needs at least one purpose");
  return { oid: Oid.extendedKeyUsage, critical: true, value: derSequence(...purposes.map((oid) => derOid(oid))) };
}

export function subjectKeyIdExtension(keyId: Uint8Array): Extension {
  return { oid: Oid.subjectKeyIdentifier, critical: false, value: derOctetString(keyId) };
}

export function authorityKeyIdExtension(keyId: Uint8Array): Extension {
  return { oid: Oid.authorityKeyIdentifier, critical: false, value: derSequence(derImplicit(0, keyId, false)) };
}

export function encodeExtension(extension: Extension): Uint8Array {
  return derSequence(
    derOid(extension.oid),
    ...(extension.critical ? [derBoolean(true)] : []),
    derOctetString(extension.value),
  );
}

/**
 * A 160-bit key identifier: the leftmost 160 bits of SHA-256 of the public key (RFC 7093 section 2,
 * method 1), the length Matter requires.
 */
export function keyIdentifier(publicKey: Uint8Array): Uint8Array {
  return sha256(publicKey).slice(0, 20);
}

export function encodeSubjectPublicKeyInfo(publicKey: Uint8Array): Uint8Array {
  if (!isValidPublicKey(publicKey)) throw new CertificateError("public key is not a valid uncompressed P-256 point");
  return derSequence(derSequence(derOid(Oid.ecPublicKey), derOid(Oid.prime256v1)), derBitString(publicKey, 0));
}

export function parseSubjectPublicKeyInfo(node: DerNode | undefined, what = "subject public key info"): Uint8Array {
  const info = expectTag(node, Der.SEQUENCE, what);
  if (info.children.length !== 2) throw new CertificateError(`${what}: expected algorithm and key`);
  const algorithm = expectTag(info.children[0], Der.SEQUENCE, `${what} algorithm`);
  if (algorithm.children.length !== 2) throw new CertificateError(`${what}: expected a named curve`);
  const keyAlgorithm = derReadOid(expectTag(algorithm.children[0], Der.OID, `${what} algorithm`));
  if (keyAlgorithm !== Oid.ecPublicKey) throw new CertificateError(`${what}: unsupported key algorithm ${keyAlgorithm}`);
  const curve = derReadOid(expectTag(algorithm.children[1], Der.OID, `${what} curve`));
  if (curve !== Oid.prime256v1) throw new CertificateError(`${what}: unsupported curve ${curve} (only prime256v1)`);
  const { bytes, unusedBits } = derReadBitString(expectTag(info.children[1], Der.BIT_STRING, `${what} key`));
  if (unusedBits !== 0) throw new CertificateError(`${what}: key bit string has unused bits`);
  if (!isValidPublicKey(bytes)) throw new CertificateError(`${what}: not a valid uncompressed P-256 point`);
  return bytes;
}

export interface TbsCertificateFields {
  serialNumber: Uint8Array;
  issuer: Name | Uint8Array;
  notBefore: number;
  notAfter: number;
  subject: Name | Uint8Array;
  publicKey: Uint8Array;
  /** In order; a Uint8Array is an already encoded Extension, inserted verbatim. */
  extensions: (Extension | Uint8Array)[];
}

/** Checks that `serial` is the content of a positive, minimally encoded INTEGER of at most 20 octets. */
export function checkSerialNumber(serial: Uint8Array): void {
  if (serial.length === 0 || serial.length > 20) throw new CertificateError(`serial number must be 1 to 20 octets, got ${serial.length}`);
  if (serial[0]! & 0x80) throw new CertificateError("serial number must be positive");
  if (serial.length > 1 && serial[0] === 0 && !(serial[1]! & 0x80)) throw new CertificateError("serial number is not minimally encoded");
}

export function encodeTbsCertificate(fields: TbsCertificateFields): Uint8Array {
  checkSerialNumber(fields.serialNumber);
  if (fields.extensions.length === 0) throw new CertificateError("a v3 certificate here needs at least one extension");
  const name = (value: Name | Uint8Array) => (value instanceof Uint8Array ? value : encodeName(value));
  return derSequence(
    derExplicit(0, derInteger(2)),
    derElement(Der.INTEGER, fields.serialNumber),
    derSequence(derOid(Oid.ecdsaWithSha256)),
    name(fields.issuer),
    derSequence(encodeTime(fields.notBefore), encodeTime(fields.notAfter)),
    name(fields.subject),
    encodeSubjectPublicKeyInfo(fields.publicKey),
    derExplicit(3, derSequence(...fields.extensions.map((item) => (item instanceof Uint8Array ? item : encodeExtension(item))))),
  );
}

/** Assembles a Certificate from TBS bytes and a raw (r||s) signature. */
export function encodeCertificate(tbs: Uint8Array, signature: Uint8Array): Uint8Array {
  return derSequence(tbs, derSequence(derOid(Oid.ecdsaWithSha256)), derBitString(signatureToDer(signature), 0));
}

export function signCertificate(fields: TbsCertificateFields, issuerPrivateKey: Uint8Array): Uint8Array {
  const tbs = encodeTbsCertificate(fields);
  return encodeCertificate(tbs, ecdsaSign(issuerPrivateKey, tbs));
}

/** Reads the signature BIT STRING of a certificate, CSR or similar into raw r||s. */
export function readSignatureBitString(node: DerNode | undefined): Uint8Array {
  const { bytes, unusedBits } = derReadBitString(expectTag(node, Der.BIT_STRING, "signature"));
  if (unusedBits !== 0) throw new CertificateError("signature bit string has unused bits");
  return signatureFromDer(bytes);
}

function parseExtensions(node: DerNode, certificate: X509Certificate): void {
  const list = expectTag(node.children[0], Der.SEQUENCE, "extensions");
  if (node.children.length !== 1) throw new CertificateError("extensions: unexpected content");
  if (list.children.length === 0) throw new CertificateError("extensions: empty list");
  const seen = new Set<string>();
  for (const item of list.children) {
    const extension = expectTag(item, Der.SEQUENCE, "extension");
    const oid = derReadOid(expectTag(extension.children[0], Der.OID, "extension id"));
    if (seen.has(oid)) throw new CertificateError(`extension ${oid} appears twice`);
    seen.add(oid);
    let critical = false;
    let index = 1;
    if (extension.children[1]?.tag === Der.BOOLEAN) {
      critical = derReadBoolean(extension.children[1]);
      // DER leaves DEFAULT FALSE out rather than encoding it.
      if (!critical) throw new CertificateError(`extension ${oid}: critical FALSE must be omitted in DER`);
      index = 2;
    }
    const value = expectTag(extension.children[index], Der.OCTET_STRING, `extension ${oid} value`).contents;
    if (extension.children.length !== index + 1) throw new CertificateError(`extension ${oid}: unexpected content`);
    certificate.extensions.push({ oid, critical, value });
    interpretExtension(oid, value, certificate);
  }
}

function interpretExtension(oid: string, value: Uint8Array, certificate: X509Certificate): void {
  switch (oid) {
    case Oid.basicConstraints: {
      const sequence = expectTag(decodeDer(value), Der.SEQUENCE, "basic constraints");
      let index = 0;
      let ca = false;
      if (sequence.children[index]?.tag === Der.BOOLEAN) {
        ca = derReadBoolean(sequence.children[index]!);
        if (!ca) throw new CertificateError("basic constraints: cA FALSE must be omitted in DER");
        index++;
      }
      let pathLength: number | undefined;
      if (sequence.children[index]?.tag === Der.INTEGER) {
        const length = derReadInteger(sequence.children[index]!);
        if (length < 0n || length > 255n) throw new CertificateError("basic constraints: path length out of range");
        if (!ca) throw new CertificateError("basic constraints: path length without cA");
        pathLength = Number(length);
        index++;
      }
      if (index !== sequence.children.length) throw new CertificateError("basic constraints: unexpected content");
      certificate.basicConstraints = pathLength === undefined ? { ca } : { ca, pathLength };
      return;
    }
    case Oid.keyUsage:
      certificate.keyUsage = readKeyUsageBits(decodeDer(value));
      return;
    case Oid.extendedKeyUsage: {
      const sequence = expectTag(decodeDer(value), Der.SEQUENCE, "extended key usage");
      if (sequence.children.length === 0) throw new CertificateError("extended key usage: empty");
      certificate.extendedKeyUsage = sequence.children.map((child) => derReadOid(expectTag(child, Der.OID, "key purpose")));
      return;
    }
    case Oid.subjectKeyIdentifier:
      certificate.subjectKeyId = expectTag(decodeDer(value), Der.OCTET_STRING, "subject key identifier").contents;
      return;
    case Oid.authorityKeyIdentifier: {
      const sequence = expectTag(decodeDer(value), Der.SEQUENCE, "authority key identifier");
      for (const child of sequence.children) {
        if (child.tag === 0x80) certificate.authorityKeyId = child.contents;
        else if (child.tag !== 0xa1 && child.tag !== 0x82) throw new CertificateError("authority key identifier: unexpected field");
      }
      return;
    }
    default:
      return;
  }
}

/** Parses a DER X.509 v3 certificate with an ECDSA P-256 key and signature; strict about structure. */
export function parseX509(der: Uint8Array): X509Certificate {
  return withContext("X.509 certificate", () => {
    if (der.length > MAX_X509_LENGTH) throw new CertificateError(`${der.length} bytes is larger than ${MAX_X509_LENGTH}`);
    const root = expectTag(decodeDer(der), Der.SEQUENCE, "Certificate");
    if (root.children.length !== 3) throw new CertificateError("expected tbsCertificate, signatureAlgorithm and signatureValue");
    const tbs = expectTag(root.children[0], Der.SEQUENCE, "tbsCertificate");
    readSignatureAlgorithm(root.children[1], "signatureAlgorithm");
    const signature = readSignatureBitString(root.children[2]);

    const fields = tbs.children;
    const version = expectTag(fields[0], 0xa0, "version (only v3 is supported)");
    if (version.children.length !== 1 || derReadInteger(expectTag(version.children[0], Der.INTEGER, "version")) !== 2n) {
      throw new CertificateError("only X.509 v3 is supported");
    }
    const serialNode = expectTag(fields[1], Der.INTEGER, "serialNumber");
    derReadInteger(serialNode); // rejects non-minimal encodings
    checkSerialNumber(serialNode.contents);
    readSignatureAlgorithm(fields[2], "signature");
    const issuer = parseName(fields[3], "issuer");
    const validity = expectTag(fields[4], Der.SEQUENCE, "validity");
    if (validity.children.length !== 2) throw new CertificateError("validity: expected notBefore and notAfter");
    const notBefore = derReadTime(validity.children[0]!);
    const notAfter = derReadTime(validity.children[1]!);
    const subject = parseName(fields[5], "subject");
    const publicKey = parseSubjectPublicKeyInfo(fields[6]);

    const certificate: X509Certificate = {
      der,
      tbs: tbs.raw,
      serialNumber: serialNode.contents,
      issuer,
      issuerDer: fields[3]!.raw,
      subject,
      subjectDer: fields[5]!.raw,
      notBefore,
      notAfter,
      publicKey,
      extensions: [],
      signature,
    };
    const extensions = fields[7];
    if (!extensions || extensions.tag !== 0xa3 || fields.length !== 8) {
      throw new CertificateError("tbsCertificate must end with the extensions (unique identifiers are not supported)");
    }
    parseExtensions(extensions, certificate);
    return certificate;
  });
}

export function verifyX509Signature(certificate: X509Certificate, issuerPublicKey: Uint8Array): boolean {
  return ecdsaVerify(issuerPublicKey, certificate.tbs, certificate.signature);
}

export function findAttribute(name: Name, oid: string): NameAttribute | undefined {
  return name.find((attribute) => attribute.oid === oid);
}

/** Dotted-name rendering of a Name for display (OpenSSL-like short names for the common ones). */
export function formatName(name: Name): string {
  const short: Record<string, string> = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.5": "serialNumber",
    [Oid.matterVendorId]: "VID",
    [Oid.matterProductId]: "PID",
  };
  return name.map((attribute) => `${short[attribute.oid] ?? attribute.oid}=${attribute.value}`).join(", ");
}
