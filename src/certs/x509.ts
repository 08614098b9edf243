// X.509 v3 certificates restricted to what Matter uses (RFC 5280 profile of spec 6.2 and 6.5):
// ECDSA-with-SHA256 signatures over P-256 keys. A strict parser that keeps the exact bytes of the
// to-be-signed part (signatures are checked over them), and an encoder that builds the same DER
// shapes CHIP produces, shared by operational certificates and attestation certificates.
import {
  decodeDer,
  DER_BIT_STRING,
  DER_BOOLEAN,
  DER_IA5_STRING,
  DER_INTEGER,
  DER_NULL,
  DER_OCTET_STRING,
  DER_OID,
  DER_PRINTABLE_STRING,
  DER_SEQUENCE,
  DER_SET,
  DER_UTF8_STRING,
  derBitString,
  derBoolean,
  derElement,
  derExplicit,
  derGeneralizedTime,
  derImplicit,
  derInteger,
  type DerNode,
  derOctetString,
  derOid,
  derReadBitString,
  derReadBoolean,
  derReadInteger,
  derReadOid,
  derReadString,
  derReadTime,
  derSequence,
  derSet,
  derString,
  derUtcTime,
} from "../codec/der";
import { ecdsaSign, ecdsaVerify, isValidPublicKey, sha256, signatureFromDer, signatureToDer } from "../crypto";
import { CertificateError } from "./errors";
import {
  KEY_USAGE_ALL,
  KEY_USAGE_CRL_SIGN,
  KEY_USAGE_DIGITAL_SIGNATURE,
  KEY_USAGE_KEY_CERT_SIGN,
  OID_AUTHORITY_KEY_IDENTIFIER,
  OID_BASIC_CONSTRAINTS,
  OID_EC_PUBLIC_KEY,
  OID_ECDSA_WITH_SHA256,
  OID_EXTENDED_KEY_USAGE,
  OID_KEY_USAGE,
  OID_MATTER_PRODUCT_ID,
  OID_MATTER_VENDOR_ID,
  OID_PRIME256V1,
  OID_SHA256,
  OID_SUBJECT_KEY_IDENTIFIER,
} from "./oids";

/** One attribute of a distinguished name; Matter allows exactly one attribute per RDN. */
export interface NameAttribute {
  oid: string;
  value: string;
  /** DER_UTF8_STRING, DER_PRINTABLE_STRING or DER_IA5_STRING. */
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

export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new CertificateError(`${what} is missing`);
  if (node.tag !== tag) throw new CertificateError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${node.tag.toString(16)}`);
  return node;
}

/**
 * Reads an AlgorithmIdentifier that must name `oid`: without parameters, except that SHA-256's may
 * also be NULL (RFC 5754); ECDSA takes none (RFC 5758).
 */
export function readAlgorithm(node: DerNode | undefined, oid: string, what: string): void {
  const [id, parameters, extra] = expectTag(node, DER_SEQUENCE, what).children;
  const found = derReadOid(expectTag(id, DER_OID, what));
  if (found !== oid) throw new CertificateError(`${what}: expected ${oid}, found ${found}`);
  if (extra || (parameters && (oid !== OID_SHA256 || parameters.tag !== DER_NULL))) throw new CertificateError(`${what}: unexpected parameters`);
}

const STRING_TAGS: number[] = [DER_UTF8_STRING, DER_PRINTABLE_STRING, DER_IA5_STRING];

export function parseName(node: DerNode | undefined, what: string): Name {
  return expectTag(node, DER_SEQUENCE, what).children.map((rdn) => {
    const [attribute, extraValue] = expectTag(rdn, DER_SET, what).children;
    const [type, value, extra] = expectTag(attribute, DER_SEQUENCE, what).children;
    if (extraValue || !value || extra) throw new CertificateError(`${what}: RDN is not one type and value`);
    const oid = derReadOid(expectTag(type, DER_OID, what));
    if (!STRING_TAGS.includes(value.tag)) throw new CertificateError(`${what}: ${oid} has string type 0x${value.tag.toString(16)}`);
    return { oid, value: derReadString(value), stringTag: value.tag };
  });
}

export function encodeName(name: Name): Uint8Array {
  return derSequence(
    ...name.map(({ oid, stringTag, value }) => {
      if (!STRING_TAGS.includes(stringTag)) throw new CertificateError(`unsupported string type 0x${stringTag.toString(16)}`);
      return derSet(derSequence(derOid(oid), withContext("name", () => derString(stringTag, value))));
    }),
  );
}

/** Times before 2050 are UTCTime, later ones GeneralizedTime (RFC 5280 4.1.2.5). */
export function encodeTime(unixSeconds: number): Uint8Array {
  return unixSeconds < YEAR_2050_UNIX ? derUtcTime(unixSeconds) : derGeneralizedTime(unixSeconds);
}

function checkKeyUsage(flags: number): void {
  if (flags & ~KEY_USAGE_ALL) throw new CertificateError(`key usage 0x${flags.toString(16)} has unknown bits`);
}

/** DER of the KeyUsage BIT STRING for a set of flags: named bits, trailing zero bits dropped. */
export function encodeKeyUsageBits(flags: number): Uint8Array {
  if (!Number.isInteger(flags) || flags < 0) throw new CertificateError(`key usage ${flags} is not a set of flags`);
  checkKeyUsage(flags);
  // Named bit n is bit 7 - (n % 8) of octet n / 8; the bit string ends at the highest set bit.
  const used = 32 - Math.clz32(flags);
  const bytes = new Uint8Array((used + 7) >> 3);
  for (let bit = 0; bit < used; bit++) if (flags & (1 << bit)) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  return derBitString(bytes, bytes.length * 8 - used);
}

function readKeyUsageBits(node: DerNode): number {
  const { bytes, unusedBits } = derReadBitString(expectTag(node, DER_BIT_STRING, "key usage"));
  let flags = 0;
  for (let bit = 0; bit < bytes.length * 8; bit++) if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) flags |= 1 << bit;
  // DER named bit lists drop trailing zero bits, so the last used bit is the highest one set.
  if (bytes.length > 2 || 32 - Math.clz32(flags) !== bytes.length * 8 - unusedBits) throw new CertificateError("key usage: not minimal DER");
  checkKeyUsage(flags);
  return flags;
}

export function basicConstraintsExtension(ca: boolean, pathLength?: number): Extension {
  if (pathLength !== undefined && !ca) throw new CertificateError("basic constraints: a path length needs cA");
  const parts = ca ? [derBoolean(true)] : [];
  if (pathLength !== undefined) parts.push(derInteger(pathLength));
  return { oid: OID_BASIC_CONSTRAINTS, critical: true, value: derSequence(...parts) };
}

export function keyUsageExtension(flags: number): Extension {
  return { oid: OID_KEY_USAGE, critical: true, value: encodeKeyUsageBits(flags) };
}

export function extendedKeyUsageExtension(purposes: string[]): Extension {
  if (purposes.length === 0) throw new CertificateError("extended key usage needs at least one purpose");
  return { oid: OID_EXTENDED_KEY_USAGE, critical: true, value: derSequence(...purposes.map(derOid)) };
}

export function subjectKeyIdExtension(keyId: Uint8Array): Extension {
  return { oid: OID_SUBJECT_KEY_IDENTIFIER, critical: false, value: derOctetString(keyId) };
}

export function authorityKeyIdExtension(keyId: Uint8Array): Extension {
  return { oid: OID_AUTHORITY_KEY_IDENTIFIER, critical: false, value: derSequence(derImplicit(0, keyId, false)) };
}

export function encodeExtension(extension: Extension): Uint8Array {
  return derSequence(derOid(extension.oid), ...(extension.critical ? [derBoolean(true)] : []), derOctetString(extension.value));
}

/**
 * A 160-bit key identifier: the leftmost 160 bits of SHA-256 of the public key (RFC 7093 section 2,
 * method 1), the length Matter requires.
 */
export function keyIdentifier(publicKey: Uint8Array): Uint8Array {
  return sha256(publicKey).slice(0, 20);
}

function checkPublicKey(publicKey: Uint8Array, what: string): void {
  if (!isValidPublicKey(publicKey)) throw new CertificateError(`${what}: not a valid uncompressed P-256 point`);
}

export function encodeSubjectPublicKeyInfo(publicKey: Uint8Array): Uint8Array {
  checkPublicKey(publicKey, "public key");
  return derSequence(derSequence(derOid(OID_EC_PUBLIC_KEY), derOid(OID_PRIME256V1)), derBitString(publicKey, 0));
}

export function parseSubjectPublicKeyInfo(node: DerNode | undefined, what = "subject public key info"): Uint8Array {
  const [algorithm, key, extra] = expectTag(node, DER_SEQUENCE, what).children;
  const [keyType, curve, extraParameter] = expectTag(algorithm, DER_SEQUENCE, what).children;
  if (extra || extraParameter) throw new CertificateError(`${what}: unexpected content`);
  const keyAlgorithm = derReadOid(expectTag(keyType, DER_OID, what));
  const curveOid = derReadOid(expectTag(curve, DER_OID, what));
  if (keyAlgorithm !== OID_EC_PUBLIC_KEY || curveOid !== OID_PRIME256V1) {
    throw new CertificateError(`${what}: key ${keyAlgorithm} ${curveOid} is not EC P-256`);
  }
  const bytes = readUnpaddedBitString(key, `${what} key`);
  checkPublicKey(bytes, what);
  return bytes;
}

function readUnpaddedBitString(node: DerNode | undefined, what: string): Uint8Array {
  const { bytes, unusedBits } = derReadBitString(expectTag(node, DER_BIT_STRING, what));
  if (unusedBits !== 0) throw new CertificateError(`${what}: bit string has unused bits`);
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

const encodedName = (value: Name | Uint8Array) => (value instanceof Uint8Array ? value : encodeName(value));

export function encodeTbsCertificate(fields: TbsCertificateFields): Uint8Array {
  checkSerialNumber(fields.serialNumber);
  if (fields.extensions.length === 0) throw new CertificateError("a certificate needs an extension");
  return derSequence(
    derExplicit(0, derInteger(2)),
    derElement(DER_INTEGER, fields.serialNumber),
    derSequence(derOid(OID_ECDSA_WITH_SHA256)),
    encodedName(fields.issuer),
    derSequence(encodeTime(fields.notBefore), encodeTime(fields.notAfter)),
    encodedName(fields.subject),
    encodeSubjectPublicKeyInfo(fields.publicKey),
    derExplicit(3, derSequence(...fields.extensions.map((item) => (item instanceof Uint8Array ? item : encodeExtension(item))))),
  );
}

/** Assembles a Certificate from TBS bytes and a raw (r||s) signature. */
export function encodeCertificate(tbs: Uint8Array, signature: Uint8Array): Uint8Array {
  return derSequence(tbs, derSequence(derOid(OID_ECDSA_WITH_SHA256)), derBitString(signatureToDer(signature), 0));
}

export function signCertificate(fields: TbsCertificateFields, issuerPrivateKey: Uint8Array): Uint8Array {
  const tbs = encodeTbsCertificate(fields);
  return encodeCertificate(tbs, ecdsaSign(issuerPrivateKey, tbs));
}

/** Reads the signature BIT STRING of a certificate, CSR or similar into raw r||s. */
export function readSignatureBitString(node: DerNode | undefined): Uint8Array {
  return signatureFromDer(readUnpaddedBitString(node, "signature"));
}

/** One Extension SEQUENCE: its id, criticality (DER omits FALSE) and value octets. */
export function parseExtension(node: DerNode | undefined): Extension {
  const [id, second, third, extra] = expectTag(node, DER_SEQUENCE, "extension").children;
  const oid = derReadOid(expectTag(id, DER_OID, "extension id"));
  const critical = second?.tag === DER_BOOLEAN;
  if (critical && !derReadBoolean(second)) throw new CertificateError(`extension ${oid}: critical FALSE in DER`);
  const value = expectTag(critical ? third : second, DER_OCTET_STRING, `extension ${oid} value`).contents;
  if (critical ? extra : third) throw new CertificateError(`extension ${oid}: unexpected content`);
  return { oid, critical, value };
}

function parseExtensions(node: DerNode, certificate: X509Certificate): void {
  const [list, extra] = node.children;
  const items = expectTag(list, DER_SEQUENCE, "extensions").children;
  if (extra || items.length === 0) throw new CertificateError("extensions: not one non-empty list");
  for (const item of items) {
    const extension = parseExtension(item);
    const { oid, value } = extension;
    if (certificate.extensions.some((seen) => seen.oid === oid)) throw new CertificateError(`extension ${oid} appears twice`);
    certificate.extensions.push(extension);
    switch (oid) {
      case OID_BASIC_CONSTRAINTS: {
        const [first, second, extraField] = expectTag(decodeDer(value), DER_SEQUENCE, "basic constraints").children;
        const ca = first?.tag === DER_BOOLEAN;
        if (ca && !derReadBoolean(first)) throw new CertificateError("basic constraints: cA FALSE in DER");
        const pathNode = ca ? second : first;
        if ((ca ? extraField : second) || (pathNode && pathNode.tag !== DER_INTEGER)) throw new CertificateError("basic constraints: unexpected content");
        certificate.basicConstraints = { ca };
        if (pathNode) {
          const length = derReadInteger(pathNode);
          if (length < 0n || length > 255n || !ca) throw new CertificateError("basic constraints: bad path length");
          certificate.basicConstraints.pathLength = Number(length);
        }
        break;
      }
      case OID_KEY_USAGE:
        certificate.keyUsage = readKeyUsageBits(decodeDer(value));
        break;
      case OID_EXTENDED_KEY_USAGE: {
        const purposes = expectTag(decodeDer(value), DER_SEQUENCE, "extended key usage").children;
        if (purposes.length === 0) throw new CertificateError("extended key usage: empty");
        certificate.extendedKeyUsage = purposes.map((child) => derReadOid(expectTag(child, DER_OID, "key purpose")));
        break;
      }
      case OID_SUBJECT_KEY_IDENTIFIER:
        certificate.subjectKeyId = expectTag(decodeDer(value), DER_OCTET_STRING, "subject key identifier").contents;
        break;
      case OID_AUTHORITY_KEY_IDENTIFIER:
        for (const child of expectTag(decodeDer(value), DER_SEQUENCE, "authority key identifier").children) {
          if (child.tag === 0x80) certificate.authorityKeyId = child.contents;
          else if (child.tag !== 0xa1 && child.tag !== 0x82) throw new CertificateError("authority key id: unexpected field");
        }
    }
  }
}

/** Parses a DER X.509 v3 certificate with an ECDSA P-256 key and signature; strict about structure. */
export function parseX509(der: Uint8Array): X509Certificate {
  return withContext("X.509 certificate", () => {
    if (der.length > MAX_X509_LENGTH) throw new CertificateError(`${der.length} bytes is larger than ${MAX_X509_LENGTH}`);
    const [tbs, signatureAlgorithm, signatureValue, extra] = expectTag(decodeDer(der), DER_SEQUENCE, "Certificate").children;
    if (extra) throw new CertificateError("content after the signature");
    const fields = expectTag(tbs, DER_SEQUENCE, "tbsCertificate").children;
    readAlgorithm(signatureAlgorithm, OID_ECDSA_WITH_SHA256, "signatureAlgorithm");
    const signature = readSignatureBitString(signatureValue);
    const [version, serialNode, innerAlgorithm, issuerNode, validity, subjectNode, keyInfo, extensions, afterExtensions] = fields;
    const versionFields = expectTag(version, 0xa0, "version (only v3 is supported)").children;
    if (versionFields.length !== 1 || derReadInteger(expectTag(versionFields[0], DER_INTEGER, "version")) !== 2n) {
      throw new CertificateError("only X.509 v3 is supported");
    }
    derReadInteger(expectTag(serialNode, DER_INTEGER, "serialNumber")); // rejects non-minimal encodings
    checkSerialNumber(serialNode!.contents);
    readAlgorithm(innerAlgorithm, OID_ECDSA_WITH_SHA256, "signature");
    const [notBefore, notAfter, extraTime] = expectTag(validity, DER_SEQUENCE, "validity").children;
    if (!notAfter || extraTime) throw new CertificateError("validity needs notBefore and notAfter");
    const certificate: X509Certificate = {
      der,
      tbs: tbs!.raw,
      serialNumber: serialNode!.contents,
      issuer: parseName(issuerNode, "issuer"),
      issuerDer: issuerNode!.raw,
      subject: parseName(subjectNode, "subject"),
      subjectDer: subjectNode!.raw,
      notBefore: derReadTime(notBefore!),
      notAfter: derReadTime(notAfter),
      publicKey: parseSubjectPublicKeyInfo(keyInfo),
      extensions: [],
      signature,
    };
    if (extensions?.tag !== 0xa3 || afterExtensions) {
      throw new CertificateError("tbsCertificate must end with extensions");
    }
    parseExtensions(extensions, certificate);
    return certificate;
  });
}

/** KeyUsage of a CA (attestation or operational): keyCertSign and cRLSign, optionally digitalSignature. */
export function checkCaKeyUsage(flags: number, name: string): void {
  const ca = KEY_USAGE_KEY_CERT_SIGN | KEY_USAGE_CRL_SIGN;
  if ((flags & ca) !== ca || flags & ~(ca | KEY_USAGE_DIGITAL_SIGNATURE)) {
    throw new CertificateError(`${name} key usage must be keyCertSign and cRLSign (optionally digitalSignature)`);
  }
}

/** The three links from a certificate to its issuer, checked in order, each failure named. */
export function checkIssuerLinks(childName: string, parentName: string, namesMatch: boolean, keyIdsMatch: boolean, verify: () => boolean): void {
  const broken = !namesMatch
    ? `issuer does not match the ${parentName} subject`
    : !keyIdsMatch
      ? `authority key id does not match the ${parentName} subject key id`
      : !verify()
        ? `signature does not verify with the ${parentName} key`
        : "";
  if (broken) throw new CertificateError(`${childName} ${broken}`);
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
    [OID_MATTER_VENDOR_ID]: "VID",
    [OID_MATTER_PRODUCT_ID]: "PID",
  };
  return name.map((attribute) => `${short[attribute.oid] ?? attribute.oid}=${attribute.value}`).join(", ");
}
