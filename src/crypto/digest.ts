// Incremental hashes chosen by name, for formats in which the producer picks the digest (the
// Matter OTA image's ImageDigestType). SHA-256, the suite's own hash, stays in hash.ts.
import { sha256, sha384, sha512 } from "@noble/hashes/sha2.js";
import { sha3_224, sha3_256, sha3_384, sha3_512 } from "@noble/hashes/sha3.js";
import { requireBytes } from "./bytes";
import { CryptoError } from "./errors";

export type HashAlgorithm = "sha-256" | "sha-384" | "sha-512" | "sha3-224" | "sha3-256" | "sha3-384" | "sha3-512";

export interface HashStream {
  /** Length of the digest in bytes. */
  readonly outputLength: number;
  update(data: Uint8Array): HashStream;
  /** Finishes the hash; the stream cannot be updated afterwards. */
  digest(): Uint8Array;
}

interface NobleHash {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array;
}

function start(algorithm: HashAlgorithm): { state: NobleHash; outputLength: number } {
  switch (algorithm) {
    case "sha-256":
      return { state: sha256.create(), outputLength: 32 };
    case "sha-384":
      return { state: sha384.create(), outputLength: 48 };
    case "sha-512":
      return { state: sha512.create(), outputLength: 64 };
    case "sha3-224":
      return { state: sha3_224.create(), outputLength: 28 };
    case "sha3-256":
      return { state: sha3_256.create(), outputLength: 32 };
    case "sha3-384":
      return { state: sha3_384.create(), outputLength: 48 };
    case "sha3-512":
      return { state: sha3_512.create(), outputLength: 64 };
    default:
      throw new CryptoError(`unknown hash algorithm ${String(algorithm)}`);
  }
}

/** An incremental hash of the SHA-2 or SHA-3 family. */
export function createHash(algorithm: HashAlgorithm): HashStream {
  const { state, outputLength } = start(algorithm);
  let finished = false;
  const stream: HashStream = {
    outputLength,
    update(data) {
      requireBytes(data, "data");
      if (finished) throw new CryptoError(`${algorithm} stream already finished`);
      state.update(data);
      return stream;
    },
    digest() {
      if (finished) throw new CryptoError(`${algorithm} stream already finished`);
      finished = true;
      return state.digest();
    },
  };
  return stream;
}
