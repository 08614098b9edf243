// AES-128 modes Matter uses: CCM (NIST SP 800-38C, spec 3.6) for message and handshake
// encryption, and CTR for message privacy (spec 3.7, 4.9.3). The AES block cipher is noble's;
// CCM is composed here from its single-block and CTR primitives because noble has no CCM.
import { ctr, unsafe } from "@noble/ciphers/aes.js";
import { constantTimeEqual, requireBytes, requireInteger, wipe } from "./bytes";
import { CryptoError } from "./errors";

export const AES_KEY_LENGTH = 16;
export const AES_BLOCK_LENGTH = 16;
/** Matter's CCM profile: 13-byte nonce, 16-byte tag. */
export const AES_CCM_NONCE_LENGTH = 13;
export const AES_CCM_TAG_LENGTH = 16;

const CCM_MIN_NONCE = 7;
const CCM_MAX_NONCE = 13;
/** AAD lengths below this take a 2-byte length prefix, longer ones 0xfffe + 4 bytes. */
const CCM_SHORT_AAD_LIMIT = 0xff00;
const CCM_MAX_AAD = 0xffffffff;

/**
 * AES-128-CCM encryption. Returns ciphertext || tag. The nonce may be 7..13 bytes and the tag
 * 4..16 bytes (even) as SP 800-38C allows; Matter uses 13 and 16.
 */
export function aesCcmEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  tagLength: number = AES_CCM_TAG_LENGTH,
): Uint8Array {
  requireBytes(plaintext, "AES-CCM plaintext");
  const lengthFieldSize = checkCcmParameters(key, nonce, aad, tagLength, plaintext.length);
  const expandedKey = unsafe.expandKeyLE(key);
  try {
    const out = new Uint8Array(plaintext.length + tagLength);
    const mac = cbcMac(expandedKey, nonce, lengthFieldSize, tagLength, aad, plaintext);
    ccmKeystreamXor(expandedKey, nonce, lengthFieldSize, plaintext, out.subarray(0, plaintext.length));
    const tagMask = encryptCounterBlock(expandedKey, nonce, lengthFieldSize, 0);
    for (let i = 0; i < tagLength; i++) out[plaintext.length + i] = mac[i]! ^ tagMask[i]!;
    wipe(mac, tagMask);
    return out;
  } finally {
    wipe(expandedKey);
  }
}

/**
 * AES-128-CCM decryption of ciphertext || tag. Throws CryptoError("AES-CCM authentication
 * failed") when the tag does not match; the recovered plaintext is then wiped, never returned.
 */
export function aesCcmDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertextWithTag: Uint8Array,
  aad: Uint8Array,
  tagLength: number = AES_CCM_TAG_LENGTH,
): Uint8Array {
  requireBytes(ciphertextWithTag, "AES-CCM ciphertext");
  requireInteger(tagLength, "AES-CCM tag length", 4, 16);
  if (ciphertextWithTag.length < tagLength) {
    throw new CryptoError(`AES-CCM ciphertext of ${ciphertextWithTag.length} bytes is shorter than its ${tagLength}-byte tag`);
  }
  const payloadLength = ciphertextWithTag.length - tagLength;
  const lengthFieldSize = checkCcmParameters(key, nonce, aad, tagLength, payloadLength);
  const expandedKey = unsafe.expandKeyLE(key);
  try {
    const plaintext = new Uint8Array(payloadLength);
    ccmKeystreamXor(expandedKey, nonce, lengthFieldSize, ciphertextWithTag.subarray(0, payloadLength), plaintext);
    const mac = cbcMac(expandedKey, nonce, lengthFieldSize, tagLength, aad, plaintext);
    const tagMask = encryptCounterBlock(expandedKey, nonce, lengthFieldSize, 0);
    const expectedTag = new Uint8Array(tagLength);
    for (let i = 0; i < tagLength; i++) expectedTag[i] = mac[i]! ^ tagMask[i]!;
    const authentic = constantTimeEqual(expectedTag, ciphertextWithTag.subarray(payloadLength));
    wipe(mac, tagMask, expectedTag);
    if (!authentic) {
      wipe(plaintext);
      throw new CryptoError("AES-CCM authentication failed");
    }
    return plaintext;
  } finally {
    wipe(expandedKey);
  }
}

/**
 * AES-128-CTR over a full 16-byte initial counter block, incremented as one 128-bit big-endian
 * number (NIST SP 800-38A, OpenSSL's aes-128-ctr). Encryption and decryption are the same.
 */
export function aesCtr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  requireBytes(key, "AES-CTR key", AES_KEY_LENGTH);
  requireBytes(iv, "AES-CTR counter block", AES_BLOCK_LENGTH);
  requireBytes(data, "AES-CTR data");
  return ctr(key, iv).encrypt(data);
}

/**
 * Matter's AES-CTR-Encrypt/Decrypt (spec 3.7.1): the counter-mode half of CCM with the same
 * 7..13-byte nonce formatting, counter blocks from 1, and no tag. Message privacy uses it with
 * the 13-byte privacy nonce.
 */
export function aesCcmCtr(key: Uint8Array, nonce: Uint8Array, data: Uint8Array): Uint8Array {
  requireBytes(data, "AES-CTR data");
  const lengthFieldSize = checkCcmParameters(key, nonce, new Uint8Array(0), AES_CCM_TAG_LENGTH, data.length);
  const expandedKey = unsafe.expandKeyLE(key);
  try {
    const out = new Uint8Array(data.length);
    ccmKeystreamXor(expandedKey, nonce, lengthFieldSize, data, out);
    return out;
  } finally {
    wipe(expandedKey);
  }
}

/** Validates CCM inputs; returns q, the size in bytes of the payload-length field (15 - nonce). */
function checkCcmParameters(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, tagLength: number, payloadLength: number): number {
  requireBytes(key, "AES-CCM key", AES_KEY_LENGTH);
  requireBytes(nonce, "AES-CCM nonce");
  requireBytes(aad, "AES-CCM additional data");
  if (nonce.length < CCM_MIN_NONCE || nonce.length > CCM_MAX_NONCE) {
    throw new CryptoError(`AES-CCM nonce must be ${CCM_MIN_NONCE}..${CCM_MAX_NONCE} bytes, got ${nonce.length}`);
  }
  if (!Number.isInteger(tagLength) || tagLength < 4 || tagLength > 16 || tagLength % 2 !== 0) {
    throw new CryptoError(`AES-CCM tag length must be 4, 6, 8, 10, 12, 14 or 16, got ${String(tagLength)}`);
  }
  const lengthFieldSize = 15 - nonce.length;
  if (lengthFieldSize < 6 && payloadLength >= 2 ** (8 * lengthFieldSize)) {
    throw new CryptoError(`AES-CCM payload of ${payloadLength} bytes is too long for a ${nonce.length}-byte nonce`);
  }
  if (aad.length > CCM_MAX_AAD) throw new CryptoError("AES-CCM additional data is too long");
  return lengthFieldSize;
}

/** The CBC-MAC T of SP 800-38C 6.1 (full block; the caller truncates it to the tag length). */
function cbcMac(
  expandedKey: Uint32Array,
  nonce: Uint8Array,
  lengthFieldSize: number,
  tagLength: number,
  aad: Uint8Array,
  payload: Uint8Array,
): Uint8Array {
  // B0 and the encoded additional data form one zero-padded prefix; the payload follows,
  // zero-padded separately.
  const aadLengthSize = aad.length === 0 ? 0 : aad.length < CCM_SHORT_AAD_LIMIT ? 2 : 6;
  const prefix = new Uint8Array(AES_BLOCK_LENGTH + aadLengthSize + aad.length);
  prefix[0] = (aad.length > 0 ? 0x40 : 0) | (((tagLength - 2) / 2) << 3) | (lengthFieldSize - 1);
  prefix.set(nonce, 1);
  let remaining = payload.length;
  for (let i = AES_BLOCK_LENGTH - 1; i > nonce.length; i--) {
    prefix[i] = remaining % 256;
    remaining = Math.floor(remaining / 256);
  }
  if (aadLengthSize === 2) {
    prefix[16] = aad.length >>> 8;
    prefix[17] = aad.length & 0xff;
  } else if (aadLengthSize === 6) {
    prefix[16] = 0xff;
    prefix[17] = 0xfe;
    prefix[18] = aad.length >>> 24;
    prefix[19] = (aad.length >>> 16) & 0xff;
    prefix[20] = (aad.length >>> 8) & 0xff;
    prefix[21] = aad.length & 0xff;
  }
  prefix.set(aad, AES_BLOCK_LENGTH + aadLengthSize);
  const state = new Int32Array(4);
  cbcMacAbsorb(expandedKey, state, prefix);
  cbcMacAbsorb(expandedKey, state, payload);
  wipe(prefix);
  const mac = new Uint8Array(AES_BLOCK_LENGTH);
  for (let word = 0; word < 4; word++) {
    const value = state[word]!;
    mac[word * 4] = value & 0xff;
    mac[word * 4 + 1] = (value >>> 8) & 0xff;
    mac[word * 4 + 2] = (value >>> 16) & 0xff;
    mac[word * 4 + 3] = value >>> 24;
  }
  state.fill(0);
  return mac;
}

/** CBC-MAC chaining over `data` zero-padded to whole blocks. The state holds little-endian words, as noble's block function does. */
function cbcMacAbsorb(expandedKey: Uint32Array, state: Int32Array, data: Uint8Array): void {
  let s0 = state[0]!;
  let s1 = state[1]!;
  let s2 = state[2]!;
  let s3 = state[3]!;
  const whole = data.length - (data.length % AES_BLOCK_LENGTH);
  for (let i = 0; i < whole; i += AES_BLOCK_LENGTH) {
    const next = unsafe.encrypt(expandedKey, s0 ^ word(data, i), s1 ^ word(data, i + 4), s2 ^ word(data, i + 8), s3 ^ word(data, i + 12));
    s0 = next.s0;
    s1 = next.s1;
    s2 = next.s2;
    s3 = next.s3;
  }
  if (whole < data.length) {
    const last = new Uint8Array(AES_BLOCK_LENGTH);
    last.set(data.subarray(whole));
    const next = unsafe.encrypt(expandedKey, s0 ^ word(last, 0), s1 ^ word(last, 4), s2 ^ word(last, 8), s3 ^ word(last, 12));
    s0 = next.s0;
    s1 = next.s1;
    s2 = next.s2;
    s3 = next.s3;
    wipe(last);
  }
  state[0] = s0;
  state[1] = s1;
  state[2] = s2;
  state[3] = s3;
}

function word(bytes: Uint8Array, offset: number): number {
  return bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24);
}

/** Counter block A_i of SP 800-38C A.3: flags (q - 1) || nonce || i. */
function counterBlock(nonce: Uint8Array, lengthFieldSize: number, index: number): Uint8Array {
  const block = new Uint8Array(AES_BLOCK_LENGTH);
  block[0] = lengthFieldSize - 1;
  block.set(nonce, 1);
  block[15] = index;
  return block;
}

function encryptCounterBlock(expandedKey: Uint32Array, nonce: Uint8Array, lengthFieldSize: number, index: number): Uint8Array {
  return unsafe.encryptBlock(expandedKey, counterBlock(nonce, lengthFieldSize, index));
}

/**
 * XORs `source` with the CCM keystream E(A_1) || E(A_2) || ... into `target`. The counter field
 * is q bytes, but a payload within CCM's length limit never carries out of it, so noble's
 * full-width 128-bit counter increment yields exactly the same blocks.
 */
function ccmKeystreamXor(expandedKey: Uint32Array, nonce: Uint8Array, lengthFieldSize: number, source: Uint8Array, target: Uint8Array): void {
  if (source.length === 0) return;
  // noble's CTR core reads and writes through 32-bit views: both buffers must be 4-byte aligned.
  const alignedSource = source.byteOffset % 4 === 0 ? source : source.slice();
  const alignedTarget = target.byteOffset % 4 === 0 ? target : new Uint8Array(target.length);
  unsafe.ctrCounter(expandedKey, counterBlock(nonce, lengthFieldSize, 1), alignedSource, alignedTarget);
  if (alignedTarget !== target) {
    target.set(alignedTarget);
    wipe(alignedTarget);
  }
  if (alignedSource !== source) wipe(alignedSource);
}
