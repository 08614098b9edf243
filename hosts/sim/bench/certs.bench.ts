// Rows for device identity: what the boot-time factory check costs, and the certificate work a
// node does when it is given a NOC chain (AddNOC) or validates a peer's in CASE.
import {
  encodeMatterCertificate,
  DnTag,
  issueAttestationCertificate,
  issueMatterCertificate,
  KeyUsage,
  matterCertificateToX509,
  NO_EXPIRATION_UNIX,
  parseX509,
  signCertificationDeclaration,
  validateAttestationChain,
  validateOperationalChain,
  type DnEntry,
} from "../../../src/certs";
import { decodeFactoryImage, encodeFactoryImage } from "../../../src/factory";
import { publicKeyFromPrivate, sha256 } from "../../../src/crypto";
import type { BenchOperation } from "./runner";

const key = (label: string) => sha256(new TextEncoder().encode(`matter-xs bench key ${label}`));
const JAN_2024 = 1704067200;

function attestationChain() {
  const paaKey = key("paa");
  const paiKey = key("pai");
  const dacKey = key("dac");
  const common = { notBefore: JAN_2024, notAfter: NO_EXPIRATION_UNIX };
  const paa = issueAttestationCertificate({ ...common, kind: "paa", commonName: "PAA", vendorId: 0xfff1, serialNumber: new Uint8Array([1]), publicKey: publicKeyFromPrivate(paaKey) }, paaKey);
  const pai = issueAttestationCertificate({ ...common, kind: "pai", commonName: "PAI", vendorId: 0xfff1, serialNumber: new Uint8Array([2]), publicKey: publicKeyFromPrivate(paiKey), issuer: parseX509(paa) }, paaKey);
  const dac = issueAttestationCertificate(
    { ...common, kind: "dac", commonName: "DAC", vendorId: 0xfff1, productId: 0x8000, serialNumber: new Uint8Array([3]), publicKey: publicKeyFromPrivate(dacKey), issuer: parseX509(pai) },
    paiKey,
  );
  return { paa, pai, dac, dacKey };
}

function operationalChain() {
  const rootKey = key("root");
  const icaKey = key("ica");
  const rcacSubject: DnEntry[] = [{ tag: DnTag.rcacId, value: 1n }];
  const icacSubject: DnEntry[] = [{ tag: DnTag.icacId, value: 2n }];
  const common = { notBefore: JAN_2024, notAfter: NO_EXPIRATION_UNIX, keyUsage: KeyUsage.keyCertSign | KeyUsage.crlSign, ca: true };
  const rcac = issueMatterCertificate({ ...common, serialNumber: new Uint8Array([1]), issuer: rcacSubject, subject: rcacSubject, publicKey: publicKeyFromPrivate(rootKey), issuerPublicKey: publicKeyFromPrivate(rootKey) }, rootKey);
  const icac = issueMatterCertificate({ ...common, serialNumber: new Uint8Array([2]), issuer: rcacSubject, subject: icacSubject, publicKey: publicKeyFromPrivate(icaKey), issuerPublicKey: publicKeyFromPrivate(rootKey) }, rootKey);
  const noc = issueMatterCertificate(
    {
      ...common,
      ca: false,
      keyUsage: KeyUsage.digitalSignature,
      extendedKeyUsage: [1, 2],
      serialNumber: new Uint8Array([3]),
      issuer: icacSubject,
      subject: [{ tag: DnTag.nodeId, value: 0x1234n }, { tag: DnTag.fabricId, value: 1n }, { tag: DnTag.caseAuthenticatedTag, value: 0x00010001n }],
      publicKey: publicKeyFromPrivate(key("node")),
      issuerPublicKey: publicKeyFromPrivate(icaKey),
    },
    icaKey,
  );
  return { rcac: encodeMatterCertificate(rcac), icac: encodeMatterCertificate(icac), noc: encodeMatterCertificate(noc) };
}

const operations: BenchOperation[] = [
  {
    name: "factory partition read and check (boot)",
    prepare() {
      const { pai, dac, dacKey } = attestationChain();
      const cdKey = key("cd");
      const cd = signCertificationDeclaration(
        { formatVersion: 1, vendorId: 0xfff1, productIds: [0x8000], deviceTypeId: 0x0100, certificateId: "CSA00000SWC00000-01", securityLevel: 0, securityInformation: 0, versionNumber: 1, certificationType: 0 },
        new Uint8Array(20).fill(7),
        cdKey,
      );
      const image = encodeFactoryImage({
        vendorId: 0xfff1,
        productId: 0x8000,
        vendorName: "bench",
        productName: "bench",
        hardwareVersion: 1,
        hardwareVersionString: "1",
        serialNumber: "BENCH",
        discriminator: 3840,
        pbkdfIterations: 1000,
        pbkdfSalt: new Uint8Array(32).fill(1),
        // Any valid scalar and point: the boot check does not derive them from a passcode.
        spake2pW0: key("w0"),
        spake2pL: publicKeyFromPrivate(key("w1")),
        rotatingDeviceIdUniqueId: new Uint8Array(16).fill(2),
        dacCertificate: dac,
        dacPrivateKey: dacKey,
        paiCertificate: pai,
        certificationDeclaration: cd,
        firmwareSigningKey: publicKeyFromPrivate(key("firmware")),
      });
      return () => void decodeFactoryImage(image);
    },
  },
  {
    name: "attestation chain PAA->PAI->DAC validation",
    prepare() {
      const chain = attestationChain();
      return () => void validateAttestationChain(chain);
    },
  },
  {
    name: "operational chain RCAC->ICAC->NOC validation",
    prepare() {
      const chain = operationalChain();
      return () => void validateOperationalChain(chain);
    },
  },
  {
    name: "Matter TLV NOC -> X.509 DER",
    prepare() {
      const { noc } = operationalChain();
      return () => void matterCertificateToX509(noc);
    },
  },
];

export default operations;
