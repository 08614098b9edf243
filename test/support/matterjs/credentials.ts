// Attestation material for the harness: the shared Matter test PKI from the conformance vectors
// (PAA FFF1 -> PAI FFF1/8000 -> DAC FFF1/8000, the CHIP example Certification Declaration and its
// signing certificate), and look-alikes that differ in exactly one respect, for proving that the
// controller refuses them: a chain under a PAA of its own, and the same CD signed by an unknown key.
import { createECDH, randomBytes } from "node:crypto";
import { issueAttestationCertificate, keyIdentifier, NO_EXPIRATION_UNIX, parseX509, signCdContent } from "../../../src/certs";
import { vectorPath } from "../../portable/vectors";
import { readFileSync } from "node:fs";

/** What a device presents during attestation. */
export interface DeviceAttestationCredentials {
  dac: Uint8Array;
  /** Raw P-256 scalar, 32 bytes. */
  dacPrivateKey: Uint8Array;
  pai: Uint8Array;
  certificationDeclaration: Uint8Array;
}

/** What a controller trusts: PAA certificates and CD signing certificates, DER. */
export interface AttestationTrust {
  paaCerts: Uint8Array[];
  cdSigningCerts: Uint8Array[];
}

export const TEST_VENDOR_ID = 0xfff1;
export const TEST_PRODUCT_ID = 0x8000;

function vectorBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(vectorPath(path)));
}

function hex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "hex"));
}

/** The chain's raw private keys as the vectors list them. */
function chainVector(): { DAC: { private_key_hex: string } } {
  return JSON.parse(readFileSync(vectorPath("attestation/attestation_chain_fff1_8000.json"), "utf8"));
}

/** The CHIP example CD content (VID FFF1, PIDs 0x8000..0x8063, device type 0x16, certification type 0). */
function exampleCdContent(): Uint8Array {
  const vectors = JSON.parse(readFileSync(vectorPath("certification_declaration/cd_vectors.json"), "utf8")) as {
    test_cases: { name: string; cd_content_hex: string }[];
  };
  const example = vectors.test_cases.find((entry) => entry.name.startsWith("kCdForAllExamples"));
  if (!example) throw new Error("cd_vectors.json has no kCdForAllExamples case");
  return hex(example.cd_content_hex);
}

/** The shared test DAC, PAI and CD, as the XS device is provisioned with them too. */
export function sharedTestCredentials(): DeviceAttestationCredentials {
  return {
    dac: vectorBytes("attestation/Chip-Test-DAC-FFF1-8000-0000-Cert.der"),
    dacPrivateKey: hex(chainVector().DAC.private_key_hex),
    pai: vectorBytes("attestation/Chip-Test-PAI-FFF1-8000-Cert.der"),
    certificationDeclaration: vectorBytes("certification_declaration/cd_example_fff1_8000-8063_cms.der"),
  };
}

/** The trust that accepts sharedTestCredentials(): the test PAA FFF1 and the test CD signer. */
export function sharedTestTrust(): AttestationTrust {
  return {
    paaCerts: [vectorBytes("attestation/Chip-Test-PAA-FFF1-Cert.der")],
    cdSigningCerts: [vectorBytes("certification_declaration/Chip-Test-CD-Signing-Cert.der")],
  };
}

function newKeyPair(): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  return { privateKey: new Uint8Array(ecdh.getPrivateKey()), publicKey: new Uint8Array(ecdh.getPublicKey()) };
}

function serial(): Uint8Array {
  const bytes = randomBytes(8);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive and without a leading zero
  return new Uint8Array(bytes);
}

/**
 * A PAA -> PAI -> DAC chain of the same shape, VID and PID as the shared one, under a PAA of its
 * own, presented with the shared (valid) CD. A controller that trusts only the shared PAA must
 * refuse it, and nothing else about it is wrong: a controller that trusts `paa` accepts it.
 */
export function foreignPaaChain(): { paa: Uint8Array; credentials: DeviceAttestationCredentials } {
  const notBefore = Math.floor(Date.now() / 1000) - 3600;
  const paaKeys = newKeyPair();
  const paa = issueAttestationCertificate(
    { kind: "paa", commonName: "matter-xs Foreign PAA", vendorId: TEST_VENDOR_ID, serialNumber: serial(), notBefore, notAfter: NO_EXPIRATION_UNIX, publicKey: paaKeys.publicKey },
    paaKeys.privateKey,
  );
  const paiKeys = newKeyPair();
  const pai = issueAttestationCertificate(
    {
      kind: "pai",
      commonName: "matter-xs Foreign PAI",
      vendorId: TEST_VENDOR_ID,
      productId: TEST_PRODUCT_ID,
      serialNumber: serial(),
      notBefore,
      notAfter: NO_EXPIRATION_UNIX,
      publicKey: paiKeys.publicKey,
      issuer: parseX509(paa),
    },
    paaKeys.privateKey,
  );
  const dacKeys = newKeyPair();
  const dac = issueAttestationCertificate(
    {
      kind: "dac",
      commonName: "matter-xs Foreign DAC",
      vendorId: TEST_VENDOR_ID,
      productId: TEST_PRODUCT_ID,
      serialNumber: serial(),
      notBefore,
      notAfter: NO_EXPIRATION_UNIX,
      publicKey: dacKeys.publicKey,
      issuer: parseX509(pai),
    },
    paiKeys.privateKey,
  );
  return { paa, credentials: { dac, dacPrivateKey: dacKeys.privateKey, pai, certificationDeclaration: sharedTestCredentials().certificationDeclaration } };
}

/** The shared credentials with the example CD content re-signed by a key no controller trusts. */
export function untrustedCdSignerCredentials(): DeviceAttestationCredentials {
  const signer = newKeyPair();
  const certificationDeclaration = signCdContent(exampleCdContent(), keyIdentifier(signer.publicKey), signer.privateKey);
  return { ...sharedTestCredentials(), certificationDeclaration };
}
