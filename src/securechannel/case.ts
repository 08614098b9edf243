// CASE (spec 4.14.2): Sigma1 → Sigma2 → Sigma3 → StatusReport, or with resumption
// Sigma1 → Sigma2_Resume → StatusReport. CaseResponder answers peers; CaseInitiator lets the
// device open a session itself (to reach an OTA provider, for instance).
//
// Key schedule (matter.js CaseServer/CaseClient, CHIP CASESession):
//   S2K  = HKDF(ECDH secret, IPK || responderRandom || responderEphPubKey || SHA256(Sigma1), "Sigma2", 16)
//   S3K  = HKDF(ECDH secret, IPK || SHA256(Sigma1 || Sigma2), "Sigma3", 16)
//   keys = HKDF(ECDH secret, IPK || SHA256(Sigma1 || Sigma2 || Sigma3), "SessionKeys", 48) = I2R || R2I || challenge
// Resumption, with the record's shared secret:
//   Sigma1 MIC = CCM tag (empty message) under HKDF(secret, initiatorRandom || resumptionId, "Sigma1_Resume", 16), nonce "NCASE_SigmaS1"
//   Sigma2_Resume MIC likewise over the NEW resumption id with "Sigma2_Resume" / "NCASE_SigmaS2"
//   keys = HKDF(secret, initiatorRandom || resumptionId of Sigma1, "SessionResumptionKeys", 48)
// Sigma bytes are the messages' TLV payloads.
//
// Limits: one responder handshake at a time by default (CHIP's CASEServer holds one; others get
// Busy), one initiator handshake at a time, 60 s for a whole handshake. Ephemeral keys, the ECDH
// secret and every derived key are wiped when the handshake ends, whatever the outcome.
import { concatBytes, utf8Encode } from "../codec/bytes";
import { validateOperationalChain, type ValidatedOperationalChain } from "../certs/chain";
import {
  aesCcmDecrypt,
  aesCcmEncrypt,
  constantTimeEqual,
  createSha256,
  ecdh,
  ecdsaVerify,
  generateKeyPair,
  hkdfSha256,
  type KeyPair,
} from "../crypto";
import type { TimerHandle } from "../platform";
import { SECURE_CHANNEL_PROTOCOL_ID, type Exchange, type ReceivedMessage } from "../transport/exchange";
import type { SecureSession, SessionParameters, UnsecuredSession } from "../transport/session";
import type { PeerAddress } from "../transport/transport";
import { SecureChannelError } from "./errors";
import { destinationIdentifier, findFabricByDestinationId, type CaseFabric, type FabricLookup } from "./fabric";
import { UnsecuredSessionReleaser, asHandshakeError, busyWhenFull, failHandshake, notifyApplication, receiveHandshakeMessage, sendStatus, step, type HandshakeContext, splitSessionKeys } from "./handshake";
import {
  RANDOM_LENGTH,
  RESUMPTION_ID_LENGTH,
  decodeEncryptedData,
  decodeSigma1,
  decodeSigma2,
  decodeSigma2Resume,
  decodeSigma3,
  encodeEncryptedData,
  encodeSignedData,
  encodeSigma1,
  encodeSigma2,
  encodeSigma2Resume,
  encodeSigma3,
  type Sigma1,
} from "./messages";
import type { ResumptionRecord, ResumptionStore } from "./resumption";
import type { LocalSessionParameters } from "./session-parameters";
import { SecureChannelCode, SecureChannelOpcode, busyStatus, secureChannelStatus } from "./status-report";

export const DEFAULT_CASE_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_CASE_HANDSHAKES = 1;
export const DEFAULT_CASE_BUSY_WAIT_MS = 5_000;

const SIGMA2_INFO = "Sigma2";
const SIGMA3_INFO = "Sigma3";
const SIGMA1_RESUME_INFO = "Sigma1_Resume";
const SIGMA2_RESUME_INFO = "Sigma2_Resume";
const SESSION_KEYS_INFO = "SessionKeys";
const RESUMPTION_KEYS_INFO = "SessionResumptionKeys";
const TBE2_NONCE = "NCASE_Sigma2N";
const TBE3_NONCE = "NCASE_Sigma3N";
const RESUME1_NONCE = "NCASE_SigmaS1";
const RESUME2_NONCE = "NCASE_SigmaS2";
const KEY_LENGTH = 16;
const SESSION_KEYS_LENGTH = 48;

function hashOf(...parts: Uint8Array[]): Uint8Array {
  const hash = createSha256();
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** HKDF with a salt that starts with the IPK; the salt copy is wiped afterwards. */
function hkdfWithIpk(sharedSecret: Uint8Array, ipk: Uint8Array, rest: Uint8Array[], info: string, length: number): Uint8Array {
  const salt = concatBytes(ipk, ...rest);
  try {
    return hkdfSha256(sharedSecret, salt, utf8Encode(info), length);
  } finally {
    salt.fill(0);
  }
}

/** S2K: the key of TBEData2. */
export function sigma2Key(sharedSecret: Uint8Array, ipk: Uint8Array, responderRandom: Uint8Array, responderEphemeralPublicKey: Uint8Array, sigma1: Uint8Array): Uint8Array {
  return hkdfWithIpk(sharedSecret, ipk, [responderRandom, responderEphemeralPublicKey, hashOf(sigma1)], SIGMA2_INFO, KEY_LENGTH);
}

/** S3K: the key of TBEData3. */
export function sigma3Key(sharedSecret: Uint8Array, ipk: Uint8Array, sigma1: Uint8Array, sigma2: Uint8Array): Uint8Array {
  return hkdfWithIpk(sharedSecret, ipk, [hashOf(sigma1, sigma2)], SIGMA3_INFO, KEY_LENGTH);
}

/** I2R || R2I || attestation challenge of a full CASE handshake. */
export function caseSessionKeys(sharedSecret: Uint8Array, ipk: Uint8Array, sigma1: Uint8Array, sigma2: Uint8Array, sigma3: Uint8Array): Uint8Array {
  return hkdfWithIpk(sharedSecret, ipk, [hashOf(sigma1, sigma2, sigma3)], SESSION_KEYS_INFO, SESSION_KEYS_LENGTH);
}

/** I2R || R2I || attestation challenge of a resumed session; `resumptionId` is the one Sigma1 presented. */
export function resumedSessionKeys(sharedSecret: Uint8Array, initiatorRandom: Uint8Array, resumptionId: Uint8Array): Uint8Array {
  return hkdfSha256(sharedSecret, concatBytes(initiatorRandom, resumptionId), utf8Encode(RESUMPTION_KEYS_INFO), SESSION_KEYS_LENGTH);
}

/** The resume MIC of Sigma1 (`sigma: 1`) or Sigma2_Resume (`sigma: 2`): a CCM tag over nothing. */
export function resumeMic(sigma: 1 | 2, sharedSecret: Uint8Array, initiatorRandom: Uint8Array, resumptionId: Uint8Array): Uint8Array {
  const key = hkdfSha256(sharedSecret, concatBytes(initiatorRandom, resumptionId), utf8Encode(sigma === 1 ? SIGMA1_RESUME_INFO : SIGMA2_RESUME_INFO), KEY_LENGTH);
  try {
    return aesCcmEncrypt(key, utf8Encode(sigma === 1 ? RESUME1_NONCE : RESUME2_NONCE), new Uint8Array(0), new Uint8Array(0));
  } finally {
    key.fill(0);
  }
}

export function encryptTbeData(key: Uint8Array, sigma: 2 | 3, plaintext: Uint8Array): Uint8Array {
  return aesCcmEncrypt(key, utf8Encode(sigma === 2 ? TBE2_NONCE : TBE3_NONCE), plaintext, new Uint8Array(0));
}

export function decryptTbeData(key: Uint8Array, sigma: 2 | 3, ciphertext: Uint8Array): Uint8Array {
  return aesCcmDecrypt(key, utf8Encode(sigma === 2 ? TBE2_NONCE : TBE3_NONCE), ciphertext, new Uint8Array(0));
}

function wipe(...buffers: (Uint8Array | undefined)[]): void {
  for (const buffer of buffers) buffer?.fill(0);
}

/** Validates a peer's chain against the fabric's root: fabric id must match, and the node id when expected. */
function validatePeerChain(fabric: CaseFabric, noc: Uint8Array, icac: Uint8Array | undefined, expectedNodeId?: bigint): ValidatedOperationalChain {
  const chain = step("peer certificate chain", () => validateOperationalChain({ rcac: fabric.rcac, noc, ...(icac ? { icac } : {}) }));
  if (chain.fabricId !== fabric.fabricId) throw new SecureChannelError(`the peer's NOC is for fabric 0x${chain.fabricId.toString(16)}, not 0x${fabric.fabricId.toString(16)}`);
  if (expectedNodeId !== undefined && chain.nodeId !== expectedNodeId) {
    throw new SecureChannelError(`the peer's NOC is for node 0x${chain.nodeId.toString(16)}, not 0x${expectedNodeId.toString(16)}`);
  }
  return chain;
}

function allocateSessionId(context: HandshakeContext): number {
  return busyWhenFull(() => context.sessions.allocateLocalSessionId());
}

/** The TBS data of a Sigma2 or Sigma3 signature. */
function signedData(noc: Uint8Array, icac: Uint8Array | undefined, senderPublicKey: Uint8Array, receiverPublicKey: Uint8Array): Uint8Array {
  return encodeSignedData({ senderNoc: noc, ...(icac ? { senderIcac: icac } : {}), senderPublicKey, receiverPublicKey });
}

/** Our TBEData: NOC, ICAC and the signature over the ephemeral keys (and a resumption id in Sigma2). */
function ownEncryptedData(fabric: CaseFabric, senderPublicKey: Uint8Array, receiverPublicKey: Uint8Array, resumptionId?: Uint8Array): Uint8Array {
  return encodeEncryptedData({
    senderNoc: fabric.noc,
    ...(fabric.icac ? { senderIcac: fabric.icac } : {}),
    signature: fabric.sign(signedData(fabric.noc, fabric.icac, senderPublicKey, receiverPublicKey)),
    ...(resumptionId ? { resumptionId } : {}),
  });
}

/** The peer's chain from its TBEData, and its signature over the ephemeral keys checked against its NOC. */
function verifyPeer(
  fabric: CaseFabric,
  peerData: { senderNoc: Uint8Array; senderIcac?: Uint8Array; signature: Uint8Array },
  senderPublicKey: Uint8Array,
  receiverPublicKey: Uint8Array,
  sigma: string,
  expectedNodeId?: bigint,
): ValidatedOperationalChain {
  const chain = validatePeerChain(fabric, peerData.senderNoc, peerData.senderIcac, expectedNodeId);
  if (!ecdsaVerify(chain.nocPublicKey, signedData(peerData.senderNoc, peerData.senderIcac, senderPublicKey, receiverPublicKey), peerData.signature)) {
    throw new SecureChannelError(`the ${sigma} signature does not verify`);
  }
  return chain;
}

interface CaseOutcome {
  localSessionId: number;
  peerSessionId: number;
  isInitiator: boolean;
  unsecured: UnsecuredSession;
  peerParameters: SessionParameters | undefined;
  fabric: CaseFabric;
  peerNodeId: bigint;
  cats: readonly number[];
  /** The next resumption's id and secret. */
  resumptionId: Uint8Array;
  sharedSecret: Uint8Array;
}

/**
 * Creates the session from the 48-byte key block, confirms it to the peer when `confirm`, closes
 * the exchange and keeps the resumption record.
 */
function completeCase(context: HandshakeContext, store: ResumptionStore, exchange: Exchange, keys: Uint8Array, confirm: boolean, outcome: CaseOutcome): SecureSession {
  const { fabric, peerNodeId, cats, peerParameters } = outcome;
  const session = busyWhenFull(() =>
    context.sessions.createSecureSession({
      kind: "case",
      localSessionId: outcome.localSessionId,
      peerSessionId: outcome.peerSessionId,
      ...splitSessionKeys(keys),
      isInitiator: outcome.isInitiator,
      peerNodeId,
      localNodeId: fabric.nodeId,
      fabricIndex: fabric.fabricIndex,
      caseAuthenticatedTags: [...cats],
      peerAddress: outcome.unsecured.peerAddress,
      ...(peerParameters ? { peerParameters } : {}),
    }),
  );
  if (confirm) sendStatus(context, exchange, secureChannelStatus(SecureChannelCode.sessionEstablishmentSuccess));
  exchange.close();
  store.save({ resumptionId: outcome.resumptionId, sharedSecret: outcome.sharedSecret, fabricIndex: fabric.fabricIndex, peerNodeId, caseAuthenticatedTags: cats });
  return session;
}

export interface CaseOptions {
  fabrics: FabricLookup;
  resumption: ResumptionStore;
  localParameters: LocalSessionParameters;
  handshakeTimeoutMs?: number;
  maxConcurrentHandshakes?: number;
}

export interface CaseResponderOptions extends CaseOptions {
  busyWaitMs?: number;
  onSessionEstablished?: (session: SecureSession, resumed: boolean) => void;
}

interface ResponderHandshake {
  exchange: Exchange;
  timer: TimerHandle | undefined;
}

export class CaseResponder {
  readonly handshakeTimeoutMs: number;
  readonly maxConcurrentHandshakes: number;
  private readonly busyWaitMs: number;
  private readonly handshakes = new Set<ResponderHandshake>();
  private readonly releaser: UnsecuredSessionReleaser;

  constructor(
    private readonly context: HandshakeContext,
    private readonly options: CaseResponderOptions,
  ) {
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_CASE_TIMEOUT_MS;
    this.maxConcurrentHandshakes = options.maxConcurrentHandshakes ?? DEFAULT_MAX_CASE_HANDSHAKES;
    this.busyWaitMs = options.busyWaitMs ?? DEFAULT_CASE_BUSY_WAIT_MS;
    this.releaser = new UnsecuredSessionReleaser(context.sessions, context.clock);
  }

  get handshakesInProgress(): number {
    return this.handshakes.size;
  }

  /** Takes a Sigma1 that opened `exchange`. */
  handle(exchange: Exchange, sigma1: ReceivedMessage): void {
    const session = exchange.session;
    if (session.kind !== "unsecured") {
      sendStatus(this.context, exchange, secureChannelStatus(SecureChannelCode.invalidParameter), false);
      exchange.close();
      return;
    }
    if (this.handshakes.size >= this.maxConcurrentHandshakes) {
      this.context.log("info", "Sigma1 refused: CASE handshakes in progress");
      sendStatus(this.context, exchange, busyStatus(this.busyWaitMs), false);
      exchange.close();
      this.releaser.release(session);
      return;
    }
    const handshake: ResponderHandshake = { exchange, timer: undefined };
    this.handshakes.add(handshake);
    handshake.timer = this.context.clock.setTimer(this.handshakeTimeoutMs, () => {
      handshake.timer = undefined;
      if (this.handshakes.has(handshake)) exchange.abort();
    });
    void this.run(handshake, sigma1, session);
  }

  /** Abandons handshakes in progress (shutdown). */
  close(): void {
    for (const handshake of [...this.handshakes]) handshake.exchange.abort();
    this.releaser.close();
  }

  private async run(handshake: ResponderHandshake, first: ReceivedMessage, unsecured: UnsecuredSession): Promise<void> {
    const { context, options } = this;
    const { exchange } = handshake;
    const deadline = context.clock.now() + this.handshakeTimeoutMs;
    let localSessionId: number | undefined;
    let sessionCreated = false;
    try {
      const sigma1 = decodeSigma1(first.payload);
      const peerParameters = sigma1.initiatorSessionParameters?.mrp;
      if (peerParameters) unsecured.peerParameters = peerParameters;
      localSessionId = allocateSessionId(context);
      const record = sigma1.resumptionId ? options.resumption.findById(sigma1.resumptionId) : undefined;
      const resumedFabric = record ? options.fabrics.fabric(record.fabricIndex) : undefined;
      if (record && resumedFabric && this.resumeMicValid(record, sigma1)) {
        await this.resume(exchange, sigma1, record, resumedFabric, localSessionId, unsecured, peerParameters, deadline);
      } else {
        // No record, a stale one, or a MIC that does not verify: the full handshake (spec 4.14.2.2.1).
        await this.fullHandshake(exchange, sigma1, first.payload, localSessionId, unsecured, peerParameters, deadline);
      }
      sessionCreated = true;
    } catch (caught) {
      const error = asHandshakeError(caught, "CASE");
      context.log("info", `CASE handshake failed: ${error.message}`);
      failHandshake(context, exchange, error);
    } finally {
      if (localSessionId !== undefined && !sessionCreated) context.sessions.remove(localSessionId);
      if (handshake.timer !== undefined) context.clock.clearTimer(handshake.timer);
      this.handshakes.delete(handshake);
      this.releaser.release(unsecured);
    }
  }

  private resumeMicValid(record: ResumptionRecord, sigma1: Sigma1): boolean {
    const expected = resumeMic(1, record.sharedSecret, sigma1.initiatorRandom, record.resumptionId);
    return constantTimeEqual(expected, sigma1.initiatorResumeMic!);
  }

  private async resume(
    exchange: Exchange,
    sigma1: Sigma1,
    record: ResumptionRecord,
    fabric: CaseFabric,
    localSessionId: number,
    unsecured: UnsecuredSession,
    peerParameters: SessionParameters | undefined,
    deadline: number,
  ): Promise<void> {
    const { context, options } = this;
    // Copies: the record may be replaced or evicted while we wait for the peer.
    const sharedSecret = record.sharedSecret.slice();
    const { peerNodeId, caseAuthenticatedTags } = record;
    const newResumptionId = context.random.bytes(RESUMPTION_ID_LENGTH);
    let keys: Uint8Array | undefined;
    try {
      exchange.send(
        SECURE_CHANNEL_PROTOCOL_ID,
        SecureChannelOpcode.sigma2Resume,
        encodeSigma2Resume({
          resumptionId: newResumptionId,
          sigma2ResumeMic: resumeMic(2, sharedSecret, sigma1.initiatorRandom, newResumptionId),
          responderSessionId: localSessionId,
          responderSessionParameters: options.localParameters,
        }),
      );
      // The session exists only once the initiator confirms (spec 4.14.2.2.2).
      await receiveHandshakeMessage(exchange, SecureChannelOpcode.statusReport, deadline, context.clock);
      keys = resumedSessionKeys(sharedSecret, sigma1.initiatorRandom, sigma1.resumptionId!);
      const session = completeCase(context, options.resumption, exchange, keys, false, {
        localSessionId,
        peerSessionId: sigma1.initiatorSessionId,
        isInitiator: false,
        unsecured,
        peerParameters,
        fabric,
        peerNodeId,
        cats: caseAuthenticatedTags,
        resumptionId: newResumptionId,
        sharedSecret,
      });
      context.log("info", `CASE session ${localSessionId} resumed with node 0x${peerNodeId.toString(16)} on fabric ${fabric.fabricIndex}`);
      const established = options.onSessionEstablished;
      if (established) notifyApplication(context, "onSessionEstablished", () => established(session, true));
    } finally {
      wipe(sharedSecret, keys);
    }
  }

  private async fullHandshake(
    exchange: Exchange,
    sigma1: Sigma1,
    sigma1Bytes: Uint8Array,
    localSessionId: number,
    unsecured: UnsecuredSession,
    peerParameters: SessionParameters | undefined,
    deadline: number,
  ): Promise<void> {
    const { context, options } = this;
    const fabric = findFabricByDestinationId(options.fabrics, sigma1.destinationId, sigma1.initiatorRandom);
    if (!fabric) throw new SecureChannelError("Sigma1's destination matches no fabric", SecureChannelCode.noSharedTrustRoots);
    let ephemeral: KeyPair | undefined;
    let sharedSecret: Uint8Array | undefined;
    let s2k: Uint8Array | undefined;
    let s3k: Uint8Array | undefined;
    let keys: Uint8Array | undefined;
    try {
      ephemeral = generateKeyPair(context.random);
      const ownKey = ephemeral;
      sharedSecret = step("initiator ephemeral key", () => ecdh(ownKey.privateKey, sigma1.initiatorEphemeralPublicKey));
      const responderRandom = context.random.bytes(RANDOM_LENGTH);
      const resumptionId = context.random.bytes(RESUMPTION_ID_LENGTH);
      s2k = sigma2Key(sharedSecret, fabric.ipk, responderRandom, ephemeral.publicKey, sigma1Bytes);
      const encryptedData = ownEncryptedData(fabric, ephemeral.publicKey, sigma1.initiatorEphemeralPublicKey, resumptionId);
      const sigma2Bytes = encodeSigma2({
        responderRandom,
        responderSessionId: localSessionId,
        responderEphemeralPublicKey: ephemeral.publicKey,
        encrypted2: encryptTbeData(s2k, 2, encryptedData),
        responderSessionParameters: options.localParameters,
      });
      exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.sigma2, sigma2Bytes);

      const sigma3Bytes = (await receiveHandshakeMessage(exchange, SecureChannelOpcode.sigma3, deadline, context.clock)).payload;
      const sigma3 = decodeSigma3(sigma3Bytes);
      const key3 = (s3k = sigma3Key(sharedSecret, fabric.ipk, sigma1Bytes, sigma2Bytes));
      const peerData = decodeEncryptedData(step("TBEData3", () => decryptTbeData(key3, 3, sigma3.encrypted3)), false);
      const chain = verifyPeer(fabric, peerData, sigma1.initiatorEphemeralPublicKey, ephemeral.publicKey, "Sigma3");

      keys = caseSessionKeys(sharedSecret, fabric.ipk, sigma1Bytes, sigma2Bytes, sigma3Bytes);
      const session = completeCase(context, options.resumption, exchange, keys, true, {
        localSessionId,
        peerSessionId: sigma1.initiatorSessionId,
        isInitiator: false,
        unsecured,
        peerParameters,
        fabric,
        peerNodeId: chain.nodeId,
        cats: chain.cats,
        resumptionId,
        sharedSecret,
      });
      context.log("info", `CASE session ${localSessionId} established with node 0x${chain.nodeId.toString(16)} on fabric ${fabric.fabricIndex}`);
      const established = options.onSessionEstablished;
      if (established) notifyApplication(context, "onSessionEstablished", () => established(session, false));
    } finally {
      wipe(ephemeral?.privateKey, sharedSecret, s2k, s3k, keys);
    }
  }
}

export interface EstablishCaseOptions {
  fabricIndex: number;
  peerNodeId: bigint;
  peerAddress: PeerAddress;
  /** Try the resumption record for this peer if there is one (default true). */
  resume?: boolean;
}

export interface EstablishedCase {
  session: SecureSession;
  resumed: boolean;
}

/** The device's side of CASE as initiator. */
export class CaseInitiator {
  readonly handshakeTimeoutMs: number;
  readonly maxConcurrentHandshakes: number;
  private readonly releaser: UnsecuredSessionReleaser;
  private readonly exchanges = new Set<Exchange>();

  constructor(
    private readonly context: HandshakeContext,
    private readonly options: CaseOptions,
  ) {
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_CASE_TIMEOUT_MS;
    this.maxConcurrentHandshakes = options.maxConcurrentHandshakes ?? DEFAULT_MAX_CASE_HANDSHAKES;
    this.releaser = new UnsecuredSessionReleaser(context.sessions, context.clock);
  }

  get handshakesInProgress(): number {
    return this.exchanges.size;
  }

  /**
   * Opens a CASE session with `peerNodeId` on our fabric `fabricIndex`. Rejects with
   * SecureChannelError: PeerStatusError when the peer refuses (busyWaitMs set for Busy),
   * HandshakeTimeoutError when it does not answer, InvalidParameter for anything invalid it sent.
   */
  async establish(request: EstablishCaseOptions): Promise<EstablishedCase> {
    const { context, options } = this;
    const fabric = options.fabrics.fabric(request.fabricIndex);
    if (!fabric) throw new SecureChannelError(`no fabric with index ${request.fabricIndex}`);
    if (this.exchanges.size >= this.maxConcurrentHandshakes) throw new SecureChannelError("CASE handshake already in progress", SecureChannelCode.busy);
    const unsecured = busyWhenFull(() => context.sessions.createUnsecuredSession(request.peerAddress));
    let exchange: Exchange;
    try {
      exchange = context.exchanges.initiate(unsecured);
    } catch (error) {
      context.sessions.removeUnsecured(unsecured);
      throw new SecureChannelError(`no exchange: ${(error as Error).message}`, SecureChannelCode.busy);
    }
    this.exchanges.add(exchange);
    const timer = context.clock.setTimer(this.handshakeTimeoutMs, () => exchange.abort());
    let localSessionId: number | undefined;
    let established: EstablishedCase | undefined;
    try {
      localSessionId = allocateSessionId(context);
      established = await this.run(exchange, fabric, request, localSessionId, unsecured);
      return established;
    } catch (caught) {
      const error = asHandshakeError(caught, "CASE");
      context.log("info", `CASE with node 0x${request.peerNodeId.toString(16)} failed: ${error.message}`);
      failHandshake(context, exchange, error);
      throw error;
    } finally {
      if (localSessionId !== undefined && !established) context.sessions.remove(localSessionId);
      context.clock.clearTimer(timer);
      this.exchanges.delete(exchange);
      this.releaser.release(unsecured);
    }
  }

  /** Abandons handshakes in progress (shutdown). */
  close(): void {
    for (const exchange of [...this.exchanges]) exchange.abort();
    this.releaser.close();
  }

  private async run(exchange: Exchange, fabric: CaseFabric, request: EstablishCaseOptions, localSessionId: number, unsecured: UnsecuredSession): Promise<EstablishedCase> {
    const { context, options } = this;
    const deadline = context.clock.now() + this.handshakeTimeoutMs;
    const initiatorRandom = context.random.bytes(RANDOM_LENGTH);
    const record = request.resume === false ? undefined : options.resumption.findByPeer(fabric.fabricIndex, request.peerNodeId);
    const resumption = record ? { resumptionId: record.resumptionId.slice(), sharedSecret: record.sharedSecret.slice(), cats: [...record.caseAuthenticatedTags] } : undefined;
    let ephemeral: KeyPair | undefined;
    let sharedSecret: Uint8Array | undefined;
    let s2k: Uint8Array | undefined;
    let s3k: Uint8Array | undefined;
    let keys: Uint8Array | undefined;
    try {
      ephemeral = generateKeyPair(context.random);
      const sigma1Bytes = encodeSigma1({
        initiatorRandom,
        initiatorSessionId: localSessionId,
        destinationId: destinationIdentifier(fabric.ipk, initiatorRandom, fabric.rootPublicKey, fabric.fabricId, request.peerNodeId),
        initiatorEphemeralPublicKey: ephemeral.publicKey,
        initiatorSessionParameters: options.localParameters,
        ...(resumption
          ? { resumptionId: resumption.resumptionId, initiatorResumeMic: resumeMic(1, resumption.sharedSecret, initiatorRandom, resumption.resumptionId) }
          : {}),
      });
      exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.sigma1, sigma1Bytes);
      const reply = await receiveHandshakeMessage(exchange, [SecureChannelOpcode.sigma2, SecureChannelOpcode.sigma2Resume], deadline, context.clock);

      if (reply.opcode === SecureChannelOpcode.sigma2Resume) {
        if (!resumption) throw new SecureChannelError("Sigma2_Resume to a Sigma1 without resumption");
        const sigma2Resume = decodeSigma2Resume(reply.payload);
        const expected = resumeMic(2, resumption.sharedSecret, initiatorRandom, sigma2Resume.resumptionId);
        if (!constantTimeEqual(expected, sigma2Resume.sigma2ResumeMic)) throw new SecureChannelError("the Sigma2_Resume MIC does not verify");
        const peerParameters = sigma2Resume.responderSessionParameters?.mrp;
        keys = resumedSessionKeys(resumption.sharedSecret, initiatorRandom, resumption.resumptionId);
        const session = completeCase(context, options.resumption, exchange, keys, true, {
          localSessionId,
          peerSessionId: sigma2Resume.responderSessionId,
          isInitiator: true,
          unsecured,
          peerParameters,
          fabric,
          peerNodeId: request.peerNodeId,
          cats: resumption.cats,
          resumptionId: sigma2Resume.resumptionId,
          sharedSecret: resumption.sharedSecret,
        });
        return { session, resumed: true };
      }

      const sigma2Bytes = reply.payload;
      const sigma2 = decodeSigma2(sigma2Bytes);
      const ownKey = ephemeral;
      sharedSecret = step("responder ephemeral key", () => ecdh(ownKey.privateKey, sigma2.responderEphemeralPublicKey));
      const key2 = (s2k = sigma2Key(sharedSecret, fabric.ipk, sigma2.responderRandom, sigma2.responderEphemeralPublicKey, sigma1Bytes));
      const peerData = decodeEncryptedData(step("TBEData2", () => decryptTbeData(key2, 2, sigma2.encrypted2)), true);
      const chain = verifyPeer(fabric, peerData, sigma2.responderEphemeralPublicKey, ephemeral.publicKey, "Sigma2", request.peerNodeId);

      s3k = sigma3Key(sharedSecret, fabric.ipk, sigma1Bytes, sigma2Bytes);
      const ownData = ownEncryptedData(fabric, ephemeral.publicKey, sigma2.responderEphemeralPublicKey);
      const sigma3Bytes = encodeSigma3({ encrypted3: encryptTbeData(s3k, 3, ownData) });
      exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.sigma3, sigma3Bytes);
      await receiveHandshakeMessage(exchange, SecureChannelOpcode.statusReport, deadline, context.clock);

      const peerParameters = sigma2.responderSessionParameters?.mrp;
      keys = caseSessionKeys(sharedSecret, fabric.ipk, sigma1Bytes, sigma2Bytes, sigma3Bytes);
      const session = completeCase(context, options.resumption, exchange, keys, false, {
        localSessionId,
        peerSessionId: sigma2.responderSessionId,
        isInitiator: true,
        unsecured,
        peerParameters,
        fabric,
        peerNodeId: chain.nodeId,
        cats: chain.cats,
        resumptionId: peerData.resumptionId!,
        sharedSecret,
      });
      return { session, resumed: false };
    } finally {
      wipe(ephemeral?.privateKey, sharedSecret, s2k, s3k, keys, resumption?.sharedSecret);
    }
  }
}
