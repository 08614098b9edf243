// Object identifiers used by Matter certificates, CSRs and Certification Declarations, and the
// table that ties Matter TLV distinguished-name tags to X.509 attribute types (Matter spec 6.5.6,
// the same numbering CHIP's ASN.1 OID table uses).

export const Oid = {
  ecPublicKey: "1.2.840.10045.2.1",
  prime256v1: "1.2.840.10045.3.1.7",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  sha256: "2.16.840.1.101.3.4.2.1",

  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extendedKeyUsage: "2.5.29.37",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",

  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  emailProtection: "1.3.6.1.5.5.7.3.4",
  timeStamping: "1.3.6.1.5.5.7.3.8",
  ocspSigning: "1.3.6.1.5.5.7.3.9",

  commonName: "2.5.4.3",
  organizationName: "2.5.4.10",

  /** Attestation certificate subject attributes (spec 6.2.2.2). */
  matterVendorId: "1.3.6.1.4.1.37244.2.1",
  matterProductId: "1.3.6.1.4.1.37244.2.2",

  pkcs7Data: "1.2.840.113549.1.7.1",
  pkcs7SignedData: "1.2.840.113549.1.7.2",
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
  Oid.serverAuth,
  Oid.clientAuth,
  Oid.codeSigning,
  Oid.emailProtection,
  Oid.timeStamping,
  Oid.ocspSigning,
];

/** Key usage flags as Matter TLV carries them: bit n is X.509 KeyUsage named bit n. */
export const KeyUsage = {
  digitalSignature: 0x0001,
  nonRepudiation: 0x0002,
  keyEncipherment: 0x0004,
  dataEncipherment: 0x0008,
  keyAgreement: 0x0010,
  keyCertSign: 0x0020,
  crlSign: 0x0040,
  encipherOnly: 0x0080,
  decipherOnly: 0x0100,
} as const;

export const KEY_USAGE_ALL = 0x01ff;
