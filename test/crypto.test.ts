// Differential tests of src/crypto against Node's OpenSSL-backed `crypto` module: random keys,
// nonces and messages over the size ranges Matter uses, in both directions.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as node from "node:crypto";
import { Spake2p as MatterJsSpake2p, StandardCrypto } from "@matter/general";
import {
  aesCcmDecrypt,
  aesCcmEncrypt,
  aesCtr,
  hkdfSha256,
  hmacSha256,
  pbkdf2Sha256,
  sha256,
  createSha256,
  ecdh,
  ecdsaSign,
  ecdsaVerify,
  generateKeyPair,
  publicKeyFromPrivate,
  signatureFromDer,
  signatureToDer,
  Spake2pProver,
  Spake2pVerifier,
  spake2pComputeVerifier,
  spake2pComputeW0W1,
  type Random,
} from "../src/crypto";

const random = (length: number): Uint8Array => new Uint8Array(node.randomBytes(length));
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

function nodeCcmEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, tagLength: number): Uint8Array {
  const cipher = node.createCipheriv("aes-128-ccm", key, nonce, { authTagLength: tagLength });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(Buffer.concat([body, cipher.getAuthTag()]));
}

function nodeCcmDecrypt(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array, tagLength: number): Uint8Array {
  const body = sealed.subarray(0, sealed.length - tagLength);
  const decipher = node.createDecipheriv("aes-128-ccm", key, nonce, { authTagLength: tagLength });
  decipher.setAuthTag(sealed.subarray(sealed.length - tagLength));
  decipher.setAAD(aad, { plaintextLength: body.length });
  return new Uint8Array(Buffer.concat([decipher.update(body), decipher.final()]));
}

/** 0..40 byte by byte, then a stride through to 1280, plus the block and MTU edges. */
function payloadLengths(): number[] {
  const lengths = new Set<number>();
  for (let n = 0; n <= 40; n++) lengths.add(n);
  for (let n = 41; n <= 1280; n += 37) lengths.add(n);
  for (const n of [255, 256, 257, 1023, 1024, 1025, 1279, 1280]) lengths.add(n);
  return [...lengths].sort((a, b) => a - b);
}

describe("AES-128-CCM vs Node aes-128-ccm", () => {
  it("payloads 0..1280 x AAD 0..64, 13-byte nonce, 16-byte tag, both directions", () => {
    let checked = 0;
    for (const payloadLength of payloadLengths()) {
      for (let aadLength = 0; aadLength <= 64; aadLength++) {
        const key = random(16);
        const nonce = random(13);
        const plaintext = random(payloadLength);
        const aad = random(aadLength);
        const ours = aesCcmEncrypt(key, nonce, plaintext, aad);
        const theirs = nodeCcmEncrypt(key, nonce, plaintext, aad, 16);
        const context = `payload ${payloadLength}, aad ${aadLength}, key ${hex(key)}, nonce ${hex(nonce)}`;
        assert.equal(hex(ours), hex(theirs), context);
        assert.equal(hex(aesCcmDecrypt(key, nonce, theirs, aad)), hex(plaintext), context);
        assert.equal(hex(nodeCcmDecrypt(key, nonce, ours, aad, 16)), hex(plaintext), context);
        checked++;
      }
    }
    assert.ok(checked > 5000);
  });

  it("every nonce size 7..13 and tag size 4..16, with long AAD", () => {
    for (let nonceLength = 7; nonceLength <= 13; nonceLength++) {
      for (let tagLength = 4; tagLength <= 16; tagLength += 2) {
        for (const payloadLength of [0, 1, 16, 33, 300]) {
          for (const aadLength of [0, 1, 300, 0xff00 + 5]) {
            const key = random(16);
            const nonce = random(nonceLength);
            const plaintext = random(payloadLength);
            const aad = random(aadLength);
            const ours = aesCcmEncrypt(key, nonce, plaintext, aad, tagLength);
            const context = `nonce ${nonceLength}, tag ${tagLength}, payload ${payloadLength}, aad ${aadLength}`;
            assert.equal(hex(ours), hex(nodeCcmEncrypt(key, nonce, plaintext, aad, tagLength)), context);
            assert.equal(hex(aesCcmDecrypt(key, nonce, ours, aad, tagLength)), hex(plaintext), context);
          }
        }
      }
    }
  });

  it("a tag Node rejects, we reject", () => {
    for (let i = 0; i < 200; i++) {
      const key = random(16);
      const nonce = random(13);
      const aad = random(i % 20);
      const sealed = nodeCcmEncrypt(key, nonce, random(i), aad, 16);
      const position = node.randomInt(sealed.length);
      sealed[position]! ^= 1 << node.randomInt(8);
      assert.throws(() => nodeCcmDecrypt(key, nonce, sealed, aad, 16));
      assert.throws(() => aesCcmDecrypt(key, nonce, sealed, aad), { name: "CryptoError", message: /authentication failed/ });
    }
  });
});

describe("AES-128-CTR vs Node aes-128-ctr", () => {
  it("random keys and counter blocks, lengths 0..1280, including counter carry across bytes", () => {
    for (const length of payloadLengths()) {
      const key = random(16);
      const iv = random(16);
      if (length % 3 === 0) iv.fill(0xff, 8); // forces a carry through the low 64 bits
      const data = random(length);
      const expected = node.createCipheriv("aes-128-ctr", key, iv).update(data);
      assert.equal(hex(aesCtr(key, iv, data)), expected.toString("hex"), `length ${length}`);
    }
  });
});

describe("SHA-256, HMAC, HKDF, PBKDF2 vs Node", () => {
  it("SHA-256 one-shot and streamed", () => {
    for (const length of [0, 1, 55, 56, 63, 64, 65, 1000, 70000]) {
      const data = random(length);
      const expected = node.createHash("sha256").update(data).digest("hex");
      assert.equal(hex(sha256(data)), expected);
      const stream = createSha256();
      for (let offset = 0; offset < length; offset += 777) stream.update(data.subarray(offset, offset + 777));
      assert.equal(hex(stream.digest()), expected);
    }
  });

  it("HMAC-SHA256 with short, block-sized and long keys", () => {
    for (const keyLength of [0, 1, 16, 32, 63, 64, 65, 200]) {
      const key = random(keyLength);
      const data = random(keyLength * 3 + 1);
      assert.equal(hex(hmacSha256(key, data)), node.createHmac("sha256", key).update(data).digest("hex"));
    }
  });

  it("HKDF-SHA256 with empty and non-empty salt and info, lengths 1..255*32", () => {
    for (const length of [1, 16, 32, 33, 48, 64, 100, 8160]) {
      for (const saltLength of [0, 16, 70]) {
        const ikm = random(32);
        const salt = random(saltLength);
        const info = random(length % 40);
        const expected = new Uint8Array(node.hkdfSync("sha256", ikm, salt, info, length));
        assert.equal(hex(hkdfSha256(ikm, salt, info, length)), hex(expected), `length ${length}, salt ${saltLength}`);
      }
    }
  });

  it("PBKDF2-HMAC-SHA256 with Matter's parameter ranges", () => {
    for (const [iterations, length, saltLength] of [
      [1, 32, 16],
      [2, 80, 32],
      [1000, 80, 16],
      [1001, 80, 32],
      [5000, 33, 20],
    ] as const) {
      const password = random(4);
      const salt = random(saltLength);
      const expected = new Uint8Array(node.pbkdf2Sync(password, salt, iterations, length, "sha256"));
      assert.equal(hex(pbkdf2Sha256(password, salt, iterations, length)), hex(expected));
    }
  });
});

const nodeRandom: Random = { bytes: (length) => random(length) };

/** A Node key pair and the same key in our raw encodings. */
function nodeKeyPair(): { privateKey: node.KeyObject; publicKey: node.KeyObject; rawPrivate: Uint8Array; rawPublic: Uint8Array } {
  const { privateKey, publicKey } = node.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = privateKey.export({ format: "jwk" });
  const rawPrivate = new Uint8Array(Buffer.from(jwk.d!, "base64url"));
  const rawPublic = new Uint8Array(Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]));
  return { privateKey, publicKey, rawPrivate, rawPublic };
}

/** Our raw keys as Node KeyObjects, through JWK. */
function toNodeKeys(rawPrivate: Uint8Array, rawPublic: Uint8Array): { privateKey: node.KeyObject; publicKey: node.KeyObject } {
  const coordinates = {
    kty: "EC",
    crv: "P-256",
    x: Buffer.from(rawPublic.subarray(1, 33)).toString("base64url"),
    y: Buffer.from(rawPublic.subarray(33)).toString("base64url"),
  };
  return {
    privateKey: node.createPrivateKey({ key: { ...coordinates, d: Buffer.from(rawPrivate).toString("base64url") }, format: "jwk" }),
    publicKey: node.createPublicKey({ key: coordinates, format: "jwk" }),
  };
}

describe("P-256 vs Node", () => {
  it("public keys derived from Node's private keys match Node's", () => {
    for (let i = 0; i < 20; i++) {
      const pair = nodeKeyPair();
      assert.equal(hex(publicKeyFromPrivate(pair.rawPrivate)), hex(pair.rawPublic));
    }
  });

  it("Node-signed (ieee-p1363 and DER) verifies with ours; tampering fails", () => {
    for (let i = 0; i < 40; i++) {
      const pair = nodeKeyPair();
      const message = random(i * 7);
      const p1363 = new Uint8Array(node.sign("sha256", message, { key: pair.privateKey, dsaEncoding: "ieee-p1363" }));
      const der = new Uint8Array(node.sign("sha256", message, { key: pair.privateKey, dsaEncoding: "der" }));
      assert.ok(ecdsaVerify(pair.rawPublic, message, p1363), "ieee-p1363");
      assert.ok(ecdsaVerify(pair.rawPublic, message, signatureFromDer(der)), "DER");
      assert.equal(hex(signatureToDer(signatureFromDer(der))), hex(der), "DER re-encodes identically");
      const tampered = p1363.slice();
      tampered[node.randomInt(64)]! ^= 1 << node.randomInt(8);
      assert.ok(!ecdsaVerify(pair.rawPublic, message, tampered));
      assert.ok(!ecdsaVerify(pair.rawPublic, Uint8Array.of(...message, 0), p1363));
    }
  });

  it("ours-signed verifies with Node (ieee-p1363 and DER)", () => {
    for (let i = 0; i < 40; i++) {
      const ours = generateKeyPair(nodeRandom);
      const keys = toNodeKeys(ours.privateKey, ours.publicKey);
      const message = random(i * 11);
      const signature = ecdsaSign(ours.privateKey, message);
      assert.ok(node.verify("sha256", message, { key: keys.publicKey, dsaEncoding: "ieee-p1363" }, signature), "ieee-p1363");
      assert.ok(node.verify("sha256", message, { key: keys.publicKey, dsaEncoding: "der" }, signatureToDer(signature)), "DER");
      // Our key pair is a real key pair to Node too.
      const nodeSignature = node.sign("sha256", message, { key: keys.privateKey, dsaEncoding: "ieee-p1363" });
      assert.ok(ecdsaVerify(ours.publicKey, message, nodeSignature));
    }
  });

  it("ECDH agrees with Node's in both directions", () => {
    for (let i = 0; i < 40; i++) {
      const ours = generateKeyPair(nodeRandom);
      const theirs = node.createECDH("prime256v1");
      theirs.generateKeys();
      const theirPublic = new Uint8Array(theirs.getPublicKey());
      const nodeView = theirs.computeSecret(ours.publicKey);
      assert.equal(hex(ecdh(ours.privateKey, theirPublic)), nodeView.toString("hex"));
      // Left-pad: a private key with leading zero bytes comes back shorter.
      const theirPrivate = new Uint8Array(32);
      const raw = theirs.getPrivateKey();
      theirPrivate.set(raw, 32 - raw.length);
      assert.equal(hex(ecdh(theirPrivate, ours.publicKey)), nodeView.toString("hex"));
    }
  });
});

const bigIntFrom = (bytes: Uint8Array): bigint => BigInt("0x" + (hex(bytes) || "0"));
const bytesOf = (data: ArrayBufferLike | ArrayBufferView): Uint8Array => (ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data));

describe("SPAKE2+ against matter.js (the interoperability target)", () => {
  const matterCrypto = new StandardCrypto();

  it("w0, w1 and L from the passcode match matter.js", async () => {
    for (const [passcode, saltLength, iterations] of [
      [20202021, 16, 1000],
      [1, 32, 1000],
      [99999998, 24, 2000],
    ] as const) {
      const salt = random(saltLength);
      const ours = spake2pComputeW0W1(passcode, salt, iterations);
      const theirs = await MatterJsSpake2p.computeW0W1(matterCrypto, { iterations, salt }, passcode);
      assert.equal(bigIntFrom(ours.w0), theirs.w0);
      assert.equal(bigIntFrom(ours.w1), theirs.w1);
      const theirL = await MatterJsSpake2p.computeW0L(matterCrypto, { iterations, salt }, passcode);
      assert.equal(hex(spake2pComputeVerifier(passcode, salt, iterations).L), hex(bytesOf(theirL.L)));
    }
  });

  it("matter.js commissioner (prover) against our device (verifier)", async () => {
    for (let round = 0; round < 5; round++) {
      const salt = random(16);
      const context = random(32);
      const { w0, w1 } = spake2pComputeW0W1(20202021 + round, salt, 1000);
      const { L } = spake2pComputeVerifier(20202021 + round, salt, 1000);
      const prover = MatterJsSpake2p.create(matterCrypto, context, bigIntFrom(w0));
      const X = bytesOf(prover.computeX());
      const verifier = new Spake2pVerifier({ context, w0, L, random: nodeRandom });
      const { Y, cB } = verifier.respond(X);
      const theirs = await prover.computeSecretAndVerifiersFromY(bigIntFrom(w1), X, Y);
      assert.equal(hex(cB), hex(bytesOf(theirs.hBX)), "cB");
      assert.equal(hex(verifier.confirm(bytesOf(theirs.hAY)).Ke), hex(theirs.Ke), "Ke");
    }
  });

  it("our commissioner (prover) against a matter.js verifier", async () => {
    for (let round = 0; round < 5; round++) {
      const salt = random(32);
      const context = random(32);
      const { w0, w1 } = spake2pComputeW0W1(34567890 + round, salt, 1000);
      const { L } = spake2pComputeVerifier(34567890 + round, salt, 1000);
      const prover = new Spake2pProver({ context, w0, w1, random: nodeRandom });
      const X = prover.start();
      const verifier = MatterJsSpake2p.create(matterCrypto, context, bigIntFrom(w0));
      const Y = bytesOf(verifier.computeY());
      const theirs = await verifier.computeSecretAndVerifiersFromX(L, X, Y);
      const { cA, Ke } = prover.finish(Y, bytesOf(theirs.hBX));
      assert.equal(hex(cA), hex(bytesOf(theirs.hAY)), "cA");
      assert.equal(hex(Ke), hex(theirs.Ke), "Ke");
    }
  });
});
