// Rows for the secure channel: the device side of PASE, CASE and CASE resumption, and next to
// each the same handshake's P-256 operations alone, so that the protocol's own cost (TLV, hashing,
// HKDF, AES-CCM, certificate decoding, sessions, exchanges) shows as the difference.
//
// Only the device's work is timed. The first (untimed) run records what a real initiator sends
// to a device built from a fixed seed; every timed run builds the same device from the same seed
// and replays those messages to it, so it answers byte for byte as before and the recorded
// messages stay valid (ECDSA signatures are deterministic, RFC 6979). Each run ends with the
// session in the device's table, which is checked.
import { concatBytes, utf8Encode } from "../../../src/codec/bytes";
import { DnTag, KeyUsage, NO_EXPIRATION_UNIX, decodeMatterCertificate, encodeMatterCertificate, issueMatterCertificate, matterTbsToX509, type DnEntry } from "../../../src/certs";
import {
  Spake2pProver,
  ecdh,
  ecdsaSign,
  ecdsaVerify,
  generateKeyPair,
  hkdfSha256,
  publicKeyFromPrivate,
  sha256,
  spake2pComputeL,
  spake2pComputeW0W1,
  spake2pVerifierSecrets,
  spake2pVerifierShare,
  type Random,
} from "../../../src/crypto";
import type { Clock, Platform, TimerHandle } from "../../../src/platform";
import {
  FabricTable,
  GeneralCode,
  PASE_CONTEXT_PREFIX,
  SecureChannelOpcode,
  createSecureChannelStack,
  decodePake2,
  decodePbkdfParamResponse,
  decodeStatusReport,
  encodePake1,
  encodePake3,
  encodePbkdfParamRequest,
  type FabricCredentials,
  type ResumptionRecord,
  type SecureChannelStack,
} from "../../../src/securechannel";
import { ExchangeManager, SECURE_CHANNEL_PROTOCOL_ID } from "../../../src/transport/exchange";
import { SessionManager } from "../../../src/transport/session";
import type { PeerAddress, Transport } from "../../../src/transport/transport";
import type { BenchOperation } from "./runner";

/** A reproducible random source (not for real keys). */
function seeded(seed: number): Random {
  let state = seed >>> 0;
  return {
    bytes(length) {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        out[i] = state >>> 24;
      }
      return out;
    },
  };
}

/** Timers are recorded and never fire: nothing in a successful handshake waits for one. */
class StillClock implements Clock {
  private sequence = 0;
  now(): number {
    return 0;
  }
  setTimer(): TimerHandle {
    return ++this.sequence;
  }
  clearTimer(): void {}
}

/** Lets queued promise jobs run (each handshake step is a few jobs deep). */
async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await Promise.resolve();
}

/** Named endpoints; a datagram arrives in a promise job after it is sent. */
class JobLink {
  readonly sent: { from: string; bytes: Uint8Array }[] = [];
  private readonly receivers = new Map<string, (bytes: Uint8Array, peer: PeerAddress) => void>();

  endpoint(name: string): Transport {
    return {
      name: "bench",
      reliable: false,
      maxMessageSize: 1280,
      send: (bytes, peer) => {
        this.sent.push({ from: name, bytes: bytes.slice() });
        const receiver = this.receivers.get(peer.address);
        if (receiver) void Promise.resolve().then(() => receiver(bytes, { transport: "bench", address: name, port: 0 }));
      },
      onReceive: (handler) => this.receivers.set(name, handler),
      close: () => this.receivers.delete(name),
    };
  }

  /** Delivers `bytes` to `to` as if `from` had sent them. */
  inject(from: string, to: string, bytes: Uint8Array): void {
    this.receivers.get(to)?.(bytes, { transport: "bench", address: from, port: 0 });
  }
}

const peerOf = (name: string): PeerAddress => ({ transport: "bench", address: name, port: 0 });

function benchPlatform(clock: Clock): Platform {
  const unavailable = () => {
    throw new Error("not available in the benchmark");
  };
  return {
    clock,
    entropy: { fill: unavailable },
    storage: { maxKeyLength: 15, maxValueLength: 4000, get: () => undefined, set: unavailable, delete: unavailable, keys: () => [] },
    flash: { open: () => undefined },
    network: { openUdp: unavailable, interfaces: () => [] },
    log: () => {},
    reboot: () => {},
  };
}

const DEVICE_SEED = 0xde71ce;
const INITIATOR_SEED = 0x1417;

/** The device as every run builds it: same seed, same fabrics, a fresh stack. */
function device(link: JobLink, fabrics?: FabricTable): SecureChannelStack {
  return createSecureChannelStack(benchPlatform(new StillClock()), {
    udp: false,
    transports: [link.endpoint("device")],
    random: seeded(DEVICE_SEED),
    ...(fabrics ? { fabrics } : {}),
  });
}

/** Replays the initiator's recorded messages to a fresh device; the device must end with one session. */
async function replay(messages: Uint8Array[], build: (link: JobLink) => SecureChannelStack): Promise<void> {
  const link = new JobLink();
  const stack = build(link);
  for (const message of messages) {
    link.inject("initiator", "device", message);
    await settle();
  }
  if (stack.sessions.count !== 1) throw new Error(`the replayed handshake left ${stack.sessions.count} sessions`);
}

function recorded(link: JobLink): Uint8Array[] {
  return link.sent.filter((packet) => packet.from === "initiator").map((packet) => packet.bytes);
}

// ---- credentials (fixed keys, issued with the firmware's certificate code) ----

const keyOf = (name: string) => sha256(utf8Encode(`matter-xs bench ${name}`));
const FABRIC_ID = 0xfab1n;
const DEVICE_NODE_ID = 0xd0n;
const CONTROLLER_NODE_ID = 0xc0n;

function certificate(subject: DnEntry[], issuer: DnEntry[], subjectKey: Uint8Array, issuerKey: Uint8Array, ca: boolean, serial: number): Uint8Array {
  return encodeMatterCertificate(
    issueMatterCertificate(
      {
        serialNumber: Uint8Array.of(serial),
        issuer,
        subject,
        notBefore: 1704067200,
        notAfter: NO_EXPIRATION_UNIX,
        publicKey: publicKeyFromPrivate(subjectKey),
        issuerPublicKey: publicKeyFromPrivate(issuerKey),
        ca,
        keyUsage: ca ? KeyUsage.keyCertSign | KeyUsage.crlSign : KeyUsage.digitalSignature,
        ...(ca ? {} : { extendedKeyUsage: [2, 1] }),
      },
      issuerKey,
    ),
  );
}

interface Credentials {
  device: FabricCredentials;
  controller: FabricCredentials;
}

/** RCAC → ICAC → NOC for the device and for a controller. */
function credentials(): Credentials {
  const rootKey = keyOf("root");
  const icaKey = keyOf("ica");
  const root: DnEntry[] = [{ tag: DnTag.rcacId, value: 1n }];
  const ica: DnEntry[] = [{ tag: DnTag.icacId, value: 2n }];
  const rcac = certificate(root, root, rootKey, rootKey, true, 1);
  const icac = certificate(ica, root, icaKey, rootKey, true, 2);
  const node = (nodeId: bigint, serial: number): FabricCredentials => {
    const operationalPrivateKey = keyOf(`node ${nodeId}`);
    const subject: DnEntry[] = [
      { tag: DnTag.nodeId, value: nodeId },
      { tag: DnTag.fabricId, value: FABRIC_ID },
    ];
    return { rcac, icac, noc: certificate(subject, ica, operationalPrivateKey, icaKey, false, serial), operationalPrivateKey, ipkEpochKey: keyOf("epoch").subarray(0, 16) };
  };
  return { device: node(DEVICE_NODE_ID, 3), controller: node(CONTROLLER_NODE_ID, 4) };
}

// ---- PASE ----

const SALT = utf8Encode("SPAKE2P Key Salt");
const ITERATIONS = 1000;

interface PaseSetup {
  w0: Uint8Array;
  w1: Uint8Array;
  L: Uint8Array;
}

function paseSetup(): PaseSetup {
  const { w0, w1 } = spake2pComputeW0W1(20202021, SALT, ITERATIONS);
  return { w0, w1, L: spake2pComputeL(w1) };
}

function paseDevice(link: JobLink, setup: PaseSetup): SecureChannelStack {
  const stack = device(link);
  stack.openCommissioningWindow({ w0: setup.w0, L: setup.L, salt: SALT, iterations: ITERATIONS });
  return stack;
}

/** A PASE initiator (the firmware's SPAKE2+ prover) against a fresh device; returns its messages. */
async function recordPase(setup: PaseSetup): Promise<Uint8Array[]> {
  const link = new JobLink();
  paseDevice(link, setup);
  const random = seeded(INITIATOR_SEED);
  const sessions = new SessionManager({ clock: new StillClock(), random });
  const exchanges = new ExchangeManager({ sessions, clock: new StillClock(), random });
  exchanges.addTransport(link.endpoint("initiator"));
  const exchange = exchanges.initiate(sessions.createUnsecuredSession(peerOf("device")));
  const request = encodePbkdfParamRequest({ initiatorRandom: random.bytes(32), initiatorSessionId: 0x1234, passcodeId: 0, hasPbkdfParameters: false });
  exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.pbkdfParamRequest, request);
  const response = await exchange.nextMessage(1000);
  decodePbkdfParamResponse(response.payload);
  const prover = new Spake2pProver({ context: sha256(concatBytes(utf8Encode(PASE_CONTEXT_PREFIX), request, response.payload)), w0: setup.w0, w1: setup.w1, random });
  exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.pake1, encodePake1({ pA: prover.start() }));
  const pake2 = decodePake2((await exchange.nextMessage(1000)).payload);
  exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.pake3, encodePake3({ cA: prover.finish(pake2.pB, pake2.cB).cA }));
  const status = decodeStatusReport((await exchange.nextMessage(1000)).payload);
  if (status.generalCode !== GeneralCode.success) throw new Error("the recorded PASE failed");
  exchange.close(); // sends the acknowledgement of the StatusReport
  await settle();
  return recorded(link);
}

// ---- CASE ----

interface CaseSetup {
  creds: Credentials;
  deviceFabrics: FabricTable;
  full: Uint8Array[];
  resumption: Uint8Array[];
  record: ResumptionRecord;
}

async function recordCase(): Promise<CaseSetup> {
  const creds = credentials();
  const deviceFabrics = new FabricTable();
  deviceFabrics.add(creds.device);
  // The controller is a second firmware stack using CaseInitiator.
  const fullLink = new JobLink();
  const fullDevice = device(fullLink, deviceFabrics);
  const controller = createSecureChannelStack(benchPlatform(new StillClock()), { udp: false, transports: [fullLink.endpoint("initiator")], random: seeded(INITIATOR_SEED) });
  controller.installFabric(creds.controller);
  const first = await controller.establishCase({ fabricIndex: 1, peerNodeId: DEVICE_NODE_ID, peerAddress: peerOf("device") });
  if (first.resumed) throw new Error("expected a full handshake");
  await settle();
  const kept = fullDevice.responderResumption.findByPeer(1, CONTROLLER_NODE_ID);
  if (!kept) throw new Error("the device kept no resumption record");
  const record: ResumptionRecord = { ...kept, resumptionId: kept.resumptionId.slice(), sharedSecret: kept.sharedSecret.slice() };

  // Resumption against a fresh device that holds the record, as every timed run will, from a
  // controller holding its side of the record.
  const resumeLink = new JobLink();
  const resumeDevice = device(resumeLink, deviceFabrics);
  resumeDevice.responderResumption.save(record);
  const resumer = createSecureChannelStack(benchPlatform(new StillClock()), { udp: false, transports: [resumeLink.endpoint("initiator")], random: seeded(INITIATOR_SEED + 1) });
  resumer.installFabric(creds.controller);
  const ours = controller.initiatorResumption.findByPeer(1, DEVICE_NODE_ID);
  if (!ours) throw new Error("the controller kept no resumption record");
  resumer.initiatorResumption.save(ours);
  const second = await resumer.establishCase({ fabricIndex: 1, peerNodeId: DEVICE_NODE_ID, peerAddress: peerOf("device") });
  await settle();
  if (!second.resumed || resumeDevice.sessions.count !== 1) throw new Error("expected a resumed handshake");
  return { creds, deviceFabrics, full: recorded(fullLink), resumption: recorded(resumeLink), record };
}

function resumingDevice(link: JobLink, setup: CaseSetup): SecureChannelStack {
  const stack = device(link, setup.deviceFabrics);
  stack.responderResumption.save(setup.record);
  return stack;
}

const operations: BenchOperation[] = [];

{
  let setup: PaseSetup | undefined;
  let messages: Uint8Array[] | undefined;
  operations.push({
    name: "PASE, device side (PBKDFParamRequest to StatusReport)",
    async: true,
    prepare: () => async () => {
      setup ??= paseSetup();
      if (!messages) messages = await recordPase(setup);
      else await replay(messages, (link) => paseDevice(link, setup!));
    },
  });
  let points: { y: Uint8Array; w0: Uint8Array; L: Uint8Array; X: Uint8Array } | undefined;
  operations.push({
    name: "PASE, the device's P-256 operations alone (SPAKE2+ Y, Z, V)",
    prepare() {
      setup ??= paseSetup();
      points ??= { y: keyOf("y"), w0: setup.w0, L: setup.L, X: spake2pVerifierShare(keyOf("x"), setup.w0) };
      const { y, w0, L, X } = points;
      return () => {
        spake2pVerifierShare(y, w0);
        spake2pVerifierSecrets(y, w0, L, X);
      };
    },
  });
}

{
  let setup: CaseSetup | undefined;
  const prepareCase = (replayed: (setup: CaseSetup) => Uint8Array[], build: (link: JobLink, setup: CaseSetup) => SecureChannelStack) => () => async () => {
    if (!setup) setup = await recordCase();
    else await replay(replayed(setup), (link) => build(link, setup!));
  };
  operations.push({
    name: "CASE, device side as responder (Sigma1 to StatusReport, ICAC chain)",
    async: true,
    prepare: prepareCase((s) => s.full, (link, s) => device(link, s.deviceFabrics)),
  });
  operations.push({
    name: "CASE, the responder's P-256 operations alone (key pair, ECDH, sign, 4 verifies)",
    prepare() {
      const creds = credentials();
      const random = seeded(7);
      const peer = generateKeyPair(random);
      const message = sha256(utf8Encode("to be signed"));
      // The same verifies CASE makes: the root's self-signature, ICAC, NOC, then Sigma3's signature.
      const verifies = [creds.controller.rcac, creds.controller.icac!, creds.controller.noc].map((bytes, index, chain) => {
        const certificate = decodeMatterCertificate(bytes);
        const issuer = decodeMatterCertificate(chain[Math.max(0, index - 1)]!);
        return { key: issuer.publicKey, tbs: matterTbsToX509(certificate), signature: certificate.signature };
      });
      const controllerPublic = publicKeyFromPrivate(creds.controller.operationalPrivateKey);
      verifies.push({ key: controllerPublic, tbs: message, signature: ecdsaSign(creds.controller.operationalPrivateKey, message) });
      return () => {
        const ephemeral = generateKeyPair(random);
        ecdh(ephemeral.privateKey, peer.publicKey);
        ecdsaSign(creds.device.operationalPrivateKey, message);
        for (const { key, tbs, signature } of verifies) if (!ecdsaVerify(key, tbs, signature)) throw new Error("verify failed");
      };
    },
  });
  operations.push({
    name: "CASE resumption, device side (Sigma1 to Sigma2_Resume to StatusReport; no P-256)",
    async: true,
    prepare: prepareCase((s) => s.resumption, resumingDevice),
  });
}

operations.push({
  name: "building the device's stack (part of every handshake row above)",
  prepare() {
    const fabrics = new FabricTable();
    fabrics.add(credentials().device);
    return () => {
      device(new JobLink(), fabrics);
    };
  },
});

// HKDF appears in every handshake; listed so the table shows what one costs.
operations.push({
  name: "HKDF-SHA256, 48 bytes (session keys)",
  prepare() {
    const secret = keyOf("secret");
    const salt = keyOf("salt");
    const info = utf8Encode("SessionKeys");
    return () => {
      hkdfSha256(secret, salt, info, 48);
    };
  },
});

export default operations;
