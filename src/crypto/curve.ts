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
import { P256_DOMAIN } from "./p256-domain";

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
