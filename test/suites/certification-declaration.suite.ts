// Certification Declarations against ../shared/vectors/certification_declaration: the three CHIP
// CMS-signed CDs parse, verify with the CD signing key and certificate, carry the listed content
// and signer key id; the listed elements encode to that content; the decode error cases are
// refused; signing round-trips; tampering and truncation are refused.
import { suite, ok, equal, bytesEqual, throws, deepEqual, fromHex, toHex } from "../portable/harness";
import {
  decodeCdContent,
  encodeCdContent,
  parseSignedCd,
  parseX509,
  signCdContent,
  signCertificationDeclaration,
  verifyCertificationDeclaration,
  type CertificationDeclaration,
} from "../../src/certs";
import type { TestContext } from "../portable/harness";

interface CdVectors {
  tlv_tags: Record<string, number>;
  signer: { cert_der_hex: string; public_key_hex: string; private_key_hex: string; subject_key_id_hex: string };
  test_cases: {
    name: string;
    elements: Record<string, string | number | string[] | null>;
    cd_content_hex: string;
    cms_signed_hex: string;
  }[];
  decode_error_cases: { name: string; cd_content_hex: string; expected_error: string }[];
}

const number = (value: unknown) => (typeof value === "number" ? value : parseInt(String(value), 16));

/** The vector "elements" as our structure; the third case lists its PIDs as a range in words. */
function elementsOf(elements: CdVectors["test_cases"][number]["elements"]): CertificationDeclaration {
  const productIds = Array.isArray(elements.product_ids)
    ? elements.product_ids.map(number)
    : Array.from({ length: 100 }, (_unused, index) => 0x8000 + index);
  const cd: CertificationDeclaration = {
    formatVersion: number(elements.format_version),
    vendorId: number(elements.vendor_id),
    productIds,
    deviceTypeId: number(elements.device_type_id),
    certificateId: String(elements.certificate_id),
    securityLevel: number(elements.security_level),
    securityInformation: number(elements.security_information),
    versionNumber: number(elements.version_number),
    certificationType: number(elements.certification_type),
  };
  if (elements.dac_origin_vendor_id !== null) {
    cd.dacOriginVendorId = number(elements.dac_origin_vendor_id);
    cd.dacOriginProductId = number(elements.dac_origin_product_id);
  }
  return cd;
}

function load(context: TestContext): CdVectors {
  return context.vectors.json<CdVectors>("certification_declaration/cd_vectors.json");
}

export default suite("certification declaration", (test) => {
  test("all three CMS-signed CDs verify with the CD signing key and certificate; content and key id match", (context) => {
    const vectors = load(context);
    const signerCertificate = parseX509(context.vectors.bytes("certification_declaration/Chip-Test-CD-Signing-Cert.der"));
    bytesEqual(signerCertificate.publicKey, vectors.signer.public_key_hex);
    bytesEqual(signerCertificate.subjectKeyId!, vectors.signer.subject_key_id_hex.toLowerCase());
    const files = ["cd_test_01_cms.der", "cd_test_02_cms.der", "cd_example_fff1_8000-8063_cms.der"];
    vectors.test_cases.forEach((testCase, index) => {
      const cms = fromHex(testCase.cms_signed_hex);
      bytesEqual(context.vectors.bytes(`certification_declaration/${files[index]}`), cms, `${testCase.name}: file equals hex`);
      const verified = verifyCertificationDeclaration(cms, signerCertificate.publicKey);
      bytesEqual(verified.content, testCase.cd_content_hex, `${testCase.name}: content`);
      bytesEqual(verified.signerKeyId, signerCertificate.subjectKeyId!, `${testCase.name}: signer key id`);
      deepEqual(verified.declaration, elementsOf(testCase.elements), `${testCase.name}: elements`);
      bytesEqual(encodeCdContent(elementsOf(testCase.elements)), testCase.cd_content_hex, `${testCase.name}: encode(elements)`);
    });
    const example = decodeCdContent(fromHex(vectors.test_cases[2]!.cd_content_hex));
    equal(example.productIds.length, 100);
    equal(example.deviceTypeId, 0x16);
    equal(fromHex(vectors.test_cases[2]!.cms_signed_hex).length, 541);
  });

  test("decode error cases are refused, as CHIP refuses them", (context) => {
    const vectors = load(context);
    const [outOfRange, swapped] = vectors.decode_error_cases;
    throws(() => decodeCdContent(fromHex(outOfRange!.cd_content_hex)), /vendor id 4294967281 is larger than 65535/);
    throws(() => decodeCdContent(fromHex(swapped!.cd_content_hex)), /expected tag 2, found tag 3/);
    equal(vectors.decode_error_cases.length, 2);
  });

  test("signing round-trips and is verified against the right key only", (context) => {
    const vectors = load(context);
    const signerKeyId = fromHex(vectors.signer.subject_key_id_hex);
    const cd = elementsOf(vectors.test_cases[1]!.elements);
    cd.authorizedPaaList = [fromHex("6afd22771f511fecbf1641976710dcdc31a1717e")];
    const cms = signCertificationDeclaration(cd, signerKeyId, fromHex(vectors.signer.private_key_hex));
    const verified = verifyCertificationDeclaration(cms, fromHex(vectors.signer.public_key_hex));
    deepEqual(verified.declaration, cd);
    bytesEqual(verified.signerKeyId, signerKeyId);
    // Same DER layout as CHIP's. Both signatures here encode to 70 bytes, so everything but the
    // signature value itself must be identical.
    const chip = fromHex(vectors.test_cases[0]!.cms_signed_hex);
    const ours = signCdContent(fromHex(vectors.test_cases[0]!.cd_content_hex), signerKeyId, fromHex(vectors.signer.private_key_hex));
    equal(ours.length, chip.length);
    equal(toHex(ours.subarray(0, -70)), toHex(chip.subarray(0, -70)));
    throws(() => verifyCertificationDeclaration(cms, parseX509(context.vectors.bytes("attestation/Chip-Test-PAA-FFF1-Cert.der")).publicKey), /does not verify/);
  });

  test("tampered content, signature or structure is refused; every truncation is refused", (context) => {
    const vectors = load(context);
    const publicKey = fromHex(vectors.signer.public_key_hex);
    const cms = fromHex(vectors.test_cases[0]!.cms_signed_hex);
    const content = fromHex(vectors.test_cases[0]!.cd_content_hex);
    const at = toHex(cms).indexOf(toHex(content)) / 2;
    const tampered = cms.slice();
    tampered[at + 6] = tampered[at + 6]! ^ 0x01; // vendor id byte
    throws(() => verifyCertificationDeclaration(tampered, publicKey), /does not verify/);
    const badSignature = cms.slice();
    badSignature[cms.length - 2] = badSignature[cms.length - 2]! ^ 0x01;
    throws(() => verifyCertificationDeclaration(badSignature, publicKey), /does not verify|signature/);
    for (let length = 0; length < cms.length; length++) throws(() => parseSignedCd(cms.subarray(0, length)), /CMS/);
    const wrongVersion = cms.slice();
    const versionAt = toHex(cms).indexOf("020103") / 2;
    wrongVersion[versionAt + 2] = 1;
    throws(() => parseSignedCd(wrongVersion), /version must be 3/);
  });

  test("content rules: 19-character certificate id, 1..100 PIDs, DAC origin pairs, tag order", (context) => {
    const vectors = load(context);
    const base = elementsOf(vectors.test_cases[0]!.elements);
    throws(() => encodeCdContent({ ...base, certificateId: "SHORT" }), /19 characters/);
    throws(() => encodeCdContent({ ...base, productIds: [] }), /1 to 100/);
    throws(() => encodeCdContent({ ...base, productIds: Array.from({ length: 101 }, (_u, i) => i) }), /1 to 100/);
    throws(() => encodeCdContent({ ...base, dacOriginVendorId: 0xfff1 }), /come together/);
    throws(() => encodeCdContent({ ...base, authorizedPaaList: [new Uint8Array(19)] }), /20 bytes/);
    // tag 10 (DAC origin product id) without tag 9
    const content = toHex(encodeCdContent(base));
    const withOrphan = fromHex(content.slice(0, -2) + "250a0080" + "18");
    throws(() => decodeCdContent(withOrphan), /without a DAC origin vendor id/);
    // a later, unknown tag is tolerated; an earlier one out of place is not
    ok(decodeCdContent(fromHex(content.slice(0, -2) + "240c07" + "18")));
    throws(() => decodeCdContent(fromHex(content.slice(0, -2) + "240307" + "18")), /unexpected element/);
    const truncated = fromHex(content);
    for (let length = 0; length < truncated.length; length++) throws(() => decodeCdContent(truncated.subarray(0, length)));
  });
});
