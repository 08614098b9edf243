// Stands in for @noble/hashes/hkdf on the device: the real module writes a module-level counter
// byte on every expansion, which a preloaded (frozen) module cannot, so it is the manifest's
// "@noble/hashes/hkdf-runtime", loaded into RAM at the first HKDF (see late-hash.ts).
import Modules from "modules";
import type { NobleHash } from "./late-hash";

const RUNTIME_MODULE = "@noble/hashes/hkdf-runtime";

interface NobleHkdf {
  hkdf(hash: NobleHash, ikm: Uint8Array, salt: Uint8Array | undefined, info: Uint8Array | undefined, length: number): Uint8Array;
  extract(hash: NobleHash, ikm: Uint8Array, salt?: Uint8Array): Uint8Array;
  expand(hash: NobleHash, prk: Uint8Array, info?: Uint8Array, length?: number): Uint8Array;
}
const runtime = () => Modules.importNow(RUNTIME_MODULE) as NobleHkdf;

export function hkdf(hash: NobleHash, ikm: Uint8Array, salt: Uint8Array | undefined, info: Uint8Array | undefined, length: number): Uint8Array {
  return runtime().hkdf(hash, ikm, salt, info, length);
}
export function extract(hash: NobleHash, ikm: Uint8Array, salt?: Uint8Array): Uint8Array {
  return runtime().extract(hash, ikm, salt);
}
export function expand(hash: NobleHash, prk: Uint8Array, info?: Uint8Array, length?: number): Uint8Array {
  return runtime().expand(hash, prk, info, length);
}
