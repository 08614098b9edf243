// PKCS#10 certificate signing requests (RFC 2986) for a node's operational key, as the device
// returns them in CSRResponse (spec 11.18.6.5), and the NOCSR elements structure that carries them.
import {
  decodeDer,
  DER_INTEGER,
  DER_SEQUENCE,
  DER_UTF8_STRING,
  derBitString,
  derImplicit,
  derInteger,
  derOid,
  derReadInteger,
  derSequence,
} from "../codec/der";
import { TlvWriter, TlvStruct } from "../codec/tlv";
import { ecdsaSign, ecdsaVerify, publicKeyFromPrivate, signatureToDer } from "../crypto";
import { CertificateError } from "./errors";
import { OID_ECDSA_WITH_SHA256, OID_ORGANIZATION_NAME } from "./oids";
import {
  encodeName,
  encodeSubjectPublicKeyInfo,
  parseName,
  parseSubjectPublicKeyInfo,
  expectTag,
  readAlgorithm,
  readSignatureBitString,
  withContext,
  type Name,
} from "./x509";

/** The subject CHIP puts in operational CSRs; the spec leaves it open and parsers want one. */
export const CSR_SUBJECT: Name = [{ oid: OID_ORGANIZATION_NAME, value: "CSR", stringTag: DER_UTF8_STRING }];
export const MAX_CSR_LENGTH = 1024;

/** Builds a DER CSR for the key pair, signed with its private key (ECDSA with SHA-256). */
export function buildCsr(privateKey: Uint8Array, subject: Name = CSR_SUBJECT): Uint8Array {
  const publicKey = publicKeyFromPrivate(privateKey);
  const info = derSequence(
    derInteger(0),
    encodeName(subject),
    encodeSubjectPublicKeyInfo(publicKey),
    derImplicit(0, new Uint8Array(0), true), // attributes: none
  );
  const signature = ecdsaSign(privateKey, info);
  return derSequence(info, derSequence(derOid(OID_ECDSA_WITH_SHA256)), derBitString(signatureToDer(signature), 0));
}

export interface CertificateSigningRequest {
  /** The certificationRequestInfo bytes the signature covers. */
  info: Uint8Array;
  subject: Name;
  publicKey: Uint8Array;
  signature: Uint8Array;
}

export function parseCsr(der: Uint8Array): CertificateSigningRequest {
  return withContext("CSR", () => {
    if (der.length > MAX_CSR_LENGTH) throw new CertificateError(`${der.length} bytes is larger than ${MAX_CSR_LENGTH}`);
    const root = expectTag(decodeDer(der), DER_SEQUENCE, "CertificationRequest");
    if (root.children.length !== 3) throw new CertificateError("expected info, signature algorithm and signature");
    const info = expectTag(root.children[0], DER_SEQUENCE, "certificationRequestInfo");
    readAlgorithm(root.children[1], OID_ECDSA_WITH_SHA256, "signature algorithm");
    const signature = readSignatureBitString(root.children[2]);
    if (info.children.length !== 4) throw new CertificateError("certificationRequestInfo must have version, subject, key and attributes");
    if (derReadInteger(expectTag(info.children[0], DER_INTEGER, "version")) !== 0n) throw new CertificateError("version must be 0");
    const subject = parseName(info.children[1], "subject");
    const publicKey = parseSubjectPublicKeyInfo(info.children[2]);
    expectTag(info.children[3], 0xa0, "attributes");
    return { info: info.raw, subject, publicKey, signature };
  });
}

/** Parses a CSR and checks its self-signature; returns the public key it requests a certificate for. */
export function verifyCsr(der: Uint8Array): Uint8Array {
  const csr = parseCsr(der);
  if (!ecdsaVerify(csr.publicKey, csr.info, csr.signature)) throw new CertificateError("CSR signature does not verify");
  return csr.publicKey;
}

/** NOCSRElements (spec 11.18.5.6): the CSR with the commissioner's nonce, signed by the DAC key. */
export interface NocsrElements {
  csr: Uint8Array;
  csrNonce: Uint8Array;
}

export function encodeNocsrElements(elements: NocsrElements): Uint8Array {
  if (elements.csrNonce.length !== 32) throw new CertificateError("CSR nonce must be 32 bytes");
  const writer = new TlvWriter();
  writer.startStructure(undefined);
  writer.bytes(1, elements.csr);
  writer.bytes(2, elements.csrNonce);
  writer.end();
  return writer.finish();
}

export function decodeNocsrElements(bytes: Uint8Array): NocsrElements {
  return withContext("NOCSR elements", () => {
    const fields = TlvStruct.decode(bytes);
    return { csr: fields.bytes(1, { max: MAX_CSR_LENGTH }), csrNonce: fields.bytes(2, 32) };
  });
}
