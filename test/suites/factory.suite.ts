// The factory partition: a round trip with the Matter test PKI (../shared/vectors/attestation), the
// CD test vector and the 20202021 PASE verifier, and the device-side reader refusing every kind of
// corrupt, truncated or inconsistent image with a FactoryDataError naming the field.
import { suite, ok, equal, bytesEqual, throws, deepEqual, fromHex, toHex } from "../portable/harness";
import {
  decodeFactoryImage,
  encodeFactoryImage,
  encodeFactoryPayload,
  FACTORY_PARTITION_SIZE,
  FactoryDataError,
  isValidSetupPasscode,
  padFactoryImage,
  readFactoryData,
  sealFactoryPayload,
  type FactoryDataInput,
} from "../../src/factory";
import { issueAttestationCertificate, NO_EXPIRATION_UNIX, parseX509, signCertificationDeclaration, type CertificationDeclaration } from "../../src/certs";
import { ecdsaVerify, publicKeyFromPrivate, sha256 } from "../../src/crypto";
import { utf8Encode } from "../../src/codec/bytes";
import { decodeTlv, encodeTlv, type TlvElement } from "../../src/codec/tlv";
import type { FlashPartition } from "../../src/platform";
import type { TestContext } from "../portable/harness";

interface Fixtures {
  input: FactoryDataInput;
  paaKey: Uint8Array;
  paiKey: Uint8Array;
  cdKey: Uint8Array;
  cdKeyId: Uint8Array;
  paa: Uint8Array;
}

function fixtures(context: TestContext): Fixtures {
  const chain = context.vectors.json("attestation/attestation_chain_fff1_8000.json");
  const cd = context.vectors.json("certification_declaration/cd_vectors.json");
  const verifier = context.vectors.json("spake2p/pase_verifier_20202021.json");
  return {
    input: {
      vendorId: 0xfff1,
      productId: 0x8000,
      vendorName: "Matter XS Test Vendor",
      productName: "Test Light",
      hardwareVersion: 1,
      hardwareVersionString: "v1.0",
      serialNumber: "MXS-0001",
      discriminator: 3840,
      passcode: 20202021,
      pbkdfIterations: verifier.inputs.pbkdf2_iterations,
      pbkdfSalt: fromHex(verifier.inputs.salt_hex),
      spake2pW0: fromHex(verifier.expected.w0_hex),
      spake2pL: fromHex(verifier.expected.L_hex),
      rotatingDeviceIdUniqueId: fromHex("00112233445566778899aabbccddeeff"),
      dacCertificate: fromHex(chain.DAC.der_hex),
      dacPrivateKey: fromHex(chain.DAC.private_key_hex),
      paiCertificate: fromHex(chain.PAI.der_hex),
      certificationDeclaration: fromHex(cd.test_cases[0].cms_signed_hex),
      firmwareSigningKey: publicKeyFromPrivate(sha256(utf8Encode("matter-xs firmware signing test key"))),
    },
    paaKey: fromHex(chain.PAA.private_key_hex),
    paiKey: fromHex(chain.PAI.private_key_hex),
    cdKey: fromHex(cd.signer.private_key_hex),
    cdKeyId: fromHex(cd.signer.subject_key_id_hex),
    paa: fromHex(chain.PAA.der_hex),
  };
}

/** Seals a payload without the writer's checks, the way a faulty tool or a bit flip would. */
function sealed(input: FactoryDataInput): Uint8Array {
  return sealFactoryPayload(encodeFactoryPayload(input));
}

function refuses(image: Uint8Array, field: string, pattern?: RegExp): void {
  const error = throws(() => decodeFactoryImage(image), pattern, `field ${field}`);
  ok(error instanceof FactoryDataError, `a FactoryDataError, not ${error.name}: ${error.message}`);
  equal((error as FactoryDataError).field, field, error.message);
}

function flash(contents: Uint8Array): FlashPartition & { reads: Uint8Array[] } {
  const reads: Uint8Array[] = [];
  return {
    size: contents.length,
    blockSize: 4096,
    reads,
    read(offset, length) {
      const copy = contents.slice(offset, offset + length);
      reads.push(copy);
      return copy;
    },
    write() {
      throw new Error("read-only in this test");
    },
    erase() {
      throw new Error("read-only in this test");
    },
  };
}

function cdFor(f: Fixtures, changes: Partial<CertificationDeclaration>): Uint8Array {
  const base: CertificationDeclaration = {
    formatVersion: 1,
    vendorId: 0xfff1,
    productIds: [0x8000],
    deviceTypeId: 0x0100,
    certificateId: "CSA00000SWC00000-01",
    securityLevel: 0,
    securityInformation: 0,
    versionNumber: 1,
    certificationType: 0,
  };
  return signCertificationDeclaration({ ...base, ...changes }, f.cdKeyId, f.cdKey);
}

export default suite("factory partition", (test) => {
  test("round trip: every field comes back; the image fits the 0x6000-byte partition", (context) => {
    const f = fixtures(context);
    const image = encodeFactoryImage(f.input);
    ok(image.length < FACTORY_PARTITION_SIZE, `${image.length} bytes`);
    const data = decodeFactoryImage(image);
    const { dacCertificate, dacPrivateKey, paiCertificate, certificationDeclaration, ...plain } = f.input;
    for (const [name, value] of Object.entries(plain)) deepEqual((data as unknown as Record<string, unknown>)[name], value, name);
    bytesEqual(data.attestation.dacCertificate, dacCertificate);
    bytesEqual(data.attestation.paiCertificate, paiCertificate);
    bytesEqual(data.attestation.certificationDeclaration, certificationDeclaration);
    equal(data.certificationDeclaration.certificateId, "ZIG20141ZB330001-24");
    ok(dacPrivateKey.length === 32);

    const withoutPasscode = decodeFactoryImage(encodeFactoryImage({ ...f.input, passcode: undefined }));
    equal(withoutPasscode.passcode, undefined);
    ok(!("passcode" in withoutPasscode), "no passcode field unless stored");
  });

  test("the DAC key is reachable only through signWithDac and never serialised", (context) => {
    const f = fixtures(context);
    const data = decodeFactoryImage(encodeFactoryImage(f.input));
    const message = utf8Encode("attestation elements || challenge");
    ok(ecdsaVerify(parseX509(f.input.dacCertificate).publicKey, message, data.attestation.signWithDac(message)), "DAC signature verifies");
    deepEqual(Object.keys(data.attestation).sort(), ["certificationDeclaration", "dacCertificate", "paiCertificate", "signWithDac"]);
    const serialised = JSON.stringify(data, (_key, value) => (value instanceof Uint8Array ? toHex(value) : value));
    ok(!serialised.includes(toHex(f.input.dacPrivateKey)), "the key does not appear in JSON");
    ok(Object.isFrozen(data.attestation));
  });

  test("readFactoryData reads the partition from flash and wipes its copy of the image", (context) => {
    const f = fixtures(context);
    const partition = flash(padFactoryImage(encodeFactoryImage(f.input)));
    equal(partition.size, FACTORY_PARTITION_SIZE);
    const data = readFactoryData(partition);
    equal(data.serialNumber, "MXS-0001");
    const image = partition.reads[partition.reads.length - 1]!;
    ok(image.every((byte) => byte === 0), "the image buffer holding the key is zeroed");
    const erased = flash(new Uint8Array(FACTORY_PARTITION_SIZE).fill(0xff));
    const error = throws(() => readFactoryData(erased), /never provisioned/);
    equal((error as FactoryDataError).field, "magic");
    throws(() => readFactoryData(flash(new Uint8Array(20))), /cannot hold factory data/);
  });

  test("header: magic, version, reserved bytes, length, truncation and digest", (context) => {
    const image = encodeFactoryImage(fixtures(context).input);
    const edit = (at: number, value: number) => {
      const copy = image.slice();
      copy[at] = value;
      return copy;
    };
    refuses(edit(0, 0x4e), "magic", /not a factory data image/);
    refuses(edit(4, 2), "version", /format version 2 is not supported/);
    refuses(edit(6, 1), "version", /reserved/);
    refuses(edit(11, 0x7f), "length", /exceeds the partition/);
    refuses(image.subarray(0, image.length - 1), "length", /truncated/);
    refuses(image.subarray(0, 8), "length", /shorter than its header/);
    refuses(edit(100, image[100]! ^ 0x01), "digest", /corrupt/);
    refuses(edit(image.length - 1, image[image.length - 1]! ^ 0x01), "digest", /corrupt/);
    // Padding after the image does not matter; the length says where it ends.
    ok(decodeFactoryImage(padFactoryImage(image)));
  });

  test("each field's bounds are enforced", (context) => {
    const f = fixtures(context);
    const cases: [keyof FactoryDataInput, unknown, RegExp][] = [
      ["vendorId", 0, /outside 1..65534/],
      ["vendorId", 0xffff, /outside/],
      ["productId", 0, /outside 1..65535/],
      ["vendorName", "", /length 0/],
      ["vendorName", "V".repeat(33), /length 33/],
      ["productName", "P".repeat(33), /length 33/],
      ["hardwareVersion", 0x10000, /outside 0..65535/],
      ["hardwareVersionString", "", /length 0/],
      ["hardwareVersionString", "h".repeat(65), /length 65/],
      ["serialNumber", "", /length 0/],
      ["serialNumber", "S".repeat(33), /length 33/],
      ["discriminator", 4096, /outside 0..4095/],
      ["passcode", 0, /outside 1..99999998/],
      ["passcode", 99999999, /outside/],
      ["passcode", 11111111, /forbidden/],
      ["passcode", 12345678, /forbidden/],
      ["pbkdfIterations", 999, /outside 1000..100000/],
      ["pbkdfIterations", 100001, /outside 1000..100000/],
      ["pbkdfSalt", new Uint8Array(15), /length 15 is outside 16..32/],
      ["pbkdfSalt", new Uint8Array(33), /length 33/],
      ["spake2pW0", new Uint8Array(31), /length 31 is outside 32..32/],
      ["spake2pW0", new Uint8Array(32).fill(0xff), /not reduced/],
      ["spake2pL", new Uint8Array(64), /length 64 is outside 65..65/],
      ["spake2pL", new Uint8Array(65).fill(4), /not a valid uncompressed P-256 point/],
      ["rotatingDeviceIdUniqueId", new Uint8Array(15), /length 15 is outside 16..32/],
      ["rotatingDeviceIdUniqueId", new Uint8Array(33), /length 33/],
      ["dacCertificate", new Uint8Array(601), /length 601 is outside 1..600/],
      ["dacCertificate", new Uint8Array([0x30, 0x00]), /X.509/],
      ["dacPrivateKey", new Uint8Array(31), /length 31/],
      ["dacPrivateKey", new Uint8Array(32), /not a valid P-256 private key/],
      ["paiCertificate", new Uint8Array(0), /length 0/],
      ["certificationDeclaration", new Uint8Array(1025), /length 1025/],
      ["certificationDeclaration", new Uint8Array([0x30, 0x00]), /CMS/],
      ["firmwareSigningKey", new Uint8Array(65), /not a valid uncompressed P-256 point/],
      ["firmwareSigningKey", new Uint8Array(33), /length 33/],
    ];
    for (const [field, value, pattern] of cases) refuses(sealed({ ...f.input, [field]: value }), field, pattern);
    const payload = decodeTlv(encodeFactoryPayload(f.input));
    const withoutSerial = encodeTlv({ ...payload, value: (payload.value as TlvElement[]).filter((element) => element.tag !== 7) });
    refuses(sealFactoryPayload(withoutSerial), "serialNumber", /missing/);
    throws(() => encodeFactoryPayload({ ...f.input, serialNumber: undefined as unknown as string }), /serialNumber: is missing/);
    ok(isValidSetupPasscode(20202021) && !isValidSetupPasscode(87654321) && !isValidSetupPasscode(0));
  });

  test("payload structure: unknown, duplicated and mistyped fields", (context) => {
    const f = fixtures(context);
    const payload = encodeFactoryPayload(f.input);
    const withExtra = (extra: number[]) => sealFactoryPayload(new Uint8Array([...payload.subarray(0, -1), ...extra, 0x18]));
    refuses(withExtra([0x24, 0x63, 0x01]), "payload", /unknown field tag 99/);
    refuses(withExtra([0x25, 0x01, 0xf1, 0xff]), "vendorId", /appears twice/);
    refuses(sealFactoryPayload(new Uint8Array([0x15, 0x2c, 0x01, 0x01, 0x41, 0x18])), "vendorId", /must be uint/);
    refuses(sealFactoryPayload(new Uint8Array([0x16, 0x18])), "payload", /anonymous TLV structure/);
    refuses(sealFactoryPayload(payload.subarray(0, -1)), "payload");
  });

  test("consistency: DAC key, DAC -> PAI chain, VID/PID against the DAC and the CD", (context) => {
    const f = fixtures(context);
    refuses(sealed({ ...f.input, dacPrivateKey: f.paiKey }), "dacPrivateKey", /does not match the DAC/);
    // A PAI with the right name and vendor but another key: the DAC does not chain to it.
    const impostorKey = sha256(utf8Encode("matter-xs impostor PAI"));
    const genuine = parseX509(f.input.paiCertificate);
    const impostorPai = issueAttestationCertificate(
      { kind: "pai", commonName: "Matter Test PAI", vendorId: 0xfff1, productId: 0x8000, serialNumber: genuine.serialNumber, notBefore: genuine.notBefore, notAfter: NO_EXPIRATION_UNIX, publicKey: publicKeyFromPrivate(impostorKey), issuer: parseX509(f.paa) },
      f.paaKey,
    );
    refuses(sealed({ ...f.input, paiCertificate: impostorPai }), "dacCertificate", /does not chain to the PAI/);
    refuses(sealed({ ...f.input, paiCertificate: f.paa }), "dacCertificate", /does not chain to the PAI/);
    refuses(sealed({ ...f.input, vendorId: 0xfff2 }), "vendorId", /0xFFF2 differs from the DAC's 0xFFF1/);
    refuses(sealed({ ...f.input, productId: 0x8001 }), "productId", /0x8001 differs from the DAC's 0x8000/);
    const cdVectors = context.vectors.json("certification_declaration/cd_vectors.json");
    refuses(sealed({ ...f.input, certificationDeclaration: fromHex(cdVectors.test_cases[1].cms_signed_hex) }), "certificationDeclaration", /vendor id 0xFFF2 differs/);
    refuses(sealed({ ...f.input, certificationDeclaration: cdFor(f, { productIds: [0x8001, 0x8002] }) }), "certificationDeclaration", /does not list product id 0x8000/);
    refuses(
      sealed({ ...f.input, certificationDeclaration: cdFor(f, { dacOriginVendorId: 0xfff2, dacOriginProductId: 0x8000 }) }),
      "certificationDeclaration",
      /DAC origin/,
    );
    ok(decodeFactoryImage(sealed({ ...f.input, certificationDeclaration: cdFor(f, { productIds: [0x8001, 0x8000] }) })));
    // The writer refuses what the reader would refuse.
    const error = throws(() => encodeFactoryImage({ ...f.input, dacPrivateKey: f.paiKey }), /dacPrivateKey/);
    ok(error instanceof FactoryDataError);
  });
});
