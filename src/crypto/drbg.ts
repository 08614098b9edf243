// CTR_DRBG (NIST SP 800-90A Rev. 1, 10.2) with AES-256 and the block-cipher derivation function,
// no prediction resistance: the firmware's only source of random numbers, seeded from the
// platform's entropy. AES-256 with df gives 256-bit security strength and is the variant mbedTLS
// (and so CHIP on ESP32) uses, which NIST CAVP vectors cover. The AES block is noble's.
import { unsafe } from "@noble/ciphers/aes.js";
import type { Entropy } from "../platform";
import { concatBytes, requireBytes, requireInteger, wipe } from "./bytes";
import { CryptoError } from "./errors";
import type { Random } from "./random";

const KEY_LENGTH = 32;
const BLOCK_LENGTH = 16;
/** seedlen = keylen + blocklen. */
const SEED_LENGTH = KEY_LENGTH + BLOCK_LENGTH;
/** security_strength bits of entropy input, plus a nonce of half that (SP 800-90A 8.6.7). */
const ENTROPY_LENGTH = 32;
const NONCE_LENGTH = 16;
/** max_number_of_bits_per_request: 2^19 bits. */
export const CTR_DRBG_MAX_REQUEST = 65536;
/** Far below the 2^48 the standard allows: fresh hardware entropy is cheap on the device. */
export const CTR_DRBG_DEFAULT_RESEED_INTERVAL = 10000;
/** Personalization and additional input are short labels or nonces in practice. */
const MAX_INPUT_LENGTH = 4096;

export interface CtrDrbgOptions {
  /** Generate calls between automatic reseeds from the entropy source (1..2^48). */
  reseedInterval?: number;
}

export class CtrDrbg implements Random {
  private readonly entropy: Entropy;
  private readonly reseedInterval: number;
  private key = new Uint8Array(KEY_LENGTH);
  private value = new Uint8Array(BLOCK_LENGTH);
  private expandedKey: Uint32Array;
  private reseedCounter = 0;
  private destroyed = false;

  /** Instantiates from 32 bytes of entropy input and a 16-byte nonce, both read from `entropy`. */
  constructor(entropy: Entropy, personalization: Uint8Array = new Uint8Array(0), options: CtrDrbgOptions = {}) {
    checkInput(personalization, "CTR_DRBG personalization string");
    const interval = options.reseedInterval ?? CTR_DRBG_DEFAULT_RESEED_INTERVAL;
    requireInteger(interval, "CTR_DRBG reseed interval", 1, 2 ** 48);
    this.entropy = entropy;
    this.reseedInterval = interval;
    this.expandedKey = unsafe.expandKeyLE(this.key);
    const entropyAndNonce = this.readEntropy(ENTROPY_LENGTH + NONCE_LENGTH);
    const seedMaterial = derive(concatBytes(entropyAndNonce, personalization));
    wipe(entropyAndNonce);
    this.update(seedMaterial);
    wipe(seedMaterial);
    this.reseedCounter = 1;
  }

  /** Mixes fresh entropy (and optional additional input) into the state. */
  reseed(additionalInput: Uint8Array = new Uint8Array(0)): void {
    this.checkUsable();
    checkInput(additionalInput, "CTR_DRBG additional input");
    const entropyInput = this.readEntropy(ENTROPY_LENGTH);
    const seedMaterial = derive(concatBytes(entropyInput, additionalInput));
    wipe(entropyInput);
    this.update(seedMaterial);
    wipe(seedMaterial);
    this.reseedCounter = 1;
  }

  /** One generate request of up to 65536 bytes (SP 800-90A 10.2.1.5.2). */
  generate(length: number, additionalInput?: Uint8Array): Uint8Array {
    this.checkUsable();
    requireInteger(length, "CTR_DRBG request length", 0, CTR_DRBG_MAX_REQUEST);
    let extra = additionalInput !== undefined && additionalInput.length > 0 ? additionalInput : undefined;
    if (additionalInput !== undefined) checkInput(additionalInput, "CTR_DRBG additional input");
    if (this.reseedCounter > this.reseedInterval) {
      // The additional input goes into the reseed and is not used again for this request.
      this.reseed(extra);
      extra = undefined;
    }
    const derivedInput = extra ? derive(extra) : new Uint8Array(SEED_LENGTH);
    if (extra) this.update(derivedInput);
    const output = this.keystream(length);
    this.update(derivedInput);
    wipe(derivedInput);
    this.reseedCounter++;
    return output;
  }

  /** Random bytes of any length, in as many requests as the per-request limit needs. */
  bytes(length: number): Uint8Array {
    requireInteger(length, "random byte count", 0, 2 ** 31 - 1);
    if (length <= CTR_DRBG_MAX_REQUEST) return this.generate(length);
    const out = new Uint8Array(length);
    for (let offset = 0; offset < length; offset += CTR_DRBG_MAX_REQUEST) {
      const chunk = this.generate(Math.min(CTR_DRBG_MAX_REQUEST, length - offset));
      out.set(chunk, offset);
      wipe(chunk);
    }
    return out;
  }

  /** Zeroes the state; any later use throws. */
  destroy(): void {
    wipe(this.key, this.value, this.expandedKey);
    this.reseedCounter = 0;
    this.destroyed = true;
  }

  private checkUsable(): void {
    if (this.destroyed) throw new CryptoError("CTR_DRBG has been destroyed");
  }

  private readEntropy(length: number): Uint8Array {
    const buffer = new Uint8Array(length);
    this.entropy.fill(buffer);
    // A host that never wrote the buffer would otherwise seed every device identically.
    if (buffer.every((byte) => byte === 0)) throw new CryptoError("the entropy source returned only zero bytes");
    return buffer;
  }

  /** E(K, V+1) || E(K, V+2) || ... truncated to `length`, advancing V past every block used. */
  private keystream(length: number): Uint8Array {
    const out = new Uint8Array(length);
    if (length === 0) return out;
    const counter = this.value.slice();
    increment(counter, 1);
    unsafe.ctrCounter(this.expandedKey, counter, out, out);
    wipe(counter);
    increment(this.value, Math.ceil(length / BLOCK_LENGTH));
    return out;
  }

  /** CTR_DRBG_Update (10.2.1.2): (K, V) = leftmost seedlen bits of the keystream XOR providedData. */
  private update(providedData: Uint8Array): void {
    const temp = this.keystream(SEED_LENGTH);
    for (let i = 0; i < SEED_LENGTH; i++) temp[i]! ^= providedData[i]!;
    wipe(this.expandedKey);
    this.key.set(temp.subarray(0, KEY_LENGTH));
    this.value.set(temp.subarray(KEY_LENGTH));
    wipe(temp);
    this.expandedKey = unsafe.expandKeyLE(this.key);
  }
}

function checkInput(input: Uint8Array, name: string): void {
  requireBytes(input, name);
  if (input.length > MAX_INPUT_LENGTH) throw new CryptoError(`${name} longer than ${MAX_INPUT_LENGTH} bytes`);
}

/** Adds `amount` to a big-endian counter, modulo 2^(8 * length). */
function increment(counter: Uint8Array, amount: number): void {
  let carry = amount;
  for (let i = counter.length - 1; i >= 0 && carry > 0; i--) {
    const sum = counter[i]! + (carry % 256);
    counter[i] = sum & 0xff;
    carry = Math.floor(carry / 256) + (sum >> 8);
  }
}

/** Block_Cipher_df (10.3.2) with AES-256, returning seedlen bytes. */
function derive(input: Uint8Array): Uint8Array {
  // S = L || N || input || 0x80, zero-padded to a whole number of blocks.
  const unpadded = 8 + input.length + 1;
  const s = new Uint8Array(Math.ceil(unpadded / BLOCK_LENGTH) * BLOCK_LENGTH);
  writeUint32(s, 0, input.length);
  writeUint32(s, 4, SEED_LENGTH);
  s.set(input, 8);
  s[8 + input.length] = 0x80;

  const dfKey = new Uint8Array(KEY_LENGTH);
  for (let i = 0; i < KEY_LENGTH; i++) dfKey[i] = i;
  let expandedKey = unsafe.expandKeyLE(dfKey);
  const temp = new Uint8Array(SEED_LENGTH);
  for (let i = 0; i * BLOCK_LENGTH < SEED_LENGTH; i++) {
    // BCC(K, IV || S) with IV = i as 32 bits || zeros: chaining starts at E(K, IV).
    const chain = new Uint8Array(BLOCK_LENGTH);
    writeUint32(chain, 0, i);
    unsafe.encryptBlock(expandedKey, chain);
    for (let offset = 0; offset < s.length; offset += BLOCK_LENGTH) {
      for (let j = 0; j < BLOCK_LENGTH; j++) chain[j]! ^= s[offset + j]!;
      unsafe.encryptBlock(expandedKey, chain);
    }
    temp.set(chain, i * BLOCK_LENGTH);
  }
  wipe(expandedKey, s);
  expandedKey = unsafe.expandKeyLE(temp.subarray(0, KEY_LENGTH));
  const block = temp.slice(KEY_LENGTH);
  const out = new Uint8Array(SEED_LENGTH);
  for (let offset = 0; offset < SEED_LENGTH; offset += BLOCK_LENGTH) {
    unsafe.encryptBlock(expandedKey, block);
    out.set(block, offset);
  }
  wipe(expandedKey, temp, block);
  return out;
}

function writeUint32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value >>> 24;
  target[offset + 1] = (value >>> 16) & 0xff;
  target[offset + 2] = (value >>> 8) & 0xff;
  target[offset + 3] = value & 0xff;
}
