// Operational certificate chains: RCAC -> (ICAC ->) NOC, checked the way a Matter node checks
// the chain it is given in AddNOC and the one a peer presents in CASE (spec 6.5 profiles, CHIP's
// ChipCertificateSet::ValidateCert): certificate type from the subject, CA flags, key usages,
// path length, issuer/subject and key identifier linkage, signatures, fabric id consistency and,
// when a time is given, validity.
import { bytesEqual, utf8Encode } from "../codec/bytes";
import { hkdfSha256 } from "../crypto";
import { CertificateError } from "./errors";
import { KEY_USAGE_CRL_SIGN, KEY_USAGE_DIGITAL_SIGNATURE, KEY_USAGE_KEY_CERT_SIGN } from "./oids";
import { checkCaKeyUsage, checkIssuerLinks } from "./x509";
import {
  decodeMatterCertificate,
  DN_TAG_CASE_AUTHENTICATED_TAG,
  DN_TAG_FABRIC_ID,
  DN_TAG_FIRMWARE_SIGNING_ID,
  DN_TAG_ICAC_ID,
  DN_TAG_NODE_ID,
  DN_TAG_RCAC_ID,
  findExtension,
  futureExtensionInfo,
  matterTimeToUnix,
  verifyMatterCertificateSignature,
  type DnEntry,
  type MatterCertificate,
} from "./opcert";

export type OperationalCertificateKind = "rcac" | "icac" | "noc" | "firmware-signing";

export interface OperationalSubject {
  kind: OperationalCertificateKind;
  /** The rcac-id, icac-id, node-id or firmware-signing-id, whichever the kind carries. */
  id: bigint;
  fabricId?: bigint;
  /** CASE Authenticated Tags (NOC only), in subject order. */
  cats: number[];
}

/** Operational node ids: 0x0000000000000001 to 0xFFFFFFEFFFFFFFFF (spec 2.5.5). */
export function isOperationalNodeId(nodeId: bigint): boolean {
  return nodeId >= 1n && nodeId <= 0xffffffefffffffffn;
}

/** A CAT is 16 bits of identifier and 16 bits of version; version 0 is invalid (spec 6.6.2.1.2). */
export function isValidCaseAuthenticatedTag(tag: number): boolean {
  return Number.isInteger(tag) && tag >= 0 && tag <= 0xffffffff && (tag & 0xffff) !== 0;
}

/** The subject attribute that names each kind of certificate. */
const KIND_BY_ID_TAG: Record<number, OperationalCertificateKind> = {
  [DN_TAG_RCAC_ID]: "rcac",
  [DN_TAG_ICAC_ID]: "icac",
  [DN_TAG_NODE_ID]: "noc",
  [DN_TAG_FIRMWARE_SIGNING_ID]: "firmware-signing",
};

/** Reads what a subject DN says about the certificate (CHIP ChipDN::GetCertType rules). */
export function readOperationalSubject(subject: DnEntry[]): OperationalSubject {
  let kind: OperationalCertificateKind | undefined;
  let id = 0n;
  let fabricId: bigint | undefined;
  const cats: number[] = [];
  for (const { tag, value } of subject) {
    const attributeKind = KIND_BY_ID_TAG[tag];
    if (attributeKind) {
      if (kind) throw new CertificateError(`subject is both ${kind} and ${attributeKind}`);
      kind = attributeKind;
      id = value as bigint;
      if (kind === "noc" && !isOperationalNodeId(id)) throw new CertificateError(`node id 0x${id.toString(16)} is not an operational node id`);
    } else if (tag === DN_TAG_FABRIC_ID) {
      if (fabricId !== undefined) throw new CertificateError("subject has two fabric ids");
      fabricId = value as bigint;
      if (fabricId === 0n) throw new CertificateError("fabric id 0 is not valid");
    } else if (tag === DN_TAG_CASE_AUTHENTICATED_TAG) {
      const cat = Number(value);
      if (!isValidCaseAuthenticatedTag(cat)) throw new CertificateError(`CAT 0x${cat.toString(16)} has version 0`);
      cats.push(cat);
    }
  }
  if (!kind) throw new CertificateError("subject has no rcac-id, icac-id, node-id or firmware-signing-id");
  if (kind === "noc") {
    if (fabricId === undefined) throw new CertificateError("a NOC subject needs a fabric id");
    if (cats.length > 3) throw new CertificateError(`a NOC has at most 3 CATs, not ${cats.length}`);
    if (new Set(cats.map((cat) => cat >>> 16)).size !== cats.length) throw new CertificateError("two CATs share an identifier");
  } else if (cats.length > 0) {
    throw new CertificateError(`a ${kind.toUpperCase()} cannot carry CATs`);
  }
  return fabricId === undefined ? { kind, id, cats } : { kind, id, fabricId, cats };
}

function label(kind: OperationalCertificateKind): string {
  return kind === "firmware-signing" ? "firmware signing certificate" : kind.toUpperCase();
}

/**
 * Reads the subject, checks it names a certificate of `kind`, and checks the extensions every
 * chain member needs plus the ones for its role.
 */
function checkProfile(certificate: MatterCertificate, kind: OperationalCertificateKind): OperationalSubject {
  const subject = readOperationalSubject(certificate.subject);
  const name = label(kind);
  if (subject.kind !== kind) throw new CertificateError(`expected ${kind === "noc" ? "a" : "an"} ${name}, got a ${label(subject.kind)}`);
  for (const required of ["basic-constraints", "key-usage", "subject-key-id", "authority-key-id"] as const) {
    if (!findExtension(certificate, required)) throw new CertificateError(`${name} has no ${required} extension`);
  }
  for (const extension of certificate.extensions) {
    // A critical extension we cannot interpret must not be ignored (RFC 5280 4.2).
    const future = extension.kind === "future" && futureExtensionInfo(extension.der);
    if (future && future.critical) throw new CertificateError(`${name} has unknown critical extension ${future.oid}`);
  }
  const { ca } = findExtension(certificate, "basic-constraints")!;
  const { flags } = findExtension(certificate, "key-usage")!;
  const extendedUsage = findExtension(certificate, "extended-key-usage");
  if (kind === "rcac" || kind === "icac") {
    if (!ca) throw new CertificateError(`${name} is not a CA`);
    checkCaKeyUsage(flags, name);
    if (extendedUsage) throw new CertificateError(`${name} has an extended key usage`);
  } else {
    if (ca) throw new CertificateError(`${name} must not be a CA`);
    if (!(flags & KEY_USAGE_DIGITAL_SIGNATURE) || flags & (KEY_USAGE_KEY_CERT_SIGN | KEY_USAGE_CRL_SIGN)) {
      throw new CertificateError(`${name} key usage needs digitalSignature, no CA bits`);
    }
    const purposes = extendedUsage?.purposes ?? [];
    if (kind === "noc" && !(purposes.includes(1) && purposes.includes(2))) {
      throw new CertificateError("NOC needs serverAuth and clientAuth key purposes");
    }
  }
  return subject;
}

/** Checks `child` was issued by `parent` (names, key ids, signature) and, given a time, is valid at it. */
function checkIssuedBy(child: MatterCertificate, childName: string, parent: MatterCertificate, parentName: string, at: number | undefined): void {
  const { issuer, notBefore, notAfter } = child;
  const { subject } = parent;
  checkIssuerLinks(
    childName,
    parentName,
    issuer.length === subject.length && issuer.every((entry, index) => entry.tag === subject[index]!.tag && entry.value === subject[index]!.value),
    bytesEqual(findExtension(child, "authority-key-id")!.keyId, findExtension(parent, "subject-key-id")!.keyId),
    () => verifyMatterCertificateSignature(child, parent.publicKey),
  );
  if (at === undefined) return;
  if (notBefore !== 0 && at < matterTimeToUnix(notBefore)) throw new CertificateError(`${childName} is not valid yet`);
  if (notAfter !== 0 && at > matterTimeToUnix(notAfter)) throw new CertificateError(`${childName} has expired`);
}

function asCertificate(input: MatterCertificate | Uint8Array): MatterCertificate {
  return input instanceof Uint8Array ? decodeMatterCertificate(input) : input;
}

/** Checks a trusted root on its own: a self-issued, self-signed CA with an rcac-id. */
export function validateRcac(input: MatterCertificate | Uint8Array, at?: number): OperationalSubject {
  const rcac = asCertificate(input);
  const subject = checkProfile(rcac, "rcac");
  const { pathLength } = findExtension(rcac, "basic-constraints")!;
  if (pathLength !== undefined && pathLength > 1) throw new CertificateError("RCAC path length must be at most 1");
  checkIssuedBy(rcac, "RCAC", rcac, "RCAC itself", at);
  return subject;
}

export interface OperationalChain {
  rcac: MatterCertificate | Uint8Array;
  icac?: MatterCertificate | Uint8Array;
  noc: MatterCertificate | Uint8Array;
  /** Unix seconds to check validity periods against; omitted when the node has no trusted time. */
  at?: number;
}

export interface ValidatedOperationalChain {
  fabricId: bigint;
  nodeId: bigint;
  cats: number[];
  rootPublicKey: Uint8Array;
  nocPublicKey: Uint8Array;
}

export function validateOperationalChain(chain: OperationalChain): ValidatedOperationalChain {
  const { at } = chain;
  const rcac = asCertificate(chain.rcac);
  const noc = asCertificate(chain.noc);
  let { fabricId } = validateRcac(rcac, at);
  let issuer = rcac;
  let issuerName = "RCAC";
  if (chain.icac !== undefined) {
    const icac = asCertificate(chain.icac);
    const intermediate = checkProfile(icac, "icac");
    if (findExtension(rcac, "basic-constraints")!.pathLength === 0) throw new CertificateError("RCAC path length 0 forbids an ICAC");
    checkIssuedBy(icac, "ICAC", rcac, "RCAC", at);
    if (intermediate.fabricId !== undefined) {
      if (fabricId !== undefined && fabricId !== intermediate.fabricId) throw new CertificateError("ICAC fabric id differs from the RCAC's");
      fabricId = intermediate.fabricId;
    }
    issuer = icac;
    issuerName = "ICAC";
  }
  const leaf = checkProfile(noc, "noc");
  checkIssuedBy(noc, "NOC", issuer, issuerName, at);
  if (fabricId !== undefined && fabricId !== leaf.fabricId) throw new CertificateError("NOC fabric id differs from its issuers'");
  return { fabricId: leaf.fabricId!, nodeId: leaf.id, cats: leaf.cats, rootPublicKey: rcac.publicKey, nocPublicKey: noc.publicKey };
}

/**
 * The compressed fabric identifier (spec 4.3.2.2): HKDF-SHA256 over the root public key without
 * its 0x04 prefix, salted with the big-endian fabric id, info "CompressedFabric", 8 bytes.
 */
export function compressedFabricId(rootPublicKey: Uint8Array, fabricId: bigint): Uint8Array {
  if (rootPublicKey.length !== 65 || rootPublicKey[0] !== 4) throw new CertificateError("root public key must be 65-byte uncompressed");
  const salt = new Uint8Array(8);
  new DataView(salt.buffer).setBigUint64(0, fabricId);
  return hkdfSha256(rootPublicKey.subarray(1), salt, utf8Encode("CompressedFabric"), 8);
}
