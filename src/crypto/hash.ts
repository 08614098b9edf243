// SHA-256 and the constructions Matter builds on it (spec 3.3-3.6, 3.8): HMAC, HKDF, PBKDF2.
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { hmac } from "@noble/hashes/hmac.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { pbkdf2 } from "@noble/hashes/pbkdf2.js";
import { requireBytes, requireInteger } from "./bytes";
import { CryptoError } from "./errors";

export const SHA256_LENGTH = 32;

/** RFC 5869: at most 255 blocks of output. */
const HKDF_MAX_LENGTH = 255 * SHA256_LENGTH;

/** Keeps PBKDF2 bounded; Matter allows at most 100000 iterations (spec 3.9). */
const PBKDF2_MAX_ITERATIONS = 10_000_000;
const PBKDF2_MAX_LENGTH = 1024;

export function sha256(data: Uint8Array): Uint8Array {
  requireBytes(data, "data");
  return nobleSha256(data);
}

export interface Sha256Stream {
  update(data: Uint8Array): Sha256Stream;
  /** Finishes the hash; the stream cannot be updated afterwards. */
  digest(): Uint8Array;
}

/** Incremental SHA-256, for inputs that arrive in pieces (OTA images, transcripts). */
export function createSha256(): Sha256Stream {
  const state = nobleSha256.create();
  let finished = false;
  const stream: Sha256Stream = {
    update(data) {
      requireBytes(data, "data");
      if (finished) throw new CryptoError("SHA-256 stream already finished");
      state.update(data);
      return stream;
    },
    digest() {
      if (finished) throw new CryptoError("SHA-256 stream already finished");
      finished = true;
      return state.digest();
    },
  };
  return stream;
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  requireBytes(key, "HMAC key");
  requireBytes(data, "HMAC data");
  return hmac(nobleSha256, key, data);
}

/** RFC 5869 HKDF-SHA256. An empty salt means HashLen zero bytes, as the RFC specifies. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  requireBytes(ikm, "HKDF input key material");
  requireBytes(salt, "HKDF salt");
  requireBytes(info, "HKDF info");
  requireInteger(length, "HKDF output length", 1, HKDF_MAX_LENGTH);
  return hkdf(nobleSha256, ikm, salt, info, length);
}

/** RFC 8018 PBKDF2 with HMAC-SHA256. */
export function pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Uint8Array {
  requireBytes(password, "PBKDF2 password");
  requireBytes(salt, "PBKDF2 salt");
  requireInteger(iterations, "PBKDF2 iteration count", 1, PBKDF2_MAX_ITERATIONS);
  requireInteger(length, "PBKDF2 output length", 1, PBKDF2_MAX_LENGTH);
  return pbkdf2(nobleSha256, password, salt, { c: iterations, dkLen: length });
}
