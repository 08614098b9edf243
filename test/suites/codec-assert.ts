// Assertions shared by the codec suites: the codec layer must fail with CodecError, never with
// a RangeError or TypeError leaking out of a DataView or a typed array.
import { AssertionError, throws } from "../portable/harness";
import { CodecError } from "../../src/codec/bytes";

export function throwsCodecError(fn: () => unknown, pattern?: RegExp | string, message?: string): CodecError {
  const error = throws(fn, pattern, message);
  if (!(error instanceof CodecError)) {
    throw new AssertionError(`${message ? message + ": " : ""}expected a CodecError, got ${error?.name}: ${error?.message}`);
  }
  return error;
}

/** A small deterministic generator (xorshift32) for mutation tests: reproducible on both engines. */
export function pseudoRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}
