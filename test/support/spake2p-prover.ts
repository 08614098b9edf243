// The commissioner's SPAKE2+ (P-256, SHA-256, HKDF, HMAC; Matter's draft-01 key schedule), built
// on noble's curve points and Node's hashes, independently of the firmware's src/crypto.
import { pbkdf2Sync } from "node:crypto";
import { p256 } from "@noble/curves/nist.js";
import { concat, hkdf, hmac, random, sha256 } from "./node-crypto";

const M = "02886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f";
const N = "03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49";
const ORDER = p256.Point.Fn.ORDER;

function toBigInt(bytes: Uint8Array): bigint {
  return BigInt("0x" + (Buffer.from(bytes).toString("hex") || "0"));
}

function lengthPrefixed(...fields: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const field of fields) {
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(field.length));
    parts.push(length, field);
  }
  return concat(...parts);
}

/** w0 and w1 from the passcode: PBKDF2-SHA256(passcode as u32 LE, salt, iterations, 80), each half mod n. */
export function passcodeToW0W1(passcode: number, salt: Uint8Array, iterations: number): { w0: bigint; w1: bigint } {
  const password = Buffer.alloc(4);
  password.writeUInt32LE(passcode);
  const ws = pbkdf2Sync(password, salt, iterations, 80, "sha256");
  return { w0: toBigInt(ws.subarray(0, 40)) % ORDER, w1: toBigInt(ws.subarray(40, 80)) % ORDER };
}

/** The device-side verifier values, for opening the device's commissioning window from a passcode. */
export function passcodeToVerifier(passcode: number, salt: Uint8Array, iterations: number): { w0: Uint8Array; L: Uint8Array } {
  const { w0, w1 } = passcodeToW0W1(passcode, salt, iterations);
  return { w0: scalarBytes(w0), L: p256.Point.BASE.multiply(w1).toBytes(false) };
}

function scalarBytes(value: bigint): Uint8Array {
  return new Uint8Array(Buffer.from(value.toString(16).padStart(64, "0"), "hex"));
}

export class Spake2pProverSession {
  private readonly x: bigint;
  readonly X: Uint8Array;

  constructor(
    private readonly context: Uint8Array,
    private readonly w0: bigint,
    private readonly w1: bigint,
  ) {
    this.x = (toBigInt(random(40)) % (ORDER - 1n)) + 1n;
    this.X = p256.Point.BASE.multiply(this.x).add(p256.Point.fromHex(M).multiply(w0)).toBytes(false);
  }

  /** Checks cB; gives cA and Ke either way so that a test can go on with a mismatch on purpose. */
  finish(Y: Uint8Array, cB: Uint8Array): { cA: Uint8Array; Ke: Uint8Array; cBValid: boolean } {
    const unblinded = p256.Point.fromBytes(Y).subtract(p256.Point.fromHex(N).multiply(this.w0));
    const Z = unblinded.multiply(this.x).toBytes(false);
    const V = unblinded.multiply(this.w1).toBytes(false);
    const tt = lengthPrefixed(
      this.context,
      new Uint8Array(0),
      new Uint8Array(0),
      p256.Point.fromHex(M).toBytes(false),
      p256.Point.fromHex(N).toBytes(false),
      this.X,
      Y,
      Z,
      V,
      scalarBytes(this.w0),
    );
    const hash = sha256(tt);
    const Ka = hash.subarray(0, 16);
    const Ke = hash.slice(16, 32);
    const confirmation = hkdf(Ka, new Uint8Array(0), "ConfirmationKeys", 32);
    const cA = hmac(confirmation.subarray(0, 16), Y);
    const expectedCB = hmac(confirmation.subarray(16, 32), this.X);
    return { cA, Ke, cBValid: Buffer.from(expectedCB).equals(Buffer.from(cB)) };
  }
}
