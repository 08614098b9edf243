// AES-128-CCM against every vector in aes_ccm/aes_ccm_vectors.json (Wycheproof with Matter's
// 13-byte nonce and 16-byte tag, Wycheproof modified-tag negatives, RFC 3610 and SP 800-38C
// examples with other nonce and tag sizes), plus the CTR half and input validation.
import { suite, bytesEqual, equal, fromHex, ok, throws } from "../portable/harness";
import { CryptoError, aesCcmCtr, aesCcmDecrypt, aesCcmEncrypt, aesCtr } from "../../src/crypto";

interface CcmVector {
  source: string;
  key: string;
  nonce: string;
  aad: string;
  plaintext: string;
  ciphertext: string;
  tag: string;
  tag_length: number;
  nonce_length: number;
  result: "valid" | "invalid";
}

interface CcmVectorFile {
  matter_profile_nonce13_tag16: CcmVector[];
  negative_modified_tag_nonce12_tag16: CcmVector[];
  standard_vectors_other_sizes: CcmVector[];
}

const VECTORS = "aes_ccm/aes_ccm_vectors.json";

function checkValid(vector: CcmVector): void {
  const key = fromHex(vector.key);
  const nonce = fromHex(vector.nonce);
  const aad = fromHex(vector.aad);
  const plaintext = fromHex(vector.plaintext);
  equal(nonce.length, vector.nonce_length, `${vector.source}: nonce length`);
  const sealed = aesCcmEncrypt(key, nonce, plaintext, aad, vector.tag_length);
  bytesEqual(sealed, vector.ciphertext + vector.tag, `${vector.source}: ciphertext || tag`);
  bytesEqual(aesCcmDecrypt(key, nonce, sealed, aad, vector.tag_length), plaintext, `${vector.source}: decrypted`);
}

/** The vector's ciphertext with one bit flipped at `bit` (counted over ciphertext || tag). */
function flipped(sealed: Uint8Array, bit: number): Uint8Array {
  const copy = sealed.slice();
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
}

export default suite("AES-128-CCM", (test) => {
  test("Matter profile (13-byte nonce, 16-byte tag): Wycheproof vectors encrypt and decrypt", ({ vectors }) => {
    const file = vectors.json<CcmVectorFile>(VECTORS);
    ok(file.matter_profile_nonce13_tag16.length >= 6, "vector set present");
    for (const vector of file.matter_profile_nonce13_tag16) {
      equal(vector.result, "valid");
      equal(vector.tag_length, 16);
      checkValid(vector);
    }
  });

  test("RFC 3610 and SP 800-38C vectors (7..13-byte nonces, 4..10-byte tags)", ({ vectors }) => {
    const file = vectors.json<CcmVectorFile>(VECTORS);
    ok(file.standard_vectors_other_sizes.length >= 6, "vector set present");
    for (const vector of file.standard_vectors_other_sizes) checkValid(vector);
  });

  test("Wycheproof modified tags are rejected with CryptoError", ({ vectors }) => {
    const file = vectors.json<CcmVectorFile>(VECTORS);
    ok(file.negative_modified_tag_nonce12_tag16.length >= 3, "vector set present");
    for (const vector of file.negative_modified_tag_nonce12_tag16) {
      equal(vector.result, "invalid");
      const key = fromHex(vector.key);
      const nonce = fromHex(vector.nonce);
      const sealed = fromHex(vector.ciphertext + vector.tag);
      const error = throws(() => aesCcmDecrypt(key, nonce, sealed, fromHex(vector.aad), vector.tag_length), "authentication failed", vector.source);
      ok(error instanceof CryptoError, `${vector.source}: CryptoError`);
      // The same inputs with the unmodified tag decrypt: the rejection is due to the tag alone.
      const genuine = aesCcmEncrypt(key, nonce, fromHex(vector.plaintext), fromHex(vector.aad), vector.tag_length);
      bytesEqual(genuine.subarray(0, genuine.length - 16), vector.ciphertext, `${vector.source}: ciphertext`);
      ok(!bytesEquals(genuine.subarray(genuine.length - 16), fromHex(vector.tag)), `${vector.source}: tag differs from the genuine one`);
    }
  });

  test("any flipped bit in ciphertext, tag, nonce or AAD fails authentication", ({ vectors }) => {
    const vector = vectors.json<CcmVectorFile>(VECTORS).matter_profile_nonce13_tag16.find((v) => v.plaintext.length > 32 && v.aad.length > 0)!;
    ok(vector, "a vector with payload and AAD");
    const key = fromHex(vector.key);
    const nonce = fromHex(vector.nonce);
    const aad = fromHex(vector.aad);
    const sealed = fromHex(vector.ciphertext + vector.tag);
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      throws(() => aesCcmDecrypt(key, nonce, flipped(sealed, bit), aad), "authentication failed", `bit ${bit}`);
    }
    for (let bit = 0; bit < nonce.length * 8; bit += 7) {
      throws(() => aesCcmDecrypt(key, flipped(nonce, bit), sealed, aad), "authentication failed", `nonce bit ${bit}`);
    }
    for (let bit = 0; bit < aad.length * 8; bit += 5) {
      throws(() => aesCcmDecrypt(key, nonce, sealed, flipped(aad, bit)), "authentication failed", `aad bit ${bit}`);
    }
    throws(() => aesCcmDecrypt(key, nonce, sealed, new Uint8Array(0)), "authentication failed", "AAD dropped");
    throws(() => aesCcmDecrypt(key, nonce, sealed.subarray(0, sealed.length - 1), aad), "authentication failed", "truncated");
  });

  test("unaligned input views give the same result as aligned copies", ({ vectors }) => {
    const vector = vectors.json<CcmVectorFile>(VECTORS).standard_vectors_other_sizes[2]!;
    const key = fromHex(vector.key);
    const nonce = fromHex(vector.nonce);
    const plaintext = fromHex(vector.plaintext);
    const backing = new Uint8Array(plaintext.length + 3);
    backing.set(plaintext, 3);
    const sealed = aesCcmEncrypt(key, nonce, backing.subarray(3), fromHex(vector.aad), vector.tag_length);
    bytesEqual(sealed, vector.ciphertext + vector.tag);
    const sealedBacking = new Uint8Array(sealed.length + 1);
    sealedBacking.set(sealed, 1);
    bytesEqual(aesCcmDecrypt(key, nonce, sealedBacking.subarray(1), fromHex(vector.aad), vector.tag_length), plaintext);
  });

  test("Matter AES-CTR is CCM's keystream: equals the CCM ciphertext without the tag", ({ vectors }) => {
    const all = vectors.json<CcmVectorFile>(VECTORS);
    for (const vector of [...all.matter_profile_nonce13_tag16, ...all.standard_vectors_other_sizes]) {
      const key = fromHex(vector.key);
      const nonce = fromHex(vector.nonce);
      bytesEqual(aesCcmCtr(key, nonce, fromHex(vector.plaintext)), vector.ciphertext, vector.source);
      bytesEqual(aesCcmCtr(key, nonce, fromHex(vector.ciphertext)), vector.plaintext, `${vector.source}: inverse`);
      // The same keystream through the generic CTR with counter block A_1 = (q-1) || N || 1.
      const counter = new Uint8Array(16);
      counter[0] = 14 - nonce.length;
      counter.set(nonce, 1);
      counter[15] = 1;
      bytesEqual(aesCtr(key, counter, fromHex(vector.plaintext)), vector.ciphertext, `${vector.source}: aesCtr`);
    }
  });

  test("wrong-length keys, nonces, tag sizes and short inputs throw CryptoError", () => {
    const key = new Uint8Array(16);
    const nonce = new Uint8Array(13);
    const empty = new Uint8Array(0);
    const cases: [string, () => unknown, string][] = [
      ["15-byte key", () => aesCcmEncrypt(new Uint8Array(15), nonce, empty, empty), "key must be 16 bytes"],
      ["32-byte key", () => aesCcmDecrypt(new Uint8Array(32), nonce, new Uint8Array(16), empty), "key must be 16 bytes"],
      ["6-byte nonce", () => aesCcmEncrypt(key, new Uint8Array(6), empty, empty), "nonce must be 7..13"],
      ["14-byte nonce", () => aesCcmEncrypt(key, new Uint8Array(14), empty, empty), "nonce must be 7..13"],
      ["odd tag", () => aesCcmEncrypt(key, nonce, empty, empty, 7), "tag length"],
      ["2-byte tag", () => aesCcmEncrypt(key, nonce, empty, empty, 2), "tag length"],
      ["18-byte tag", () => aesCcmEncrypt(key, nonce, empty, empty, 18), "tag length"],
      ["shorter than tag", () => aesCcmDecrypt(key, nonce, new Uint8Array(15), empty), "shorter than its 16-byte tag"],
      ["payload too long for a 13-byte nonce", () => aesCcmEncrypt(key, nonce, new Uint8Array(65536), empty), "too long"],
      ["not bytes", () => aesCcmEncrypt(key, nonce, "text" as unknown as Uint8Array, empty), "must be a Uint8Array"],
      ["CTR counter block", () => aesCtr(key, new Uint8Array(12), empty), "must be 16 bytes"],
      ["CTR key", () => aesCtr(new Uint8Array(24), new Uint8Array(16), empty), "must be 16 bytes"],
      ["CCM-CTR nonce", () => aesCcmCtr(key, new Uint8Array(16), empty), "nonce must be 7..13"],
    ];
    for (const [name, run, message] of cases) {
      const error = throws(run, message, name);
      ok(error instanceof CryptoError, `${name}: CryptoError`);
      equal(error.name, "CryptoError", name);
    }
    // The largest payload a 13-byte nonce allows still works.
    equal(aesCcmEncrypt(key, nonce, new Uint8Array(65535), empty).length, 65535 + 16);
  });
});

function bytesEquals(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
