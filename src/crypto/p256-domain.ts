/**
 * P-256 (secp256r1) domain parameters, FIPS 186-5 / SP 800-186 §3.2.1.3; test/crypto-curve checks
 * them against noble's own p256. The curve is built from these rather than taken from
 * @noble/curves/nist.js because that module also builds FROST and OPRF suites when it loads, which
 * call TextEncoder (native on Moddable, so not callable while modules are preloaded).
 */
export const P256_DOMAIN: Readonly<Record<"p" | "n" | "h" | "a" | "b" | "Gx" | "Gy", bigint>> = Object.freeze({
  p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
  n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  h: 1n,
  a: 0xffffffff00000001000000000000000000000000fffffffffffffffffffffffcn,
  b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  Gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  Gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
});
