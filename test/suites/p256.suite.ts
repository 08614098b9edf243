// P-256 keys, ECDSA-SHA256, ECDH and DER signatures against published known answers (RFC 6979
// A.2.5, NIST CAVS ECC CDH), and rejection of invalid points, scalars and encodings.
import { suite, bytesEqual, equal, fromHex, ok, throws, toHex } from "../portable/harness";
import {
  CryptoError,
  ecdh,
  ecdsaSign,
  ecdsaVerify,
  generateKeyPair,
  isValidPublicKey,
  publicKeyFromPrivate,
  randomScalar,
  signatureFromDer,
  signatureToDer,
  warmUpCurve,
  type Random,
} from "../../src/crypto";

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);

const ORDER = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const FIELD_PRIME = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";

// RFC 6979 appendix A.2.5: P-256 key and deterministic SHA-256 signatures.
const RFC6979 = {
  privateKey: "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
  publicKey:
    "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6" +
    "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299",
  sample: "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8",
  test: "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083",
};

// NIST CAVS 14.1 ECC CDH primitive (SP 800-56A), P-256 COUNT = 0.
const CDH = {
  peerPublicKey:
    "04700c48f77f56584c5cc632ca65640db91b6bacce3a4df6b42ce7cc838833d287" +
    "db71e509e3fd9b060ddb20ba5c51dcc5948d46fbf640dfe0441782cab85fa4ac",
  privateKey: "7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534",
  publicKey:
    "04ead218590119e8876b29146ff89ca61770c4edbbf97d38ce385ed281d8a6b230" +
    "28af61281fd35e2fa7002523acc85a429cb06ee6648325389f59edfce1405141",
  shared: "46fc62106420ff012e54a434fbdd2d25ccc5852060561e68040dd7778997bd7b",
};

/** Yields the same byte pattern forever: deterministic input for key generation. */
function patternRandom(pattern: number[]): Random {
  let position = 0;
  return {
    bytes(length) {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = pattern[position++ % pattern.length]!;
      return out;
    },
  };
}

function hexToBigInt(hex: string): bigint {
  return BigInt("0x" + hex);
}

function scalarHex(value: bigint): string {
  return value.toString(16).padStart(64, "0");
}

/** Invalid encodings of public keys, each with the reason it is invalid. */
function invalidPoints(): [string, Uint8Array][] {
  const valid = fromHex(RFC6979.publicKey);
  const offCurve = valid.slice();
  offCurve[64]! ^= 1;
  const hybrid = valid.slice();
  hybrid[0] = 0x06;
  const xTooLarge = fromHex("04" + FIELD_PRIME + RFC6979.publicKey.slice(66));
  return [
    ["point off the curve", offCurve],
    ["identity as 65 zero bytes", new Uint8Array(65)],
    ["identity as 0x04 and zeros", Uint8Array.of(0x04, ...new Uint8Array(64))],
    ["single 0x00 (SEC1 infinity)", Uint8Array.of(0)],
    ["compressed form", fromHex("02" + RFC6979.publicKey.slice(2, 66))],
    ["hybrid form", hybrid],
    ["x not below p", xTooLarge],
    ["truncated", valid.subarray(0, 64)],
    ["one byte too long", Uint8Array.of(...valid, 0)],
    ["raw X || Y without prefix", valid.subarray(1)],
    ["empty", new Uint8Array(0)],
  ];
}

function invalidScalars(): [string, Uint8Array][] {
  const n = hexToBigInt(ORDER);
  return [
    ["zero", new Uint8Array(32)],
    ["n", fromHex(ORDER)],
    ["n + 1", fromHex(scalarHex(n + 1n))],
    ["all ones", new Uint8Array(32).fill(0xff)],
    ["31 bytes", new Uint8Array(31).fill(1)],
    ["33 bytes", new Uint8Array(33).fill(1)],
  ];
}

export default suite("P-256 ECDSA and ECDH", (test) => {
  test("public key from private key (RFC 6979 A.2.5, NIST CDH)", () => {
    warmUpCurve();
    bytesEqual(publicKeyFromPrivate(fromHex(RFC6979.privateKey)), RFC6979.publicKey);
    bytesEqual(publicKeyFromPrivate(fromHex(CDH.privateKey)), CDH.publicKey);
    ok(isValidPublicKey(fromHex(RFC6979.publicKey)));
  });

  test("ECDSA-SHA256 signs exactly as RFC 6979 A.2.5 and verifies", () => {
    const privateKey = fromHex(RFC6979.privateKey);
    const publicKey = fromHex(RFC6979.publicKey);
    for (const message of ["sample", "test"] as const) {
      const signature = ecdsaSign(privateKey, ascii(message));
      bytesEqual(signature, RFC6979[message], message);
      ok(ecdsaVerify(publicKey, ascii(message), signature), `${message} verifies`);
    }
  });

  test("ECDSA verify rejects changed messages, signatures and keys, and accepts high S", () => {
    const publicKey = fromHex(RFC6979.publicKey);
    const signature = fromHex(RFC6979.test);
    const message = ascii("test");
    ok(!ecdsaVerify(publicKey, ascii("tesT"), signature), "other message");
    ok(!ecdsaVerify(fromHex(CDH.publicKey), message, signature), "other key");
    for (let bit = 0; bit < 512; bit += 13) {
      const tampered = signature.slice();
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      ok(!ecdsaVerify(publicKey, message, tampered), `signature bit ${bit}`);
    }
    // (r, n - s) is the same signature with the other S: valid for ECDSA, produced by OpenSSL.
    const n = hexToBigInt(ORDER);
    const s = hexToBigInt(RFC6979.test.slice(64));
    const highS = fromHex(RFC6979.test.slice(0, 64) + scalarHex(n - s));
    ok(ecdsaVerify(publicKey, message, highS), "high-S form verifies");
    // r or s of zero or n, and malformed lengths, are "false", not exceptions.
    const zeroR = fromHex("00".repeat(32) + RFC6979.test.slice(64));
    const nS = fromHex(RFC6979.test.slice(0, 64) + ORDER);
    ok(!ecdsaVerify(publicKey, message, zeroR), "r = 0");
    ok(!ecdsaVerify(publicKey, message, nS), "s = n");
    ok(!ecdsaVerify(publicKey, message, signature.subarray(0, 63)), "63-byte signature");
    ok(!ecdsaVerify(publicKey, message, signatureToDer(signature)), "DER instead of raw");
    for (const [name, point] of invalidPoints()) ok(!ecdsaVerify(point, message, signature), `key: ${name}`);
  });

  test("DER signatures: exact encoding, round trip, and strict parsing", () => {
    const sample = fromHex(RFC6979.sample);
    const derSample = signatureToDer(sample);
    // Both integers have the top bit set, so each takes a 0x00 pad byte.
    bytesEqual(derSample, "3046022100" + RFC6979.sample.slice(0, 64) + "022100" + RFC6979.sample.slice(64));
    bytesEqual(signatureFromDer(derSample), sample);
    const derTest = signatureToDer(fromHex(RFC6979.test));
    // s = 019f... is positive as it stands and has no leading zero to strip.
    bytesEqual(derTest, "3045022100" + RFC6979.test.slice(0, 64) + "0220" + RFC6979.test.slice(64));
    bytesEqual(signatureFromDer(derTest), RFC6979.test);
    // Short integers are left-padded back to 32 bytes.
    const small = fromHex("00".repeat(31) + "01" + "00".repeat(30) + "7fff");
    const derSmall = signatureToDer(small);
    bytesEqual(derSmall, "3007020101" + "02027fff");
    bytesEqual(signatureFromDer(derSmall), small);

    const body = toHex(derTest).slice(4);
    const malformed: [string, string][] = [
      ["empty", ""],
      ["trailing byte", toHex(derTest) + "00"],
      ["sequence length too long", "3046" + body],
      ["sequence length too short", "3044" + body],
      ["not a SEQUENCE", "3145" + body],
      ["INTEGER tag wrong", "3007030101" + "02027fff"],
      ["non-minimal integer (extra 00)", "3008" + "02020001" + "02027fff"],
      ["negative integer", "3007" + "020181" + "02027fff"],
      ["r = 0", "3007" + "020100" + "02027fff"],
      ["r = n", "3026" + "022100" + ORDER + "020101"],
      ["integer longer than 33 bytes", "3028" + "0223" + "0000" + "ff".repeat(33) + "020101"],
      ["long-form length for short content", "308107" + "020101" + "02027fff"],
      ["missing s", "3003020101"],
      ["three integers", "300a" + "020101" + "020101" + "020101"],
    ];
    for (const [name, hex] of malformed) {
      const error = throws(() => signatureFromDer(fromHex(hex)), "malformed DER ECDSA signature", name);
      ok(error instanceof CryptoError, name);
    }
    ok(throws(() => signatureToDer(new Uint8Array(63)), "64 bytes") instanceof CryptoError);
    ok(throws(() => signatureToDer(new Uint8Array(64)), "invalid raw ECDSA signature") instanceof CryptoError);
  });

  test("ECDH: NIST CAVS CDH known answer, and agreement both ways", () => {
    bytesEqual(ecdh(fromHex(CDH.privateKey), fromHex(CDH.peerPublicKey)), CDH.shared);
    const alice = generateKeyPair(patternRandom([0x11, 0x22, 0x33]));
    const bob = generateKeyPair(patternRandom([0x44, 0x55]));
    const aliceView = ecdh(alice.privateKey, bob.publicKey);
    equal(aliceView.length, 32);
    bytesEqual(ecdh(bob.privateKey, alice.publicKey), aliceView);
  });

  test("ECDH rejects invalid and off-curve peer keys with CryptoError", () => {
    const privateKey = fromHex(CDH.privateKey);
    for (const [name, point] of invalidPoints()) {
      ok(!isValidPublicKey(point), `isValidPublicKey: ${name}`);
      const error = throws(() => ecdh(privateKey, point), "not a valid uncompressed P-256 point", name);
      ok(error instanceof CryptoError, name);
    }
  });

  test("private keys outside [1, n-1] or of the wrong length throw CryptoError", () => {
    const peer = fromHex(CDH.peerPublicKey);
    for (const [name, scalar] of invalidScalars()) {
      for (const [operation, run] of [
        ["publicKeyFromPrivate", () => publicKeyFromPrivate(scalar)],
        ["ecdsaSign", () => ecdsaSign(scalar, ascii("m"))],
        ["ecdh", () => ecdh(scalar, peer)],
      ] as const) {
        ok(throws(run, "private key", `${operation}: ${name}`) instanceof CryptoError, `${operation}: ${name}`);
      }
    }
    // n - 1 is the largest valid key; its public key is -G, the base point with Y negated.
    const nMinusOne = fromHex(scalarHex(hexToBigInt(ORDER) - 1n));
    const minusG = publicKeyFromPrivate(nMinusOne);
    bytesEqual(minusG.subarray(0, 33), "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
    const gy = hexToBigInt("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
    bytesEqual(minusG.subarray(33), scalarHex(hexToBigInt(FIELD_PRIME) - gy));
  });

  test("random scalars are (c mod (n - 1)) + 1 over 48 random bytes", () => {
    const n = hexToBigInt(ORDER);
    bytesEqual(randomScalar(patternRandom([0])), scalarHex(1n), "all-zero randomness gives 1");
    const allOnes = (1n << 384n) - 1n;
    bytesEqual(randomScalar(patternRandom([0xff])), scalarHex((allOnes % (n - 1n)) + 1n), "all-ones randomness");
    const pair = generateKeyPair(patternRandom([7, 1, 9]));
    equal(pair.privateKey.length, 32);
    bytesEqual(pair.publicKey, publicKeyFromPrivate(pair.privateKey));
    ok(ecdsaVerify(pair.publicKey, ascii("m"), ecdsaSign(pair.privateKey, ascii("m"))));
    const short: Random = { bytes: (length) => new Uint8Array(length - 1) };
    ok(throws(() => randomScalar(short), "48 bytes") instanceof CryptoError, "a source returning too few bytes is refused");
  });
});
