// The test peers' cryptography: Node's crypto (OpenSSL) and noble's curve points, never the
// firmware's facade, so that the device is checked against an independent implementation.
import { createCipheriv, createDecipheriv, createECDH, createHash, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, hkdfSync, randomBytes, sign, verify, type KeyObject } from "node:crypto";

export function random(length: number): Uint8Array {
  return new Uint8Array(randomBytes(length));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

export function hmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", key).update(data).digest());
}

export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string, length: number): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", ikm, salt, Buffer.from(info, "ascii"), length));
}

/** AES-128-CCM, 13-byte nonce, 16-byte tag appended. */
export function ccmEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Uint8Array {
  const cipher = createCipheriv("aes-128-ccm", key, nonce, { authTagLength: 16 });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  cipher.final();
  return concat(body, cipher.getAuthTag());
}

/** Throws when the tag does not authenticate. */
export function ccmDecrypt(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Uint8Array {
  const decipher = createDecipheriv("aes-128-ccm", key, nonce, { authTagLength: 16 });
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  decipher.setAAD(aad, { plaintextLength: ciphertext.length - 16 });
  const plaintext = decipher.update(ciphertext.subarray(0, ciphertext.length - 16));
  decipher.final();
  return new Uint8Array(plaintext);
}

export function ascii(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "ascii"));
}

/** An ephemeral ECDH key pair. */
export class EphemeralKey {
  private readonly ecdh = createECDH("prime256v1");
  readonly publicKey: Uint8Array;

  constructor() {
    this.ecdh.generateKeys();
    this.publicKey = new Uint8Array(this.ecdh.getPublicKey());
  }

  sharedSecret(peerPublicKey: Uint8Array): Uint8Array {
    return new Uint8Array(this.ecdh.computeSecret(peerPublicKey));
  }
}

/** A P-256 signing key (an operational key of a test node). */
export class SigningKey {
  readonly key: KeyObject;
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;

  constructor() {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.key = privateKey;
    const jwk = privateKey.export({ format: "jwk" });
    this.privateKey = new Uint8Array(Buffer.from(jwk.d!, "base64url"));
    this.publicKey = concat(Uint8Array.of(4), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url"));
  }

  /** ECDSA-SHA256, raw r || s. */
  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(sign("sha256", message, { key: this.key, dsaEncoding: "ieee-p1363" }));
  }
}

export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const key = createPublicKey({
    key: { kty: "EC", crv: "P-256", x: Buffer.from(publicKey.subarray(1, 33)).toString("base64url"), y: Buffer.from(publicKey.subarray(33, 65)).toString("base64url") },
    format: "jwk",
  });
  return verify("sha256", message, { key, dsaEncoding: "ieee-p1363" }, signature);
}

/** A key object from a raw scalar and its public key (to sign with a key made elsewhere). */
export function privateKeyObject(privateKey: Uint8Array, publicKey: Uint8Array): KeyObject {
  return createPrivateKey({
    key: {
      kty: "EC",
      crv: "P-256",
      d: Buffer.from(privateKey).toString("base64url"),
      x: Buffer.from(publicKey.subarray(1, 33)).toString("base64url"),
      y: Buffer.from(publicKey.subarray(33, 65)).toString("base64url"),
    },
    format: "jwk",
  });
}

export function u64le(value: bigint): Uint8Array {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(value);
  return new Uint8Array(out);
}

export function u64be(value: bigint): Uint8Array {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(value);
  return new Uint8Array(out);
}
