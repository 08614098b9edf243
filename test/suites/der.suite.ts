import { suite, equal, ok, bytesEqual, deepEqual, fromHex, toHex, AssertionError } from "../portable/harness";
import { CodecError, concatBytes } from "../../src/codec/bytes";
import {
  Der,
  decodeDer,
  derBitString,
  derBoolean,
  derElement,
  derEncodeNode,
  derExplicit,
  derGeneralizedTime,
  derIa5String,
  derImplicit,
  derInteger,
  derNull,
  derOctetString,
  derOid,
  derPrintableString,
  derReadBitString,
  derReadBoolean,
  derReadInteger,
  derReadNull,
  derReadOctetString,
  derReadOid,
  derReadString,
  derReadTime,
  derReadUnsigned,
  derSequence,
  derSet,
  derUtcTime,
  derUtf8String,
  type DerNode,
} from "../../src/codec/der";
import { pseudoRandom, throwsCodecError } from "./codec-assert";

// The DER files in the vector folders (a portable suite cannot list directories).
const DER_FILES = [
  "attestation/Chip-Test-PAA-FFF1-Cert.der",
  "attestation/Chip-Test-PAA-FFF1-Key.der",
  "attestation/Chip-Test-PAI-FFF1-8000-Cert.der",
  "attestation/Chip-Test-PAI-FFF1-8000-Key.der",
  "attestation/Chip-Test-DAC-FFF1-8000-0000-Cert.der",
  "attestation/Chip-Test-DAC-FFF1-8000-0000-Key.der",
  "certification_declaration/Chip-Test-CD-Signing-Cert.der",
  "certification_declaration/Chip-Test-CD-Signing-Key.der",
  "certification_declaration/cd_test_01_cms.der",
  "certification_declaration/cd_test_02_cms.der",
  "certification_declaration/cd_example_fff1_8000-8063_cms.der",
];

interface ChainCert {
  der_hex: string;
  der_length: number;
  subject: string;
  issuer: string;
  serial_hex: string;
  not_before: string;
  not_after: string;
  public_key_uncompressed_hex: string;
  subject_key_id_hex: string;
  authority_key_id_hex: string;
  basic_constraints: { ca: boolean; path_length: number | null };
  private_key_hex: string;
}

const OID_COMMON_NAME = "2.5.4.3";
const OID_SUBJECT_KEY_ID = "2.5.29.14";
const OID_AUTHORITY_KEY_ID = "2.5.29.35";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";

function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new AssertionError(`${what}: missing`);
  if (node.tag !== tag) throw new AssertionError(`${what}: tag 0x${node.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  return node;
}

/** A Name in the RFC 4514 order the vector files print (last RDN first). */
function nameString(name: DerNode): string {
  return name.children
    .map((rdn) => {
      equal(rdn.tag, Der.SET);
      const [type, value] = expectTag(rdn.children[0], Der.SEQUENCE, "AttributeTypeAndValue").children;
      const oid = derReadOid(type!);
      return `${oid === OID_COMMON_NAME ? "CN" : oid}=${derReadString(value!)}`;
    })
    .reverse()
    .join(",");
}

function isoSeconds(iso: string): number {
  const match = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\+00:00$/.exec(iso);
  if (!match) throw new AssertionError(`unexpected time format ${iso}`);
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  return Date.UTC(y!, mo! - 1, d!, h!, mi!, s!) / 1000;
}

function checkCertificate(bytes: Uint8Array, expected: ChainCert, label: string): void {
  const cert = decodeDer(bytes);
  equal(cert.tag, Der.SEQUENCE);
  equal(cert.children.length, 3, `${label}: Certificate has tbs, algorithm, signature`);
  const tbs = cert.children[0]!;
  const [version, serial, signatureAlgorithm, issuer, validity, subject, publicKeyInfo, extensions] = tbs.children;
  equal(version!.tag, 0xa0);
  equal(derReadInteger(version!.children[0]!), 2n, `${label}: v3`);
  equal(toHex(derReadUnsigned(serial!)), expected.serial_hex.toLowerCase(), `${label}: serial`);
  equal(derReadOid(signatureAlgorithm!.children[0]!), "1.2.840.10045.4.3.2", `${label}: ecdsa-with-SHA256`);
  equal(nameString(issuer!), expected.issuer, `${label}: issuer`);
  equal(nameString(subject!), expected.subject, `${label}: subject`);
  equal(derReadTime(validity!.children[0]!), isoSeconds(expected.not_before), `${label}: notBefore`);
  equal(derReadTime(validity!.children[1]!), isoSeconds(expected.not_after), `${label}: notAfter`);
  const [algorithm, key] = publicKeyInfo!.children;
  equal(derReadOid(algorithm!.children[0]!), "1.2.840.10045.2.1");
  equal(derReadOid(algorithm!.children[1]!), "1.2.840.10045.3.1.7");
  const { bytes: publicKey, unusedBits } = derReadBitString(key!);
  equal(unusedBits, 0);
  equal(toHex(publicKey), expected.public_key_uncompressed_hex);

  const found = new Map<string, DerNode>();
  for (const extension of expectTag(extensions, 0xa3, "extensions").children[0]!.children) {
    const parts = extension.children;
    const value = parts[parts.length - 1]!;
    if (parts.length === 3) ok(derReadBoolean(parts[1]!), "an explicit critical flag is TRUE in DER");
    found.set(derReadOid(parts[0]!), decodeDer(derReadOctetString(value)));
  }
  equal(toHex(derReadOctetString(found.get(OID_SUBJECT_KEY_ID)!)), expected.subject_key_id_hex.toLowerCase(), `${label}: SKID`);
  const authorityKeyId = found.get(OID_AUTHORITY_KEY_ID)!.children[0]!;
  equal(authorityKeyId.tag, 0x80, "[0] IMPLICIT keyIdentifier");
  equal(toHex(authorityKeyId.contents), expected.authority_key_id_hex.toLowerCase(), `${label}: AKID`);
  const constraints = found.get(OID_BASIC_CONSTRAINTS)!.children;
  const isCa = constraints[0] !== undefined && constraints[0].tag === Der.BOOLEAN && derReadBoolean(constraints[0]);
  equal(isCa, expected.basic_constraints.ca, `${label}: CA`);
  const pathLength = constraints.find((node) => node.tag === Der.INTEGER);
  equal(pathLength ? Number(derReadInteger(pathLength)) : null, expected.basic_constraints.path_length, `${label}: path length`);

  // The signature BIT STRING holds an ECDSA-Sig-Value: SEQUENCE { r INTEGER, s INTEGER }.
  const signature = decodeDer(derReadBitString(cert.children[2]!).bytes);
  equal(signature.children.length, 2);
  for (const part of signature.children) {
    const magnitude = derReadUnsigned(part);
    ok(magnitude.length <= 32 && magnitude.length >= 16, `${label}: r/s size ${magnitude.length}`);
    ok(derReadInteger(part) > 0n);
  }
  // The TBS bytes the signature covers are the exact input bytes.
  equal(tbs.raw.byteOffset - bytes.byteOffset, cert.raw.length - cert.contents.length);
}

function nested(depth: number): Uint8Array {
  let element = derNull();
  for (let i = 1; i < depth; i++) element = derSequence(element);
  return element;
}

export default suite("codec/der", (test) => {
  test("every DER file in the vectors parses and re-encodes byte for byte from its tree", (context) => {
    for (const path of DER_FILES) {
      const bytes = context.vectors.bytes(path);
      const node = decodeDer(bytes);
      bytesEqual(node.raw, bytes, path);
      bytesEqual(derEncodeNode(node), bytes, `${path} rebuilt from tag + children`);
    }
  });

  test("the test PKI certificates read as the chain description says", (context) => {
    const chain = context.vectors.json<Record<string, ChainCert>>("attestation/attestation_chain_fff1_8000.json");
    const files: Record<string, string> = {
      PAA: "attestation/Chip-Test-PAA-FFF1-Cert.der",
      PAI: "attestation/Chip-Test-PAI-FFF1-8000-Cert.der",
      DAC: "attestation/Chip-Test-DAC-FFF1-8000-0000-Cert.der",
    };
    for (const [role, path] of Object.entries(files)) {
      const expected = chain[role]!;
      const bytes = context.vectors.bytes(path);
      bytesEqual(bytes, expected.der_hex, `${role}: file matches the JSON`);
      equal(bytes.length, expected.der_length);
      checkCertificate(bytes, expected, role);
    }
  });

  test("SEC1 private keys: version 1, the 32-byte scalar, the P-256 OID and the public key", (context) => {
    const chain = context.vectors.json<Record<string, ChainCert>>("attestation/attestation_chain_fff1_8000.json");
    const files: Record<string, string> = {
      PAA: "attestation/Chip-Test-PAA-FFF1-Key.der",
      PAI: "attestation/Chip-Test-PAI-FFF1-8000-Key.der",
      DAC: "attestation/Chip-Test-DAC-FFF1-8000-0000-Key.der",
    };
    for (const [role, path] of Object.entries(files)) {
      const key = decodeDer(context.vectors.bytes(path));
      const [version, scalar, parameters, publicKey] = key.children;
      equal(derReadInteger(version!), 1n);
      equal(toHex(derReadOctetString(scalar!)), chain[role]!.private_key_hex, `${role} private key`);
      equal(parameters!.tag, 0xa0);
      equal(derReadOid(parameters!.children[0]!), "1.2.840.10045.3.1.7");
      equal(publicKey!.tag, 0xa1);
      equal(toHex(derReadBitString(publicKey!.children[0]!).bytes), chain[role]!.public_key_uncompressed_hex, `${role} public key`);
    }
  });

  test("CMS-signed certification declarations carry the TLV content and the signer's key id", (context) => {
    const cd = context.vectors.json<{
      signer: { subject_key_id_hex: string; cert_der_hex: string };
      test_cases: { name: string; cd_content_hex: string; cms_signed_hex: string }[];
    }>("certification_declaration/cd_vectors.json");
    bytesEqual(context.vectors.bytes("certification_declaration/Chip-Test-CD-Signing-Cert.der"), cd.signer.cert_der_hex);
    const files = ["cd_test_01_cms.der", "cd_test_02_cms.der", "cd_example_fff1_8000-8063_cms.der"];
    equal(cd.test_cases.length, files.length);
    cd.test_cases.forEach((testCase, i) => {
      const bytes = context.vectors.bytes(`certification_declaration/${files[i]}`);
      bytesEqual(bytes, testCase.cms_signed_hex, testCase.name);
      const contentInfo = decodeDer(bytes);
      equal(derReadOid(contentInfo.children[0]!), "1.2.840.113549.1.7.2", "signedData");
      const signedData = expectTag(contentInfo.children[1], 0xa0, "[0] content").children[0]!;
      const [version, digestAlgorithms, encapsulated, signerInfos] = signedData.children;
      equal(derReadInteger(version!), 3n);
      equal(digestAlgorithms!.tag, Der.SET);
      equal(derReadOid(digestAlgorithms!.children[0]!.children[0]!), "2.16.840.1.101.3.4.2.1", "sha256");
      equal(derReadOid(encapsulated!.children[0]!), "1.2.840.113549.1.7.1", "id-data");
      const content = derReadOctetString(expectTag(encapsulated!.children[1], 0xa0, "eContent").children[0]!);
      equal(toHex(content), testCase.cd_content_hex, `${testCase.name}: content`);
      const signerInfo = signerInfos!.children[0]!;
      const signerId = expectTag(signerInfo.children[1], 0x80, "[0] subjectKeyIdentifier");
      equal(toHex(signerId.contents), cd.signer.subject_key_id_hex.toLowerCase());
      const signature = decodeDer(derReadOctetString(signerInfo.children[4]!));
      equal(signature.children.length, 2, "ECDSA-Sig-Value");
    });
  });

  test("OIDs round trip", () => {
    const cases: [string, string][] = [
      ["1.2.840.10045.4.3.2", "06082a8648ce3d040302"],
      ["1.3.6.1.4.1.37244.2.1", "060a2b0601040182a27c0201"],
      ["1.2.840.10045.3.1.7", "06082a8648ce3d030107"],
      ["2.5.29.14", "0603551d0e"],
      ["0.0", "060100"],
      ["0.39", "060127"],
      ["1.0", "060128"],
      ["1.39", "06014f"],
      ["2.0", "060150"],
      ["2.999.3", "0603883703"],
      ["1.2.4294967295", "06062a8fffffff7f"],
    ];
    for (const [dotted, hex] of cases) {
      bytesEqual(derOid(dotted), hex, dotted);
      equal(derReadOid(decodeDer(fromHex(hex))), dotted);
    }
    // Arcs beyond 2^53 (UUID OIDs under 2.25) stay exact.
    const uuid = "2.25.329800735698586629295641978511506172918";
    equal(derReadOid(decodeDer(derOid(uuid))), uuid);
    const bigFirst = "2.18446744073709551616";
    equal(derReadOid(decodeDer(derOid(bigFirst))), bigFirst);
  });

  test("invalid OIDs are rejected both ways", () => {
    for (const bad of ["", "1", "3.1", "1.40", "0.40", "1.2.", ".1.2", "01.2", "1.02", "1.a", "1..2", "-1.2", "1.2 "]) {
      throwsCodecError(() => derOid(bad), "invalid OID", JSON.stringify(bad));
    }
    throwsCodecError(() => derReadOid(decodeDer(fromHex("0600"))), "empty");
    throwsCodecError(() => derReadOid(decodeDer(fromHex("0602802a"))), "non-minimal");
    throwsCodecError(() => derReadOid(decodeDer(fromHex("06032a8001"))), "non-minimal");
    throwsCodecError(() => derReadOid(decodeDer(fromHex("06022a86"))), "truncated");
    throwsCodecError(() => derReadOid(decodeDer(fromHex("04012a"))), "expected OBJECT IDENTIFIER");
  });

  test("INTEGER edge cases: minimal two's complement both ways", () => {
    const cases: [bigint, string][] = [
      [0n, "020100"], [1n, "020101"], [127n, "02017f"], [128n, "02020080"], [255n, "020200ff"], [256n, "02020100"],
      [-1n, "0201ff"], [-128n, "020180"], [-129n, "0202ff7f"], [-256n, "0202ff00"], [-65536n, "0203ff0000"], [-(2n ** 40n), "0206ff0000000000"], [-32768n, "02028000"], [32768n, "0203008000"],
      [2n ** 63n, "0209008000000000000000"], [-(2n ** 63n), "02088000000000000000"], [2n ** 64n - 1n, "020900ffffffffffffffff"],
    ];
    for (const [value, hex] of cases) {
      bytesEqual(derInteger(value), hex, `${value}`);
      if (value >= -(2n ** 53n) && value <= 2n ** 53n) bytesEqual(derInteger(Number(value)), hex, `${value} as number`);
      equal(derReadInteger(decodeDer(fromHex(hex))), value, `read ${hex}`);
    }
    const highBit = new Uint8Array(32).fill(0xff);
    bytesEqual(derInteger(highBit), "022100" + "ff".repeat(32));
    bytesEqual(derReadUnsigned(decodeDer(derInteger(highBit))), highBit);
    equal(derReadInteger(decodeDer(derInteger(highBit))), 2n ** 256n - 1n);
    const lowBit = fromHex("7f" + "00".repeat(31));
    bytesEqual(derInteger(lowBit), "0220" + toHex(lowBit));
    bytesEqual(derInteger(fromHex("000001")), "020101", "leading zeros of a magnitude are dropped");
    bytesEqual(derInteger(fromHex("000080")), "02020080");
    bytesEqual(derInteger(new Uint8Array(0)), "020100");
    bytesEqual(derInteger(fromHex("0000")), "020100");
    bytesEqual(derReadUnsigned(decodeDer(fromHex("020100"))), "00");
    bytesEqual(derReadUnsigned(decodeDer(fromHex("02020080"))), "80");
    throwsCodecError(() => derInteger(2 ** 53), "safe integer");
    throwsCodecError(() => derInteger(1.5), "safe integer");
  });

  test("non-minimal and malformed INTEGERs are rejected by the readers", () => {
    throwsCodecError(() => derReadInteger(decodeDer(fromHex("02020001"))), "non-minimal");
    throwsCodecError(() => derReadInteger(decodeDer(fromHex("02020000"))), "non-minimal");
    throwsCodecError(() => derReadInteger(decodeDer(fromHex("0202ff80"))), "non-minimal");
    throwsCodecError(() => derReadUnsigned(decodeDer(fromHex("0203000080"))), "non-minimal");
    throwsCodecError(() => derReadInteger(decodeDer(fromHex("0200"))), "empty");
    throwsCodecError(() => derReadUnsigned(decodeDer(fromHex("0201ff"))), "negative");
    throwsCodecError(() => derReadInteger(decodeDer(fromHex("0a0101"))), "expected INTEGER");
    throwsCodecError(() => derReadInteger(decodeDer(fromHex("2203020101"))), "expected INTEGER", "constructed");
    equal(derReadInteger(decodeDer(fromHex("810105"))), 5n, "an implicitly tagged INTEGER reads too");
  });

  test("time encodings: UTCTime for 1950..2049, GeneralizedTime for 0..9999", () => {
    bytesEqual(derUtcTime(0), "170d" + toHex(new TextEncoder().encode("700101000000Z")));
    const utc: [number, string][] = [
      [Date.UTC(2021, 5, 28, 14, 23, 43) / 1000, "210628142343Z"],
      [Date.UTC(1950, 0, 1) / 1000, "500101000000Z"],
      [Date.UTC(2049, 11, 31, 23, 59, 59) / 1000, "491231235959Z"],
      [Date.UTC(2000, 1, 29, 12, 0, 1) / 1000, "000229120001Z"],
    ];
    for (const [seconds, text] of utc) {
      const encoded = derUtcTime(seconds);
      equal(derReadString(decodeDer(derIa5String(text))), text);
      bytesEqual(encoded, derElement(Der.UTCTime, new TextEncoder().encode(text)), text);
      equal(derReadTime(decodeDer(encoded)), seconds, text);
    }
    throwsCodecError(() => derUtcTime(Date.UTC(2050, 0, 1) / 1000), "year 2050");
    throwsCodecError(() => derUtcTime(Date.UTC(1949, 11, 31, 23, 59, 59) / 1000), "year 1949");
    const generalized: [number, string][] = [
      [253402300799, "99991231235959Z"],
      [Date.UTC(2050, 0, 1) / 1000, "20500101000000Z"],
      [-62167219200, "00000101000000Z"],
      [Date.UTC(1900, 1, 28, 1, 2, 3) / 1000, "19000228010203Z"],
    ];
    for (const [seconds, text] of generalized) {
      const encoded = derGeneralizedTime(seconds);
      bytesEqual(encoded, derElement(Der.GeneralizedTime, new TextEncoder().encode(text)), text);
      equal(derReadTime(decodeDer(encoded)), seconds, text);
    }
    throwsCodecError(() => derGeneralizedTime(253402300800), "year 10000");
    throwsCodecError(() => derGeneralizedTime(0.5), "whole seconds");
  });

  test("time conversions agree with Date over the whole range", () => {
    const next = pseudoRandom(1234);
    const lowest = -62167219200; // 0000-01-01
    const span = 253402300799 - lowest;
    for (let i = 0; i < 400; i++) {
      const seconds = lowest + Math.floor(((next() * 2 ** 21 + (next() & 0x1fffff)) / 2 ** 53) * span);
      const iso = new Date(seconds * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z for years 0..9999
      const text = iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + "Z";
      const encoded = derGeneralizedTime(seconds);
      equal(derReadString(decodeDer(derIa5String(text))), text);
      bytesEqual(encoded.subarray(2), new TextEncoder().encode(text), `${seconds}`);
      equal(derReadTime(decodeDer(encoded)), seconds);
    }
  });

  test("malformed times are rejected", () => {
    const utc = (text: string) => decodeDer(derElement(Der.UTCTime, new TextEncoder().encode(text)));
    const generalized = (text: string) => decodeDer(derElement(Der.GeneralizedTime, new TextEncoder().encode(text)));
    equal(derReadTime(utc("240229000000Z")), Date.UTC(2024, 1, 29) / 1000, "leap day");
    for (const bad of ["230229000000Z", "211301000000Z", "210100000000Z", "210131240000Z", "210131236000Z", "210131235960Z", "2101010000Z", "210101000000", "210101000000+0100", "21010100000Z0", "2101010000 0Z"]) {
      throwsCodecError(() => derReadTime(utc(bad)), "UTCTime", bad);
    }
    for (const bad of ["20210101000000.5Z", "2021010100000Z", "202101010000Z", "21000229000000Z", "20210431000000Z"]) {
      throwsCodecError(() => derReadTime(generalized(bad)), /GeneralizedTime|time/, bad);
    }
    throwsCodecError(() => derReadTime(decodeDer(derUtf8String("210101000000Z"))), "expected UTCTime or GeneralizedTime");
  });

  test("strings, booleans, null, octet and bit strings", () => {
    equal(derReadString(decodeDer(derUtf8String("Matter Test DAC 0000 ü"))), "Matter Test DAC 0000 ü");
    bytesEqual(derPrintableString("Matter (Test) 1+1=2, ok?"), "1318" + toHex(new TextEncoder().encode("Matter (Test) 1+1=2, ok?")));
    equal(derReadString(decodeDer(derPrintableString("CSA"))), "CSA");
    equal(derReadString(decodeDer(derIa5String("a@b.c"))), "a@b.c");
    throwsCodecError(() => derPrintableString("a@b"), "PrintableString");
    throwsCodecError(() => derIa5String("é"), "IA5String");
    throwsCodecError(() => derReadString(decodeDer(fromHex("130140"))), "PrintableString");
    throwsCodecError(() => derReadString(decodeDer(fromHex("160180"))), "IA5String");
    throwsCodecError(() => derReadString(decodeDer(fromHex("0c02c328"))), "invalid UTF-8");
    equal(derReadString(decodeDer(fromHex("1203313233"))), "123");
    equal(derReadString(decodeDer(fromHex("1e04004100e9"))), "Aé");
    throwsCodecError(() => derReadString(decodeDer(fromHex("1e0100"))), "odd length");
    throwsCodecError(() => derReadString(decodeDer(fromHex("040141"))), "not a string type");
    throwsCodecError(() => derReadString(decodeDer(fromHex("2c03" + "0c0141"))), "constructed string");

    bytesEqual(derBoolean(true), "0101ff");
    bytesEqual(derBoolean(false), "010100");
    equal(derReadBoolean(decodeDer(derBoolean(true))), true);
    equal(derReadBoolean(decodeDer(derBoolean(false))), false);
    throwsCodecError(() => derReadBoolean(decodeDer(fromHex("010101"))), "0x00 or 0xff");
    throwsCodecError(() => derReadBoolean(decodeDer(fromHex("0102ffff"))), "one octet");
    bytesEqual(derNull(), "0500");
    equal(derReadNull(decodeDer(derNull())), null);
    throwsCodecError(() => derReadNull(decodeDer(fromHex("050100"))), "NULL with contents");

    bytesEqual(derOctetString(fromHex("0102")), "04020102");
    bytesEqual(derBitString(fromHex("04ab")), "0303" + "0004ab");
    bytesEqual(derBitString(fromHex("a0"), 5), "0302" + "05a0");
    bytesEqual(derBitString(new Uint8Array(0)), "030100");
    deepEqual(derReadBitString(decodeDer(fromHex("030205a0"))), { bytes: fromHex("a0"), unusedBits: 5 });
    throwsCodecError(() => derBitString(fromHex("a1"), 5), "unused bits");
    throwsCodecError(() => derBitString(fromHex("a0"), 8), "outside 0..7");
    throwsCodecError(() => derBitString(new Uint8Array(0), 1), "empty");
    throwsCodecError(() => derReadBitString(decodeDer(fromHex("030205a1"))), "not zero");
    throwsCodecError(() => derReadBitString(decodeDer(fromHex("030208ff"))), "8 unused bits");
    throwsCodecError(() => derReadBitString(decodeDer(fromHex("030101"))), "empty BIT STRING with unused bits");
    throwsCodecError(() => derReadBitString(decodeDer(fromHex("0300"))), "empty BIT STRING");
  });

  test("constructors: sequences, sets in the given order, explicit and implicit tags, long lengths", () => {
    bytesEqual(derSequence(derInteger(1), derNull()), "3005" + "020101" + "0500");
    bytesEqual(derSet(derInteger(2), derInteger(1)), "3106" + "020102" + "020101", "SET keeps the given order");
    bytesEqual(derSequence(), "3000");
    bytesEqual(derExplicit(0, derInteger(2)), "a003020102");
    bytesEqual(derExplicit(3, derSequence()), "a3023000");
    bytesEqual(derImplicit(0, fromHex("abcd"), false), "8002abcd");
    bytesEqual(derImplicit(1, new Uint8Array(0), true), "a100");
    throwsCodecError(() => derExplicit(31, derNull()), "outside 0..30");
    throwsCodecError(() => derImplicit(-1, derNull(), false), "outside 0..30");
    throwsCodecError(() => derElement(0x1f, new Uint8Array(0)), "high-tag-number");
    throwsCodecError(() => derElement(256, new Uint8Array(0)), "single identifier octet");
    const lengths: [number, string][] = [[127, "7f"], [128, "8180"], [255, "81ff"], [256, "820100"], [65535, "82ffff"], [65536, "83010000"]];
    for (const [length, header] of lengths) {
      const encoded = derOctetString(new Uint8Array(length));
      equal(toHex(encoded.subarray(1, 1 + header.length / 2)), header, `length ${length}`);
      equal(decodeDer(encoded).contents.length, length);
    }
  });

  test("strict DER: non-minimal, indefinite and oversized lengths, tags, truncation, trailing bytes", () => {
    throwsCodecError(() => decodeDer(fromHex("3081020500")), "must use the short form");
    throwsCodecError(() => decodeDer(fromHex("048200050102030405")), "leading zero");
    throwsCodecError(() => decodeDer(fromHex("308005000000")), "indefinite length at offset 1");
    throwsCodecError(() => decodeDer(fromHex("0485010000000000")), "too long");
    throwsCodecError(() => decodeDer(fromHex("04ff")), "too long");
    throwsCodecError(() => decodeDer(fromHex("3005020101")), "runs past the end");
    throwsCodecError(() => decodeDer(fromHex("3003020201")), "runs past the end", "a child may not outgrow its parent");
    throwsCodecError(() => decodeDer(fromHex("0482ff")), "truncated length");
    throwsCodecError(() => decodeDer(fromHex("04")), "no length");
    throwsCodecError(() => decodeDer(new Uint8Array(0)), "no element at offset 0");
    throwsCodecError(() => decodeDer(fromHex("1f0100")), "high-tag-number");
    throwsCodecError(() => decodeDer(fromHex("3f8101")), "high-tag-number");
    throwsCodecError(() => decodeDer(fromHex("0000")), "end-of-contents");
    throwsCodecError(() => decodeDer(fromHex("30020000")), "end-of-contents octets (tag 0x00) at offset 2");
    throwsCodecError(() => decodeDer(fromHex("050000")), "1 trailing bytes at offset 2");
    throwsCodecError(() => decodeDer(fromHex("30000500")), "2 trailing bytes");
  });

  test("every truncation of every vector certificate is a CodecError", (context) => {
    for (const path of DER_FILES.filter((p) => p.endsWith("Cert.der"))) {
      const bytes = context.vectors.bytes(path);
      for (let length = 0; length < bytes.length; length++) {
        throwsCodecError(() => decodeDer(bytes.subarray(0, length)), "DER", `${path} cut to ${length}`);
      }
      throwsCodecError(() => decodeDer(concatBytes(bytes, fromHex("00"))), "trailing", `${path} + 00`);
    }
  });

  test("depth limit: 16 levels by default, configurable", () => {
    equal(decodeDer(nested(16)).children.length, 1);
    throwsCodecError(() => decodeDer(nested(17)), "nested deeper than 16");
    throwsCodecError(() => decodeDer(nested(3), { maxDepth: 2 }), "nested deeper than 2");
    equal(decodeDer(nested(3), { maxDepth: 3 }).tag, Der.SEQUENCE);
    // A long run of nested headers stops at the limit.
    const deep = new Uint8Array(2000);
    for (let i = 0; i < deep.length; i += 2) (deep[i] = 0x30), (deep[i + 1] = 0x7f);
    throwsCodecError(() => decodeDer(deep), /nested deeper than 16|runs past/);
  });

  test("mutated certificates either decode to a tree that rebuilds them exactly or throw CodecError", (context) => {
    const seeds = DER_FILES.map((path) => context.vectors.bytes(path));
    const next = pseudoRandom(0xde7);
    let decoded = 0;
    let rejected = 0;
    for (let round = 0; round < 1500; round++) {
      const input = seeds[next() % seeds.length]!.slice();
      for (let flips = 1 + (next() % 2); flips > 0; flips--) {
        // Headers are where DER goes wrong: bias mutations towards the first bytes of elements.
        const at = next() % 2 ? next() % Math.min(input.length, 40) : next() % input.length;
        input[at] = next() & 0xff;
      }
      let node: DerNode;
      try {
        node = decodeDer(input);
      } catch (error) {
        if (!(error instanceof CodecError)) throw new AssertionError(`${toHex(input)}: ${String(error)}`);
        rejected++;
        continue;
      }
      decoded++;
      bytesEqual(derEncodeNode(node), input, "DER has one encoding per tree");
    }
    ok(decoded > 20 && rejected > 20, `decoded ${decoded}, rejected ${rejected}`);
  });
});
