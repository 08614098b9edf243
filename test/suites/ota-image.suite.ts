// The Matter OTA image file and the matter-xs signature: CHIP's minimal image from the shared
// vectors (SHA3-224 digest, empty payload) read whole and byte by byte, a header assembled by hand
// from the spec's layout, signed images checked against the key that signed them and refused
// with any other key or any changed byte, and every kind of malformed or lying header refused.
import { suite, ok, equal, bytesEqual, throws, deepEqual, fromHex, toHex } from "../portable/harness";
import { concatBytes, utf8Encode } from "../../src/codec/bytes";
import { TlvWriter } from "../../src/codec/tlv";
import { createHash, ecdsaSign, ecdsaVerify, publicKeyFromPrivate, sha256 } from "../../src/crypto";
import { OtaFault, OtaImageError } from "../../src/ota/errors";
import {
  decodeOtaHeader,
  encodeOtaHeader,
  OTA_MAX_HEADER_LENGTH,
  OTA_SIGNATURE_TAG,
  OtaHeaderParser,
  OtaImageReader,
  otaSignedMessage,
  readOtaImage,
  verifyOtaSignature,
  type OtaHeaderFields,
} from "../../src/ota/image";

const MINIMAL = "ota/ota_minimal.ota";
const signingKey = sha256(utf8Encode("matter-xs OTA test signing key"));
const otherKey = sha256(utf8Encode("matter-xs OTA some other key"));

function fields(payload: Uint8Array, extra: Partial<OtaHeaderFields> = {}): OtaHeaderFields {
  return { vendorId: 0xfff1, productId: 0x8000, softwareVersion: 2, softwareVersionString: "2.0", payloadSize: payload.length, ...extra };
}

function signedImage(payload: Uint8Array, extra: Partial<OtaHeaderFields> = {}, key = signingKey): Uint8Array {
  return concatBytes(encodeOtaHeader(fields(payload, extra), sha256(payload), (message) => ecdsaSign(key, message)), payload);
}

/** A fixed header over `tlv` with sizes as given (or the true ones). */
function fixedHeader(headerSize: number, payloadSize: number, totalSize = 16 + headerSize + payloadSize): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 0x1beef11e, true);
  view.setUint32(4, totalSize % 0x1_0000_0000, true);
  view.setUint32(8, Math.floor(totalSize / 0x1_0000_0000), true);
  view.setUint32(12, headerSize, true);
  return bytes;
}

/** An image from hand-written TLV members (tags and values as given), no signature. */
function handImage(write: (writer: TlvWriter) => void, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const writer = new TlvWriter().startStructure(undefined);
  write(writer);
  const tlv = writer.end().finish();
  return concatBytes(fixedHeader(tlv.length, payload.length), tlv, payload);
}

function standardMembers(payload: Uint8Array, digestType = 1, digest = sha256(payload)): (writer: TlvWriter) => void {
  return (writer) => {
    writer.uint(0, 0xfff1).uint(1, 0x8000).uint(2, 2).utf8(3, "2.0").uint(4, payload.length).uint(8, digestType).bytes(9, digest);
  };
}

function fault(fn: () => unknown, expected: number, pattern?: RegExp): void {
  const error = throws(fn, pattern);
  ok(error instanceof OtaImageError, `expected an OtaImageError, got ${error.name}: ${error.message}`);
  equal((error as OtaImageError).fault, expected, `fault for "${error.message}"`);
}

export default suite("OTA image format and signature", (test) => {
  test("CHIP's minimal image: fields, SHA3-224 of the empty payload, no signature", (context) => {
    const file = context.vectors.bytes(MINIMAL);
    const { header, digestMatches, payload, payloadDigest } = readOtaImage(file);
    equal(header.totalSize, file.length);
    equal(header.headerSize, file.length - 16);
    equal(header.vendorId, 1);
    equal(header.productId, 1);
    equal(header.softwareVersion, 1);
    equal(header.softwareVersionString, "1");
    equal(header.payloadSize, 0);
    equal(header.minApplicableVersion, undefined);
    equal(header.maxApplicableVersion, undefined);
    equal(header.releaseNotesUrl, undefined);
    equal(header.imageDigestType, 9, "sha3-224 in the IANA registry");
    bytesEqual(header.imageDigest, createHash("sha3-224").digest());
    bytesEqual(payloadDigest, header.imageDigest);
    ok(digestMatches);
    equal(payload.length, 0);
    equal(header.signature, undefined);
    ok(!verifyOtaSignature(header, sha256(new Uint8Array(0)), publicKeyFromPrivate(signingKey)), "an unsigned image never verifies");
  });

  test("the minimal image parses in pieces of every size, asking for more until its last byte", (context) => {
    const file = context.vectors.bytes(MINIMAL);
    const whole = decodeOtaHeader(file);
    for (let size = 1; size <= file.length; size++) {
      const parser = new OtaHeaderParser();
      let consumed = 0;
      for (let at = 0; at < file.length; at += size) {
        ok(!parser.complete, `complete before byte ${at} (pieces of ${size})`);
        consumed += parser.push(file.subarray(at, at + size));
      }
      ok(parser.complete, `pieces of ${size}`);
      equal(consumed, file.length);
      deepEqual(parser.header, whole);
    }
    const parser = new OtaHeaderParser();
    equal(parser.bytesNeeded, 16);
    equal(parser.push(new Uint8Array(0)), 0, "an empty buffer takes nothing");
    equal(parser.bytesNeeded, 16);
    parser.push(file.subarray(0, 10));
    equal(parser.bytesNeeded, 6);
    parser.push(file.subarray(10, file.length - 1));
    ok(!parser.complete, "truncated by one byte: still waiting");
    equal(parser.bytesNeeded, 1);
    const reader = new OtaImageReader();
    reader.push(file.subarray(0, file.length - 1));
    fault(() => reader.finish(), OtaFault.sizeMismatch, /truncated in its header/);
  });

  test("refuses a wrong file identifier, and a header size over 1024 bytes", (context) => {
    const file = context.vectors.bytes(MINIMAL).slice();
    file[0] = 0x1f;
    fault(() => new OtaHeaderParser().push(file), OtaFault.malformedHeader, /file identifier/);
    const huge = concatBytes(fixedHeader(OTA_MAX_HEADER_LENGTH + 1, 0), new Uint8Array(OTA_MAX_HEADER_LENGTH + 1));
    fault(() => new OtaHeaderParser().push(huge.subarray(0, 16)), OtaFault.malformedHeader, /1024-byte limit/);
  });

  test("a header assembled by hand from the spec's layout equals the encoder's", () => {
    const payload = utf8Encode("firmware");
    const digest = sha256(payload);
    const tlv = concatBytes(
      fromHex("15" + "2500f1ff" + "25010080" + "240202" + "2c0303" + toHex(utf8Encode("2.0")) + "240408" + "240801" + "300920"),
      digest,
      fromHex("18"),
    );
    const expected = concatBytes(fixedHeader(tlv.length, payload.length), tlv);
    bytesEqual(encodeOtaHeader(fields(payload), digest), expected);
    const { header, digestMatches } = readOtaImage(concatBytes(expected, payload));
    ok(digestMatches);
    equal(header.signedLength, expected.length, "an unsigned header has nothing outside the signed range");
  });

  test("all optional fields round-trip, and the signature is the last member with tag 0x80", () => {
    const payload = utf8Encode("test payload");
    const image = signedImage(payload, { minApplicableVersion: 1, maxApplicableVersion: 1, releaseNotesUrl: "https://example.com/notes" });
    const { header, digestMatches, payload: read } = readOtaImage(image);
    equal(header.minApplicableVersion, 1);
    equal(header.maxApplicableVersion, 1);
    equal(header.releaseNotesUrl, "https://example.com/notes");
    equal(header.payloadSize, 12);
    bytesEqual(read, payload);
    ok(digestMatches);
    const headerLength = 16 + header.headerSize;
    bytesEqual(image.subarray(headerLength - 68, headerLength - 65), Uint8Array.of(0x30, OTA_SIGNATURE_TAG, 64));
    equal(image[headerLength - 1], 0x18, "end of the header structure");
    equal(header.signedLength, headerLength - 68);
  });

  test("the signature is ECDSA-SHA256 over the header up to the signature element and SHA-256(payload)", () => {
    const payload = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff);
    const image = signedImage(payload);
    const { header, payloadSha256 } = readOtaImage(image);
    const headerLength = 16 + header.headerSize;
    // Rebuilt from the file's bytes, not from the parser's view of them.
    const message = concatBytes(image.subarray(0, headerLength - 68), sha256(image.subarray(headerLength)));
    bytesEqual(otaSignedMessage(header, payloadSha256), message);
    ok(ecdsaVerify(publicKeyFromPrivate(signingKey), message, image.subarray(headerLength - 65, headerLength - 1)));
    ok(verifyOtaSignature(header, payloadSha256, publicKeyFromPrivate(signingKey)));
    ok(!verifyOtaSignature(header, payloadSha256, publicKeyFromPrivate(otherKey)), "another key");
    const byOther = readOtaImage(signedImage(payload, {}, otherKey));
    ok(!verifyOtaSignature(byOther.header, byOther.payloadSha256, publicKeyFromPrivate(signingKey)), "signed by another key");
  });

  test("every changed byte of a signed image breaks its digest or its signature (or its header)", () => {
    const payload = new Uint8Array(300).map((_, i) => (i * 13 + 5) & 0xff);
    const image = signedImage(payload, { releaseNotesUrl: "https://example.com/r" });
    const publicKey = publicKeyFromPrivate(signingKey);
    for (let at = 0; at < image.length; at++) {
      const changed = image.slice();
      changed[at]! ^= 0x01;
      let accepted = false;
      try {
        const { header, payloadSha256, digestMatches } = readOtaImage(changed);
        accepted = digestMatches && verifyOtaSignature(header, payloadSha256, publicKey);
      } catch (error) {
        ok(error instanceof OtaImageError, `byte ${at}: ${(error as Error).message}`);
      }
      ok(!accepted, `flipping a bit of byte ${at} went unnoticed`);
    }
  });

  test("streaming in odd pieces gives the same digests as reading whole", () => {
    const payload = new Uint8Array(70000).map((_, i) => (i ^ (i >> 8)) & 0xff);
    const image = signedImage(payload);
    const whole = readOtaImage(image);
    const reader = new OtaImageReader();
    let payloadBytes = 0;
    for (let at = 0, step = 1; at < image.length; at += step, step = (step * 3 + 1) % 997) {
      payloadBytes += reader.push(image.subarray(at, at + step)).length;
    }
    equal(payloadBytes, payload.length);
    const streamed = reader.finish();
    bytesEqual(streamed.payloadSha256, whole.payloadSha256);
    ok(streamed.digestMatches);
  });

  test("other registered digest types are computed (sha-512, truncated sha-256-128, sha3-256)", () => {
    const payload = utf8Encode("digest types");
    const cases: [number, Uint8Array][] = [
      [8, createHash("sha-512").update(payload).digest()],
      [2, sha256(payload).subarray(0, 16)],
      [10, createHash("sha3-256").update(payload).digest()],
    ];
    for (const [type, digest] of cases) {
      const image = handImage(standardMembers(payload, type, digest), payload);
      ok(readOtaImage(image).digestMatches, `type ${type}`);
      const wrong = digest.slice();
      wrong[0]! ^= 1;
      ok(!readOtaImage(handImage(standardMembers(payload, type, wrong), payload)).digestMatches, `type ${type}, wrong digest`);
    }
    fault(() => readOtaImage(handImage(standardMembers(payload, 1, sha256(payload).subarray(0, 31)), payload)), OtaFault.malformedHeader, /ImageDigest is 31 bytes/);
    fault(() => readOtaImage(handImage(standardMembers(payload, 13, sha256(payload)), payload)), OtaFault.unsupportedDigest);
  });

  test("sizes that lie are refused: header size, total size, payload size", () => {
    const payload = utf8Encode("abcdef");
    const image = signedImage(payload);
    const headerSize = new DataView(image.buffer).getUint32(12, true);
    for (const delta of [-1, 1]) {
      const lying = image.slice();
      new DataView(lying.buffer).setUint32(12, headerSize + delta, true);
      fault(() => readOtaImage(lying), OtaFault.malformedHeader, undefined);
    }
    const totalLie = image.slice();
    new DataView(totalLie.buffer).setUint32(4, image.length + 1, true);
    fault(() => readOtaImage(totalLie), OtaFault.malformedHeader, /total size/);
    fault(() => readOtaImage(concatBytes(image, Uint8Array.of(0))), OtaFault.sizeMismatch, /more than the 6 payload bytes/);
    fault(() => readOtaImage(image.subarray(0, image.length - 1)), OtaFault.sizeMismatch, /truncated payload \(5 of 6/);
  });

  test("malformed headers: missing fields, order, types, bounds, signature placement and encoding", () => {
    const payload = utf8Encode("x");
    const digest = sha256(payload);
    const malformed = (write: (writer: TlvWriter) => void, pattern: RegExp) => fault(() => readOtaImage(handImage(write, payload)), OtaFault.malformedHeader, pattern);
    malformed((w) => w.uint(1, 0x8000).uint(2, 2).utf8(3, "2").uint(4, 1).uint(8, 1).bytes(9, digest), /missing VendorID/);
    malformed((w) => w.uint(1, 0x8000).uint(0, 0xfff1).uint(2, 2).utf8(3, "2").uint(4, 1).uint(8, 1).bytes(9, digest), /header member 0 after 1/);
    malformed((w) => w.uint(0, 0x10000).uint(1, 1).uint(2, 2).utf8(3, "2").uint(4, 1).uint(8, 1).bytes(9, digest), /VendorID 65536 over 65535/);
    malformed((w) => w.int(0, 1).uint(1, 1).uint(2, 2).utf8(3, "2").uint(4, 1).uint(8, 1).bytes(9, digest), /VendorID is a int/);
    malformed((w) => w.uint(0, 1).uint(1, 1).uint(2, 2).utf8(3, "").uint(4, 1).uint(8, 1).bytes(9, digest), /SoftwareVersionString of 0 bytes/);
    malformed((w) => w.uint(0, 1).uint(1, 1).uint(2, 2).utf8(3, "v".repeat(65)).uint(4, 1).uint(8, 1).bytes(9, digest), /65 bytes, not 1..64/);
    malformed((w) => w.uint(0, 1).uint(1, 1).uint(2, 2).utf8(3, "2").uint(4, 1).utf8(7, "u".repeat(257)).uint(8, 1).bytes(9, digest), /ReleaseNotesURL of 257 bytes/);
    malformed((w) => w.uint(0, 1).uint(1, 1).uint(2, 2).utf8(3, "2").uint(4, 1).uint(8, 1).bytes(9, digest).bytes(OTA_SIGNATURE_TAG, new Uint8Array(63)), /signature of 63 bytes/);
    malformed((w) => w.uint(0, 1).uint(1, 1).uint(2, 2).utf8(3, "2").uint(4, 1).uint(8, 1).bytes(9, digest).bytes(OTA_SIGNATURE_TAG, new Uint8Array(64)).uint(200, 0), /signature not last/);
    malformed((w) => w.uint(0, 1).uint(1, 1).uint(2, 2).utf8(3, "2").uint(4, 1).uint(8, 1).bytes(9, digest).uint({ common: 5 }, 1), /header member with common/);
    // A structure that ends before HeaderSize does: trailing bytes in the header.
    const tlv = new TlvWriter().startStructure(undefined);
    standardMembers(payload)(tlv);
    const encoded = concatBytes(tlv.end().finish(), Uint8Array.of(0x18));
    fault(() => readOtaImage(concatBytes(fixedHeader(encoded.length, 1), encoded, payload)), OtaFault.malformedHeader, /trailing bytes/);
    // The signature in a 2-byte-length encoding would move the signed range: refused.
    const canonical = signedImage(payload);
    const size = new DataView(canonical.buffer).getUint32(12, true);
    const end = 16 + size;
    const longForm = concatBytes(canonical.subarray(0, end - 68), Uint8Array.of(0x31, OTA_SIGNATURE_TAG, 64, 0), canonical.subarray(end - 65));
    const view = new DataView(longForm.buffer);
    view.setUint32(12, size + 1, true);
    view.setUint32(4, canonical.length + 1, true);
    fault(() => readOtaImage(longForm), OtaFault.malformedHeader, /canonical encoding/);
  });

  test("unknown context tags after ImageDigest are skipped, as CHIP skips them", () => {
    const payload = utf8Encode("future");
    const digest = sha256(payload);
    const image = handImage(standardMembers(payload, 1, digest), payload);
    ok(readOtaImage(image).digestMatches);
    const withFuture = handImage((w) => {
      standardMembers(payload, 1, digest)(w);
      w.utf8(10, "a later spec field");
    }, payload);
    const { header } = readOtaImage(withFuture);
    equal(header.vendorId, 0xfff1);
  });

  test("the encoder refuses what no reader may accept", () => {
    const payload = utf8Encode("p");
    throws(() => encodeOtaHeader(fields(payload, { softwareVersionString: "" }), sha256(payload)), /SoftwareVersionString/);
    throws(() => encodeOtaHeader(fields(payload, { vendorId: 0x10000 }), sha256(payload)), /vendor id/);
    throws(() => encodeOtaHeader(fields(payload, { releaseNotesUrl: "u".repeat(2000) }), sha256(payload)), /1024-byte limit/);
    throws(() => encodeOtaHeader(fields(payload), sha256(payload), () => new Uint8Array(63)), /signer returned 63 bytes/);
  });
});
