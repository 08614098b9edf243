// Device attestation certificates against the Matter test PKI in ../shared/vectors/attestation:
// every field of the PAA/PAI/DAC as the vector file lists it, the chain and its refusals
// (no PAI, wrong PAA, VID/PID mismatches, tampering, time), and both VID/PID encodings.
import { suite, ok, equal, bytesEqual, throws, fromHex } from "../portable/harness";
import {
  checkAttestationProfile,
  formatName,
  issueAttestationCertificate,
  parseAttestationCertificate,
  parseFallbackId,
  parseX509,
  readAttestationIds,
  validateAttestationChain,
  validateDacAgainstPai,
  NO_EXPIRATION_UNIX,
  Oid,
} from "../../src/certs";
import { publicKeyFromPrivate, sha256 } from "../../src/crypto";
import { utf8Encode } from "../../src/codec/bytes";
import type { TestContext } from "../portable/harness";

interface VectorCert {
  der_hex: string;
  serial_hex: string;
  not_before: string;
  not_after: string;
  public_key_uncompressed_hex: string;
  subject_key_id_hex: string;
  authority_key_id_hex: string;
  basic_constraints: { ca: boolean; path_length: number | null };
  subject_matter_vid: string | null;
  subject_matter_pid: string | null;
  private_key_hex: string;
}

function load(context: TestContext) {
  const vectors = context.vectors.json<{ PAA: VectorCert; PAI: VectorCert; DAC: VectorCert }>("attestation/attestation_chain_fff1_8000.json");
  return {
    vectors,
    paa: context.vectors.bytes("attestation/Chip-Test-PAA-FFF1-Cert.der"),
    pai: context.vectors.bytes("attestation/Chip-Test-PAI-FFF1-8000-Cert.der"),
    dac: context.vectors.bytes("attestation/Chip-Test-DAC-FFF1-8000-0000-Cert.der"),
  };
}

const unix = (iso: string) => Date.parse(iso) / 1000;
const testKey = (label: string) => sha256(utf8Encode(`matter-xs attestation test key ${label}`));

export default suite("attestation chain", (test) => {
  test("PAA, PAI and DAC parse to the values the vector file lists", (context) => {
    const { vectors, paa, pai, dac } = load(context);
    for (const [name, der] of [["PAA", paa], ["PAI", pai], ["DAC", dac]] as const) {
      const expected = vectors[name];
      bytesEqual(der, expected.der_hex, `${name} DER file equals der_hex`);
      const certificate = parseAttestationCertificate(der);
      const { x509 } = certificate;
      bytesEqual(x509.serialNumber, expected.serial_hex.toLowerCase(), `${name} serial`);
      equal(x509.notBefore, unix(expected.not_before), `${name} notBefore`);
      equal(x509.notAfter, unix(expected.not_after), `${name} notAfter`);
      equal(x509.notAfter, NO_EXPIRATION_UNIX);
      bytesEqual(x509.publicKey, expected.public_key_uncompressed_hex, `${name} public key`);
      bytesEqual(x509.subjectKeyId!, expected.subject_key_id_hex.toLowerCase(), `${name} SKID`);
      bytesEqual(x509.authorityKeyId!, expected.authority_key_id_hex.toLowerCase(), `${name} AKID`);
      equal(x509.basicConstraints!.ca, expected.basic_constraints.ca, `${name} CA`);
      equal(x509.basicConstraints!.pathLength ?? null, expected.basic_constraints.path_length, `${name} path length`);
      equal(certificate.vendorId, expected.subject_matter_vid === null ? undefined : parseInt(expected.subject_matter_vid, 16), `${name} VID`);
      equal(certificate.productId, expected.subject_matter_pid === null ? undefined : parseInt(expected.subject_matter_pid, 16), `${name} PID`);
      bytesEqual(publicKeyFromPrivate(fromHex(expected.private_key_hex)), x509.publicKey, `${name} key pair`);
      checkAttestationProfile(certificate, name.toLowerCase() as "paa" | "pai" | "dac");
    }
    equal(formatName(parseX509(dac).subject), "CN=Matter Test DAC 0000, VID=FFF1, PID=8000");
  });

  test("PAA -> PAI -> DAC validates with VID 0xFFF1 and PID 0x8000", (context) => {
    const { paa, pai, dac } = load(context);
    const chain = validateAttestationChain({ paa, pai, dac });
    equal(chain.vendorId, 0xfff1);
    equal(chain.productId, 0x8000);
    equal(validateDacAgainstPai(dac, pai).productId, 0x8000);
    ok(validateAttestationChain({ paa, pai, dac, at: unix("2030-01-01T00:00:00Z") }));
  });

  test("a DAC directly under the PAA (no PAI) and a PAI under another PAA are refused", (context) => {
    const { vectors, paa, pai, dac } = load(context);
    throws(() => validateDacAgainstPai(dac, paa), /PAI path length must be 0|issuer does not match/);
    throws(() => validateAttestationChain({ paa, pai: paa, dac }), /PAI/);
    // Same subject and VID as the real PAA, different key: only the signature can tell them apart.
    const otherKey = testKey("other PAA");
    const paaCertificate = parseX509(paa);
    const impostor = issueAttestationCertificate(
      { kind: "paa", commonName: "Matter Test PAA", vendorId: 0xfff1, serialNumber: paaCertificate.serialNumber, notBefore: paaCertificate.notBefore, notAfter: NO_EXPIRATION_UNIX, publicKey: publicKeyFromPrivate(otherKey) },
      otherKey,
    );
    throws(() => validateAttestationChain({ paa: impostor, pai, dac }), /PAI authority key id|PAI signature/);
    ok(fromHex(vectors.PAA.private_key_hex).length === 32);
  });

  test("VID/PID consistency: DAC vs PAI vendor and product, PAI vs PAA vendor", (context) => {
    const { vectors, paa, pai } = load(context);
    const paiKey = fromHex(vectors.PAI.private_key_hex);
    const paaKey = fromHex(vectors.PAA.private_key_hex);
    const dacKey = testKey("dac");
    const issueDac = (vendorId: number, productId: number, issuer = pai) =>
      issueAttestationCertificate(
        { kind: "dac", commonName: "DAC", vendorId, productId, serialNumber: new Uint8Array([1]), notBefore: unix("2024-01-01T00:00:00Z"), notAfter: NO_EXPIRATION_UNIX, publicKey: publicKeyFromPrivate(dacKey), issuer: parseX509(issuer) },
        paiKey,
      );
    ok(validateAttestationChain({ paa, pai, dac: issueDac(0xfff1, 0x8000) }));
    throws(() => validateAttestationChain({ paa, pai, dac: issueDac(0xfff2, 0x8000) }), /DAC vendor id 0xFFF2 differs from the PAI's 0xFFF1/);
    throws(() => validateAttestationChain({ paa, pai, dac: issueDac(0xfff1, 0x8001) }), /DAC product id 0x8001 differs from the PAI's 0x8000/);
    const paiOtherVendor = issueAttestationCertificate(
      { kind: "pai", commonName: "PAI", vendorId: 0xfff2, serialNumber: new Uint8Array([2]), notBefore: unix("2024-01-01T00:00:00Z"), notAfter: NO_EXPIRATION_UNIX, publicKey: publicKeyFromPrivate(paiKey), issuer: parseX509(paa) },
      paaKey,
    );
    throws(() => validateAttestationChain({ paa, pai: paiOtherVendor, dac: issueDac(0xfff2, 0x8000, paiOtherVendor) }), /PAI vendor id 0xFFF2 differs from the PAA's 0xFFF1/);
  });

  test("validity: the PAI must have been valid when the DAC was issued", (context) => {
    const { vectors, paa } = load(context);
    const paaKey = fromHex(vectors.PAA.private_key_hex);
    const paiKey = testKey("late PAI");
    const dacKey = testKey("early DAC");
    const pai = issueAttestationCertificate(
      { kind: "pai", commonName: "PAI", vendorId: 0xfff1, serialNumber: new Uint8Array([3]), notBefore: unix("2025-01-01T00:00:00Z"), notAfter: unix("2030-01-01T00:00:00Z"), publicKey: publicKeyFromPrivate(paiKey), issuer: parseX509(paa) },
      paaKey,
    );
    const dac = (notBefore: string) =>
      issueAttestationCertificate(
        { kind: "dac", commonName: "DAC", vendorId: 0xfff1, productId: 0x8000, serialNumber: new Uint8Array([4]), notBefore: unix(notBefore), notAfter: NO_EXPIRATION_UNIX, publicKey: publicKeyFromPrivate(dacKey), issuer: parseX509(pai) },
        paiKey,
      );
    ok(validateAttestationChain({ paa, pai, dac: dac("2026-01-01T00:00:00Z") }));
    throws(() => validateAttestationChain({ paa, pai, dac: dac("2024-06-01T00:00:00Z") }), /PAI is not valid at 2024-06-01/);
    throws(() => validateAttestationChain({ paa, pai, dac: dac("2026-01-01T00:00:00Z"), at: unix("2031-01-01T00:00:00Z") }), /PAI is not valid/);
  });

  test("tampering and truncation are refused", (context) => {
    const { paa, pai, dac } = load(context);
    const flipped = dac.slice();
    flipped[200] = flipped[200]! ^ 0x01; // inside the subject public key
    throws(() => validateAttestationChain({ paa, pai, dac: flipped }), /DAC/);
    const badSignature = dac.slice();
    badSignature[badSignature.length - 3] = badSignature[badSignature.length - 3]! ^ 0x40;
    throws(() => validateAttestationChain({ paa, pai, dac: badSignature }), /DAC signature does not verify/);
    for (let length = 0; length < dac.length; length++) throws(() => parseX509(dac.subarray(0, length)), /X.509/);
    throws(() => parseX509(new Uint8Array([...dac, 0])), /X.509/);
  });

  test("VID/PID in the common name (legacy Mvid:/Mpid: form), and attribute precedence", (context) => {
    const { vectors, pai } = load(context);
    equal(parseFallbackId("ACME Matter Devel DAC 5CDA9899 Mvid:FFF1 Mpid:00B1", "Mvid:"), 0xfff1);
    equal(parseFallbackId("ACME Matter Devel DAC 5CDA9899 Mvid:FFF1 Mpid:00B1", "Mpid:"), 0x00b1);
    equal(parseFallbackId("Mvid:fff1 Mvid:FFF2", "Mvid:"), 0xfff2, "leftmost well-formed value");
    equal(parseFallbackId("no ids here", "Mvid:"), undefined);
    throws(() => parseFallbackId("Mvid:FFF", "Mvid:"), /4 uppercase hex/);
    throws(() => parseFallbackId("Mvid:fff1", "Mvid:"), /4 uppercase hex/);
    const name = (cn: string, extra: { oid: string; value: string }[] = []) => [
      { oid: Oid.commonName, value: cn, stringTag: 0x0c },
      ...extra.map((attribute) => ({ ...attribute, stringTag: 0x0c })),
    ];
    const fromCn = readAttestationIds(name("Matter DAC Mvid:FFF1 Mpid:8000"));
    equal(fromCn.vendorId, 0xfff1);
    equal(fromCn.productId, 0x8000);
    const attributesWin = readAttestationIds(name("Mvid:FFF2 Mpid:0001", [{ oid: Oid.matterVendorId, value: "FFF1" }]));
    equal(attributesWin.vendorId, 0xfff1);
    equal(attributesWin.productId, undefined, "common-name ids are ignored once an attribute is present");
    throws(() => readAttestationIds(name("x", [{ oid: Oid.matterVendorId, value: "fff1" }])), /4 uppercase hex/);
    throws(() => readAttestationIds(name("x", [{ oid: Oid.matterVendorId, value: "FFF1" }, { oid: Oid.matterVendorId, value: "FFF1" }])), /two vendorId/);

    // A whole chain whose DAC carries its ids only in the common name.
    const paiKey = fromHex(vectors.PAI.private_key_hex);
    const dacKey = testKey("legacy DAC");
    const issuer = parseX509(pai);
    const legacy = issueAttestationCertificate(
      { kind: "dac", commonName: "Matter Test DAC Mvid:FFF1 Mpid:8000", serialNumber: new Uint8Array([5]), notBefore: issuer.notBefore, notAfter: NO_EXPIRATION_UNIX, publicKey: publicKeyFromPrivate(dacKey), issuer },
      paiKey,
    );
    const parsed = parseAttestationCertificate(legacy);
    equal(parsed.vendorId, 0xfff1);
    equal(parsed.productId, 0x8000);
    equal(validateDacAgainstPai(legacy, pai).vendorId, 0xfff1);
  });

  test("profile checks: CA flags, path lengths, key usage, required ids", (context) => {
    const { vectors, paa, pai, dac } = load(context);
    throws(() => checkAttestationProfile(parseAttestationCertificate(pai), "dac"), /DAC must not be a CA/);
    throws(() => checkAttestationProfile(parseAttestationCertificate(dac), "pai"), /PAI must be a CA/);
    throws(() => checkAttestationProfile(parseAttestationCertificate(paa), "pai"), /PAI path length must be 0/);
    throws(() => checkAttestationProfile(parseAttestationCertificate(pai), "paa"), /PAA path length|PAA subject must not carry a product id/);
    const paaKey = fromHex(vectors.PAA.private_key_hex);
    const noVid = issueAttestationCertificate(
      { kind: "pai", commonName: "PAI without VID", vendorId: 0xfff1, serialNumber: new Uint8Array([6]), notBefore: unix("2024-01-01T00:00:00Z"), notAfter: NO_EXPIRATION_UNIX, publicKey: publicKeyFromPrivate(testKey("pai")), issuer: parseX509(paa) },
      paaKey,
    );
    ok(parseAttestationCertificate(noVid).vendorId === 0xfff1);
    throws(
      () => issueAttestationCertificate({ kind: "pai", commonName: "PAI", serialNumber: new Uint8Array([7]), notBefore: 1, notAfter: NO_EXPIRATION_UNIX, publicKey: publicKeyFromPrivate(testKey("pai")), issuer: parseX509(paa) }, paaKey),
      /PAI subject needs a vendor id/,
    );
    throws(
      () => issueAttestationCertificate({ kind: "dac", commonName: "DAC", vendorId: 0xfff1, serialNumber: new Uint8Array([8]), notBefore: 1, notAfter: NO_EXPIRATION_UNIX, publicKey: publicKeyFromPrivate(testKey("dac")), issuer: parseX509(pai) }, fromHex(vectors.PAI.private_key_hex)),
      /DAC subject needs both/,
    );
    throws(
      () => issueAttestationCertificate({ kind: "dac", commonName: "DAC", vendorId: 0xfff1, productId: 1, serialNumber: new Uint8Array([9]), notBefore: 1, notAfter: NO_EXPIRATION_UNIX, publicKey: publicKeyFromPrivate(testKey("dac")), issuer: parseX509(pai) }, paaKey),
      /does not match the issuer certificate/,
    );
  });
});
