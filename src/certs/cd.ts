// Certification Declarations (spec 6.3): the TLV statement of what was certified (vendor, product
// ids, device type, certificate id, ...) wrapped in a CMS SignedData (RFC 5652) signed by a CSA
// CD signing key: version 3, SHA-256, content type id-data, the signer named by subject key
// identifier, ECDSA over the content itself (no signed attributes) and no certificates.
import {
  decodeDer,
  DER_INTEGER,
  DER_OCTET_STRING,
  DER_OID,
  DER_SEQUENCE,
  DER_SET,
  derExplicit,
  derImplicit,
  derInteger,
  type DerNode,
  derOctetString,
  derOid,
  derReadInteger,
  derReadOid,
  derSequence,
  derSet,
} from "../codec/der";
import { decodeTlv, TlvWriter, type TlvElement } from "../codec/tlv";
import { ecdsaSign, ecdsaVerify, signatureFromDer, signatureToDer } from "../crypto";
import { CertificateError } from "./errors";
import { OID_ECDSA_WITH_SHA256, OID_PKCS7_DATA, OID_PKCS7_SIGNED_DATA, OID_SHA256 } from "./oids";
import { OrderedFields, bytesOf, childrenOf, describeTag, uintOf } from "./tlv-fields";
import { expectTag, readAlgorithm, withContext } from "./x509";

export interface CertificationDeclaration {
  formatVersion: number;
  vendorId: number;
  /** 1 to 100 product ids. */
  productIds: number[];
  deviceTypeId: number;
  /** Exactly 19 characters, e.g. "CSA00000SWC00000-01". */
  certificateId: string;
  securityLevel: number;
  securityInformation: number;
  versionNumber: number;
  /** 0 development and test, 1 provisional, 2 official. */
  certificationType: number;
  /** Present together: the DAC's origin when it differs from the CD's vendor and product. */
  dacOriginVendorId?: number;
  dacOriginProductId?: number;
  /** Subject key identifiers of the PAAs allowed to have issued the device's chain. */
  authorizedPaaList?: Uint8Array[];
}

const TAG_DAC_ORIGIN_VENDOR_ID = 9;
const TAG_DAC_ORIGIN_PRODUCT_ID = 10;
const TAG_AUTHORIZED_PAA_LIST = 11;

const Tag = {
  formatVersion: 0,
  vendorId: 1,
  productIds: 2,
  deviceTypeId: 3,
  certificateId: 4,
  securityLevel: 5,
  securityInformation: 6,
  versionNumber: 7,
  certificationType: 8,
  dacOriginVendorId: TAG_DAC_ORIGIN_VENDOR_ID,
  dacOriginProductId: TAG_DAC_ORIGIN_PRODUCT_ID,
  authorizedPaaList: TAG_AUTHORIZED_PAA_LIST,
} as const;

export const MAX_PRODUCT_IDS = 100;
export const MAX_AUTHORIZED_PAAS = 10;
export const CERTIFICATE_ID_LENGTH = 19;
/** Upper bound on a CMS-signed CD (CHIP's kMaxCMSSignedCDMessage is below this). */
export const MAX_CD_LENGTH = 1024;

/**
 * The members with context tags 0 to 8, in order, each with its largest value: the integers (and
 * each product id) are unsigned, the certificate id a string.
 */
const CD_FIELDS: [keyof CertificationDeclaration, number][] = [
  ["formatVersion", 0xffff],
  ["vendorId", 0xffff],
  ["productIds", 0xffff],
  ["deviceTypeId", 0xffffffff],
  ["certificateId", 0],
  ["securityLevel", 0xff],
  ["securityInformation", 0xffff],
  ["versionNumber", 0xffff],
  ["certificationType", 0xff],
  ["dacOriginVendorId", 0xffff],
  ["dacOriginProductId", 0xffff],
];

/** "vendorId" -> "vendor id", for messages. */
const describe = (name: string) => name.replace(/[A-Z]/g, (letter) => " " + letter.toLowerCase());

function checkElements(cd: CertificationDeclaration): void {
  for (const [name, max] of CD_FIELDS) {
    for (const value of [cd[name]].flat()) {
      if (max && value !== undefined && (!Number.isInteger(value) || (value as number) < 0 || (value as number) > max)) {
        throw new CertificateError(`${describe(name)} ${String(value)} is out of range`);
      }
    }
  }
  const { productIds, authorizedPaaList: paas } = cd;
  if (productIds.length < 1 || productIds.length > MAX_PRODUCT_IDS) throw new CertificateError(`a CD lists 1 to ${MAX_PRODUCT_IDS} product ids, got ${productIds.length}`);
  if (cd.certificateId.length !== CERTIFICATE_ID_LENGTH) throw new CertificateError(`certificate id must be ${CERTIFICATE_ID_LENGTH} characters`);
  if ((cd.dacOriginVendorId === undefined) !== (cd.dacOriginProductId === undefined)) throw new CertificateError("DAC origin vendor and product ids come together");
  if (paas && (paas.length < 1 || paas.length > MAX_AUTHORIZED_PAAS || paas.some((keyId) => keyId.length !== 20))) {
    throw new CertificateError(`authorized PAAs: 1 to ${MAX_AUTHORIZED_PAAS} key ids of 20 bytes`);
  }
}

/** Encodes the CD content: an anonymous TLV structure with context tags 0 to 11 in order. */
export function encodeCdContent(cd: CertificationDeclaration): Uint8Array {
  checkElements(cd);
  const writer = new TlvWriter();
  writer.startStructure(undefined);
  writer.uint(Tag.formatVersion, cd.formatVersion);
  writer.uint(Tag.vendorId, cd.vendorId);
  writer.startArray(Tag.productIds);
  for (const productId of cd.productIds) writer.uint(undefined, productId);
  writer.end();
  writer.uint(Tag.deviceTypeId, cd.deviceTypeId);
  writer.utf8(Tag.certificateId, cd.certificateId);
  writer.uint(Tag.securityLevel, cd.securityLevel);
  writer.uint(Tag.securityInformation, cd.securityInformation);
  writer.uint(Tag.versionNumber, cd.versionNumber);
  writer.uint(Tag.certificationType, cd.certificationType);
  if (cd.dacOriginVendorId !== undefined && cd.dacOriginProductId !== undefined) {
    writer.uint(Tag.dacOriginVendorId, cd.dacOriginVendorId);
    writer.uint(Tag.dacOriginProductId, cd.dacOriginProductId);
  }
  if (cd.authorizedPaaList) {
    writer.startArray(Tag.authorizedPaaList);
    for (const keyId of cd.authorizedPaaList) writer.bytes(undefined, keyId);
    writer.end();
  }
  writer.end();
  return writer.finish();
}

function anonymousMembers(element: TlvElement, what: string): TlvElement[] {
  return childrenOf(element).map((member) => {
    if (member.tag !== undefined) throw new CertificateError(`${what}: tagged member ${describeTag(member)}`);
    return member;
  });
}

/**
 * Decodes CD content strictly in tag order, as CHIP's DecodeCertificationElements does. Members
 * after tag 11 with higher context tags are ignored (room for later format versions).
 */
export function decodeCdContent(content: Uint8Array): CertificationDeclaration {
  return withContext("Certification Declaration content", () => {
    const root = decodeTlv(content, { maxDepth: 3, maxElements: 256 });
    if (root.type !== "structure" || root.tag !== undefined) throw new CertificateError("expected an anonymous structure");
    const fields = new OrderedFields(childrenOf(root), "certification elements");
    const cd: Record<string, unknown> = {};
    CD_FIELDS.forEach(([name, max], tag) => {
      const what = describe(name);
      if (name === "productIds") {
        cd[name] = anonymousMembers(fields.next(tag, "array"), what).map((element) => uintOf(element, max, "product id"));
      } else if (name === "certificateId") {
        cd[name] = fields.next(tag, "utf8").value;
      } else {
        // The DAC origin ids are optional, but only together: an orphan product id is caught below.
        if (tag === TAG_DAC_ORIGIN_PRODUCT_ID && cd.dacOriginVendorId === undefined) return;
        const element = tag === TAG_DAC_ORIGIN_VENDOR_ID ? fields.optional(tag, "uint") : fields.next(tag, "uint");
        if (element) cd[name] = uintOf(element, max, what);
      }
    });
    if (fields.peek()?.tag === TAG_DAC_ORIGIN_PRODUCT_ID) throw new CertificateError("DAC origin product id without a DAC origin vendor id");
    const paaList = fields.optional(TAG_AUTHORIZED_PAA_LIST, "array");
    if (paaList) cd.authorizedPaaList = anonymousMembers(paaList, "authorized PAA list").map((element) => bytesOf(element, "authorized PAA"));
    for (let next = fields.peek(); next; next = fields.peek()) {
      if (typeof next.tag !== "number" || next.tag <= TAG_AUTHORIZED_PAA_LIST) throw new CertificateError(`unexpected element ${describeTag(next)}`);
      fields.skip();
    }
    checkElements(cd as unknown as CertificationDeclaration);
    return cd as unknown as CertificationDeclaration;
  });
}

export interface SignedCdParts {
  /** The CD content (TLV) carried as eContent. */
  content: Uint8Array;
  /** Subject key identifier of the signing certificate. */
  signerKeyId: Uint8Array;
  /** Raw r||s. */
  signature: Uint8Array;
}

/** Wraps CD content in CMS SignedData, signed with the CD signing key. */
export function signCdContent(content: Uint8Array, signerKeyId: Uint8Array, signerPrivateKey: Uint8Array): Uint8Array {
  if (signerKeyId.length === 0) throw new CertificateError("signer key id is empty");
  const sha256Algorithm = derSequence(derOid(OID_SHA256));
  const signature = signatureToDer(ecdsaSign(signerPrivateKey, content));
  const signerInfo = derSequence(
    derInteger(3),
    derImplicit(0, signerKeyId, false),
    sha256Algorithm,
    derSequence(derOid(OID_ECDSA_WITH_SHA256)),
    derOctetString(signature),
  );
  const signedData = derSequence(
    derInteger(3),
    derSet(sha256Algorithm),
    derSequence(derOid(OID_PKCS7_DATA), derExplicit(0, derOctetString(content))),
    derSet(signerInfo),
  );
  return derSequence(derOid(OID_PKCS7_SIGNED_DATA), derExplicit(0, signedData));
}

export function signCertificationDeclaration(
  cd: CertificationDeclaration,
  signerKeyId: Uint8Array,
  signerPrivateKey: Uint8Array,
): Uint8Array {
  return signCdContent(encodeCdContent(cd), signerKeyId, signerPrivateKey);
}

/** The one element inside `node`, a `tag` element. */
function only(node: DerNode | undefined, tag: number, what: string): DerNode | undefined {
  const children = expectTag(node, tag, what).children;
  if (children.length !== 1) throw new CertificateError(`${what} holds ${children.length} elements, not 1`);
  return children[0];
}

function expectOid(node: DerNode | undefined, oid: string, what: string): void {
  const found = derReadOid(expectTag(node, DER_OID, what));
  if (found !== oid) throw new CertificateError(`${what} ${found} is not ${oid}`);
}

/** Version 3: the signer is identified by subject key identifier. */
function expectVersion3(node: DerNode | undefined, what: string): void {
  if (derReadInteger(expectTag(node, DER_INTEGER, what)) !== 3n) throw new CertificateError(`${what} must be 3`);
}

/** Takes a CMS-signed CD apart without checking the signature. */
export function parseSignedCd(cms: Uint8Array): SignedCdParts {
  return withContext("CMS Certification Declaration", () => {
    if (cms.length > MAX_CD_LENGTH) throw new CertificateError(`${cms.length} bytes is larger than ${MAX_CD_LENGTH}`);
    const [contentType, content, extra] = expectTag(decodeDer(cms), DER_SEQUENCE, "ContentInfo").children;
    if (extra) throw new CertificateError("ContentInfo: unexpected content");
    expectOid(contentType, OID_PKCS7_SIGNED_DATA, "content type");
    const members = expectTag(only(content, 0xa0, "content"), DER_SEQUENCE, "SignedData").children;
    expectVersion3(members[0], "SignedData version");
    readAlgorithm(only(members[1], DER_SET, "digestAlgorithms"), OID_SHA256, "digest algorithm");
    const [eContentType, eContent, extraContent] = expectTag(members[2], DER_SEQUENCE, "encapContentInfo").children;
    expectOid(eContentType, OID_PKCS7_DATA, "eContentType");
    if (extraContent) throw new CertificateError("encapContentInfo: unexpected content");
    const cdContent = expectTag(only(eContent, 0xa0, "eContent"), DER_OCTET_STRING, "eContent").contents;
    // certificates [0] and crls [1] may be present; a CD signer is looked up by key id instead.
    let index = 3;
    while (members[index]?.tag === 0xa0 || members[index]?.tag === 0xa1) index++;
    if (members.length !== index + 1) throw new CertificateError("SignedData must end with signerInfos");
    const [version, signerId, digestAlgorithm, signatureAlgorithm, signature, extraField] = expectTag(
      only(members[index], DER_SET, "signerInfos"),
      DER_SEQUENCE,
      "SignerInfo",
    ).children;
    expectVersion3(version, "SignerInfo version");
    const signerKeyId = expectTag(signerId, 0x80, "subjectKeyIdentifier signer id").contents;
    readAlgorithm(digestAlgorithm, OID_SHA256, "SignerInfo digest algorithm");
    if (signatureAlgorithm?.tag === 0xa0) throw new CertificateError("signed attributes are not allowed");
    readAlgorithm(signatureAlgorithm, OID_ECDSA_WITH_SHA256, "signature algorithm");
    if (extraField) throw new CertificateError("unsigned attributes are not allowed");
    return { content: cdContent, signerKeyId, signature: signatureFromDer(expectTag(signature, DER_OCTET_STRING, "signature").contents) };
  });
}

export interface VerifiedCertificationDeclaration {
  declaration: CertificationDeclaration;
  content: Uint8Array;
  signerKeyId: Uint8Array;
}

/** Verifies a CMS-signed CD with the CD signing public key and decodes its content. */
export function verifyCertificationDeclaration(cms: Uint8Array, signerPublicKey: Uint8Array): VerifiedCertificationDeclaration {
  const parts = parseSignedCd(cms);
  if (!ecdsaVerify(signerPublicKey, parts.content, parts.signature)) {
    throw new CertificateError("CD signature does not verify");
  }
  return { declaration: decodeCdContent(parts.content), content: parts.content, signerKeyId: parts.signerKeyId };
}
