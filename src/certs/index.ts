// The certificate layer: Matter operational certificates (TLV <-> X.509, chain validation),
// attestation certificates (PAA/PAI/DAC), PKCS#10 CSRs and Certification Declarations.
export { CertificateError } from "./errors";
export { Oid, KeyUsage, DN_ATTRIBUTE_TYPES, KEY_PURPOSE_OIDS } from "./oids";
export * from "./x509";
export * from "./opcert";
export * from "./chain";
export * from "./attestation";
export * from "./csr";
export * from "./cd";
