// The Matter crypto suite: the one module the rest of the firmware imports for cryptography.
// Everything here runs unchanged on XS and Node; only src/crypto/ imports @noble/*.
export { CryptoError } from "./errors";
export { constantTimeEqual } from "./bytes";
export { SHA256_LENGTH, sha256, createSha256, hmacSha256, hkdfSha256, pbkdf2Sha256 } from "./hash";
export type { Sha256Stream } from "./hash";
export { createHash } from "./digest";
export type { HashAlgorithm, HashStream } from "./digest";
export {
  AES_KEY_LENGTH,
  AES_BLOCK_LENGTH,
  AES_CCM_NONCE_LENGTH,
  AES_CCM_TAG_LENGTH,
  aesCcmEncrypt,
  aesCcmDecrypt,
  aesCtr,
  aesCcmCtr,
} from "./aes";
export type { Random } from "./random";
export {
  P256_PRIVATE_KEY_LENGTH,
  P256_PUBLIC_KEY_LENGTH,
  P256_SIGNATURE_LENGTH,
  randomScalar,
  generateKeyPair,
  publicKeyFromPrivate,
  isValidPublicKey,
  ecdsaSign,
  ecdsaVerify,
  signatureToDer,
  signatureFromDer,
  ecdh,
  warmUpCurve,
} from "./p256";
export type { KeyPair } from "./p256";
export { CtrDrbg, CTR_DRBG_MAX_REQUEST, CTR_DRBG_DEFAULT_RESEED_INTERVAL } from "./drbg";
export type { CtrDrbgOptions } from "./drbg";
export {
  SPAKE2P_CONFIRMATION_INFO,
  SPAKE2P_MIN_SALT_LENGTH,
  SPAKE2P_MAX_SALT_LENGTH,
  SPAKE2P_MIN_ITERATIONS,
  SPAKE2P_MAX_ITERATIONS,
  spake2pM,
  spake2pN,
  spake2pComputeW0W1,
  spake2pComputeVerifier,
  spake2pComputeL,
  spake2pProverShare,
  spake2pVerifierShare,
  spake2pProverSecrets,
  spake2pVerifierSecrets,
  spake2pTranscript,
  spake2pKeySchedule,
  spake2pConfirmations,
  Spake2pVerifier,
  Spake2pProver,
} from "./spake2p";
export type { Spake2pTranscriptParts, Spake2pKeys, Spake2pVerifierOptions, Spake2pProverOptions } from "./spake2p";
