// noble's P-256, built from the curve's domain parameters, with its base-point table.
//
// This is the one module that builds curve objects, and on the device it is the one firmware
// module that is not preloaded: noble keeps state that every use writes (each validated point goes
// into a WeakSet made when the curve is built; window sizes and tables go into WeakMaps of
// @noble/curves/abstract/curve), and preloaded WeakSets and WeakMaps are read-only. The manifest
// gives this module's name to a stand-in that loads it with Modules.importNow at first use
// (hosts/esp32/runtime-loaded/curve.ts), so everything that imports it can still be preloaded;
// nothing may touch `p256` while modules load.
import { ecdsa, weierstrass } from "@noble/curves/abstract/weierstrass.js";
import { sha256 } from "@noble/hashes/sha2.js";

/**
 * P-256 (secp256r1) domain parameters, FIPS 186-5 / SP 800-186 §3.2.1.3; test/crypto-curve checks
 * them against noble's own p256. The curve is built from these rather than taken from
 * @noble/curves/nist.js because that module also builds FROST and OPRF suites when it loads, which
 * call TextEncoder (native on Moddable, so not callable while modules are preloaded). They live in
 * this run-time module because Moddable's XS 8.2.3 finds a preloaded BigInt unequal to an equal
 * one computed at run time, and noble compares them (the cofactor with 1, for one).
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

/**
 * Window of the base-point table: 65 windows of 8 points (520 points), a third of noble's default
 * of 6 (1408 points) in RAM for a base-point multiplication about 1.4 times as long.
 */
const BASE_POINT_WINDOW = 4;

// Built now rather than at the first handshake (noble builds it lazily), along with the field's
// square-root helper.
p256.Point.BASE.precompute(BASE_POINT_WINDOW, false);
p256.Point.BASE.multiplyUnsafe(3n);
p256.Point.Fp.sqrt(p256.Point.Fp.ONE);
