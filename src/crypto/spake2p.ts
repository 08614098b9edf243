// SPAKE2+ over P-256 with SHA-256, HKDF and HMAC, as Matter PASE uses it (spec 3.10; CHIP's
// Spake2p_P256_SHA256_HKDF_HMAC): the draft-01 key schedule, where Hash(TT) splits into Ka || Ke
// and 16-byte confirmation keys come from HKDF(Ka, "ConfirmationKeys"). The group maths and the
// transcript TT are those of RFC 9383.
//
// The exported functions are the protocol's steps, one value each, so that vectors can check
// every intermediate; Spake2pVerifier (device) and Spake2pProver (commissioner) run them in
// order, hold secrets only as long as the exchange needs them, and wipe them afterwards.
import { asciiBytes, bigIntToBytes, bytesToBigInt, constantTimeEqual, requireBytes, requireInteger, wipe } from "./bytes";
import { CryptoError } from "./errors";
import { hkdfSha256, hmacSha256, pbkdf2Sha256, sha256 } from "./hash";
import { p256 } from "./curve";
import { P256_ORDER, P256_PRIVATE_KEY_LENGTH, privateScalar, randomScalar, requirePoint } from "./p256";
import type { Random } from "./random";

type Point = InstanceType<typeof p256.Point>;

// The fixed points M and N of the P-256 ciphersuite (RFC 9383 section 4), uncompressed as TT
// carries them. Kept as strings: module scope holds no buffers.
const M_UNCOMPRESSED =
  "04886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f" + "5ff355163e43ce224e0b0e65ff02ac8e5c7be09419c785e0ca547d55a12e2d20";
const N_UNCOMPRESSED =
  "04d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49" + "07d60aa6bfade45008a636337f5168c64d9bd36034808cd564490b1e656edbe7";

/** HKDF info for KcA || KcB. */
export const SPAKE2P_CONFIRMATION_INFO = "ConfirmationKeys";
/** Matter's PBKDF2 parameter limits for PASE (spec 3.9, 4.14.1). */
export const SPAKE2P_MIN_SALT_LENGTH = 16;
export const SPAKE2P_MAX_SALT_LENGTH = 32;
export const SPAKE2P_MIN_ITERATIONS = 1000;
export const SPAKE2P_MAX_ITERATIONS = 100000;
/** Each PBKDF2 half is 40 bytes: 64 bits beyond the order so reducing it mod n is unbiased enough. */
const WS_HALF_LENGTH = 40;
const SHARE_LENGTH = 65;

export function spake2pM(): Uint8Array {
  return hexBytes(M_UNCOMPRESSED);
}

export function spake2pN(): Uint8Array {
  return hexBytes(N_UNCOMPRESSED);
}

/**
 * w0 and w1 from the setup passcode: PBKDF2-HMAC-SHA256(passcode as 4 bytes little-endian, salt,
 * iterations, 80 bytes), each 40-byte half reduced mod n. Whether the passcode is an allowed one
 * (spec 5.1.7.1) is for the onboarding code to decide; here it only has to fit in 32 bits.
 */
export function spake2pComputeW0W1(passcode: number, salt: Uint8Array, iterations: number): { w0: Uint8Array; w1: Uint8Array } {
  requireInteger(passcode, "setup passcode", 0, 0xffffffff);
  requireBytes(salt, "PBKDF salt");
  if (salt.length < SPAKE2P_MIN_SALT_LENGTH || salt.length > SPAKE2P_MAX_SALT_LENGTH) {
    throw new CryptoError(`PBKDF salt must be ${SPAKE2P_MIN_SALT_LENGTH}..${SPAKE2P_MAX_SALT_LENGTH} bytes, got ${salt.length}`);
  }
  requireInteger(iterations, "PBKDF iteration count", SPAKE2P_MIN_ITERATIONS, SPAKE2P_MAX_ITERATIONS);
  const password = Uint8Array.of(passcode & 0xff, (passcode >>> 8) & 0xff, (passcode >>> 16) & 0xff, passcode >>> 24);
  const ws = pbkdf2Sha256(password, salt, iterations, 2 * WS_HALF_LENGTH);
  const w0 = bigIntToBytes(bytesToBigInt(ws.subarray(0, WS_HALF_LENGTH)) % P256_ORDER, P256_PRIVATE_KEY_LENGTH);
  const w1 = bigIntToBytes(bytesToBigInt(ws.subarray(WS_HALF_LENGTH)) % P256_ORDER, P256_PRIVATE_KEY_LENGTH);
  wipe(ws, password);
  return { w0, w1 };
}

/** The device's stored verifier: w0 and L = w1 * G. w1 itself is not kept. */
export function spake2pComputeVerifier(passcode: number, salt: Uint8Array, iterations: number): { w0: Uint8Array; L: Uint8Array } {
  const { w0, w1 } = spake2pComputeW0W1(passcode, salt, iterations);
  const L = spake2pComputeL(w1);
  wipe(w1);
  return { w0, L };
}

/** L = w1 * G. */
export function spake2pComputeL(w1: Uint8Array): Uint8Array {
  return p256.Point.BASE.multiply(privateScalar(w1, "SPAKE2+ w1")).toBytes(false);
}

/** The prover's share X (Matter's pA) = x * G + w0 * M. */
export function spake2pProverShare(x: Uint8Array, w0: Uint8Array): Uint8Array {
  return share(privateScalar(x, "SPAKE2+ x"), privateScalar(w0, "SPAKE2+ w0"), hexPoint(M_UNCOMPRESSED));
}

/** The verifier's share Y (Matter's pB) = y * G + w0 * N. */
export function spake2pVerifierShare(y: Uint8Array, w0: Uint8Array): Uint8Array {
  return share(privateScalar(y, "SPAKE2+ y"), privateScalar(w0, "SPAKE2+ w0"), hexPoint(N_UNCOMPRESSED));
}

/** Prover side: Z = x * (Y - w0 * N), V = w1 * (Y - w0 * N). */
export function spake2pProverSecrets(x: Uint8Array, w0: Uint8Array, w1: Uint8Array, Y: Uint8Array): { Z: Uint8Array; V: Uint8Array } {
  const xScalar = privateScalar(x, "SPAKE2+ x");
  const w0Scalar = privateScalar(w0, "SPAKE2+ w0");
  const w1Scalar = privateScalar(w1, "SPAKE2+ w1");
  const unblinded = unblind(requirePoint(Y, "SPAKE2+ share Y"), w0Scalar, hexPoint(N_UNCOMPRESSED), "Y");
  return { Z: unblinded.multiply(xScalar).toBytes(false), V: unblinded.multiply(w1Scalar).toBytes(false) };
}

/** Verifier side: Z = y * (X - w0 * M), V = y * L. */
export function spake2pVerifierSecrets(y: Uint8Array, w0: Uint8Array, L: Uint8Array, X: Uint8Array): { Z: Uint8Array; V: Uint8Array } {
  const yScalar = privateScalar(y, "SPAKE2+ y");
  const w0Scalar = privateScalar(w0, "SPAKE2+ w0");
  const lPoint = requirePoint(L, "SPAKE2+ verifier L");
  const unblinded = unblind(requirePoint(X, "SPAKE2+ share X"), w0Scalar, hexPoint(M_UNCOMPRESSED), "X");
  return { Z: unblinded.multiply(yScalar).toBytes(false), V: lPoint.multiply(yScalar).toBytes(false) };
}

export interface Spake2pTranscriptParts {
  context: Uint8Array;
  proverIdentity: Uint8Array;
  verifierIdentity: Uint8Array;
  X: Uint8Array;
  Y: Uint8Array;
  Z: Uint8Array;
  V: Uint8Array;
  w0: Uint8Array;
}

/** TT: Context, idProver, idVerifier, M, N, X, Y, Z, V, w0, each preceded by its length as 8 bytes little-endian. */
export function spake2pTranscript(parts: Spake2pTranscriptParts): Uint8Array {
  const fields = [parts.context, parts.proverIdentity, parts.verifierIdentity, spake2pM(), spake2pN(), parts.X, parts.Y, parts.Z, parts.V, parts.w0];
  const names = ["context", "prover identity", "verifier identity", "M", "N", "X", "Y", "Z", "V", "w0"];
  let length = 0;
  fields.forEach((field, i) => {
    requireBytes(field, `SPAKE2+ transcript ${names[i]}`);
    length += 8 + field.length;
  });
  const tt = new Uint8Array(length);
  let offset = 0;
  for (const field of fields) {
    let size = field.length;
    for (let i = 0; i < 8; i++) {
      tt[offset + i] = size % 256;
      size = Math.floor(size / 256);
    }
    tt.set(field, offset + 8);
    offset += 8 + field.length;
  }
  return tt;
}

export interface Spake2pKeys {
  /** Hash(TT) = Ka || Ke. */
  transcriptHash: Uint8Array;
  Ka: Uint8Array;
  /** The shared secret PASE derives its session keys from. */
  Ke: Uint8Array;
  KcA: Uint8Array;
  KcB: Uint8Array;
}

/** The draft-01 schedule: Ka || Ke = SHA-256(TT); KcA || KcB = HKDF(Ka, salt = [], "ConfirmationKeys", 32). */
export function spake2pKeySchedule(tt: Uint8Array): Spake2pKeys {
  const transcriptHash = sha256(tt);
  const Ka = transcriptHash.slice(0, 16);
  const Ke = transcriptHash.slice(16, 32);
  const confirmation = hkdfSha256(Ka, new Uint8Array(0), asciiBytes(SPAKE2P_CONFIRMATION_INFO), 32);
  const keys = { transcriptHash, Ka, Ke, KcA: confirmation.slice(0, 16), KcB: confirmation.slice(16, 32) };
  wipe(confirmation);
  return keys;
}

/** cA = HMAC(KcA, Y), sent by the prover; cB = HMAC(KcB, X), sent by the verifier. */
export function spake2pConfirmations(keys: Spake2pKeys, X: Uint8Array, Y: Uint8Array): { cA: Uint8Array; cB: Uint8Array } {
  return { cA: hmacSha256(keys.KcA, Y), cB: hmacSha256(keys.KcB, X) };
}

export interface Spake2pVerifierOptions {
  /** Matter: SHA-256("CHIP PAKE V1 Commissioning" || PBKDFParamRequest || PBKDFParamResponse). */
  context: Uint8Array;
  w0: Uint8Array;
  L: Uint8Array;
  random: Random;
  proverIdentity?: Uint8Array;
  verifierIdentity?: Uint8Array;
  /** A fixed ephemeral scalar, for known-answer tests only. */
  y?: Uint8Array;
}

/** The device side of one PASE exchange: respond(X) once, then confirm(cA) once. */
export class Spake2pVerifier {
  private readonly context: Uint8Array;
  private readonly proverIdentity: Uint8Array;
  private readonly verifierIdentity: Uint8Array;
  private readonly random: Random;
  private w0: Uint8Array | undefined;
  private L: Uint8Array | undefined;
  private y: Uint8Array | undefined;
  private expectedConfirmation: Uint8Array | undefined;
  private Ke: Uint8Array | undefined;
  private stage: "ready" | "responded" | "finished" = "ready";

  constructor(options: Spake2pVerifierOptions) {
    this.context = copyOf(options.context, "SPAKE2+ context");
    this.proverIdentity = copyOf(options.proverIdentity ?? new Uint8Array(0), "SPAKE2+ prover identity");
    this.verifierIdentity = copyOf(options.verifierIdentity ?? new Uint8Array(0), "SPAKE2+ verifier identity");
    privateScalar(options.w0, "SPAKE2+ w0");
    requirePoint(options.L, "SPAKE2+ verifier L");
    if (options.y !== undefined) privateScalar(options.y, "SPAKE2+ y");
    this.random = options.random;
    this.w0 = options.w0.slice();
    this.L = options.L.slice();
    this.y = options.y?.slice();
  }

  /** Takes the prover's X (pA), returns Y (pB) and cB. CryptoError for an invalid X. */
  respond(X: Uint8Array): { Y: Uint8Array; cB: Uint8Array } {
    if (this.stage !== "ready") throw new CryptoError("SPAKE2+ verifier: respond() may be called once, first");
    this.stage = "responded";
    try {
      requireBytes(X, "SPAKE2+ share X", SHARE_LENGTH);
      const w0 = this.w0!;
      const y = this.y ?? randomScalar(this.random);
      this.y = y;
      const Y = spake2pVerifierShare(y, w0);
      const { Z, V } = spake2pVerifierSecrets(y, w0, this.L!, X);
      const tt = spake2pTranscript({ context: this.context, proverIdentity: this.proverIdentity, verifierIdentity: this.verifierIdentity, X, Y, Z, V, w0 });
      const keys = spake2pKeySchedule(tt);
      const { cA, cB } = spake2pConfirmations(keys, X, Y);
      this.expectedConfirmation = cA;
      this.Ke = keys.Ke;
      wipe(Z, V, tt, keys.transcriptHash, keys.Ka, keys.KcA, keys.KcB);
      return { Y, cB };
    } catch (error) {
      this.stage = "finished";
      wipe(this.expectedConfirmation, this.Ke);
      throw error;
    } finally {
      this.forgetInputs();
    }
  }

  /** Checks the prover's cA in constant time; returns Ke or throws CryptoError. Secrets are wiped either way. */
  confirm(cA: Uint8Array): { Ke: Uint8Array } {
    if (this.stage !== "responded") throw new CryptoError("SPAKE2+ verifier: confirm() must follow respond(), once");
    this.stage = "finished";
    const expected = this.expectedConfirmation!;
    const Ke = this.Ke!;
    this.expectedConfirmation = undefined;
    this.Ke = undefined;
    const confirmed = cA instanceof Uint8Array && constantTimeEqual(cA, expected);
    wipe(expected);
    if (!confirmed) {
      wipe(Ke);
      throw new CryptoError("SPAKE2+ confirmation failed: cA does not match");
    }
    return { Ke };
  }

  private forgetInputs(): void {
    wipe(this.w0, this.y);
    this.w0 = undefined;
    this.y = undefined;
    this.L = undefined;
  }
}

export interface Spake2pProverOptions {
  context: Uint8Array;
  w0: Uint8Array;
  w1: Uint8Array;
  random: Random;
  proverIdentity?: Uint8Array;
  verifierIdentity?: Uint8Array;
  /** A fixed ephemeral scalar, for known-answer tests only. */
  x?: Uint8Array;
}

/** The commissioner side: start() gives X, finish(Y, cB) checks cB and gives cA and Ke. */
export class Spake2pProver {
  private readonly context: Uint8Array;
  private readonly proverIdentity: Uint8Array;
  private readonly verifierIdentity: Uint8Array;
  private readonly random: Random;
  private w0: Uint8Array | undefined;
  private w1: Uint8Array | undefined;
  private x: Uint8Array | undefined;
  private X: Uint8Array | undefined;
  private stage: "ready" | "started" | "finished" = "ready";

  constructor(options: Spake2pProverOptions) {
    this.context = copyOf(options.context, "SPAKE2+ context");
    this.proverIdentity = copyOf(options.proverIdentity ?? new Uint8Array(0), "SPAKE2+ prover identity");
    this.verifierIdentity = copyOf(options.verifierIdentity ?? new Uint8Array(0), "SPAKE2+ verifier identity");
    privateScalar(options.w0, "SPAKE2+ w0");
    privateScalar(options.w1, "SPAKE2+ w1");
    if (options.x !== undefined) privateScalar(options.x, "SPAKE2+ x");
    this.random = options.random;
    this.w0 = options.w0.slice();
    this.w1 = options.w1.slice();
    this.x = options.x?.slice();
  }

  start(): Uint8Array {
    if (this.stage !== "ready") throw new CryptoError("SPAKE2+ prover: start() may be called once, first");
    this.stage = "started";
    this.x ??= randomScalar(this.random);
    this.X = spake2pProverShare(this.x, this.w0!);
    return this.X.slice();
  }

  /** CryptoError for an invalid Y or a cB that does not match; secrets are wiped either way. */
  finish(Y: Uint8Array, cB: Uint8Array): { cA: Uint8Array; Ke: Uint8Array } {
    if (this.stage !== "started") throw new CryptoError("SPAKE2+ prover: finish() must follow start(), once");
    this.stage = "finished";
    try {
      requireBytes(Y, "SPAKE2+ share Y", SHARE_LENGTH);
      const X = this.X!;
      const w0 = this.w0!;
      const { Z, V } = spake2pProverSecrets(this.x!, w0, this.w1!, Y);
      const tt = spake2pTranscript({ context: this.context, proverIdentity: this.proverIdentity, verifierIdentity: this.verifierIdentity, X, Y, Z, V, w0 });
      const keys = spake2pKeySchedule(tt);
      const { cA, cB: expected } = spake2pConfirmations(keys, X, Y);
      const confirmed = cB instanceof Uint8Array && constantTimeEqual(cB, expected);
      wipe(Z, V, tt, keys.transcriptHash, keys.Ka, keys.KcA, keys.KcB, expected);
      if (!confirmed) {
        wipe(keys.Ke, cA);
        throw new CryptoError("SPAKE2+ confirmation failed: cB does not match");
      }
      return { cA, Ke: keys.Ke };
    } finally {
      wipe(this.w0, this.w1, this.x);
      this.w0 = this.w1 = this.x = this.X = undefined;
    }
  }
}

function share(scalar: bigint, w0: bigint, blindingPoint: Point): Uint8Array {
  return p256.Point.BASE.multiply(scalar).add(blindingPoint.multiply(w0)).toBytes(false);
}

/** share - w0 * point; the identity would make Z and V trivial, so it aborts the exchange. */
function unblind(peerShare: Point, w0: bigint, blindingPoint: Point, name: string): Point {
  const unblinded = peerShare.subtract(blindingPoint.multiply(w0));
  if (unblinded.is0()) throw new CryptoError(`SPAKE2+ share ${name} is w0 times the blinding point`);
  return unblinded;
}

function hexPoint(hex: string): Point {
  return p256.Point.fromBytes(hexBytes(hex));
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function copyOf(bytes: Uint8Array, name: string): Uint8Array {
  requireBytes(bytes, name);
  return bytes.slice();
}
