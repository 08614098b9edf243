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

/** Indexed by TLV tag number; entry 0 is unused. */
export const DN_ATTRIBUTE_TYPES: readonly (DnAttributeType | undefined)[] = [
  undefined,
  { tag: 1, name: "common-name", oid: "2.5.4.3", kind: "string" },
  { tag: 2, name: "surname", oid: "2.5.4.4", kind: "string" },
  { tag: 3, name: "serial-num", oid: "2.5.4.5", kind: "string" },
  { tag: 4, name: "country-name", oid: "2.5.4.6", kind: "string" },
  { tag: 5, name: "locality-name", oid: "2.5.4.7", kind: "string" },
  { tag: 6, name: "state-or-province-name", oid: "2.5.4.8", kind: "string" },
  { tag: 7, name: "org-name", oid: "2.5.4.10", kind: "string" },
  { tag: 8, name: "org-unit-name", oid: "2.5.4.11", kind: "string" },
  { tag: 9, name: "title", oid: "2.5.4.12", kind: "string" },
  { tag: 10, name: "name", oid: "2.5.4.41", kind: "string" },
  { tag: 11, name: "given-name", oid: "2.5.4.42", kind: "string" },
  { tag: 12, name: "initials", oid: "2.5.4.43", kind: "string" },
  { tag: 13, name: "gen-qualifier", oid: "2.5.4.44", kind: "string" },
  { tag: 14, name: "dn-qualifier", oid: "2.5.4.46", kind: "string" },
  { tag: 15, name: "pseudonym", oid: "2.5.4.65", kind: "string" },
  { tag: 16, name: "domain-component", oid: "0.9.2342.19200300.100.1.25", kind: "string" },
  { tag: 17, name: "matter-node-id", oid: "1.3.6.1.4.1.37244.1.1", kind: "id64" },
  { tag: 18, name: "matter-firmware-signing-id", oid: "1.3.6.1.4.1.37244.1.2", kind: "id64" },
  { tag: 19, name: "matter-icac-id", oid: "1.3.6.1.4.1.37244.1.3", kind: "id64" },
  { tag: 20, name: "matter-rcac-id", oid: "1.3.6.1.4.1.37244.1.4", kind: "id64" },
  { tag: 21, name: "matter-fabric-id", oid: "1.3.6.1.4.1.37244.1.5", kind: "id64" },
  { tag: 22, name: "matter-noc-cat", oid: "1.3.6.1.4.1.37244.1.6", kind: "id32" },
  { tag: 23, name: "matter-vvs-id", oid: "1.3.6.1.4.1.37244.1.7", kind: "id64" },
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
