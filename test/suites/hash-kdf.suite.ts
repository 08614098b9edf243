// SHA-256, HMAC-SHA256, HKDF-SHA256 and PBKDF2-HMAC-SHA256 known answers from their
// standards, plus the input checks.
import { suite, bytesEqual, equal, ok, throws } from "../portable/harness";
import { CryptoError, createSha256, hkdfSha256, hmacSha256, pbkdf2Sha256, sha256 } from "../../src/crypto";

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
const range = (from: number, to: number): Uint8Array => Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);

// RFC 5869 Appendix A, test cases 1-3 (SHA-256).
const HKDF_CASES = [
  {
    name: "RFC 5869 A.1 (basic)",
    ikm: new Uint8Array(22).fill(0x0b),
    salt: range(0x00, 0x0c),
    info: range(0xf0, 0xf9),
    length: 42,
    okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
  },
  {
    name: "RFC 5869 A.2 (long inputs and output)",
    ikm: range(0x00, 0x4f),
    salt: range(0x60, 0xaf),
    info: range(0xb0, 0xff),
    length: 82,
    okm:
      "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09" +
      "da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87",
  },
  {
    name: "RFC 5869 A.3 (empty salt and info)",
    ikm: new Uint8Array(22).fill(0x0b),
    salt: new Uint8Array(0),
    info: new Uint8Array(0),
    length: 42,
    okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
  },
];

// PBKDF2-HMAC-SHA256: RFC 7914 section 11 (first case) and the SHA-256 counterparts of the
// RFC 6070 vectors as published in draft-josefsson-pbkdf2-test-vectors / stackoverflow.com/a/5136918.
const PBKDF2_CASES = [
  { password: "passwd", salt: "salt", iterations: 1, length: 64, dk: "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783" },
  { password: "password", salt: "salt", iterations: 1, length: 32, dk: "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b" },
  { password: "password", salt: "salt", iterations: 2, length: 32, dk: "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43" },
  { password: "password", salt: "salt", iterations: 4096, length: 32, dk: "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a" },
  {
    password: "passwordPASSWORDpassword",
    salt: "saltSALTsaltSALTsaltSALTsaltSALTsalt",
    iterations: 4096,
    length: 40,
    dk: "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9",
  },
  { password: "pass\u0000word", salt: "sa\u0000lt", iterations: 4096, length: 16, dk: "89b69d0516f829893c696226650a8687" },
];

export default suite("SHA-256, HMAC, HKDF, PBKDF2", (test) => {
  test("SHA-256: FIPS 180-4 examples, one-shot and streamed", () => {
    bytesEqual(sha256(new Uint8Array(0)), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    bytesEqual(sha256(ascii("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const twoBlocks = ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
    bytesEqual(sha256(twoBlocks), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const stream = createSha256();
    for (let i = 0; i < twoBlocks.length; i += 5) stream.update(twoBlocks.subarray(i, i + 5));
    bytesEqual(stream.digest(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    throws(() => stream.update(twoBlocks), "already finished");
  });

  test("HMAC-SHA256: RFC 4231 test cases 1, 2 and 6 (key longer than a block)", () => {
    bytesEqual(hmacSha256(new Uint8Array(20).fill(0x0b), ascii("Hi There")), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    bytesEqual(hmacSha256(ascii("Jefe"), ascii("what do ya want for nothing?")), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    bytesEqual(
      hmacSha256(new Uint8Array(131).fill(0xaa), ascii("Test Using Larger Than Block-Size Key - Hash Key First")),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    );
  });

  test("HKDF-SHA256: RFC 5869 test cases 1-3", () => {
    for (const vector of HKDF_CASES) {
      bytesEqual(hkdfSha256(vector.ikm, vector.salt, vector.info, vector.length), vector.okm, vector.name);
    }
  });

  test("PBKDF2-HMAC-SHA256 known answers", () => {
    for (const vector of PBKDF2_CASES) {
      bytesEqual(pbkdf2Sha256(ascii(vector.password), ascii(vector.salt), vector.iterations, vector.length), vector.dk, `${vector.password}/${vector.iterations}`);
    }
  });

  test("invalid lengths and counts throw CryptoError", () => {
    const bytes = new Uint8Array(4);
    const cases: [string, () => unknown][] = [
      ["HKDF length 0", () => hkdfSha256(bytes, bytes, bytes, 0)],
      ["HKDF length above 255 blocks", () => hkdfSha256(bytes, bytes, bytes, 255 * 32 + 1)],
      ["HKDF fractional length", () => hkdfSha256(bytes, bytes, bytes, 16.5)],
      ["PBKDF2 zero iterations", () => pbkdf2Sha256(bytes, bytes, 0, 32)],
      ["PBKDF2 zero length", () => pbkdf2Sha256(bytes, bytes, 1, 0)],
      ["HMAC of a string", () => hmacSha256(bytes, "data" as unknown as Uint8Array)],
      ["SHA-256 of undefined", () => sha256(undefined as unknown as Uint8Array)],
    ];
    for (const [name, run] of cases) ok(throws(run, undefined, name) instanceof CryptoError, name);
    equal(hkdfSha256(bytes, bytes, bytes, 255 * 32).length, 8160);
  });
});
