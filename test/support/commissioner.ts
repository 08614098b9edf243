// A test commissioner and a test CASE responder: PASE and CASE written for the tests, with
// matter.js's TLV schemas for the messages, Node's crypto and noble's points for the maths. Hooks
// let tests break a handshake on purpose (wrong passcode, tampered Sigma3, foreign NOC, silence).
import {
  Noc,
  TlvCaseSigma1,
  TlvCaseSigma2,
  TlvCaseSigma2Resume,
  TlvCaseSigma3,
  TlvEncryptedDataSigma2,
  TlvEncryptedDataSigma3,
  TlvPasePake1,
  TlvPasePake2,
  TlvPasePake3,
  TlvPbkdfParamRequest,
  TlvPbkdfParamResponse,
  TlvSignedData,
} from "@matter/protocol";
import type { FabricAuthority, NodeCredentials } from "./credentials";
import { EphemeralKey, ascii, ccmDecrypt, ccmEncrypt, concat, hkdf, hmac, random, sha256, u64le, verifySignature } from "./node-crypto";
import { Spake2pProverSession, passcodeToW0W1 } from "./spake2p-prover";
import { SECURE_CHANNEL, STATUS_REPORT, type Endpoint, type InboundMessage, type SecureContext, type TestExchange, type TestPeer } from "./test-peer";

export const Opcode = {
  pbkdfParamRequest: 0x20,
  pbkdfParamResponse: 0x21,
  pake1: 0x22,
  pake2: 0x23,
  pake3: 0x24,
  sigma1: 0x30,
  sigma2: 0x31,
  sigma3: 0x32,
  sigma2Resume: 0x33,
  statusReport: STATUS_REPORT,
} as const;

export interface Status {
  generalCode: number;
  protocolId: number;
  protocolCode: number;
  data: Uint8Array;
}

export function statusReport(generalCode: number, protocolCode: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = Buffer.alloc(8 + data.length);
  out.writeUInt16LE(generalCode, 0);
  out.writeUInt32LE(SECURE_CHANNEL, 2);
  out.writeUInt16LE(protocolCode, 6);
  out.set(data, 8);
  return new Uint8Array(out);
}

export function parseStatus(payload: Uint8Array): Status {
  const buffer = Buffer.from(payload);
  return { generalCode: buffer.readUInt16LE(0), protocolId: buffer.readUInt32LE(2), protocolCode: buffer.readUInt16LE(6), data: new Uint8Array(buffer.subarray(8)) };
}

/** The StatusReport that ended a handshake, as an error. */
export class StatusError extends Error {
  constructor(readonly status: Status) {
    super(`status report general ${status.generalCode} protocol code ${status.protocolCode}`);
  }
}

const SUCCESS_REPORT = () => statusReport(0, 0);
const SESSION_PARAMETERS = { idleInterval: 500, activeInterval: 300, activeThreshold: 4000 };

function randomSessionId(): number {
  return (Buffer.from(random(2)).readUInt16LE(0) % 0xfffe) + 1;
}

async function expect(exchange: TestExchange, opcode: number, timeoutMs: number): Promise<InboundMessage> {
  const message = await exchange.next(timeoutMs);
  if (message.protocolId === SECURE_CHANNEL && message.opcode === STATUS_REPORT && opcode !== STATUS_REPORT) throw new StatusError(parseStatus(message.payload));
  if (message.opcode !== opcode) throw new Error(`expected opcode 0x${opcode.toString(16)}, got 0x${message.opcode.toString(16)}`);
  return message;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

export interface PaseOptions {
  passcode: number;
  /** Send Pake3 even when Pake2's cB shows the passcode is wrong (to test the device's check). */
  confirmDespiteMismatch?: boolean;
  /** Stop sending after this step (the peer still acknowledges). */
  stopAfter?: "PBKDFParamRequest" | "Pake1";
  /** Give the PBKDF parameters ourselves (hasPBKDFParameters = true). */
  knownPbkdf?: { iterations: number; salt: Uint8Array };
  /** MRP parameters announced in PBKDFParamRequest. */
  sessionParameters?: { idleInterval: number; activeInterval: number; activeThreshold: number };
  timeoutMs?: number;
}

export interface PaseResult {
  session: SecureContext;
  pbkdf: { iterations: number; salt: Uint8Array } | undefined;
  responderSessionParams: Record<string, unknown> | undefined;
  attestationChallenge: Uint8Array;
}

/** A controller's identity on a fabric, with the CASE resumption records it keeps. */
export interface ControllerIdentity {
  authority: FabricAuthority;
  credentials: NodeCredentials;
  resumption: Map<bigint, { resumptionId: Uint8Array; sharedSecret: Uint8Array }>;
}

export interface CaseOptions {
  controller: ControllerIdentity;
  deviceNodeId: bigint;
  resume?: boolean;
  /** Present these credentials in Sigma3 instead of the controller's own. */
  presentCredentials?: NodeCredentials;
  /** Compute the destination id with this authority's root and IPK. */
  destinationAuthority?: FabricAuthority;
  /** Change Sigma3's encrypted payload before sending it. */
  tamperSigma3?: (encrypted: Uint8Array) => Uint8Array;
  /** Replace the resume MIC of Sigma1. */
  resumeMicOverride?: Uint8Array;
  stopAfter?: "Sigma1";
  timeoutMs?: number;
}

export interface CaseResult {
  session: SecureContext;
  resumed: boolean;
  deviceNoc?: Uint8Array;
  responderSessionParams?: Record<string, unknown>;
}

export class TestCommissioner {
  constructor(
    readonly peer: TestPeer,
    readonly device: Endpoint,
  ) {}

  /** PASE as initiator. Rejects with StatusError when the device ends the handshake with a failure. */
  async pase(options: PaseOptions): Promise<PaseResult> {
    const timeout = options.timeoutMs ?? 5000;
    const exchange = this.peer.exchange(this.peer.unsecuredSession(this.device));
    try {
      const localSessionId = randomSessionId();
      const initiatorRandom = random(32);
      const request = new Uint8Array(
        TlvPbkdfParamRequest.encode({
          initiatorRandom,
          initiatorSessionId: localSessionId,
          passcodeId: 0,
          hasPbkdfParameters: options.knownPbkdf !== undefined,
          initiatorSessionParams: options.sessionParameters ?? SESSION_PARAMETERS,
        }),
      );
      exchange.send(SECURE_CHANNEL, Opcode.pbkdfParamRequest, request);
      const responseMessage = await expect(exchange, Opcode.pbkdfParamResponse, timeout);
      const response = TlvPbkdfParamResponse.decode(responseMessage.payload);
      if (!equalBytes(response.initiatorRandom, initiatorRandom)) throw new Error("PBKDFParamResponse echoes another initiator random");
      const pbkdf = response.pbkdfParameters ?? options.knownPbkdf;
      if (!pbkdf) throw new Error("no PBKDF parameters");
      if (options.stopAfter === "PBKDFParamRequest") return new Promise(() => {});
      const { w0, w1 } = passcodeToW0W1(options.passcode, pbkdf.salt, pbkdf.iterations);
      const prover = new Spake2pProverSession(sha256(ascii("CHIP PAKE V1 Commissioning"), request, responseMessage.payload), w0, w1);
      exchange.send(SECURE_CHANNEL, Opcode.pake1, new Uint8Array(TlvPasePake1.encode({ x: prover.X })));
      const pake2 = TlvPasePake2.decode((await expect(exchange, Opcode.pake2, timeout)).payload);
      if (options.stopAfter === "Pake1") return new Promise(() => {});
      const { cA, Ke, cBValid } = prover.finish(new Uint8Array(pake2.y), new Uint8Array(pake2.verifier));
      if (!cBValid && !options.confirmDespiteMismatch) {
        exchange.send(SECURE_CHANNEL, STATUS_REPORT, statusReport(1, 2));
        throw new Error("wrong passcode: Pake2's cB does not verify");
      }
      exchange.send(SECURE_CHANNEL, Opcode.pake3, new Uint8Array(TlvPasePake3.encode({ verifier: cA })));
      const final = parseStatus((await expect(exchange, STATUS_REPORT, timeout)).payload);
      if (final.generalCode !== 0 || final.protocolCode !== 0) throw new StatusError(final);
      const keys = hkdf(Ke, new Uint8Array(0), "SessionKeys", 48);
      const session = this.peer.addSecureSession({
        localSessionId,
        peerSessionId: response.responderSessionId,
        encryptKey: keys.slice(0, 16),
        decryptKey: keys.slice(16, 32),
        localNodeId: 0n,
        peerNodeId: 0n,
        remote: this.device,
      });
      return {
        session,
        pbkdf: response.pbkdfParameters ? { iterations: response.pbkdfParameters.iterations, salt: new Uint8Array(response.pbkdfParameters.salt) } : undefined,
        responderSessionParams: response.responderSessionParams as Record<string, unknown> | undefined,
        attestationChallenge: keys.slice(32, 48),
      };
    } finally {
      exchange.close();
    }
  }

  /** CASE as initiator, with resumption when a record exists and `resume` is not false. */
  async case(options: CaseOptions): Promise<CaseResult> {
    const timeout = options.timeoutMs ?? 5000;
    const { controller } = options;
    const destination = options.destinationAuthority ?? controller.authority;
    const exchange = this.peer.exchange(this.peer.unsecuredSession(this.device));
    try {
      const localSessionId = randomSessionId();
      const initiatorRandom = random(32);
      const ephemeral = new EphemeralKey();
      const record = options.resume === false ? undefined : controller.resumption.get(options.deviceNodeId);
      const destinationId = hmac(
        destination.ipk,
        concat(initiatorRandom, destination.rootPublicKey, u64le(destination.fabricId), u64le(options.deviceNodeId)),
      );
      const resumeFields = record
        ? {
            resumptionId: record.resumptionId,
            initiatorResumeMic:
              options.resumeMicOverride ??
              ccmEncrypt(hkdf(record.sharedSecret, concat(initiatorRandom, record.resumptionId), "Sigma1_Resume", 16), ascii("NCASE_SigmaS1"), new Uint8Array(0)),
          }
        : {};
      const sigma1 = new Uint8Array(
        TlvCaseSigma1.encode({
          initiatorRandom,
          initiatorSessionId: localSessionId,
          destinationId,
          initiatorEcdhPublicKey: ephemeral.publicKey,
          initiatorSessionParams: SESSION_PARAMETERS,
          ...resumeFields,
        }),
      );
      exchange.send(SECURE_CHANNEL, Opcode.sigma1, sigma1);
      if (options.stopAfter === "Sigma1") return new Promise(() => {});
      const reply = await exchange.next(timeout);
      if (reply.opcode === STATUS_REPORT) throw new StatusError(parseStatus(reply.payload));

      if (reply.opcode === Opcode.sigma2Resume) {
        if (!record) throw new Error("Sigma2_Resume without a resumption request");
        const resume = TlvCaseSigma2Resume.decode(reply.payload);
        const key = hkdf(record.sharedSecret, concat(initiatorRandom, resume.resumptionId), "Sigma2_Resume", 16);
        const mic = ccmEncrypt(key, ascii("NCASE_SigmaS2"), new Uint8Array(0));
        if (!equalBytes(mic, resume.resumeMic)) throw new Error("Sigma2_Resume MIC does not verify");
        const keys = hkdf(record.sharedSecret, concat(initiatorRandom, record.resumptionId), "SessionResumptionKeys", 48);
        const session = this.peer.addSecureSession({
          localSessionId,
          peerSessionId: resume.responderSessionId,
          encryptKey: keys.slice(0, 16),
          decryptKey: keys.slice(16, 32),
          localNodeId: controller.credentials.nodeId,
          peerNodeId: options.deviceNodeId,
          remote: this.device,
        });
        exchange.send(SECURE_CHANNEL, STATUS_REPORT, SUCCESS_REPORT());
        controller.resumption.set(options.deviceNodeId, { resumptionId: new Uint8Array(resume.resumptionId), sharedSecret: record.sharedSecret });
        return { session, resumed: true, responderSessionParams: resume.responderSessionParams as Record<string, unknown> | undefined };
      }

      if (reply.opcode !== Opcode.sigma2) throw new Error(`unexpected opcode 0x${reply.opcode.toString(16)}`);
      const sigma2Bytes = reply.payload;
      const sigma2 = TlvCaseSigma2.decode(sigma2Bytes);
      const responderKey = new Uint8Array(sigma2.responderEcdhPublicKey);
      const sharedSecret = ephemeral.sharedSecret(responderKey);
      const s2k = hkdf(sharedSecret, concat(destination.ipk, new Uint8Array(sigma2.responderRandom), responderKey, sha256(sigma1)), "Sigma2", 16);
      const tbe2 = TlvEncryptedDataSigma2.decode(ccmDecrypt(s2k, ascii("NCASE_Sigma2N"), new Uint8Array(sigma2.encrypted)));
      const deviceNoc = Noc.fromTlv(tbe2.responderNoc).cert;
      if (deviceNoc.subject.nodeId !== options.deviceNodeId) throw new Error("Sigma2 NOC is for another node");
      if (deviceNoc.subject.fabricId !== destination.fabricId) throw new Error("Sigma2 NOC is for another fabric");
      const signed2 = TlvSignedData.encode({
        responderNoc: tbe2.responderNoc,
        ...(tbe2.responderIcac ? { responderIcac: tbe2.responderIcac } : {}),
        responderPublicKey: responderKey,
        initiatorPublicKey: ephemeral.publicKey,
      });
      if (!verifySignature(new Uint8Array(deviceNoc.ellipticCurvePublicKey), new Uint8Array(signed2), new Uint8Array(tbe2.signature))) {
        throw new Error("Sigma2 signature does not verify");
      }

      const presented = options.presentCredentials ?? controller.credentials;
      const s3k = hkdf(sharedSecret, concat(destination.ipk, sha256(sigma1, sigma2Bytes)), "Sigma3", 16);
      const signed3 = new Uint8Array(
        TlvSignedData.encode({
          responderNoc: presented.noc,
          ...(presented.icac ? { responderIcac: presented.icac } : {}),
          responderPublicKey: ephemeral.publicKey,
          initiatorPublicKey: responderKey,
        }),
      );
      const tbe3 = new Uint8Array(
        TlvEncryptedDataSigma3.encode({
          responderNoc: presented.noc,
          ...(presented.icac ? { responderIcac: presented.icac } : {}),
          signature: presented.key.sign(signed3),
        }),
      );
      let encrypted3 = ccmEncrypt(s3k, ascii("NCASE_Sigma3N"), tbe3);
      if (options.tamperSigma3) encrypted3 = options.tamperSigma3(encrypted3);
      const sigma3 = new Uint8Array(TlvCaseSigma3.encode({ encrypted: encrypted3 }));
      exchange.send(SECURE_CHANNEL, Opcode.sigma3, sigma3);
      const final = parseStatus((await expect(exchange, STATUS_REPORT, timeout)).payload);
      if (final.generalCode !== 0 || final.protocolCode !== 0) throw new StatusError(final);
      const keys = hkdf(sharedSecret, concat(destination.ipk, sha256(sigma1, sigma2Bytes, sigma3)), "SessionKeys", 48);
      const session = this.peer.addSecureSession({
        localSessionId,
        peerSessionId: sigma2.responderSessionId,
        encryptKey: keys.slice(0, 16),
        decryptKey: keys.slice(16, 32),
        localNodeId: presented.nodeId,
        peerNodeId: options.deviceNodeId,
        remote: this.device,
      });
      controller.resumption.set(options.deviceNodeId, { resumptionId: new Uint8Array(tbe2.resumptionId), sharedSecret });
      return {
        session,
        resumed: false,
        deviceNoc: new Uint8Array(tbe2.responderNoc),
        responderSessionParams: sigma2.responderSessionParams as Record<string, unknown> | undefined,
      };
    } finally {
      exchange.close();
    }
  }
}

export interface ResponderEvents {
  established: { session: SecureContext; resumed: boolean; initiatorNodeId: bigint }[];
  failures: string[];
}

/**
 * A CASE responder for the device-as-initiator tests: answers Sigma1 on `peer` for one node
 * identity, with full handshakes and resumption.
 */
export class TestCaseResponder {
  readonly events: ResponderEvents = { established: [], failures: [] };
  private readonly records = new Map<string, { sharedSecret: Uint8Array; peerNodeId: bigint }>();
  /** Refuse the next Sigma1 with Busy (minimum wait in ms). */
  busyOnce: number | undefined;
  /** Messages of other protocols that open an exchange. */
  onApplicationMessage: ((exchange: TestExchange, message: InboundMessage) => void) | undefined;

  constructor(
    readonly peer: TestPeer,
    readonly authority: FabricAuthority,
    readonly credentials: NodeCredentials,
  ) {
    peer.onUnsolicited = (exchange, message) => {
      if (message.protocolId !== SECURE_CHANNEL) {
        if (this.onApplicationMessage) return this.onApplicationMessage(exchange, message);
        return exchange.close();
      }
      if (message.opcode !== Opcode.sigma1) return exchange.close();
      this.handle(exchange, message).catch((error: Error) => this.events.failures.push(error.message));
    };
  }

  get resumptionRecords(): number {
    return this.records.size;
  }

  private async handle(exchange: TestExchange, message: InboundMessage): Promise<void> {
    try {
      if (this.busyOnce !== undefined) {
        const wait = Buffer.alloc(2);
        wait.writeUInt16LE(this.busyOnce);
        this.busyOnce = undefined;
        exchange.send(SECURE_CHANNEL, STATUS_REPORT, statusReport(8, 4, new Uint8Array(wait)), { reliable: false });
        return;
      }
      const sigma1Bytes = message.payload;
      const sigma1 = TlvCaseSigma1.decode(sigma1Bytes);
      const initiatorRandom = new Uint8Array(sigma1.initiatorRandom);
      const localSessionId = randomSessionId();
      const record = sigma1.resumptionId ? this.records.get(Buffer.from(sigma1.resumptionId).toString("hex")) : undefined;
      if (record && sigma1.resumptionId && sigma1.initiatorResumeMic) {
        const key = hkdf(record.sharedSecret, concat(initiatorRandom, sigma1.resumptionId), "Sigma1_Resume", 16);
        if (equalBytes(ccmEncrypt(key, ascii("NCASE_SigmaS1"), new Uint8Array(0)), sigma1.initiatorResumeMic)) {
          const newId = random(16);
          const mic = ccmEncrypt(hkdf(record.sharedSecret, concat(initiatorRandom, newId), "Sigma2_Resume", 16), ascii("NCASE_SigmaS2"), new Uint8Array(0));
          exchange.send(SECURE_CHANNEL, Opcode.sigma2Resume, new Uint8Array(TlvCaseSigma2Resume.encode({ resumptionId: newId, resumeMic: mic, responderSessionId: localSessionId })));
          const status = parseStatus((await expect(exchange, STATUS_REPORT, 5000)).payload);
          if (status.generalCode !== 0) throw new StatusError(status);
          const keys = hkdf(record.sharedSecret, concat(initiatorRandom, sigma1.resumptionId), "SessionResumptionKeys", 48);
          const session = this.peer.addSecureSession({
            localSessionId,
            peerSessionId: sigma1.initiatorSessionId,
            encryptKey: keys.slice(16, 32),
            decryptKey: keys.slice(0, 16),
            localNodeId: this.credentials.nodeId,
            peerNodeId: record.peerNodeId,
            remote: exchange.session.remote,
          });
          this.records.delete(Buffer.from(sigma1.resumptionId).toString("hex"));
          this.records.set(Buffer.from(newId).toString("hex"), record);
          this.events.established.push({ session, resumed: true, initiatorNodeId: record.peerNodeId });
          return;
        }
      }
      const expectedDestination = hmac(
        this.authority.ipk,
        concat(initiatorRandom, this.authority.rootPublicKey, u64le(this.authority.fabricId), u64le(this.credentials.nodeId)),
      );
      if (!equalBytes(expectedDestination, sigma1.destinationId)) {
        exchange.send(SECURE_CHANNEL, STATUS_REPORT, statusReport(1, 1));
        throw new Error("Sigma1 for another destination");
      }
      const ephemeral = new EphemeralKey();
      const initiatorKey = new Uint8Array(sigma1.initiatorEcdhPublicKey);
      const sharedSecret = ephemeral.sharedSecret(initiatorKey);
      const responderRandom = random(32);
      const resumptionId = random(16);
      const s2k = hkdf(sharedSecret, concat(this.authority.ipk, responderRandom, ephemeral.publicKey, sha256(sigma1Bytes)), "Sigma2", 16);
      const { noc, icac, key } = this.credentials;
      const signed2 = new Uint8Array(
        TlvSignedData.encode({ responderNoc: noc, ...(icac ? { responderIcac: icac } : {}), responderPublicKey: ephemeral.publicKey, initiatorPublicKey: initiatorKey }),
      );
      const tbe2 = new Uint8Array(TlvEncryptedDataSigma2.encode({ responderNoc: noc, ...(icac ? { responderIcac: icac } : {}), signature: key.sign(signed2), resumptionId }));
      const sigma2Bytes = new Uint8Array(
        TlvCaseSigma2.encode({
          responderRandom,
          responderSessionId: localSessionId,
          responderEcdhPublicKey: ephemeral.publicKey,
          encrypted: ccmEncrypt(s2k, ascii("NCASE_Sigma2N"), tbe2),
          responderSessionParams: SESSION_PARAMETERS,
        }),
      );
      exchange.send(SECURE_CHANNEL, Opcode.sigma2, sigma2Bytes);
      const sigma3Bytes = (await expect(exchange, Opcode.sigma3, 5000)).payload;
      const sigma3 = TlvCaseSigma3.decode(sigma3Bytes);
      const s3k = hkdf(sharedSecret, concat(this.authority.ipk, sha256(sigma1Bytes, sigma2Bytes)), "Sigma3", 16);
      const tbe3 = TlvEncryptedDataSigma3.decode(ccmDecrypt(s3k, ascii("NCASE_Sigma3N"), new Uint8Array(sigma3.encrypted)));
      const initiatorNoc = Noc.fromTlv(tbe3.responderNoc).cert;
      const signed3 = TlvSignedData.encode({
        responderNoc: tbe3.responderNoc,
        ...(tbe3.responderIcac ? { responderIcac: tbe3.responderIcac } : {}),
        responderPublicKey: initiatorKey,
        initiatorPublicKey: ephemeral.publicKey,
      });
      if (!verifySignature(new Uint8Array(initiatorNoc.ellipticCurvePublicKey), new Uint8Array(signed3), new Uint8Array(tbe3.signature))) {
        exchange.send(SECURE_CHANNEL, STATUS_REPORT, statusReport(1, 2));
        throw new Error("Sigma3 signature does not verify");
      }
      const peerNodeId = initiatorNoc.subject.nodeId as bigint;
      const keys = hkdf(sharedSecret, concat(this.authority.ipk, sha256(sigma1Bytes, sigma2Bytes, sigma3Bytes)), "SessionKeys", 48);
      const session = this.peer.addSecureSession({
        localSessionId,
        peerSessionId: sigma1.initiatorSessionId,
        encryptKey: keys.slice(16, 32),
        decryptKey: keys.slice(0, 16),
        localNodeId: this.credentials.nodeId,
        peerNodeId,
        remote: exchange.session.remote,
      });
      exchange.send(SECURE_CHANNEL, STATUS_REPORT, SUCCESS_REPORT());
      this.records.set(Buffer.from(resumptionId).toString("hex"), { sharedSecret, peerNodeId });
      this.events.established.push({ session, resumed: false, initiatorNodeId: peerNodeId });
    } finally {
      exchange.close();
    }
  }
}
