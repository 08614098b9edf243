// NIST P-256 as Matter uses it (spec 3.5): keys, ECDSA with SHA-256, ECDH, and the raw <-> DER
// signature conversions certificates need. Curve arithmetic is noble's; this module fixes the
// encodings (32-byte scalars, 65-byte uncompressed SEC1 points, 64-byte r || s signatures) and
// turns every bad input into CryptoError.
import { bigIntToBytes, bytesToBigInt, requireBytes } from "./bytes";
import { CryptoError } from "./errors";
import { p256 } from "./curve";
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

type Point = InstanceType<typeof p256.Point>;

/** The group order n (only ever compared by size or used in arithmetic: see src/crypto/curve.ts). */
export const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

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
 * Loads the curve and its base-point table now rather than at the first handshake: on the
 * device the curve module loads at its first use (src/crypto/curve.ts).
 */
export function warmUpCurve(): void {
  p256.Point.BASE.multiply(3n);
}

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
