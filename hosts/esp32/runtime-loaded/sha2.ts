// Stands in for @noble/hashes/sha2 on the device (see late-hash.ts): the real module is the
// manifest's "@noble/hashes/sha2-runtime", loaded into RAM at the first hash.
import Modules from "modules";
import { HASH_SHAPES, lateHash, type NobleHash } from "./late-hash";

const RUNTIME_MODULE = "@noble/hashes/sha2-runtime";
const load = (name: "sha256" | "sha384" | "sha512") => () => (Modules.importNow(RUNTIME_MODULE) as Record<string, NobleHash>)[name]!;

export const sha256 = lateHash(load("sha256"), HASH_SHAPES.sha256);
export const sha384 = lateHash(load("sha384"), HASH_SHAPES.sha384);
export const sha512 = lateHash(load("sha512"), HASH_SHAPES.sha512);
