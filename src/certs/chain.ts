// Operational certificate chains: RCAC -> (ICAC ->) NOC, checked the way a Matter node checks
// the chain it is given in AddNOC and the one a peer presents in CASE (spec 6.5 profiles, CHIP's
// ChipCertificateSet::ValidateCert): certificate type from the subject, CA flags, key usages,
// path length, issuer/subject and key identifier linkage, signatures, fabric id consistency and,
// when a time is given, validity.
import { bytesEqual } from "../codec/bytes";
import { hkdfSha256 } from "../crypto";
import { CertificateError } from "./errors";
import { KeyUsage } from "./oids";
import {
  decodeMatterCertificate,
  DnTag,
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

/** Reads what a subject DN says about the certificate (CHIP ChipDN::GetCertType rules). */
export function readOperationalSubject(subject: DnEntry[]): OperationalSubject {
  let kind: OperationalCertificateKind | undefined;
  let id = 0n;
  let fabricId: bigint | undefined;
  const cats: number[] = [];
  const kinds: Record<number, OperationalCertificateKind> = {
    [DnTag.rcacId]: "rcac",
    [DnTag.icacId]: "icac",
    [DnTag.nodeId]: "noc",
    [DnTag.firmwareSigningId]: "firmware-signing",
  };
  for (const entry of subject) {
    const attributeKind = kinds[entry.tag];
    if (attributeKind) {
      if (kind) throw new CertificateError(`subject carries both a ${kind} and a ${attributeKind} identifier`);
      kind = attributeKind;
      id = entry.value as bigint;
      if (kind === "noc" && !isOperationalNodeId(id)) {
        throw new CertificateError(`node id 0x${id.toString(16)} is not an operational node id`);
      }
    } else if (entry.tag === DnTag.fabricId) {
      if (fabricId !== undefined) throw new CertificateError("subject carries two fabric ids");
      fabricId = entry.value as bigint;
      if (fabricId === 0n) throw new CertificateError("fabric id 0 is not valid");
    } else if (entry.tag === DnTag.caseAuthenticatedTag) {
      const tag = Number(entry.value as bigint);
      if (!isValidCaseAuthenticatedTag(tag)) throw new CertificateError(`CASE Authenticated Tag 0x${tag.toString(16)} has version 0`);
      cats.push(tag);
    }
  }
  if (!kind) throw new CertificateError("subject carries no rcac-id, icac-id, node-id or firmware-signing-id");
  if (kind === "noc") {
    if (fabricId === undefined) throw new CertificateError("a NOC subject needs a fabric id");
    if (cats.length > 3) throw new CertificateError(`a NOC carries at most 3 CASE Authenticated Tags, found ${cats.length}`);
    const identifiers = new Set(cats.map((tag) => tag >>> 16));
    if (identifiers.size !== cats.length) throw new CertificateError("two CASE Authenticated Tags share an identifier");
  } else if (cats.length > 0) {
    throw new CertificateError(`a ${kind.toUpperCase()} subject cannot carry CASE Authenticated Tags`);
  }
  return fabricId === undefined ? { kind, id, cats } : { kind, id, fabricId, cats };
}

function dnEqual(a: DnEntry[], b: DnEntry[]): boolean {
  return a.length === b.length && a.every((entry, index) => entry.tag === b[index]!.tag && entry.value === b[index]!.value);
}

function label(kind: OperationalCertificateKind): string {
  return kind === "firmware-signing" ? "firmware signing certificate" : kind.toUpperCase();
}

/** Extension checks every chain member shares, plus the ones for its role. */
function checkProfile(certificate: MatterCertificate, kind: OperationalCertificateKind): void {
  const name = label(kind);
  const constraints = findExtension(certificate, "basic-constraints");
  const usage = findExtension(certificate, "key-usage");
  const extendedUsage = findExtension(certificate, "extended-key-usage");
  if (!constraints) throw new CertificateError(`${name} has no basic constraints`);
  if (!usage) throw new CertificateError(`${name} has no key usage`);
  if (!findExtension(certificate, "subject-key-id")) throw new CertificateError(`${name} has no subject key identifier`);
  if (!findExtension(certificate, "authority-key-id")) throw new CertificateError(`${name} has no authority key identifier`);
  for (const extension of certificate.extensions) {
    // A critical extension we cannot interpret must not be ignored (RFC 5280 4.2).
    if (extension.kind === "future" && futureExtensionInfo(extension.der).critical) {
      throw new CertificateError(`${name} carries an unknown critical extension ${futureExtensionInfo(extension.der).oid}`);
    }
  }
  const caUsage = KeyUsage.keyCertSign | KeyUsage.crlSign;
  if (kind === "rcac" || kind === "icac") {
    if (!constraints.ca) throw new CertificateError(`${name} is not a CA (basic constraints)`);
    if ((usage.flags & caUsage) !== caUsage || (usage.flags & ~(caUsage | KeyUsage.digitalSignature)) !== 0) {
      throw new CertificateError(`${name} key usage must be keyCertSign and cRLSign (optionally digitalSignature)`);
    }
    if (extendedUsage) throw new CertificateError(`${name} must not carry an extended key usage`);
  } else {
    if (constraints.ca) throw new CertificateError(`${name} must not be a CA`);
    if (!(usage.flags & KeyUsage.digitalSignature) || usage.flags & caUsage) {
      throw new CertificateError(`${name} key usage must include digitalSignature and not keyCertSign or cRLSign`);
    }
    if (kind === "noc") {
      const purposes = extendedUsage?.purposes ?? [];
      if (!purposes.includes(1) || !purposes.includes(2)) {
        throw new CertificateError("NOC extended key usage must include serverAuth and clientAuth");
      }
    }
  }
}

function checkValidity(certificate: MatterCertificate, name: string, at: number | undefined): void {
  if (at === undefined) return;
  const notBefore = matterTimeToUnix(certificate.notBefore);
  if (certificate.notBefore !== 0 && at < notBefore) throw new CertificateError(`${name} is not valid yet`);
  if (certificate.notAfter !== 0 && at > matterTimeToUnix(certificate.notAfter)) throw new CertificateError(`${name} has expired`);
}

function checkIssuedBy(child: MatterCertificate, childName: string, parent: MatterCertificate, parentName: string): void {
  if (!dnEqual(child.issuer, parent.subject)) throw new CertificateError(`${childName} issuer does not match the ${parentName} subject`);
  const authorityKeyId = findExtension(child, "authority-key-id")!.keyId;
  const parentKeyId = findExtension(parent, "subject-key-id")!.keyId;
  if (!bytesEqual(authorityKeyId, parentKeyId)) {
    throw new CertificateError(`${childName} authority key id does not match the ${parentName} subject key id`);
  }
  if (!verifyMatterCertificateSignature(child, parent.publicKey)) {
    throw new CertificateError(`${childName} signature does not verify with the ${parentName} key`);
  }
}

function asCertificate(input: MatterCertificate | Uint8Array): MatterCertificate {
  return input instanceof Uint8Array ? decodeMatterCertificate(input) : input;
}

/** Checks a trusted root on its own: a self-issued, self-signed CA with an rcac-id. */
export function validateRcac(input: MatterCertificate | Uint8Array, at?: number): OperationalSubject {
  const rcac = asCertificate(input);
  const subject = readOperationalSubject(rcac.subject);
  if (subject.kind !== "rcac") throw new CertificateError(`expected an RCAC, got a ${label(subject.kind)}`);
  checkProfile(rcac, "rcac");
  const constraints = findExtension(rcac, "basic-constraints")!;
  if (constraints.pathLength !== undefined && constraints.pathLength > 1) {
    throw new CertificateError("RCAC path length must be at most 1");
  }
  checkIssuedBy(rcac, "RCAC", rcac, "RCAC itself");
  checkValidity(rcac, "RCAC", at);
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
  const rcac = asCertificate(chain.rcac);
  const icac = chain.icac === undefined ? undefined : asCertificate(chain.icac);
  const noc = asCertificate(chain.noc);
  const root = validateRcac(rcac, chain.at);

  let issuer = rcac;
  let issuerName = "RCAC";
  let fabricId = root.fabricId;
  if (icac) {
    const intermediate = readOperationalSubject(icac.subject);
    if (intermediate.kind !== "icac") throw new CertificateError(`expected an ICAC, got a ${label(intermediate.kind)}`);
    checkProfile(icac, "icac");
    if (findExtension(rcac, "basic-constraints")!.pathLength === 0) {
      throw new CertificateError("RCAC path length 0 does not allow an ICAC");
    }
    checkIssuedBy(icac, "ICAC", rcac, "RCAC");
    checkValidity(icac, "ICAC", chain.at);
    if (intermediate.fabricId !== undefined) {
      if (fabricId !== undefined && fabricId !== intermediate.fabricId) throw new CertificateError("ICAC fabric id differs from the RCAC's");
      fabricId = intermediate.fabricId;
    }
    issuer = icac;
    issuerName = "ICAC";
  }

  const leaf = readOperationalSubject(noc.subject);
  if (leaf.kind !== "noc") throw new CertificateError(`expected a NOC, got a ${label(leaf.kind)}`);
  checkProfile(noc, "noc");
  checkIssuedBy(noc, "NOC", issuer, issuerName);
  checkValidity(noc, "NOC", chain.at);
  if (fabricId !== undefined && fabricId !== leaf.fabricId) {
    throw new CertificateError("NOC fabric id differs from the one in its issuer chain");
  }
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
  const info = new Uint8Array([0x43, 0x6f, 0x6d, 0x70, 0x72, 0x65, 0x73, 0x73, 0x65, 0x64, 0x46, 0x61, 0x62, 0x72, 0x69, 0x63]);
  return hkdfSha256(rootPublicKey.subarray(1), salt, info, 8);
}
