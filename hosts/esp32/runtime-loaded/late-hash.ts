// A hash function object in noble's shape whose work is done by a noble module loaded at run time.
//
// Why: XS freezes everything a preloaded module creates, typed arrays included, and
// @noble/hashes/sha2 and sha3 keep module-level scratch arrays that every hash writes. So those
// modules load into RAM at first use (Modules.importNow) while the modules that import them — the
// rest of noble's hashes and src/ — are preloaded into flash. The manifest names this module and
// the hash stand-ins "@noble/hashes/<file>", so that their relative imports resolve on XS
// (relative to the module's name) as they do in TypeScript.

/** The slice of noble's hash objects that hmac, hkdf, pbkdf2 and ecdsa use. */
export interface NobleHash {
  (message: Uint8Array, options?: object): Uint8Array;
  create(options?: object): unknown;
  readonly outputLen: number;
  readonly blockLen: number;
  readonly canXOF: boolean;
  readonly oid?: Uint8Array;
}

export function lateHash(load: () => NobleHash, shape: HashShape): NobleHash {
  const hash: NobleHash = Object.assign((message: Uint8Array, options?: object) => load()(message, options), {
    create: (options?: object) => load().create(options),
    outputLen: shape.outputLen,
    blockLen: shape.blockLen,
    canXOF: shape.canXOF,
    oid: Uint8Array.from(shape.oid),
  });
  Object.freeze(hash);
  return hash;
}

// What noble's hash objects carry besides being callable (createHasher in @noble/hashes/utils),
// which the stand-ins must present before the real module is loaded. test/manifest.test.ts
// compares every entry with noble's own.

export interface HashShape {
  outputLen: number;
  blockLen: number;
  canXOF: boolean;
  /** DER of the hash's OID (NIST hashAlgs arc 2.16.840.1.101.3.4.2.x), as noble gives it. */
  oid: readonly number[];
}

const nistHashOid = (last: number): readonly number[] => Object.freeze([0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, last]);

export const HASH_SHAPES = Object.freeze({
  sha256: Object.freeze({ outputLen: 32, blockLen: 64, canXOF: false, oid: nistHashOid(0x01) }),
  sha384: Object.freeze({ outputLen: 48, blockLen: 128, canXOF: false, oid: nistHashOid(0x02) }),
  sha512: Object.freeze({ outputLen: 64, blockLen: 128, canXOF: false, oid: nistHashOid(0x03) }),
  sha3_224: Object.freeze({ outputLen: 28, blockLen: 144, canXOF: false, oid: nistHashOid(0x07) }),
  sha3_256: Object.freeze({ outputLen: 32, blockLen: 136, canXOF: false, oid: nistHashOid(0x08) }),
  sha3_384: Object.freeze({ outputLen: 48, blockLen: 104, canXOF: false, oid: nistHashOid(0x09) }),
  sha3_512: Object.freeze({ outputLen: 64, blockLen: 72, canXOF: false, oid: nistHashOid(0x0a) }),
} satisfies Record<string, HashShape>);
