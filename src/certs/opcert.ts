// Matter operational certificates (RCAC, ICAC, NOC) in their compact Matter TLV form (spec 6.5)
// and the X.509 DER form their signatures are computed over. The conversion is exact in both
// directions: the X.509 rebuilt from TLV is byte for byte the certificate the issuer signed, and
// X.509 that would not come back identically is refused rather than silently altered.
import {
  decodeDer,
  DER_IA5_STRING,
  DER_PRINTABLE_STRING,
  DER_UTF8_STRING,
  isIa5String,
  isPrintableString,
} from "../codec/der";
import { bytesEqual, toHex } from "../codec/bytes";
import { decodeTlv, TlvWriter, type TlvElement, type TlvType } from "../codec/tlv";
import { ecdsaSign, ecdsaVerify, publicKeyFromPrivate } from "../crypto";
import { CertificateError } from "./errors";
import {
  DN_ATTRIBUTE_TYPES,
  dnAttributeTypeByOid,
  KEY_PURPOSE_OIDS,
  KEY_USAGE_ALL,
  OID_AUTHORITY_KEY_IDENTIFIER,
  OID_BASIC_CONSTRAINTS,
  OID_EXTENDED_KEY_USAGE,
  OID_KEY_USAGE,
  OID_SUBJECT_KEY_IDENTIFIER,
} from "./oids";
import {
  authorityKeyIdExtension,
  basicConstraintsExtension,
  encodeCertificate,
  encodeTbsCertificate,
  extendedKeyUsageExtension,
  keyIdentifier,
  keyUsageExtension,
  NO_EXPIRATION_UNIX,
  parseExtension,
  parseX509,
  subjectKeyIdExtension,
  withContext,
  checkSerialNumber,
  type Extension,
  type Name,
  type X509Certificate,
} from "./x509";
import { OrderedFields, bytesOf, childrenOf, describeTag, uint64Of, uintOf } from "./tlv-fields";

/** Seconds from the Unix epoch to the Matter epoch, 2000-01-01T00:00:00Z. */
export const MATTER_EPOCH_UNIX = 946684800;
/** Spec 6.1.3: an operational certificate in Matter TLV is at most 400 bytes. */
export const MAX_MATTER_CERT_LENGTH = 400;
/** CHIP_CONFIG_CERT_MAX_RDN_ATTRIBUTES: issuer and subject carry at most 5 attributes. */
export const MAX_DN_ATTRIBUTES = 5;

/** Matter TLV tags of the certificate structure. */
const Tag = {
  serialNumber: 1,
  signatureAlgorithm: 2,
  issuer: 3,
  notBefore: 4,
  notAfter: 5,
  subject: 6,
  publicKeyAlgorithm: 7,
  ellipticCurve: 8,
  publicKey: 9,
  extensions: 10,
  signature: 11,
} as const;

/** Matter TLV tags of the extensions list. */
const ExtensionTag = {
  basicConstraints: 1,
  keyUsage: 2,
  extendedKeyUsage: 3,
  subjectKeyId: 4,
  authorityKeyId: 5,
  future: 6,
} as const;
const EXTENSION_FUTURE = 6;

/** Bit 7 of a DN tag: the string is a PrintableString rather than a UTF8String. */
const PRINTABLE_FLAG = 0x80;
const DOMAIN_COMPONENT_TAG = 16;
/** Extensions with a Matter TLV tag of their own, which a future-extension may not carry. */
const MATTER_EXTENSION_OIDS: string[] = [OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, OID_EXTENDED_KEY_USAGE, OID_SUBJECT_KEY_IDENTIFIER, OID_AUTHORITY_KEY_IDENTIFIER];

// Tags of the Matter identifier attributes, one constant each (they minify to short names).
export const DN_TAG_NODE_ID = 17;
export const DN_TAG_FIRMWARE_SIGNING_ID = 18;
export const DN_TAG_ICAC_ID = 19;
export const DN_TAG_RCAC_ID = 20;
export const DN_TAG_FABRIC_ID = 21;
export const DN_TAG_CASE_AUTHENTICATED_TAG = 22;

/** Distinguished-name attribute tags, for building subjects and reading them back. */
export const DnTag = {
  commonName: 1,
  surname: 2,
  serialNumber: 3,
  countryName: 4,
  localityName: 5,
  stateOrProvinceName: 6,
  organizationName: 7,
  organizationalUnitName: 8,
  title: 9,
  name: 10,
  givenName: 11,
  initials: 12,
  generationQualifier: 13,
  dnQualifier: 14,
  pseudonym: 15,
  domainComponent: 16,
  nodeId: DN_TAG_NODE_ID,
  firmwareSigningId: DN_TAG_FIRMWARE_SIGNING_ID,
  icacId: DN_TAG_ICAC_ID,
  rcacId: DN_TAG_RCAC_ID,
  fabricId: DN_TAG_FABRIC_ID,
  caseAuthenticatedTag: DN_TAG_CASE_AUTHENTICATED_TAG,
  vvsId: 23,
  /** Add to a string attribute's tag to carry it as PrintableString. */
  printable: PRINTABLE_FLAG,
} as const;

/** One DN attribute: its Matter TLV tag (with the PrintableString flag) and its value. */
export interface DnEntry {
  tag: number;
  /** bigint for the Matter identifier attributes (tags 17-23), string otherwise. */
  value: string | bigint;
}

export type OpCertExtension =
  | { kind: "basic-constraints"; ca: boolean; pathLength?: number }
  | { kind: "key-usage"; flags: number }
  /** Matter TLV key purpose values: 1 serverAuth, 2 clientAuth, 3 codeSigning, 4 emailProtection, 5 timeStamping, 6 OCSPSigning. */
  | { kind: "extended-key-usage"; purposes: number[] }
  | { kind: "subject-key-id"; keyId: Uint8Array }
  | { kind: "authority-key-id"; keyId: Uint8Array }
  /** Any other X.509 extension, kept as its complete DER Extension SEQUENCE. */
  | { kind: "future"; der: Uint8Array };

export interface MatterCertificate {
  /** Content octets of the serial number INTEGER. */
  serialNumber: Uint8Array;
  /** 1 = ecdsa-with-SHA256 (the only one defined). */
  signatureAlgorithm: number;
  issuer: DnEntry[];
  /** Matter epoch seconds; notAfter 0 means no well-defined expiration. */
  notBefore: number;
  notAfter: number;
  subject: DnEntry[];
  /** 1 = EC public key. */
  publicKeyAlgorithm: number;
  /** 1 = prime256v1. */
  ellipticCurve: number;
  publicKey: Uint8Array;
  extensions: OpCertExtension[];
  /** Raw r||s. */
  signature: Uint8Array;
}

/** Converts a Matter epoch time to Unix seconds (0 means "no expiration", 99991231235959Z). */
export function matterTimeToUnix(matterSeconds: number): number {
  return matterSeconds === 0 ? NO_EXPIRATION_UNIX : matterSeconds + MATTER_EPOCH_UNIX;
}

/** Converts Unix seconds to a Matter epoch time, for certificate fields. */
export function unixToMatterTime(unixSeconds: number): number {
  if (unixSeconds === NO_EXPIRATION_UNIX) return 0;
  const matter = unixSeconds - MATTER_EPOCH_UNIX;
  if (matter === 0) throw new CertificateError("2000-01-01T00:00:00Z cannot be carried: Matter time 0 means no expiration");
  if (!Number.isInteger(matter) || matter < 0 || matter > 0xffffffff) {
    throw new CertificateError(`time ${new Date(unixSeconds * 1000).toISOString()} is outside the Matter certificate range (2000-2136)`);
  }
  return matter;
}

// ---------------------------------------------------------------------------------------------
// Matter TLV

function decodeDn(element: TlvElement, what: string): DnEntry[] {
  const entries = childrenOf(element).map((child): DnEntry => {
    const { tag, value } = child;
    const type = typeof tag === "number" ? DN_ATTRIBUTE_TYPES[tag & ~PRINTABLE_FLAG] : undefined;
    if (!type) throw new CertificateError(`${what}: unknown attribute tag ${describeTag(child)}`);
    const printable = (tag as number) & PRINTABLE_FLAG;
    const isDomainComponent = type.tag === DOMAIN_COMPONENT_TAG;
    if (type.kind !== "string") {
      if (printable) throw new CertificateError(`${what}: ${type.name} cannot be a PrintableString`);
      const id = uint64Of(child, `${what} ${type.name}`);
      if (type.kind === "id32" && id > 0xffffffffn) throw new CertificateError(`${what}: ${type.name} does not fit 32 bits`);
      return { tag: tag as number, value: id };
    }
    if (child.type !== "utf8") throw new CertificateError(`${what}: ${type.name} must be UTF-8`);
    const text = value as string;
    if (printable && isDomainComponent) throw new CertificateError(`${what}: domain-component is not printable`);
    if (printable ? !isPrintableString(text) : isDomainComponent && !isIa5String(text)) {
      throw new CertificateError(`${what}: ${type.name} "${text}" is not ${printable ? "a PrintableString" : "an IA5String"}`);
    }
    return { tag: tag as number, value: text };
  });
  if (entries.length === 0) throw new CertificateError(`${what}: empty distinguished name`);
  if (entries.length > MAX_DN_ATTRIBUTES) throw new CertificateError(`${what}: more than ${MAX_DN_ATTRIBUTES} attributes`);
  return entries;
}

/** Parses a future-extension: a complete X.509 Extension for an extension Matter TLV has no tag for. */
function decodeFutureExtension(der: Uint8Array): Extension {
  const extension = withContext("future-extension", () => parseExtension(decodeDer(der)));
  if (MATTER_EXTENSION_OIDS.includes(extension.oid)) {
    throw new CertificateError(`future extension ${extension.oid} has its own Matter TLV tag`);
  }
  return extension;
}

/** The OID and criticality of a future-extension (its full DER Extension). */
export function futureExtensionInfo(der: Uint8Array): { oid: string; critical: boolean } {
  const { oid, critical } = decodeFutureExtension(der);
  return { oid, critical };
}

/** Kind and TLV type of each extension, by tag (1 to 6). */
const EXTENSION_KINDS = [undefined, "basic-constraints", "key-usage", "extended-key-usage", "subject-key-id", "authority-key-id", "future"] as const;
const EXTENSION_TYPES: readonly (TlvType | undefined)[] = [undefined, "structure", "uint", "array", "bytes", "bytes", "bytes"];

function decodeExtensions(element: TlvElement): OpCertExtension[] {
  const seen = new Set<unknown>();
  const extensions = childrenOf(element).map((child): OpCertExtension => {
    const { tag, type } = child;
    const expectedType = typeof tag === "number" ? EXTENSION_TYPES[tag] : undefined;
    if (!expectedType) throw new CertificateError(`extensions: unknown tag ${describeTag(child)}`);
    const kind = EXTENSION_KINDS[tag as number]!;
    if (type !== expectedType) throw new CertificateError(`${kind} must be ${expectedType}`);
    if (tag !== EXTENSION_FUTURE) {
      if (seen.has(tag)) throw new CertificateError(`extensions: tag ${String(tag)} appears twice`);
      seen.add(tag);
    }
    switch (kind) {
      case "basic-constraints": {
        const fields = new OrderedFields(childrenOf(child), kind);
        const ca = fields.next(1, "bool").value as boolean;
        const pathElement = fields.optional(2, "uint");
        fields.end();
        if (!pathElement) return { kind, ca };
        if (!ca) throw new CertificateError("basic-constraints: path length without CA");
        return { kind, ca, pathLength: uintOf(pathElement, 255, "path length") };
      }
      case "key-usage": {
        const flags = uintOf(child, 0xffff, kind);
        if (flags & ~KEY_USAGE_ALL) throw new CertificateError(`key-usage 0x${flags.toString(16)} has unknown bits`);
        return { kind, flags };
      }
      case "extended-key-usage": {
        const purposes = childrenOf(child).map((purpose) => {
          if (purpose.tag !== undefined) throw new CertificateError("extended-key-usage: tagged member");
          const value = uintOf(purpose, 255, "key purpose");
          if (!KEY_PURPOSE_OIDS[value]) throw new CertificateError(`extended-key-usage: unknown key purpose ${value}`);
          return value;
        });
        if (purposes.length === 0) throw new CertificateError("extended-key-usage is empty");
        return { kind, purposes };
      }
      case "future": {
        const der = bytesOf(child);
        decodeFutureExtension(der);
        return { kind, der };
      }
      default: {
        const keyId = bytesOf(child);
        if (keyId.length !== 20) throw new CertificateError(`key id of ${keyId.length} bytes, not 20 bytes`);
        return { kind, keyId };
      }
    }
  });
  if (extensions.length === 0) throw new CertificateError("extensions list is empty");
  return extensions;
}

/** Types of the certificate structure's members, context tags 1 to 11 in order. */
const CERTIFICATE_FIELD_TYPES = "bytes uint list uint uint list uint uint bytes list bytes".split(" ") as TlvType[];

/** Decodes and checks a Matter TLV certificate (an anonymous structure with tags 1-11 in order). */
export function decodeMatterCertificate(tlv: Uint8Array): MatterCertificate {
  return withContext("Matter certificate", () => {
    if (tlv.length > MAX_MATTER_CERT_LENGTH) throw new CertificateError(`${tlv.length} bytes is over the ${MAX_MATTER_CERT_LENGTH}-byte limit`);
    const root = decodeTlv(tlv, { maxDepth: 4 });
    if (root.type !== "structure" || root.tag !== undefined) throw new CertificateError("expected an anonymous structure");
    const fields = new OrderedFields(childrenOf(root), "certificate");
    const [serialElement, signatureAlgorithm, issuer, notBefore, notAfter, subject, publicKeyAlgorithm, ellipticCurve, publicKeyElement, extensions, signatureElement] =
      CERTIFICATE_FIELD_TYPES.map((type, index) => fields.next(index + 1, type)) as [TlvElement, ...TlvElement[]];
    fields.end();
    const serialNumber = bytesOf(serialElement);
    checkSerialNumber(serialNumber);
    // Each algorithm field has one defined value, 1: ecdsa-with-SHA256, EC public key, prime256v1.
    for (const [element, what] of [[signatureAlgorithm, "signature algorithm"], [publicKeyAlgorithm, "public key algorithm"], [ellipticCurve, "elliptic curve"]] as const) {
      if (element!.value !== 1) throw new CertificateError(`unsupported ${what} ${String(element!.value)}`);
    }
    const publicKey = bytesOf(publicKeyElement!);
    if (publicKey.length !== 65 || publicKey[0] !== 4) throw new CertificateError("public key must be 65-byte uncompressed");
    const signature = bytesOf(signatureElement!);
    if (signature.length !== 64) throw new CertificateError(`signature of ${signature.length} bytes, not 64 bytes`);
    return {
      serialNumber,
      signatureAlgorithm: 1,
      issuer: decodeDn(issuer!, "issuer"),
      notBefore: uintOf(notBefore!, 0xffffffff, "not-before"),
      notAfter: uintOf(notAfter!, 0xffffffff, "not-after"),
      subject: decodeDn(subject!, "subject"),
      publicKeyAlgorithm: 1,
      ellipticCurve: 1,
      publicKey,
      extensions: decodeExtensions(extensions!),
      signature,
    };
  });
}

function writeDn(writer: TlvWriter, tag: number, dn: DnEntry[]): void {
  writer.startList(tag);
  for (const entry of dn) {
    if (typeof entry.value === "bigint") writer.uint(entry.tag, entry.value);
    else writer.utf8(entry.tag, entry.value);
  }
  writer.end();
}

export function encodeMatterCertificate(certificate: MatterCertificate): Uint8Array {
  const writer = new TlvWriter();
  writer.startStructure(undefined);
  writer.bytes(Tag.serialNumber, certificate.serialNumber);
  writer.uint(Tag.signatureAlgorithm, certificate.signatureAlgorithm);
  writeDn(writer, Tag.issuer, certificate.issuer);
  writer.uint(Tag.notBefore, certificate.notBefore);
  writer.uint(Tag.notAfter, certificate.notAfter);
  writeDn(writer, Tag.subject, certificate.subject);
  writer.uint(Tag.publicKeyAlgorithm, certificate.publicKeyAlgorithm);
  writer.uint(Tag.ellipticCurve, certificate.ellipticCurve);
  writer.bytes(Tag.publicKey, certificate.publicKey);
  writer.startList(Tag.extensions);
  for (const extension of certificate.extensions) {
    switch (extension.kind) {
      case "basic-constraints":
        writer.startStructure(ExtensionTag.basicConstraints);
        writer.bool(1, extension.ca);
        if (extension.pathLength !== undefined) writer.uint(2, extension.pathLength);
        writer.end();
        break;
      case "key-usage":
        writer.uint(ExtensionTag.keyUsage, extension.flags);
        break;
      case "extended-key-usage":
        writer.startArray(ExtensionTag.extendedKeyUsage);
        for (const purpose of extension.purposes) writer.uint(undefined, purpose);
        writer.end();
        break;
      case "subject-key-id":
        writer.bytes(ExtensionTag.subjectKeyId, extension.keyId);
        break;
      case "authority-key-id":
        writer.bytes(ExtensionTag.authorityKeyId, extension.keyId);
        break;
      case "future":
        writer.bytes(ExtensionTag.future, extension.der);
        break;
    }
  }
  writer.end();
  writer.bytes(Tag.signature, certificate.signature);
  writer.end();
  const tlv = writer.finish();
  // Decoding what we wrote applies every check the receiving side will apply.
  decodeMatterCertificate(tlv);
  return tlv;
}

// ---------------------------------------------------------------------------------------------
// TLV -> X.509

function dnToName(dn: DnEntry[]): Name {
  return dn.map((entry) => {
    const type = DN_ATTRIBUTE_TYPES[entry.tag & ~PRINTABLE_FLAG];
    if (!type) throw new CertificateError(`unknown attribute tag ${entry.tag}`);
    if (typeof entry.value === "bigint") {
      const digits = type.kind === "id32" ? 8 : 16;
      return { oid: type.oid, value: entry.value.toString(16).toUpperCase().padStart(digits, "0"), stringTag: DER_UTF8_STRING };
    }
    const stringTag =
      type.tag === DOMAIN_COMPONENT_TAG ? DER_IA5_STRING : entry.tag & PRINTABLE_FLAG ? DER_PRINTABLE_STRING : DER_UTF8_STRING;
    return { oid: type.oid, value: entry.value, stringTag };
  });
}

function extensionToX509(extension: OpCertExtension): Extension | Uint8Array {
  switch (extension.kind) {
    case "basic-constraints":
      return basicConstraintsExtension(extension.ca, extension.pathLength);
    case "key-usage":
      return keyUsageExtension(extension.flags);
    case "extended-key-usage":
      return extendedKeyUsageExtension(extension.purposes.map((purpose) => KEY_PURPOSE_OIDS[purpose]!));
    case "subject-key-id":
      return subjectKeyIdExtension(extension.keyId);
    case "authority-key-id":
      return authorityKeyIdExtension(extension.keyId);
    case "future":
      return extension.der;
  }
}

/** The X.509 TBSCertificate a Matter certificate's signature covers. */
export function matterTbsToX509(certificate: MatterCertificate): Uint8Array {
  return encodeTbsCertificate({
    serialNumber: certificate.serialNumber,
    issuer: dnToName(certificate.issuer),
    notBefore: matterTimeToUnix(certificate.notBefore),
    notAfter: matterTimeToUnix(certificate.notAfter),
    subject: dnToName(certificate.subject),
    publicKey: certificate.publicKey,
    extensions: certificate.extensions.map(extensionToX509),
  });
}

/** Converts a Matter certificate (decoded, or its TLV) to the X.509 DER its issuer signed. */
export function matterCertificateToX509(certificate: MatterCertificate | Uint8Array): Uint8Array {
  const decoded = certificate instanceof Uint8Array ? decodeMatterCertificate(certificate) : certificate;
  return withContext("Matter certificate to X.509", () => encodeCertificate(matterTbsToX509(decoded), decoded.signature));
}

// ---------------------------------------------------------------------------------------------
// X.509 -> TLV

const HEX_ID = { id64: /^[0-9A-F]{16}$/, id32: /^[0-9A-F]{8}$/ } as const;

function nameToDn(name: Name, what: string): DnEntry[] {
  return name.map((attribute) => {
    const type = dnAttributeTypeByOid(attribute.oid);
    if (!type) throw new CertificateError(`${what}: attribute ${attribute.oid} has no Matter TLV encoding`);
    if (type.kind !== "string") {
      if (attribute.stringTag !== DER_UTF8_STRING) throw new CertificateError(`${what}: ${type.name} must be a UTF8String`);
      if (!HEX_ID[type.kind].test(attribute.value)) {
        throw new CertificateError(`${what}: ${type.name} "${attribute.value}" is not ${type.kind === "id32" ? 8 : 16} uppercase hex digits`);
      }
      return { tag: type.tag, value: BigInt("0x" + attribute.value) };
    }
    if (type.tag === DOMAIN_COMPONENT_TAG) {
      if (attribute.stringTag !== DER_IA5_STRING) throw new CertificateError(`${what}: domain-component must be an IA5String`);
      return { tag: type.tag, value: attribute.value };
    }
    if (attribute.stringTag === DER_PRINTABLE_STRING) return { tag: type.tag | PRINTABLE_FLAG, value: attribute.value };
    if (attribute.stringTag === DER_UTF8_STRING) return { tag: type.tag, value: attribute.value };
    throw new CertificateError(`${what}: ${type.name} must be a UTF8String or PrintableString`);
  });
}

function extensionFromX509(extension: Extension, certificate: X509Certificate, raw: Uint8Array): OpCertExtension {
  const mustBeCritical = (critical: boolean) => {
    if (extension.critical !== critical) {
      throw new CertificateError(`extension ${extension.oid} must be ${critical ? "critical" : "non-critical"} in a Matter certificate`);
    }
  };
  switch (extension.oid) {
    case OID_BASIC_CONSTRAINTS:
      mustBeCritical(true);
      return { kind: "basic-constraints", ...certificate.basicConstraints! };
    case OID_KEY_USAGE:
      mustBeCritical(true);
      return { kind: "key-usage", flags: certificate.keyUsage! };
    case OID_EXTENDED_KEY_USAGE: {
      mustBeCritical(true);
      const purposes = certificate.extendedKeyUsage!.map((oid) => {
        const value = KEY_PURPOSE_OIDS.indexOf(oid);
        if (value <= 0) throw new CertificateError(`key purpose ${oid} has no Matter TLV encoding`);
        return value;
      });
      return { kind: "extended-key-usage", purposes };
    }
    case OID_SUBJECT_KEY_IDENTIFIER:
      mustBeCritical(false);
      if (certificate.subjectKeyId!.length !== 20) throw new CertificateError("subject key identifier must be 20 bytes");
      return { kind: "subject-key-id", keyId: certificate.subjectKeyId! };
    case OID_AUTHORITY_KEY_IDENTIFIER: {
      mustBeCritical(false);
      const keyId = certificate.authorityKeyId;
      if (!keyId || keyId.length !== 20) throw new CertificateError("authority key identifier must be a 20-byte key id");
      return { kind: "authority-key-id", keyId };
    }
    default:
      return { kind: "future", der: raw };
  }
}

/** The raw DER of each Extension, in order (the parsed form keeps only the fields). */
function rawExtensions(der: Uint8Array): Uint8Array[] {
  const tbs = decodeDer(der).children[0]!;
  return tbs.children[7]!.children[0]!.children.map((node) => node.raw);
}

/**
 * Converts an X.509 operational certificate to the Matter TLV structure. Refuses certificates
 * that the TLV form cannot reproduce exactly (their signature would no longer verify).
 */
export function x509ToMatterCertificate(der: Uint8Array): MatterCertificate {
  const x509 = parseX509(der);
  return withContext("X.509 to Matter certificate", () => {
    const raws = rawExtensions(der);
    const certificate: MatterCertificate = {
      serialNumber: x509.serialNumber,
      signatureAlgorithm: 1,
      issuer: nameToDn(x509.issuer, "issuer"),
      notBefore: unixToMatterTime(x509.notBefore),
      notAfter: unixToMatterTime(x509.notAfter),
      subject: nameToDn(x509.subject, "subject"),
      publicKeyAlgorithm: 1,
      ellipticCurve: 1,
      publicKey: x509.publicKey,
      extensions: x509.extensions.map((extension, index) => extensionFromX509(extension, x509, raws[index]!)),
      signature: x509.signature,
    };
    const rebuilt = encodeCertificate(matterTbsToX509(certificate), certificate.signature);
    if (!bytesEqual(rebuilt, der)) {
      throw new CertificateError("the certificate is not in the canonical form Matter TLV reproduces (e.g. time or string encodings)");
    }
    return certificate;
  });
}

export function x509ToMatterTlv(der: Uint8Array): Uint8Array {
  return encodeMatterCertificate(x509ToMatterCertificate(der));
}

// ---------------------------------------------------------------------------------------------
// Reading and issuing

export function findExtension<K extends OpCertExtension["kind"]>(
  certificate: MatterCertificate,
  kind: K,
): Extract<OpCertExtension, { kind: K }> | undefined {
  return certificate.extensions.find((extension) => extension.kind === kind) as Extract<OpCertExtension, { kind: K }> | undefined;
}

export function dnIdentifier(dn: DnEntry[], tag: number): bigint | undefined {
  const entry = dn.find((candidate) => candidate.tag === tag);
  return typeof entry?.value === "bigint" ? entry.value : undefined;
}

/** Verifies `certificate`'s signature with the issuer's public key over the rebuilt X.509 TBS. */
export function verifyMatterCertificateSignature(certificate: MatterCertificate, issuerPublicKey: Uint8Array): boolean {
  return ecdsaVerify(issuerPublicKey, matterTbsToX509(certificate), certificate.signature);
}

export interface MatterCertificateRequest {
  serialNumber: Uint8Array;
  issuer: DnEntry[];
  subject: DnEntry[];
  /** Unix seconds; notAfter may be NO_EXPIRATION_UNIX. */
  notBefore: number;
  notAfter: number;
  publicKey: Uint8Array;
  /** Issuer's public key, for the authority key identifier (the subject's own key for a root). */
  issuerPublicKey: Uint8Array;
  ca: boolean;
  pathLength?: number;
  keyUsage: number;
  /** Matter key purpose values (1 serverAuth, 2 clientAuth, ...). */
  extendedKeyUsage?: number[];
  futureExtensions?: Uint8Array[];
}

/**
 * Builds and signs an operational certificate in the extension order CHIP uses (basic constraints,
 * key usage, extended key usage, subject key id, authority key id, then any others).
 */
export function issueMatterCertificate(request: MatterCertificateRequest, issuerPrivateKey: Uint8Array): MatterCertificate {
  const extensions: OpCertExtension[] = [
    request.pathLength === undefined
      ? { kind: "basic-constraints", ca: request.ca }
      : { kind: "basic-constraints", ca: request.ca, pathLength: request.pathLength },
    { kind: "key-usage", flags: request.keyUsage },
  ];
  if (request.extendedKeyUsage) extensions.push({ kind: "extended-key-usage", purposes: request.extendedKeyUsage });
  extensions.push({ kind: "subject-key-id", keyId: keyIdentifier(request.publicKey) });
  extensions.push({ kind: "authority-key-id", keyId: keyIdentifier(request.issuerPublicKey) });
  for (const der of request.futureExtensions ?? []) extensions.push({ kind: "future", der });
  const unsigned: MatterCertificate = {
    serialNumber: request.serialNumber,
    signatureAlgorithm: 1,
    issuer: request.issuer,
    notBefore: unixToMatterTime(request.notBefore),
    notAfter: unixToMatterTime(request.notAfter),
    subject: request.subject,
    publicKeyAlgorithm: 1,
    ellipticCurve: 1,
    publicKey: request.publicKey,
    extensions,
    signature: new Uint8Array(64),
  };
  if (!bytesEqual(publicKeyFromPrivate(issuerPrivateKey), request.issuerPublicKey)) {
    throw new CertificateError("issuer private key does not match the issuer public key");
  }
  const certificate = { ...unsigned, signature: ecdsaSign(issuerPrivateKey, matterTbsToX509(unsigned)) };
  encodeMatterCertificate(certificate); // applies the decoder's checks (sizes, ranges)
  return certificate;
}

/** Hex of the serial number, for display. */
export function serialNumberHex(certificate: MatterCertificate | X509Certificate): string {
  return toHex(certificate.serialNumber).toUpperCase();
}
