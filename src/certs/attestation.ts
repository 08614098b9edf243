// Device attestation certificates (spec 6.2): the PAA -> PAI -> DAC chain a device proves its
// origin with. Parses X.509, reads the vendor and product ids from the subject (the Matter
// attribute OIDs, or the legacy "Mvid:"/"Mpid:" common-name form), checks each certificate's
// profile and the chain, including VID/PID consistency between the three.
import { bytesEqual } from "../codec/bytes";
import { CertificateError } from "./errors";
import {
  KEY_USAGE_CRL_SIGN,
  KEY_USAGE_DIGITAL_SIGNATURE,
  KEY_USAGE_KEY_CERT_SIGN,
  OID_AUTHORITY_KEY_IDENTIFIER,
  OID_BASIC_CONSTRAINTS,
  OID_COMMON_NAME,
  OID_KEY_USAGE,
  OID_MATTER_PRODUCT_ID,
  OID_MATTER_VENDOR_ID,
  OID_SUBJECT_KEY_IDENTIFIER,
} from "./oids";
import { publicKeyFromPrivate } from "../crypto";
import {
  authorityKeyIdExtension,
  basicConstraintsExtension,
  checkCaKeyUsage,
  checkIssuerLinks,
  keyIdentifier,
  keyUsageExtension,
  NO_EXPIRATION_UNIX,
  parseX509,
  signCertificate,
  subjectKeyIdExtension,
  verifyX509Signature,
  withContext,
  type Name,
  type X509Certificate,
} from "./x509";

export type AttestationCertificateKind = "paa" | "pai" | "dac";

export interface AttestationIds {
  vendorId?: number;
  productId?: number;
}

export interface AttestationCertificate extends AttestationIds {
  x509: X509Certificate;
}

/** Four uppercase hex digits (a regular expression made per call: see src/codec/der.ts). */
const isHex4 = (text: string) => /^[0-9A-F]{4}$/.test(text);

/**
 * The legacy encoding (spec 6.2.2.2): "Mvid:" or "Mpid:" then exactly 4 uppercase hex digits,
 * anywhere in the common name. The leftmost well-formed occurrence wins; a prefix with no
 * well-formed value anywhere makes the name invalid.
 */
export function parseFallbackId(commonName: string, prefix: "Mvid:" | "Mpid:"): number | undefined {
  let at = commonName.indexOf(prefix);
  if (at < 0) return undefined;
  while (at >= 0) {
    const digits = commonName.slice(at + prefix.length, at + prefix.length + 4);
    if (isHex4(digits)) return parseInt(digits, 16);
    at = commonName.indexOf(prefix, at + 1);
  }
  throw new CertificateError(`common name has "${prefix}" without 4 uppercase hex digits`);
}

/**
 * Reads VID/PID from a subject. The Matter attributes take precedence; only when neither is
 * present are the common-name forms used (CHIP ExtractVIDPIDFromX509Cert behaves the same).
 */
export function readAttestationIds(subject: Name): AttestationIds {
  const fromAttributes: AttestationIds = {};
  const fromCommonName: AttestationIds = {};
  for (const { oid, value, stringTag } of subject) {
    const field = oid === OID_MATTER_VENDOR_ID ? "vendorId" : oid === OID_MATTER_PRODUCT_ID ? "productId" : undefined;
    if (field) {
      if (fromAttributes[field] !== undefined) throw new CertificateError(`subject has two ${field} attributes`);
      if (stringTag !== 0x0c || !isHex4(value)) throw new CertificateError(`${field} "${value}" is not UTF8String 4 uppercase hex`);
      fromAttributes[field] = parseInt(value, 16);
    } else if (oid === OID_COMMON_NAME) {
      // Both are parsed (a malformed one is an error) even when an earlier name gave the id.
      const vendorId = parseFallbackId(value, "Mvid:");
      const productId = parseFallbackId(value, "Mpid:");
      fromCommonName.vendorId ??= vendorId;
      fromCommonName.productId ??= productId;
    }
  }
  const chosen = fromAttributes.vendorId !== undefined || fromAttributes.productId !== undefined ? fromAttributes : fromCommonName;
  const ids: AttestationIds = {};
  if (chosen.vendorId !== undefined) ids.vendorId = chosen.vendorId;
  if (chosen.productId !== undefined) ids.productId = chosen.productId;
  return ids;
}

export function parseAttestationCertificate(der: Uint8Array): AttestationCertificate {
  const x509 = parseX509(der);
  const ids = withContext("attestation certificate subject", () => readAttestationIds(x509.subject));
  return { x509, ...ids };
}

/** The certificate profile of spec 6.2.2 (the checks CHIP's VerifyAttestationCertificateFormat makes). */
export function checkAttestationProfile(certificate: AttestationCertificate, kind: AttestationCertificateKind): void {
  const name = kind.toUpperCase();
  const { x509, vendorId, productId } = certificate;
  const byOid = (oid: string) => x509.extensions.find((extension) => extension.oid === oid);
  const authorityKeyId = byOid(OID_AUTHORITY_KEY_IDENTIFIER);
  const problem =
    !byOid(OID_BASIC_CONSTRAINTS)?.critical || !byOid(OID_KEY_USAGE)?.critical
      ? "needs critical basic constraints and key usage"
      : byOid(OID_SUBJECT_KEY_IDENTIFIER)?.critical !== false || x509.subjectKeyId?.length !== 20
        ? "needs a non-critical 20-byte subject key id"
        : authorityKeyId
          ? authorityKeyId.critical || x509.authorityKeyId?.length !== 20
            ? "authority key id must be non-critical, 20 bytes"
            : ""
          : kind !== "paa"
            ? "needs an authority key id"
            : "";
  if (problem) throw new CertificateError(`${name} ${problem}`);

  const { ca, pathLength } = x509.basicConstraints!;
  const flags = x509.keyUsage!;
  if (kind === "dac") {
    if (ca || pathLength !== undefined) throw new CertificateError("DAC must not be a CA");
    if (flags !== KEY_USAGE_DIGITAL_SIGNATURE) throw new CertificateError("DAC key usage must be digitalSignature only");
    if (vendorId === undefined || productId === undefined) throw new CertificateError("DAC subject needs both vendor and product ids");
    return;
  }
  if (!ca) throw new CertificateError(`${name} must be a CA`);
  if (kind === "pai" ? pathLength !== 0 : pathLength !== undefined && pathLength !== 1) {
    throw new CertificateError(kind === "pai" ? "PAI path length must be 0" : "PAA path length must be absent or 1");
  }
  checkCaKeyUsage(flags, name);
  if (kind === "pai" && vendorId === undefined) throw new CertificateError("PAI subject needs a vendor id");
  if (kind === "paa" && productId !== undefined) throw new CertificateError("PAA subject must not carry a product id");
}

function isValidAt(x509: X509Certificate, at: number): boolean {
  return at >= x509.notBefore && (x509.notAfter === NO_EXPIRATION_UNIX || at <= x509.notAfter);
}

function checkIssued(child: AttestationCertificate, childName: string, parent: AttestationCertificate, parentName: string): void {
  const { x509 } = child;
  checkIssuerLinks(
    childName,
    parentName,
    bytesEqual(x509.issuerDer, parent.x509.subjectDer),
    !x509.authorityKeyId || bytesEqual(x509.authorityKeyId, parent.x509.subjectKeyId!),
    () => verifyX509Signature(x509, parent.x509.publicKey),
  );
}

export interface AttestationChainInput {
  dac: Uint8Array | AttestationCertificate;
  pai: Uint8Array | AttestationCertificate;
  paa: Uint8Array | AttestationCertificate;
  /**
   * Unix seconds the chain must be valid at. Defaults to the DAC's notBefore: the PAI and PAA
   * must have been valid when the DAC was issued (what CHIP checks when the time is unknown).
   */
  at?: number;
}

export interface ValidatedAttestationChain {
  vendorId: number;
  productId: number;
  dac: AttestationCertificate;
  pai: AttestationCertificate;
  paa: AttestationCertificate;
}

function asAttestation(input: Uint8Array | AttestationCertificate, name: string): AttestationCertificate {
  if (!(input instanceof Uint8Array)) return input;
  try {
    return parseAttestationCertificate(input);
  } catch (error) {
    throw new CertificateError(`${name}: ${(error as Error).message}`);
  }
}

/** Validates DAC -> PAI -> PAA: profiles, linkage, signatures, validity and VID/PID consistency. */
export function validateAttestationChain(input: AttestationChainInput): ValidatedAttestationChain {
  const paa = asAttestation(input.paa, "PAA");
  const pai = asAttestation(input.pai, "PAI");
  const dac = asAttestation(input.dac, "DAC");
  checkAttestationProfile(paa, "paa");
  checkAttestationProfile(pai, "pai");
  checkAttestationProfile(dac, "dac");

  if (!bytesEqual(paa.x509.issuerDer, paa.x509.subjectDer) || !verifyX509Signature(paa.x509, paa.x509.publicKey)) {
    throw new CertificateError("PAA is not self-signed");
  }
  checkPaiAgainstPaa(pai, paa);
  checkIssued(dac, "DAC", pai, "PAI");

  const at = input.at ?? dac.x509.notBefore;
  for (const [certificate, name] of [[paa, "PAA"], [pai, "PAI"], [dac, "DAC"]] as const) {
    if (!isValidAt(certificate.x509, at)) {
      throw new CertificateError(`${name} is not valid at ${new Date(at * 1000).toISOString()}`);
    }
  }

  checkDacIdsAgainstPai(dac, pai);
  return { vendorId: dac.vendorId!, productId: dac.productId!, dac, pai, paa };
}

/** A DAC checked against its PAI only (the device side, which holds no PAA). */
export function validateDacAgainstPai(dacInput: Uint8Array | AttestationCertificate, paiInput: Uint8Array | AttestationCertificate): { vendorId: number; productId: number } {
  const pai = asAttestation(paiInput, "PAI");
  const dac = asAttestation(dacInput, "DAC");
  checkAttestationProfile(pai, "pai");
  checkAttestationProfile(dac, "dac");
  checkIssued(dac, "DAC", pai, "PAI");
  checkDacIdsAgainstPai(dac, pai);
  return { vendorId: dac.vendorId!, productId: dac.productId! };
}

/** A PAI checked against its PAA: profiles, linkage, signature and vendor id (tools use it before issuing DACs). */
export function validatePaiAgainstPaa(paiInput: Uint8Array | AttestationCertificate, paaInput: Uint8Array | AttestationCertificate): { vendorId: number; productId?: number } {
  const paa = asAttestation(paaInput, "PAA");
  const pai = asAttestation(paiInput, "PAI");
  checkAttestationProfile(paa, "paa");
  checkAttestationProfile(pai, "pai");
  checkPaiAgainstPaa(pai, paa);
  return pai.productId === undefined ? { vendorId: pai.vendorId! } : { vendorId: pai.vendorId!, productId: pai.productId };
}

function checkPaiAgainstPaa(pai: AttestationCertificate, paa: AttestationCertificate): void {
  checkIssued(pai, "PAI", paa, "PAA");
  if (paa.vendorId !== undefined && paa.vendorId !== pai.vendorId) {
    throw new CertificateError(`PAI vendor id ${hex4(pai.vendorId)} differs from the PAA's ${hex4(paa.vendorId)}`);
  }
}

function checkDacIdsAgainstPai(dac: AttestationCertificate, pai: AttestationCertificate): void {
  if (dac.vendorId !== pai.vendorId) {
    throw new CertificateError(`DAC vendor id ${hex4(dac.vendorId)} differs from the PAI's ${hex4(pai.vendorId)}`);
  }
  if (pai.productId !== undefined && pai.productId !== dac.productId) {
    throw new CertificateError(`DAC product id ${hex4(dac.productId)} differs from the PAI's ${hex4(pai.productId)}`);
  }
}

/** "0xFFF1", for vendor and product ids in messages. */
export function hex4(value: number | undefined): string {
  return value === undefined ? "(none)" : "0x" + value.toString(16).toUpperCase().padStart(4, "0");
}

export interface AttestationCertificateRequest {
  kind: AttestationCertificateKind;
  commonName: string;
  vendorId?: number;
  productId?: number;
  /** Content octets of a positive serial number INTEGER (at most 20 bytes). */
  serialNumber: Uint8Array;
  /** Unix seconds; notAfter may be NO_EXPIRATION_UNIX. */
  notBefore: number;
  notAfter: number;
  publicKey: Uint8Array;
  /** The issuing PAA or PAI; omitted for a self-signed PAA. */
  issuer?: X509Certificate;
}

/**
 * Issues a PAA, PAI or DAC in the shape of the Matter test PKI: subject CN then the VID and PID
 * attributes; basic constraints (PAA path length 1, PAI 0), key usage, subject and authority
 * key identifiers.
 */
export function issueAttestationCertificate(request: AttestationCertificateRequest, issuerPrivateKey: Uint8Array): Uint8Array {
  const { kind } = request;
  if (kind === "paa" ? request.issuer !== undefined : request.issuer === undefined) {
    throw new CertificateError(kind === "paa" ? "a PAA is self-signed" : `a ${kind.toUpperCase()} needs an issuer`);
  }
  const idAttribute = (oid: string, value: number) => {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new CertificateError(`id ${value} does not fit 16 bits`);
    return { oid, value: value.toString(16).toUpperCase().padStart(4, "0"), stringTag: 0x0c };
  };
  const subject: Name = [{ oid: OID_COMMON_NAME, value: request.commonName, stringTag: 0x0c }];
  if (request.vendorId !== undefined) subject.push(idAttribute(OID_MATTER_VENDOR_ID, request.vendorId));
  if (request.productId !== undefined) subject.push(idAttribute(OID_MATTER_PRODUCT_ID, request.productId));
  const ownKeyId = keyIdentifier(request.publicKey);
  const issuerKeyId = request.issuer ? request.issuer.subjectKeyId : ownKeyId;
  if (!issuerKeyId) throw new CertificateError("issuer has no subject key identifier");
  if (request.issuer && !bytesEqual(publicKeyFromPrivate(issuerPrivateKey), request.issuer.publicKey)) {
    throw new CertificateError(`issuer private key does not match the issuer certificate`);
  }
  const der = signCertificate(
    {
      serialNumber: request.serialNumber,
      issuer: request.issuer ? request.issuer.subjectDer : subject,
      notBefore: request.notBefore,
      notAfter: request.notAfter,
      subject,
      publicKey: request.publicKey,
      extensions: [
        kind === "dac" ? basicConstraintsExtension(false) : basicConstraintsExtension(true, kind === "paa" ? 1 : 0),
        keyUsageExtension(kind === "dac" ? KEY_USAGE_DIGITAL_SIGNATURE : KEY_USAGE_KEY_CERT_SIGN | KEY_USAGE_CRL_SIGN),
        subjectKeyIdExtension(ownKeyId),
        authorityKeyIdExtension(issuerKeyId),
      ],
    },
    issuerPrivateKey,
  );
  checkAttestationProfile(parseAttestationCertificate(der), kind);
  return der;
}
