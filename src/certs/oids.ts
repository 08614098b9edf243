// Object identifiers used by Matter certificates, CSRs and Certification Declarations, and the
// table that ties Matter TLV distinguished-name tags to X.509 attribute types (Matter spec 6.5.6,
// the same numbering CHIP's ASN.1 OID table uses).

// One constant per OID (they minify to short names), and all of them together as `Oid`.
export const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";
export const OID_PRIME256V1 = "1.2.840.10045.3.1.7";
export const OID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
export const OID_SHA256 = "2.16.840.1.101.3.4.2.1";

export const OID_BASIC_CONSTRAINTS = "2.5.29.19";
export const OID_KEY_USAGE = "2.5.29.15";
export const OID_EXTENDED_KEY_USAGE = "2.5.29.37";
export const OID_SUBJECT_KEY_IDENTIFIER = "2.5.29.14";
export const OID_AUTHORITY_KEY_IDENTIFIER = "2.5.29.35";

export const OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
export const OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
export const OID_CODE_SIGNING = "1.3.6.1.5.5.7.3.3";
export const OID_EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4";
export const OID_TIME_STAMPING = "1.3.6.1.5.5.7.3.8";
export const OID_OCSP_SIGNING = "1.3.6.1.5.5.7.3.9";

export const OID_COMMON_NAME = "2.5.4.3";
export const OID_ORGANIZATION_NAME = "2.5.4.10";

/** Attestation certificate subject attributes (spec 6.2.2.2). */
export const OID_MATTER_VENDOR_ID = "1.3.6.1.4.1.37244.2.1";
export const OID_MATTER_PRODUCT_ID = "1.3.6.1.4.1.37244.2.2";

export const OID_PKCS7_DATA = "1.2.840.113549.1.7.1";
export const OID_PKCS7_SIGNED_DATA = "1.2.840.113549.1.7.2";

export const Oid = {
  ecPublicKey: OID_EC_PUBLIC_KEY,
  prime256v1: OID_PRIME256V1,
  ecdsaWithSha256: OID_ECDSA_WITH_SHA256,
  sha256: OID_SHA256,
  basicConstraints: OID_BASIC_CONSTRAINTS,
  keyUsage: OID_KEY_USAGE,
  extendedKeyUsage: OID_EXTENDED_KEY_USAGE,
  subjectKeyIdentifier: OID_SUBJECT_KEY_IDENTIFIER,
  authorityKeyIdentifier: OID_AUTHORITY_KEY_IDENTIFIER,
  serverAuth: OID_SERVER_AUTH,
  clientAuth: OID_CLIENT_AUTH,
  codeSigning: OID_CODE_SIGNING,
  emailProtection: OID_EMAIL_PROTECTION,
  timeStamping: OID_TIME_STAMPING,
  ocspSigning: OID_OCSP_SIGNING,
  commonName: OID_COMMON_NAME,
  organizationName: OID_ORGANIZATION_NAME,
  matterVendorId: OID_MATTER_VENDOR_ID,
  matterProductId: OID_MATTER_PRODUCT_ID,
  pkcs7Data: OID_PKCS7_DATA,
  pkcs7SignedData: OID_PKCS7_SIGNED_DATA,
} as const;

/** How a distinguished-name attribute's value is carried in Matter TLV. */
export type DnValueKind = "string" | "id64" | "id32";

export interface DnAttributeType {
  /** Matter TLV tag number (without the 0x80 PrintableString flag). */
  tag: number;
  name: string;
  oid: string;
  kind: DnValueKind;
}

/** Names of the attribute types by TLV tag number, from 1. */
const DN_ATTRIBUTE_NAMES =
  "common-name surname serial-num country-name locality-name state-or-province-name org-name org-unit-name title name given-name initials gen-qualifier dn-qualifier pseudonym domain-component matter-node-id matter-firmware-signing-id matter-icac-id matter-rcac-id matter-fabric-id matter-noc-cat matter-vvs-id".split(" ");
/** Last arcs of the X.520 attribute types (2.5.4.n) of tags 1 to 15. */
const X520_ARCS = [3, 4, 5, 6, 7, 8, 10, 11, 12, 41, 42, 43, 44, 46, 65];

/**
 * Indexed by TLV tag number; entry 0 is unused. Tags 1-15 are X.520 attributes, 16 is
 * domain-component, 17-23 the Matter identifiers 1.3.6.1.4.1.37244.1.1-7 (the CASE Authenticated
 * Tag, 22, is 32 bits; the others 64).
 */
export const DN_ATTRIBUTE_TYPES: readonly (DnAttributeType | undefined)[] = [
  undefined,
  ...DN_ATTRIBUTE_NAMES.map((name, index): DnAttributeType => {
    const tag = index + 1;
    const oid = tag < 16 ? `2.5.4.${X520_ARCS[index]}` : tag === 16 ? "0.9.2342.19200300.100.1.25" : `1.3.6.1.4.1.37244.1.${tag - 16}`;
    return { tag, name, oid, kind: tag < 17 ? "string" : tag === 22 ? "id32" : "id64" };
  }),
];

export function dnAttributeTypeByOid(oid: string): DnAttributeType | undefined {
  for (const type of DN_ATTRIBUTE_TYPES) if (type && type.oid === oid) return type;
  return undefined;
}

/** Matter TLV extended-key-usage values (index) → key purpose OIDs. */
export const KEY_PURPOSE_OIDS: readonly (string | undefined)[] = [
  undefined,
  OID_SERVER_AUTH,
  OID_CLIENT_AUTH,
  OID_CODE_SIGNING,
  OID_EMAIL_PROTECTION,
  OID_TIME_STAMPING,
  OID_OCSP_SIGNING,
];

/** Key usage flags as Matter TLV carries them: bit n is X.509 KeyUsage named bit n. */
export const KEY_USAGE_DIGITAL_SIGNATURE = 0x0001;
export const KEY_USAGE_KEY_CERT_SIGN = 0x0020;
export const KEY_USAGE_CRL_SIGN = 0x0040;

export const KeyUsage = {
  digitalSignature: KEY_USAGE_DIGITAL_SIGNATURE,
  nonRepudiation: 0x0002,
  keyEncipherment: 0x0004,
  dataEncipherment: 0x0008,
  keyAgreement: 0x0010,
  keyCertSign: KEY_USAGE_KEY_CERT_SIGN,
  crlSign: KEY_USAGE_CRL_SIGN,
  encipherOnly: 0x0080,
  decipherOnly: 0x0100,
} as const;

export const KEY_USAGE_ALL = 0x01ff;
