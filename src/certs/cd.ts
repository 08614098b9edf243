// Certification Declarations (spec 6.3): the TLV statement of what was certified (vendor, product
// ids, device type, certificate id, ...) wrapped in a CMS SignedData (RFC 5652) signed by a CSA
// CD signing key: version 3, SHA-256, content type id-data, the signer named by subject key
// identifier, ECDSA over the content itself (no signed attributes) and no certificates.
import {
  Der,
  decodeDer,
  derExplicit,
  derImplicit,
  derInteger,
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
import { Oid } from "./oids";
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
  dacOriginVendorId: 9,
  dacOriginProductId: 10,
  authorizedPaaList: 11,
} as const;

export const MAX_PRODUCT_IDS = 100;
export const MAX_AUTHORIZED_PAAS = 10;
export const CERTIFICATE_ID_LENGTH = 19;
/** Upper bound on a CMS-signed CD (CHIP's kMaxCMSSignedCDMessage is below this). */
export const MAX_CD_LENGTH = 1024;

function checkElements(cd: CertificationDeclaration): void {
  const range = (value: number, max: number, what: string) => {
    if (!Number.isInteger(value) || value < 0 || value > max) throw new CertificateError(`${what} ${value} is out of range`);
  };
  range(cd.formatVersion, 0xffff, "format version");
  range(cd.vendorId, 0xffff, "vendor id");
  if (cd.productIds.length < 1 || cd.productIds.length > MAX_PRODUCT_IDS) {
    throw new CertificateError(`a CD lists 1 to ${MAX_PRODUCT_IDS} product ids, got ${cd.productIds.length}`);
  }
  for (const productId of cd.productIds) range(productId, 0xffff, "product id");
  range(cd.deviceTypeId, 0xffffffff, "device type id");
  if (cd.certificateId.length !== CERTIFICATE_ID_LENGTH) {
    throw new CertificateError(`certificate id must be ${CERTIFICATE_ID_LENGTH} characters, got ${cd.certificateId.length}`);
  }
  range(cd.securityLevel, 0xff, "security level");
  range(cd.securityInformation, 0xffff, "security information");
  range(cd.versionNumber, 0xffff, "version number");
  range(cd.certificationType, 0xff, "certification type");
  if ((cd.dacOriginVendorId === undefined) !== (cd.dacOriginProductId === undefined)) {
    throw new CertificateError("DAC origin vendor id and product id come together");
  }
  if (cd.dacOriginVendorId !== undefined) range(cd.dacOriginVendorId, 0xffff, "DAC origin vendor id");
  if (cd.dacOriginProductId !== undefined) range(cd.dacOriginProductId, 0xffff, "DAC origin product id");
  if (cd.authorizedPaaList) {
    if (cd.authorizedPaaList.length < 1 || cd.authorizedPaaList.length > MAX_AUTHORIZED_PAAS) {
      throw new CertificateError(`the authorized PAA list holds 1 to ${MAX_AUTHORIZED_PAAS} key ids`);
    }
    for (const keyId of cd.authorizedPaaList) {
      if (keyId.length !== 20) throw new CertificateError("authorized PAA key ids are 20 bytes");
    }
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
    if (member.tag !== undefined) throw new CertificateError(`${what}: members must be anonymous, found ${describeTag(member)}`);
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
    const cd: CertificationDeclaration = {
      formatVersion: uintOf(fields.next(Tag.formatVersion, "uint"), 0xffff, "format version"),
      vendorId: uintOf(fields.next(Tag.vendorId, "uint"), 0xffff, "vendor id"),
      productIds: anonymousMembers(fields.next(Tag.productIds, "array"), "product ids").map((element) =>
        uintOf(element, 0xffff, "product id"),
      ),
      deviceTypeId: uintOf(fields.next(Tag.deviceTypeId, "uint"), 0xffffffff, "device type id"),
      certificateId: fields.next(Tag.certificateId, "utf8").value as string,
      securityLevel: uintOf(fields.next(Tag.securityLevel, "uint"), 0xff, "security level"),
      securityInformation: uintOf(fields.next(Tag.securityInformation, "uint"), 0xffff, "security information"),
      versionNumber: uintOf(fields.next(Tag.versionNumber, "uint"), 0xffff, "version number"),
      certificationType: uintOf(fields.next(Tag.certificationType, "uint"), 0xff, "certification type"),
    };
    const originVendor = fields.optional(Tag.dacOriginVendorId, "uint");
    if (originVendor) {
      cd.dacOriginVendorId = uintOf(originVendor, 0xffff, "DAC origin vendor id");
      cd.dacOriginProductId = uintOf(fields.next(Tag.dacOriginProductId, "uint"), 0xffff, "DAC origin product id");
    } else if (fields.peek()?.tag === Tag.dacOriginProductId) {
      throw new CertificateError("DAC origin product id without a DAC origin vendor id");
    }
    const paaList = fields.optional(Tag.authorizedPaaList, "array");
    if (paaList) {
      cd.authorizedPaaList = anonymousMembers(paaList, "authorized PAA list").map((element) => {
        if (element.type !== "bytes") throw new CertificateError("authorized PAA list members are octet strings");
        return bytesOf(element);
      });
    }
    for (let next = fields.peek(); next; next = fields.peek()) {
      if (typeof next.tag !== "number" || next.tag <= Tag.authorizedPaaList) {
        throw new CertificateError(`unexpected element ${describeTag(next)}`);
      }
      fields.skip();
    }
    checkElements(cd);
    return cd;
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
  const sha256Algorithm = derSequence(derOid(Oid.sha256));
  const signature = signatureToDer(ecdsaSign(signerPrivateKey, content));
  const signerInfo = derSequence(
    derInteger(3),
    derImplicit(0, signerKeyId, false),
    sha256Algorithm,
    derSequence(derOid(Oid.ecdsaWithSha256)),
    derOctetString(signature),
  );
  const signedData = derSequence(
    derInteger(3),
    derSet(sha256Algorithm),
    derSequence(derOid(Oid.pkcs7Data), derExplicit(0, derOctetString(content))),
    derSet(signerInfo),
  );
  return derSequence(derOid(Oid.pkcs7SignedData), derExplicit(0, signedData));
}

export function signCertificationDeclaration(
  cd: CertificationDeclaration,
  signerKeyId: Uint8Array,
  signerPrivateKey: Uint8Array,
): Uint8Array {
  return signCdContent(encodeCdContent(cd), signerKeyId, signerPrivateKey);
}

/** Takes a CMS-signed CD apart without checking the signature. */
export function parseSignedCd(cms: Uint8Array): SignedCdParts {
  return withContext("CMS Certification Declaration", () => {
    if (cms.length > MAX_CD_LENGTH) throw new CertificateError(`${cms.length} bytes is larger than ${MAX_CD_LENGTH}`);
    const contentInfo = expectTag(decodeDer(cms), Der.SEQUENCE, "ContentInfo");
    if (contentInfo.children.length !== 2) throw new CertificateError("ContentInfo must have a type and content");
    const contentType = derReadOid(expectTag(contentInfo.children[0], Der.OID, "content type"));
    if (contentType !== Oid.pkcs7SignedData) throw new CertificateError(`content type ${contentType} is not signedData`);
    const explicit = expectTag(contentInfo.children[1], 0xa0, "content");
    if (explicit.children.length !== 1) throw new CertificateError("content must hold one SignedData");
    const signedData = expectTag(explicit.children[0], Der.SEQUENCE, "SignedData");
    const members = signedData.children;
    if (derReadInteger(expectTag(members[0], Der.INTEGER, "SignedData version")) !== 3n) {
      throw new CertificateError("SignedData version must be 3 (signer identified by key id)");
    }
    const digestAlgorithms = expectTag(members[1], Der.SET, "digestAlgorithms");
    if (digestAlgorithms.children.length !== 1) throw new CertificateError("expected exactly one digest algorithm");
    readAlgorithm(digestAlgorithms.children[0], Oid.sha256, "digest algorithm");
    const encapsulated = expectTag(members[2], Der.SEQUENCE, "encapContentInfo");
    const eContentType = derReadOid(expectTag(encapsulated.children[0], Der.OID, "eContentType"));
    if (eContentType !== Oid.pkcs7Data) throw new CertificateError(`eContentType ${eContentType} is not id-data`);
    const eContentWrapper = expectTag(encapsulated.children[1], 0xa0, "eContent");
    if (encapsulated.children.length !== 2 || eContentWrapper.children.length !== 1) {
      throw new CertificateError("encapContentInfo must carry the content");
    }
    const content = expectTag(eContentWrapper.children[0], Der.OCTET_STRING, "eContent").contents;
    // certificates [0] and crls [1] may be present; a CD signer is looked up by key id instead.
    let index = 3;
    while (members[index] && (members[index]!.tag === 0xa0 || members[index]!.tag === 0xa1)) index++;
    const signerInfos = expectTag(members[index], Der.SET, "signerInfos");
    if (members.length !== index + 1) throw new CertificateError("unexpected content after signerInfos");
    if (signerInfos.children.length !== 1) throw new CertificateError(`expected one signer, found ${signerInfos.children.length}`);
    const signerInfo = expectTag(signerInfos.children[0], Der.SEQUENCE, "SignerInfo");
    const fields = signerInfo.children;
    if (derReadInteger(expectTag(fields[0], Der.INTEGER, "SignerInfo version")) !== 3n) {
      throw new CertificateError("SignerInfo version must be 3");
    }
    const signerKeyId = expectTag(fields[1], 0x80, "subjectKeyIdentifier signer id").contents;
    readAlgorithm(fields[2], Oid.sha256, "SignerInfo digest algorithm");
    if (fields[3]?.tag === 0xa0) throw new CertificateError("signed attributes are not used in Certification Declarations");
    readAlgorithm(fields[3], Oid.ecdsaWithSha256, "signature algorithm");
    const signature = signatureFromDer(expectTag(fields[4], Der.OCTET_STRING, "signature").contents);
    if (fields.length !== 5) throw new CertificateError("unexpected content in SignerInfo (unsigned attributes are not used)");
    return { content, signerKeyId, signature };
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
    throw new CertificateError("Certification Declaration signature does not verify with the CD signing key");
  }
  return { declaration: decodeCdContent(parts.content), content: parts.content, signerKeyId: parts.signerKeyId };
}
