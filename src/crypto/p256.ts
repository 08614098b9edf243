// NIST P-256 as Matter uses it (spec 3.5): keys, ECDSA with SHA-256, ECDH, and the raw <-> DER
// signature conversions certificates need. Curve arithmetic is noble's; this module fixes the
// encodings (32-byte scalars, 65-byte uncompressed SEC1 points, 64-byte r || s signatures) and
// turns every bad input into CryptoError.
import { ecdsa, weierstrass } from "@noble/curves/abstract/weierstrass.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bigIntToBytes, bytesToBigInt, requireBytes } from "./bytes";
import { CryptoError } from "./errors";
import type { Random } from "./random";

export const P256_PRIVATE_KEY_LENGTH = 32;
export const P256_PUBLIC_KEY_LENGTH = 65;
export const P256_SIGNATURE_LENGTH = 64;

/** Bytes of randomness reduced to one scalar: 128 bits beyond the order's size make the bias negligible (FIPS 186-5 A.4.1). */
const SCALAR_SEED_LENGTH = 48;

export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/**
 * P-256 (secp256r1) domain parameters, FIPS 186-5 / SP 800-186 §3.2.1.3; test/crypto checks them
 * against noble's own p256. The curve is built from these rather than taken from
 * @noble/curves/nist.js because that module also builds FROST and OPRF suites when it loads,
 * which call TextEncoder (native on Moddable) and so cannot be preloaded.
 */
const P256_DOMAIN: Readonly<Record<"p" | "n" | "h" | "a" | "b" | "Gx" | "Gy", bigint>> = Object.freeze({
  p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
  n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  h: 1n,
  a: 0xffffffff00000001000000000000000000000000fffffffffffffffffffffffcn,
  b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  Gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  Gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
});

/** noble's P-256 with ECDSA over SHA-256; only src/crypto uses it. */
export const p256 = ecdsa(weierstrass(P256_DOMAIN), sha256);

type Point = InstanceType<typeof p256.Point>;

/** The group order n. */
export const P256_ORDER: bigint = p256.Point.Fn.ORDER;

/** A uniformly random scalar in [1, n-1]: (c mod (n-1)) + 1 over 384 random bits. */
export function randomScalar(random: Random): Uint8Array {
  const seed = random.bytes(SCALAR_SEED_LENGTH);
  requireBytes(seed, "random seed", SCALAR_SEED_LENGTH);
  const scalar = bytesToBigInt(seed) % (P256_ORDER - 1n);
  seed.fill(0);
  return bigIntToBytes(scalar + 1n, P256_PRIVATE_KEY_LENGTH);
}

export function generateKeyPair(random: Random): KeyPair {
  const privateKey = randomScalar(random);
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
}

export function publicKeyFromPrivate(privateKey: Uint8Array): Uint8Array {
  return p256.Point.BASE.multiply(privateScalar(privateKey)).toBytes(false);
}

/** True for a 65-byte uncompressed SEC1 point that is on the curve (and so not the identity). */
export function isValidPublicKey(publicKey: Uint8Array): boolean {
  return decodePublicKey(publicKey) !== undefined;
}

/**
 * ECDSA over SHA-256(message) with the deterministic nonce of RFC 6979, returning r || s
 * (64 bytes). S is not normalised to the low half: Matter does not ask for it, and the output
 * then matches RFC 6979's published signatures exactly.
 */
export function ecdsaSign(privateKey: Uint8Array, message: Uint8Array): Uint8Array {
  const key = privateKeyBytes(privateKey);
  requireBytes(message, "message");
  return p256.sign(message, key, { prehash: true, lowS: false, format: "compact" });
}

/**
 * Verifies r || s over SHA-256(message). False, never an exception, for a malformed signature,
 * an invalid key or a mismatch. High-S signatures are valid: OpenSSL and mbedTLS produce them.
 */
export function ecdsaVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!(message instanceof Uint8Array) || !(signature instanceof Uint8Array)) return false;
  if (signature.length !== P256_SIGNATURE_LENGTH || !isValidPublicKey(publicKey)) return false;
  try {
    return p256.verify(signature, message, publicKey, { prehash: true, lowS: false, format: "compact" });
  } catch {
    return false;
  }
}

/** r || s (64 bytes) to the DER SEQUENCE { INTEGER r, INTEGER s } X.509 and CSRs carry. */
export function signatureToDer(raw: Uint8Array): Uint8Array {
  requireBytes(raw, "raw ECDSA signature", P256_SIGNATURE_LENGTH);
  try {
    return p256.Signature.fromBytes(raw, "compact").toBytes("der");
  } catch (error) {
    throw new CryptoError(`invalid raw ECDSA signature: ${describe(error)}`);
  }
}

/** Strict DER (minimal lengths and integers, no trailing bytes, r and s in [1, n-1]) to r || s. */
export function signatureFromDer(der: Uint8Array): Uint8Array {
  requireBytes(der, "DER ECDSA signature");
  try {
    return p256.Signature.fromBytes(der, "der").toBytes("compact");
  } catch (error) {
    throw new CryptoError(`malformed DER ECDSA signature: ${describe(error)}`);
  }
}

/** ECDH: the 32-byte X coordinate of privateKey * peerPublicKey. */
export function ecdh(privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array {
  const scalar = privateScalar(privateKey);
  const peer = decodePublicKey(peerPublicKey);
  if (!peer) throw new CryptoError("ECDH peer public key is not a valid uncompressed P-256 point");
  // The order is prime and the scalar in [1, n-1], so the product of a valid point is never the identity.
  return p256.Point.Fp.toBytes(peer.multiply(scalar).toAffine().x);
}

/**
 * Builds what noble otherwise builds at the first use and keeps in module-level WeakMaps: the
 * precomputed multiples of the base point and the field's square-root helper. This module calls
 * it when it loads, so on the device, where it is preloaded, they are built at build time and
 * live in flash; a preloaded WeakMap can be read but not added to, so nothing may be left for
 * later. Calling it again only looks them up.
 */
export function warmUpCurve(): void {
  p256.Point.BASE.multiply(3n);
  p256.Point.BASE.multiplyUnsafe(3n);
  p256.Point.Fp.sqrt(p256.Point.Fp.ONE);
}
warmUpCurve();

/** A 65-byte uncompressed SEC1 point on the curve, or undefined. */
export function decodePublicKey(publicKey: Uint8Array): Point | undefined {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== P256_PUBLIC_KEY_LENGTH || publicKey[0] !== 0x04) return undefined;
  try {
    const point = p256.Point.fromBytes(publicKey);
    return point.is0() ? undefined : point;
  } catch {
    return undefined;
  }
}

/** Like decodePublicKey, but throws CryptoError naming `what`. */
export function requirePoint(encoded: Uint8Array, what: string): Point {
  const point = decodePublicKey(encoded);
  if (!point) throw new CryptoError(`${what} is not a valid uncompressed P-256 point`);
  return point;
}

/** A 32-byte big-endian scalar in [1, n-1]. */
export function privateScalar(privateKey: Uint8Array, what = "P-256 private key"): bigint {
  requireBytes(privateKey, what, P256_PRIVATE_KEY_LENGTH);
  const scalar = bytesToBigInt(privateKey);
  if (scalar === 0n || scalar >= P256_ORDER) throw new CryptoError(`${what} is out of range [1, n-1]`);
  return scalar;
}

function privateKeyBytes(privateKey: Uint8Array): Uint8Array {
  privateScalar(privateKey);
  return privateKey;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
