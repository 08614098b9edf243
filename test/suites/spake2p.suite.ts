// SPAKE2+ (Matter PASE) against the CHIP Matter-variant vectors in both roles with every
// intermediate, the PASE verifier for passcode 20202021, and the RFC 9383 P-256 vector's group
// maths and transcript with the collector-derived Matter-schedule block.
import { suite, bytesEqual, equal, fromHex, ok, throws } from "../portable/harness";
import {
  CryptoError,
  Spake2pProver,
  Spake2pVerifier,
  hkdfSha256,
  hmacSha256,
  pbkdf2Sha256,
  sha256,
  spake2pComputeL,
  spake2pComputeVerifier,
  spake2pComputeW0W1,
  spake2pConfirmations,
  spake2pKeySchedule,
  spake2pM,
  spake2pN,
  spake2pProverSecrets,
  spake2pProverShare,
  spake2pTranscript,
  spake2pVerifierSecrets,
  spake2pVerifierShare,
  type Random,
} from "../../src/crypto";

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);

interface ChipVector {
  name: string;
  context_ascii: string;
  prover_identity_ascii: string;
  verifier_identity_ascii: string;
  w0: string;
  w1: string;
  L: string;
  x: string;
  X: string;
  y: string;
  Y: string;
  Z: string;
  V: string;
  Ka: string;
  Ke: string;
  KcA: string;
  KcB: string;
  MAC_KcA: string;
  MAC_KcB: string;
}

interface ChipVectorFile {
  constants: { M: string; N: string };
  vectors: ChipVector[];
}

interface PaseVerifierFile {
  inputs: { passcode: number; passcode_le_bytes_hex: string; salt_hex: string; pbkdf2_iterations: number };
  expected: { w0s_hex: string; w1s_hex: string; w0_hex: string; L_hex: string; serialized_verifier_hex: string; serialized_verifier_base64: string };
  derived_not_in_source: { w1_hex: string };
}

interface Rfc9383File {
  context_ascii: string;
  idProver_ascii: string;
  idVerifier_ascii: string;
  w0: string;
  w1: string;
  L: string;
  x: string;
  shareP: string;
  y: string;
  shareV: string;
  Z: string;
  V: string;
  TT: string;
  K_main: string;
  K_confirmP: string;
  K_confirmV: string;
  derived_matter_schedule_on_this_transcript: { Ka: string; Ke: string; KcA: string; KcB: string; cA_HMAC_KcA_shareV: string; cB_HMAC_KcB_shareP: string };
}

const CHIP = "spake2p/chip_spake2p_matter_variant_vectors.json";
const PASE_VERIFIER = "spake2p/pase_verifier_20202021.json";
const RFC9383 = "spake2p/rfc9383_p256_sha256_hkdf_hmac.json";

/** For role tests with fixed ephemerals: any call means the fixed scalar was ignored. */
const noRandom: Random = {
  bytes() {
    throw new Error("the fixed ephemeral scalar should have been used");
  },
};

function patternRandom(seed: number): Random {
  let state = seed;
  return {
    bytes(length) {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) {
        state = (state * 1103515245 + 12345) >>> 0;
        out[i] = state >>> 24;
      }
      return out;
    },
  };
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = bytes.slice();
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
}

function base64Decode(text: string): Uint8Array {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const clean = text.replace(/=+$/, "");
  const out: number[] = [];
  let bits = 0;
  let buffer = 0;
  for (const char of clean) {
    const value = alphabet.indexOf(char);
    if (value < 0) throw new Error(`not base64: ${char}`);
    buffer = (buffer << 6) | value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((buffer >> bits) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

export default suite("SPAKE2+ (PASE)", (test) => {
  test("M and N are the RFC 9383 P-256 points given compressed in the CHIP vectors", ({ vectors }) => {
    const { constants } = vectors.json<ChipVectorFile>(CHIP);
    // The compressed form is the X coordinate with a parity prefix.
    bytesEqual(spake2pM().subarray(1, 33), constants.M.slice(2));
    bytesEqual(spake2pN().subarray(1, 33), constants.N.slice(2));
    equal(spake2pM()[64]! & 1, fromHex(constants.M)[0] === 0x03 ? 1 : 0, "M parity");
    equal(spake2pN()[64]! & 1, fromHex(constants.N)[0] === 0x03 ? 1 : 0, "N parity");
  });

  test("CHIP vectors: every intermediate from the protocol steps", ({ vectors }) => {
    const file = vectors.json<ChipVectorFile>(CHIP);
    equal(file.vectors.length, 4);
    for (const v of file.vectors) {
      const [w0, w1, x, y] = [fromHex(v.w0), fromHex(v.w1), fromHex(v.x), fromHex(v.y)];
      bytesEqual(spake2pComputeL(w1), v.L, `${v.name}: L`);
      bytesEqual(spake2pProverShare(x, w0), v.X, `${v.name}: X`);
      bytesEqual(spake2pVerifierShare(y, w0), v.Y, `${v.name}: Y`);
      const prover = spake2pProverSecrets(x, w0, w1, fromHex(v.Y));
      const verifier = spake2pVerifierSecrets(y, w0, fromHex(v.L), fromHex(v.X));
      bytesEqual(prover.Z, v.Z, `${v.name}: prover Z`);
      bytesEqual(prover.V, v.V, `${v.name}: prover V`);
      bytesEqual(verifier.Z, v.Z, `${v.name}: verifier Z`);
      bytesEqual(verifier.V, v.V, `${v.name}: verifier V`);
      const tt = spake2pTranscript({
        context: ascii(v.context_ascii),
        proverIdentity: ascii(v.prover_identity_ascii),
        verifierIdentity: ascii(v.verifier_identity_ascii),
        X: fromHex(v.X),
        Y: fromHex(v.Y),
        Z: fromHex(v.Z),
        V: fromHex(v.V),
        w0,
      });
      const keys = spake2pKeySchedule(tt);
      bytesEqual(keys.transcriptHash, v.Ka + v.Ke, `${v.name}: Hash(TT)`);
      bytesEqual(keys.Ka, v.Ka, `${v.name}: Ka`);
      bytesEqual(keys.Ke, v.Ke, `${v.name}: Ke`);
      bytesEqual(keys.KcA, v.KcA, `${v.name}: KcA`);
      bytesEqual(keys.KcB, v.KcB, `${v.name}: KcB`);
      const { cA, cB } = spake2pConfirmations(keys, fromHex(v.X), fromHex(v.Y));
      bytesEqual(cA, v.MAC_KcA, `${v.name}: cA`);
      bytesEqual(cB, v.MAC_KcB, `${v.name}: cB`);
    }
  });

  test("CHIP vectors: the verifier (device) role", ({ vectors }) => {
    for (const v of vectors.json<ChipVectorFile>(CHIP).vectors) {
      const verifier = new Spake2pVerifier({
        context: ascii(v.context_ascii),
        proverIdentity: ascii(v.prover_identity_ascii),
        verifierIdentity: ascii(v.verifier_identity_ascii),
        w0: fromHex(v.w0),
        L: fromHex(v.L),
        y: fromHex(v.y),
        random: noRandom,
      });
      const { Y, cB } = verifier.respond(fromHex(v.X));
      bytesEqual(Y, v.Y, `${v.name}: Y`);
      bytesEqual(cB, v.MAC_KcB, `${v.name}: cB`);
      bytesEqual(verifier.confirm(fromHex(v.MAC_KcA)).Ke, v.Ke, `${v.name}: Ke`);
      throws(() => verifier.confirm(fromHex(v.MAC_KcA)), "confirm() must follow respond(), once", `${v.name}: single use`);
    }
  });

  test("CHIP vectors: the prover (commissioner) role", ({ vectors }) => {
    for (const v of vectors.json<ChipVectorFile>(CHIP).vectors) {
      const prover = new Spake2pProver({
        context: ascii(v.context_ascii),
        proverIdentity: ascii(v.prover_identity_ascii),
        verifierIdentity: ascii(v.verifier_identity_ascii),
        w0: fromHex(v.w0),
        w1: fromHex(v.w1),
        x: fromHex(v.x),
        random: noRandom,
      });
      bytesEqual(prover.start(), v.X, `${v.name}: X`);
      const { cA, Ke } = prover.finish(fromHex(v.Y), fromHex(v.MAC_KcB));
      bytesEqual(cA, v.MAC_KcA, `${v.name}: cA`);
      bytesEqual(Ke, v.Ke, `${v.name}: Ke`);
    }
  });

  test("CHIP vectors: a wrong cA or cB fails with CryptoError", ({ vectors }) => {
    const v = vectors.json<ChipVectorFile>(CHIP).vectors[0]!;
    for (const bit of [0, 77, 255]) {
      const verifier = new Spake2pVerifier({ context: ascii(v.context_ascii), proverIdentity: ascii(v.prover_identity_ascii), verifierIdentity: ascii(v.verifier_identity_ascii), w0: fromHex(v.w0), L: fromHex(v.L), y: fromHex(v.y), random: noRandom });
      verifier.respond(fromHex(v.X));
      const error = throws(() => verifier.confirm(flipBit(fromHex(v.MAC_KcA), bit)), "cA does not match", `cA bit ${bit}`);
      ok(error instanceof CryptoError);
      // After a failure the exchange is over: not even the right cA gets Ke now.
      throws(() => verifier.confirm(fromHex(v.MAC_KcA)), "once");

      const prover = new Spake2pProver({ context: ascii(v.context_ascii), proverIdentity: ascii(v.prover_identity_ascii), verifierIdentity: ascii(v.verifier_identity_ascii), w0: fromHex(v.w0), w1: fromHex(v.w1), x: fromHex(v.x), random: noRandom });
      prover.start();
      ok(throws(() => prover.finish(fromHex(v.Y), flipBit(fromHex(v.MAC_KcB), bit)), "cB does not match") instanceof CryptoError);
    }
    const short = new Spake2pVerifier({ context: ascii(v.context_ascii), proverIdentity: ascii(v.prover_identity_ascii), verifierIdentity: ascii(v.verifier_identity_ascii), w0: fromHex(v.w0), L: fromHex(v.L), y: fromHex(v.y), random: noRandom });
    short.respond(fromHex(v.X));
    throws(() => short.confirm(fromHex(v.MAC_KcA).subarray(0, 31)), "cA does not match", "truncated cA");
  });

  test("PASE verifier for passcode 20202021: PBKDF2 halves, w0, w1, L, serialized verifier", ({ vectors }) => {
    const file = vectors.json<PaseVerifierFile>(PASE_VERIFIER);
    const salt = fromHex(file.inputs.salt_hex);
    const iterations = file.inputs.pbkdf2_iterations;
    // The password is the passcode as 4 bytes little-endian.
    bytesEqual(pbkdf2Sha256(fromHex(file.inputs.passcode_le_bytes_hex), salt, iterations, 80), file.expected.w0s_hex + file.expected.w1s_hex, "w0s || w1s");
    const { w0, w1 } = spake2pComputeW0W1(file.inputs.passcode, salt, iterations);
    bytesEqual(w0, file.expected.w0_hex, "w0");
    bytesEqual(w1, file.derived_not_in_source.w1_hex, "w1 (collector-derived)");
    const verifier = spake2pComputeVerifier(file.inputs.passcode, salt, iterations);
    bytesEqual(verifier.w0, file.expected.w0_hex, "verifier w0");
    bytesEqual(verifier.L, file.expected.L_hex, "verifier L");
    const serialized = new Uint8Array(97);
    serialized.set(verifier.w0, 0);
    serialized.set(verifier.L, 32);
    bytesEqual(serialized, file.expected.serialized_verifier_hex, "w0 || L");
    bytesEqual(base64Decode(file.expected.serialized_verifier_base64), serialized, "base64 form");
  });

  test("PASE verifier for 20202021 completes an exchange with a prover holding w0, w1", ({ vectors }) => {
    const file = vectors.json<PaseVerifierFile>(PASE_VERIFIER);
    const salt = fromHex(file.inputs.salt_hex);
    const context = sha256(ascii("CHIP PAKE V1 Commissioning"));
    const { w0, w1 } = spake2pComputeW0W1(file.inputs.passcode, salt, file.inputs.pbkdf2_iterations);
    const prover = new Spake2pProver({ context, w0, w1, random: patternRandom(1) });
    const verifier = new Spake2pVerifier({ context, w0: fromHex(file.expected.w0_hex), L: fromHex(file.expected.L_hex), random: patternRandom(2) });
    const { Y, cB } = verifier.respond(prover.start());
    const { cA, Ke } = prover.finish(Y, cB);
    bytesEqual(verifier.confirm(cA).Ke, Ke);
    equal(Ke.length, 16);
  });

  test("a wrong passcode fails: the prover rejects cB", ({ vectors }) => {
    const file = vectors.json<PaseVerifierFile>(PASE_VERIFIER);
    const salt = fromHex(file.inputs.salt_hex);
    const context = new Uint8Array(32);
    const wrong = spake2pComputeW0W1(20202022, salt, 1000);
    const prover = new Spake2pProver({ context, w0: wrong.w0, w1: wrong.w1, random: patternRandom(3) });
    const verifier = new Spake2pVerifier({ context, w0: fromHex(file.expected.w0_hex), L: fromHex(file.expected.L_hex), random: patternRandom(4) });
    const { Y, cB } = verifier.respond(prover.start());
    ok(throws(() => prover.finish(Y, cB), "cB does not match") instanceof CryptoError);
  });

  test("RFC 9383 vector: shareP, shareV, Z, V, TT and K_main", ({ vectors }) => {
    const v = vectors.json<Rfc9383File>(RFC9383);
    const [w0, w1, x, y] = [fromHex(v.w0), fromHex(v.w1), fromHex(v.x), fromHex(v.y)];
    bytesEqual(spake2pComputeL(w1), v.L, "L");
    bytesEqual(spake2pProverShare(x, w0), v.shareP, "shareP");
    bytesEqual(spake2pVerifierShare(y, w0), v.shareV, "shareV");
    for (const [side, secrets] of [
      ["prover", spake2pProverSecrets(x, w0, w1, fromHex(v.shareV))],
      ["verifier", spake2pVerifierSecrets(y, w0, fromHex(v.L), fromHex(v.shareP))],
    ] as const) {
      bytesEqual(secrets.Z, v.Z, `${side} Z`);
      bytesEqual(secrets.V, v.V, `${side} V`);
    }
    const tt = spake2pTranscript({
      context: ascii(v.context_ascii),
      proverIdentity: ascii(v.idProver_ascii),
      verifierIdentity: ascii(v.idVerifier_ascii),
      X: fromHex(v.shareP),
      Y: fromHex(v.shareV),
      Z: fromHex(v.Z),
      V: fromHex(v.V),
      w0,
    });
    bytesEqual(tt, v.TT, "TT");
    bytesEqual(spake2pKeySchedule(tt).transcriptHash, v.K_main, "K_main = Hash(TT)");
    // The RFC's own schedule on the same K_main, to show it is not the one Matter uses.
    const rfcConfirm = hkdfSha256(fromHex(v.K_main), new Uint8Array(0), ascii("ConfirmationKeys"), 64);
    bytesEqual(rfcConfirm, v.K_confirmP + v.K_confirmV, "RFC K_confirmP || K_confirmV");
    ok(!bytesSame(spake2pKeySchedule(tt).KcA, rfcConfirm.subarray(0, 16)), "Matter's KcA differs from the RFC's");
  });

  test("RFC 9383 transcript under the Matter schedule (collector-derived block), both roles", ({ vectors }) => {
    const v = vectors.json<Rfc9383File>(RFC9383);
    const derived = v.derived_matter_schedule_on_this_transcript;
    const keys = spake2pKeySchedule(fromHex(v.TT));
    bytesEqual(keys.Ka, derived.Ka, "Ka");
    bytesEqual(keys.Ke, derived.Ke, "Ke");
    bytesEqual(keys.KcA, derived.KcA, "KcA");
    bytesEqual(keys.KcB, derived.KcB, "KcB");
    bytesEqual(hmacSha256(keys.KcA, fromHex(v.shareV)), derived.cA_HMAC_KcA_shareV, "cA");
    bytesEqual(hmacSha256(keys.KcB, fromHex(v.shareP)), derived.cB_HMAC_KcB_shareP, "cB");
    const common = { context: ascii(v.context_ascii), proverIdentity: ascii(v.idProver_ascii), verifierIdentity: ascii(v.idVerifier_ascii), random: noRandom };
    const verifier = new Spake2pVerifier({ ...common, w0: fromHex(v.w0), L: fromHex(v.L), y: fromHex(v.y) });
    const prover = new Spake2pProver({ ...common, w0: fromHex(v.w0), w1: fromHex(v.w1), x: fromHex(v.x) });
    const response = verifier.respond(prover.start());
    bytesEqual(response.Y, v.shareV, "Y");
    bytesEqual(response.cB, derived.cB_HMAC_KcB_shareP, "verifier cB");
    const finished = prover.finish(response.Y, response.cB);
    bytesEqual(finished.cA, derived.cA_HMAC_KcA_shareV, "prover cA");
    bytesEqual(verifier.confirm(finished.cA).Ke, derived.Ke, "verifier Ke");
    bytesEqual(finished.Ke, derived.Ke, "prover Ke");
  });

  test("invalid shares X and Y are rejected with CryptoError and end the exchange", ({ vectors }) => {
    const v = vectors.json<ChipVectorFile>(CHIP).vectors[3]!;
    const w0 = fromHex(v.w0);
    const offCurve = flipBit(fromHex(v.X), 8 * 64);
    const cases: [string, Uint8Array, string][] = [
      ["off the curve", offCurve, "not a valid uncompressed P-256 point"],
      ["identity", new Uint8Array(65), "not a valid uncompressed P-256 point"],
      ["compressed", fromHex("02" + v.X.slice(2, 66)), "65 bytes"],
      ["too long", fromHex(v.X + "00"), "65 bytes"],
      ["empty", new Uint8Array(0), "65 bytes"],
    ];
    for (const [name, X, message] of cases) {
      const verifier = new Spake2pVerifier({ context: new Uint8Array(0), w0, L: fromHex(v.L), y: fromHex(v.y), random: noRandom });
      ok(throws(() => verifier.respond(X), message, name) instanceof CryptoError, name);
      throws(() => verifier.confirm(fromHex(v.MAC_KcA)), "once", `${name}: no confirm after failure`);
      const prover = new Spake2pProver({ context: new Uint8Array(0), w0, w1: fromHex(v.w1), x: fromHex(v.x), random: noRandom });
      prover.start();
      ok(throws(() => prover.finish(X, fromHex(v.MAC_KcB)), message, `Y ${name}`) instanceof CryptoError, `Y ${name}`);
    }
    // X = w0 * M exactly would make X - w0 * M the identity: the verifier must abort. w0 * M is
    // obtained from the public steps as V = y * L with y = w0 and L = M.
    const w0M = spake2pVerifierSecrets(w0, w0, spake2pM(), fromHex(v.X)).V;
    const verifier = new Spake2pVerifier({ context: new Uint8Array(0), w0, L: fromHex(v.L), y: fromHex(v.y), random: noRandom });
    ok(throws(() => verifier.respond(w0M), "is w0 times the blinding point") instanceof CryptoError);
    // Likewise Y = w0 * N for the prover.
    const w0N = spake2pVerifierSecrets(w0, w0, spake2pN(), fromHex(v.X)).V;
    const prover = new Spake2pProver({ context: new Uint8Array(0), w0, w1: fromHex(v.w1), x: fromHex(v.x), random: noRandom });
    prover.start();
    ok(throws(() => prover.finish(w0N, fromHex(v.MAC_KcB)), "is w0 times the blinding point") instanceof CryptoError);
  });

  test("parameter checks: passcode, salt length, iterations, scalars, L", ({ vectors }) => {
    const v = vectors.json<ChipVectorFile>(CHIP).vectors[0]!;
    const salt = new Uint8Array(16);
    const cases: [string, () => unknown, string][] = [
      ["passcode -1", () => spake2pComputeW0W1(-1, salt, 1000), "setup passcode"],
      ["passcode 2^32", () => spake2pComputeW0W1(2 ** 32, salt, 1000), "setup passcode"],
      ["passcode 1.5", () => spake2pComputeW0W1(1.5, salt, 1000), "setup passcode"],
      ["salt 15 bytes", () => spake2pComputeW0W1(1, new Uint8Array(15), 1000), "salt must be 16..32"],
      ["salt 33 bytes", () => spake2pComputeW0W1(1, new Uint8Array(33), 1000), "salt must be 16..32"],
      ["999 iterations", () => spake2pComputeW0W1(1, salt, 999), "iteration count"],
      ["100001 iterations", () => spake2pComputeW0W1(1, salt, 100001), "iteration count"],
      ["w0 = 0", () => new Spake2pVerifier({ context: salt, w0: new Uint8Array(32), L: fromHex(v.L), random: noRandom }), "w0"],
      ["w0 31 bytes", () => new Spake2pProver({ context: salt, w0: new Uint8Array(31), w1: fromHex(v.w1), random: noRandom }), "w0"],
      ["L off the curve", () => new Spake2pVerifier({ context: salt, w0: fromHex(v.w0), L: flipBit(fromHex(v.L), 300), random: noRandom }), "verifier L"],
      ["y = n", () => new Spake2pVerifier({ context: salt, w0: fromHex(v.w0), L: fromHex(v.L), y: fromHex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"), random: noRandom }), "y"],
      ["context not bytes", () => new Spake2pVerifier({ context: "ctx" as unknown as Uint8Array, w0: fromHex(v.w0), L: fromHex(v.L), random: noRandom }), "context"],
    ];
    for (const [name, run, message] of cases) ok(throws(run, message, name) instanceof CryptoError, name);
    // The limits themselves are accepted.
    equal(spake2pComputeW0W1(0xffffffff, new Uint8Array(32), 1000).w0.length, 32);
  });

  test("exchanges with random ephemerals agree on Ke; a respond() twice is refused", () => {
    const salt = new Uint8Array(20).fill(9);
    const { w0, L } = spake2pComputeVerifier(12345678, salt, 1000);
    const { w1 } = spake2pComputeW0W1(12345678, salt, 1000);
    for (let round = 0; round < 3; round++) {
      const context = sha256(Uint8Array.of(round));
      const prover = new Spake2pProver({ context, w0, w1, random: patternRandom(10 + round) });
      const verifier = new Spake2pVerifier({ context, w0, L, random: patternRandom(20 + round) });
      const X = prover.start();
      const { Y, cB } = verifier.respond(X);
      throws(() => verifier.respond(X), "once", "second respond");
      const { cA, Ke } = prover.finish(Y, cB);
      bytesEqual(verifier.confirm(cA).Ke, Ke);
    }
  });
});

function bytesSame(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
