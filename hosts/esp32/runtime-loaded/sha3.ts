// Stands in for @noble/hashes/sha3 on the device (see late-hash.ts): the real module is the
// manifest's "@noble/hashes/sha3-runtime", loaded into RAM at the first SHA-3 hash.
import Modules from "modules";
import { HASH_SHAPES, lateHash, type NobleHash } from "./late-hash";

const RUNTIME_MODULE = "@noble/hashes/sha3-runtime";
const load = (name: "sha3_224" | "sha3_256" | "sha3_384" | "sha3_512") => () => (Modules.importNow(RUNTIME_MODULE) as Record<string, NobleHash>)[name]!;

export const sha3_224 = lateHash(load("sha3_224"), HASH_SHAPES.sha3_224);
export const sha3_256 = lateHash(load("sha3_256"), HASH_SHAPES.sha3_256);
export const sha3_384 = lateHash(load("sha3_384"), HASH_SHAPES.sha3_384);
export const sha3_512 = lateHash(load("sha3_512"), HASH_SHAPES.sha3_512);
