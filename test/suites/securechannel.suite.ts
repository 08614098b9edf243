// The secure channel on both engines: StatusReport layout, the strict message codecs, the key
// schedule checked against the labels of case/session_constants.json and CHIP's destination id
// vector, and whole PASE / CASE / resumption handshakes between firmware stacks over an in-memory
// link with a manual clock (timeouts in manual time). The Node-only tests run the same device
// against an independent commissioner over UDP.
import { suite, ok, equal, bytesEqual, throws, deepEqual, fromHex, rejects } from "../portable/harness";
import { concatBytes, utf8Encode } from "../../src/codec/bytes";
import { TlvWriter } from "../../src/codec/tlv";
import { DnTag, KeyUsage, NO_EXPIRATION_UNIX, encodeMatterCertificate, issueMatterCertificate, type DnEntry } from "../../src/certs";
import {
  Spake2pProver,
  aesCcmEncrypt,
  hkdfSha256,
  publicKeyFromPrivate,
  sha256,
  spake2pComputeL,
  spake2pComputeW0W1,
} from "../../src/crypto";
import type { Platform } from "../../src/platform";
import {
  GeneralCode,
  PASE_CONTEXT_PREFIX,
  PeerStatusError,
  SecureChannelCode,
  SecureChannelError,
  SecureChannelOpcode,
  busyStatus,
  busyWaitMs,
  caseSessionKeys,
  createSecureChannelStack,
  decodePake1,
  decodePbkdfParamRequest,
  decodePbkdfParamResponse,
  decodePake2,
  decodeSigma1,
  decodeSigma2Resume,
  decodeStatusReport,
  destinationIdentifier,
  encodePake1,
  encodePake3,
  encodePbkdfParamRequest,
  encodeSigma1,
  encodeStatusReport,
  localSessionParameters,
  resumeMic,
  resumedSessionKeys,
  secureChannelStatus,
  sigma2Key,
  sigma3Key,
  type FabricCredentials,
  type SecureChannelStack,
} from "../../src/securechannel";
import { SECURE_CHANNEL_PROTOCOL_ID } from "../../src/transport/exchange";
import type { SecureSession } from "../../src/transport/session";
import { ManualClock, MemoryLink, SeededRandom, makeNode, memoryPeer, type TestNode } from "./transport-fixtures";

interface Constants {
  constants: Record<string, { ascii: string; hex: string }>;
  destination_id_vector: { ipk: string; initiator_random: string; root_public_key: string; fabric_id: string; node_id: string; expected_destination_id: string };
}
const CONSTANTS = "case/session_constants.json";
const label = (constants: Constants, name: string) => fromHex(constants.constants[name]!.hex);

// ---- credentials issued with the firmware's own certificate code (fixed keys) ----

const keyOf = (name: string) => sha256(utf8Encode(`matter-xs securechannel suite ${name}`));
const JAN_2024 = 1704067200;
const FABRIC_ID = 0x0000_0000_0000_0fabn;

function issue(subject: DnEntry[], issuer: DnEntry[], subjectKey: Uint8Array, issuerKey: Uint8Array, ca: boolean, serial: number): Uint8Array {
  return encodeMatterCertificate(
    issueMatterCertificate(
      {
        serialNumber: Uint8Array.of(serial),
        issuer,
        subject,
        notBefore: JAN_2024,
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

/** A root and its NOCs; `rootName` makes distinct roots. */
function fabricCredentials(rootName: string, nodeId: bigint, cats: number[] = []): FabricCredentials {
  const rootKey = keyOf(`${rootName} root`);
  const root: DnEntry[] = [{ tag: DnTag.rcacId, value: 0xcacacaca00000001n }];
  const operationalKey = keyOf(`${rootName} node ${nodeId}`);
  const subject: DnEntry[] = [
    { tag: DnTag.nodeId, value: nodeId },
    { tag: DnTag.fabricId, value: FABRIC_ID },
    ...cats.map((cat) => ({ tag: DnTag.caseAuthenticatedTag, value: BigInt(cat) })),
  ];
  return {
    rcac: issue(root, root, rootKey, rootKey, true, 1),
    noc: issue(subject, root, operationalKey, rootKey, false, 2),
    operationalPrivateKey: operationalKey,
    ipkEpochKey: sha256(utf8Encode(`${rootName} epoch key`)).subarray(0, 16),
  };
}

// ---- two firmware stacks on an in-memory link ----

function memoryPlatform(clock: ManualClock, seed: number): Platform {
  const entropy = new SeededRandom(seed);
  const records = new Map<string, Uint8Array>();
  return {
    clock,
    entropy: { fill: (target) => target.set(entropy.bytes(target.length)) },
    storage: {
      maxKeyLength: 15,
      maxValueLength: 4000,
      get: (key) => records.get(key),
      set: (key, value) => void records.set(key, value),
      delete: (key) => void records.delete(key),
      keys: (prefix) => [...records.keys()].filter((key) => key.startsWith(prefix)),
    },
    flash: { open: () => undefined },
    network: {
      openUdp: () => {
        throw new Error("no UDP here");
      },
      interfaces: () => [],
    },
    log: () => {},
    reboot: () => {},
  };
}

interface World {
  clock: ManualClock;
  link: MemoryLink;
  device: SecureChannelStack;
}

function world(options: Parameters<typeof createSecureChannelStack>[1] = {}): World {
  const clock = new ManualClock();
  const link = new MemoryLink(clock);
  const device = createSecureChannelStack(memoryPlatform(clock, 0x5eed), { udp: false, transports: [link.endpoint("device")], random: new SeededRandom(0xd1ce), ...options });
  return { clock, link, device };
}

/** A second firmware stack on the same link (the CASE initiator). */
function secondStack(w: World, name: string, seed: number): SecureChannelStack {
  return createSecureChannelStack(memoryPlatform(w.clock, seed), { udp: false, transports: [w.link.endpoint(name)], random: new SeededRandom(seed) });
}

/** Advances manual time in small steps until `promise` settles (or `limitMs` passes). */
async function drive<T>(clock: ManualClock, promise: Promise<T>, limitMs = 120_000): Promise<T> {
  let settled = false;
  const watched = promise.then(
    (value) => ((settled = true), value),
    (error: unknown) => {
      settled = true;
      throw error;
    },
  );
  watched.catch(() => {});
  for (let elapsed = 0; !settled && elapsed < limitMs; elapsed += 5) await clock.advance(5);
  return watched;
}

const PASSCODE = 20202021;
const SALT = utf8Encode("SPAKE2P Key Salt");
const ITERATIONS = 1000;

/** PBKDF2 is slow inside XS: w0, w1 and L once for the whole suite. */
let passcodeValues: { w0: Uint8Array; w1: Uint8Array; L: Uint8Array } | undefined;
function verifierValues(): { w0: Uint8Array; w1: Uint8Array; L: Uint8Array } {
  if (!passcodeValues) {
    const { w0, w1 } = spake2pComputeW0W1(PASSCODE, SALT, ITERATIONS);
    passcodeValues = { w0, w1, L: spake2pComputeL(w1) };
  }
  return passcodeValues;
}

function openWindow(device: SecureChannelStack): void {
  const { w0, L } = verifierValues();
  device.openCommissioningWindow({ w0, L, salt: SALT, iterations: ITERATIONS });
}

/** PASE initiator on a plain transport node, with the firmware's SPAKE2+ prover. */
async function paseInitiator(node: TestNode, w1Override?: Uint8Array): Promise<SecureSession> {
  const random = new SeededRandom(0xbeef);
  const unsecured = node.sessions.createUnsecuredSession(memoryPeer("device"));
  const exchange = node.exchanges.initiate(unsecured);
  try {
    const localSessionId = node.sessions.allocateLocalSessionId();
    const request = encodePbkdfParamRequest({ initiatorRandom: random.bytes(32), initiatorSessionId: localSessionId, passcodeId: 0, hasPbkdfParameters: false });
    exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.pbkdfParamRequest, request);
    const responseMessage = await exchange.nextMessage(10_000);
    if (responseMessage.opcode === SecureChannelOpcode.statusReport) throw new PeerStatusError(decodeStatusReport(responseMessage.payload));
    const response = decodePbkdfParamResponse(responseMessage.payload);
    deepEqual(response.pbkdfParameters, { iterations: ITERATIONS, salt: SALT });
    const { w0, w1 } = verifierValues();
    const prover = new Spake2pProver({ context: sha256(concatBytes(utf8Encode(PASE_CONTEXT_PREFIX), request, responseMessage.payload)), w0, w1: w1Override ?? w1, random });
    exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.pake1, encodePake1({ pA: prover.start() }));
    const pake2Message = await exchange.nextMessage(10_000);
    const pake2 = decodePake2(pake2Message.payload);
    let confirmation: { cA: Uint8Array; Ke: Uint8Array };
    try {
      confirmation = prover.finish(pake2.pB, pake2.cB);
    } catch {
      // A wrong passcode: send a confirmation the device must refuse.
      confirmation = { cA: new Uint8Array(32), Ke: new Uint8Array(16) };
    }
    exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.pake3, encodePake3({ cA: confirmation.cA }));
    const status = decodeStatusReport((await exchange.nextMessage(10_000)).payload);
    if (status.generalCode !== GeneralCode.success) throw new PeerStatusError(status);
    const keys = hkdfSha256(confirmation.Ke, new Uint8Array(0), utf8Encode("SessionKeys"), 48);
    return node.sessions.createSecureSession({
      kind: "pase",
      localSessionId,
      peerSessionId: response.responderSessionId,
      i2rKey: keys.subarray(0, 16),
      r2iKey: keys.subarray(16, 32),
      attestationChallenge: keys.subarray(32, 48),
      isInitiator: true,
      peerNodeId: 0n,
      localNodeId: 0n,
      fabricIndex: 0,
      peerAddress: memoryPeer("device"),
    });
  } finally {
    exchange.close();
  }
}

const ECHO = 0x7777;

/** The device answers ECHO with "echo:" + payload. */
function installEcho(stack: SecureChannelStack): void {
  stack.exchanges.registerProtocol(ECHO, (exchange, message) => {
    exchange.send(ECHO, 2, concatBytes(utf8Encode("echo:"), message.payload));
    exchange.close();
  });
}

async function echo(clock: ManualClock, exchanges: TestNode["exchanges"], session: SecureSession, text: string): Promise<void> {
  const exchange = exchanges.initiate(session);
  exchange.send(ECHO, 1, utf8Encode(text));
  const reply = await drive(clock, exchange.nextMessage(10_000));
  exchange.close();
  bytesEqual(reply.payload, utf8Encode("echo:" + text));
}

function idle(device: SecureChannelStack): void {
  equal(device.pase.handshakeInProgress, false, "PASE handshake");
  equal(device.caseResponder.handshakesInProgress, 0, "CASE handshakes");
  equal(device.sessions.reservedCount, 0, "reserved session ids");
  equal(device.sessions.unsecuredCount, 0, "unsecured sessions");
}

export default suite("secure channel", (test) => {
  test("StatusReport: general code, protocol id (vendor << 16 | protocol), protocol code, data; all little-endian", () => {
    bytesEqual(encodeStatusReport(busyStatus(5000)), "0800" + "00000000" + "0400" + "8813");
    bytesEqual(encodeStatusReport(secureChannelStatus(SecureChannelCode.noSharedTrustRoots)), "0100000000000100");
    bytesEqual(encodeStatusReport(secureChannelStatus(SecureChannelCode.closeSession)), "0000000000000300");
    const vendor = decodeStatusReport(fromHex("0500" + "0100f1ff" + "0900" + "aabb"));
    deepEqual(vendor, { generalCode: 5, vendorId: 0xfff1, protocolId: 1, protocolCode: 9, data: fromHex("aabb") });
    equal(busyWaitMs(decodeStatusReport(fromHex("0800000000000400e803"))), 1000);
    equal(busyWaitMs(decodeStatusReport(fromHex("0100000000000400e803"))), undefined, "only a Busy report carries a wait");
    throws(() => decodeStatusReport(fromHex("01000000000002")), /StatusReport of 7 bytes/);
  });

  test("the destination identifier matches CHIP's vector", ({ vectors }) => {
    const v = vectors.json<Constants>(CONSTANTS).destination_id_vector;
    bytesEqual(
      destinationIdentifier(fromHex(v.ipk), fromHex(v.initiator_random), fromHex(v.root_public_key), BigInt(v.fabric_id), BigInt(v.node_id)),
      v.expected_destination_id,
    );
  });

  test("the key schedule uses exactly the labels and nonces CHIP uses", ({ vectors }) => {
    const c = vectors.json<Constants>(CONSTANTS);
    const secret = fromHex("11".repeat(32));
    const ipk = fromHex("22".repeat(16));
    const random = fromHex("33".repeat(32));
    const id = fromHex("44".repeat(16));
    const point = fromHex("04" + "55".repeat(64));
    const [s1, s2, s3] = [fromHex("a1"), fromHex("a2a2"), fromHex("a3a3a3")];
    const hkdf = (salt: Uint8Array, name: string, length: number) => hkdfSha256(secret, salt, label(c, name), length);
    bytesEqual(sigma2Key(secret, ipk, random, point, s1), hkdf(concatBytes(ipk, random, point, sha256(s1)), "S2K_info (Sigma2 key)", 16));
    bytesEqual(sigma3Key(secret, ipk, s1, s2), hkdf(concatBytes(ipk, sha256(concatBytes(s1, s2))), "S3K_info (Sigma3 key)", 16));
    bytesEqual(caseSessionKeys(secret, ipk, s1, s2, s3), hkdf(concatBytes(ipk, sha256(concatBytes(s1, s2, s3))), "SessionKeys_info", 48));
    bytesEqual(resumedSessionKeys(secret, random, id), hkdf(concatBytes(random, id), "SessionResumptionKeys_info", 48));
    const mic = (keyLabel: string, nonceLabel: string) => aesCcmEncrypt(hkdf(concatBytes(random, id), keyLabel, 16), label(c, nonceLabel), new Uint8Array(0), new Uint8Array(0));
    bytesEqual(resumeMic(1, secret, random, id), mic("S1RK_info (Sigma1 resumption key)", "Resume1MIC_Nonce"));
    bytesEqual(resumeMic(2, secret, random, id), mic("S2RK_info (Sigma2 resumption key)", "Resume2MIC_Nonce"));
    bytesEqual(utf8Encode(PASE_CONTEXT_PREFIX), label(c, "PASE_context_prefix"));
  });

  test("message decoders are strict: lengths, session ids, paired resumption fields → InvalidParameter", () => {
    const key = publicKeyFromPrivate(keyOf("any"));
    const good = { initiatorRandom: new Uint8Array(32), initiatorSessionId: 7, destinationId: new Uint8Array(32), initiatorEphemeralPublicKey: key };
    const sigma1 = decodeSigma1(encodeSigma1({ ...good, initiatorSessionParameters: localSessionParameters() }));
    equal(sigma1.initiatorSessionId, 7);
    deepEqual(sigma1.initiatorSessionParameters, {
      mrp: { idleIntervalMs: 500, activeIntervalMs: 300, activeThresholdMs: 4000 },
      dataModelRevision: 18,
      interactionModelRevision: 12,
      specificationVersion: 0x01040100,
      maxPathsPerInvoke: 1,
    });
    const invalid = (fn: () => unknown, pattern: RegExp) => {
      const error = throws(fn, pattern);
      ok(error instanceof SecureChannelError);
      equal(error.protocolCode, SecureChannelCode.invalidParameter);
    };
    invalid(() => decodeSigma1(encodeSigma1({ ...good, initiatorRandom: new Uint8Array(31) })), /field 1 is 31 bytes/);
    invalid(() => decodeSigma1(encodeSigma1({ ...good, initiatorSessionId: 0 })), /session id 0/);
    invalid(() => decodeSigma1(encodeSigma1({ ...good, initiatorEphemeralPublicKey: key.subarray(1) })), /field 4/);
    const resumptionIdOnly = new TlvWriter().startStructure(undefined).bytes(1, good.initiatorRandom).uint(2, 7).bytes(3, good.destinationId).bytes(4, key).bytes(6, new Uint8Array(16)).end().finish();
    invalid(() => decodeSigma1(resumptionIdOnly), /resumption id and MIC need each other/);
    invalid(() => decodeSigma1(fromHex("1518")), /missing required field 1/);
    invalid(() => decodeSigma1(fromHex("15300120")), /malformed Sigma1/);
    invalid(() => decodePake1(encodePake3({ cA: new Uint8Array(32) })), /field 1 is 32 bytes/);
    invalid(() => decodeSigma2Resume(new Uint8Array(0)), /malformed Sigma2_Resume/);
    // A field this revision does not know is ignored.
    const extended = new TlvWriter().startStructure(undefined).bytes(1, new Uint8Array(32)).uint(2, 9).uint(3, 0).bool(4, true).utf8(99, "future").end().finish();
    equal(decodePbkdfParamRequest(extended).initiatorSessionId, 9);
    // Session parameters beyond the spec's limits (SII above one hour).
    const tooIdle = new TlvWriter().startStructure(undefined).bytes(1, new Uint8Array(32)).uint(2, 9).uint(3, 0).bool(4, true).startStructure(5).uint(1, 3_600_001).end().end().finish();
    invalid(() => decodePbkdfParamRequest(tooIdle), /idle interval/);
    const fewIterations = new TlvWriter()
      .startStructure(undefined)
      .bytes(1, new Uint8Array(32))
      .bytes(2, new Uint8Array(32))
      .uint(3, 5)
      .startStructure(4)
      .uint(1, 999)
      .bytes(2, new Uint8Array(16))
      .end()
      .end()
      .finish();
    invalid(() => decodePbkdfParamResponse(fewIterations), /iterations 999/);
  });

  test("PASE, CASE and CASE resumption between firmware stacks; sessions carry messages", async () => {
    const w = world();
    installEcho(w.device);
    openWindow(w.device);
    const commissioner = makeNode(w.link, "commissioner", 0xc0);
    const pase = await drive(w.clock, paseInitiator(commissioner));
    const devicePase = w.device.sessions.secureSession(pase.peerSessionId)!;
    bytesEqual(devicePase.attestationChallenge, pase.attestationChallenge);
    await echo(w.clock, commissioner.exchanges, pase, "over PASE");

    const deviceCredentials = fabricCredentials("home", 0x0dn);
    w.device.installFabric(deviceCredentials);
    const controller = secondStack(w, "controller", 0xc1);
    controller.installFabric({ ...fabricCredentials("home", 0x01n, [0x00020001]), ipkEpochKey: deviceCredentials.ipkEpochKey });
    const first = await drive(w.clock, controller.establishCase({ fabricIndex: 1, peerNodeId: 0x0dn, peerAddress: memoryPeer("device") }));
    equal(first.resumed, false);
    const deviceCase = w.device.sessions.secureSession(first.session.peerSessionId)!;
    equal(deviceCase.peerNodeId, 0x01n);
    deepEqual([...deviceCase.caseAuthenticatedTags], [0x00020001]);
    await echo(w.clock, controller.exchanges, first.session, "over CASE");

    const second = await drive(w.clock, controller.establishCase({ fabricIndex: 1, peerNodeId: 0x0dn, peerAddress: memoryPeer("device") }));
    equal(second.resumed, true);
    await w.clock.advance(100);
    const deviceResumed = w.device.sessions.secureSession(second.session.peerSessionId)!;
    bytesEqual(deviceResumed.attestationChallenge, second.session.attestationChallenge, "both sides derive the same resumed keys");
    await echo(w.clock, controller.exchanges, second.session, "over the resumed session");
    equal(w.device.sessions.count, 3);
    await w.clock.advance(10_000);
    idle(w.device);
  });

  test("failures: wrong passcode, foreign root, unknown fabric; the window closes after the configured failures", async () => {
    const w = world({ maxPaseFailures: 2 });
    openWindow(w.device);
    const commissioner = makeNode(w.link, "commissioner", 0xc0);
    const wrongW1 = spake2pComputeW0W1(PASSCODE + 1, SALT, ITERATIONS).w1;
    const refused = await rejects(() => drive(w.clock, paseInitiator(commissioner, wrongW1)));
    ok(refused instanceof PeerStatusError);
    equal(refused.report.protocolCode, SecureChannelCode.invalidParameter);
    equal(w.device.pase.failedAttempts, 1);
    await rejects(() => drive(w.clock, paseInitiator(commissioner, wrongW1)));
    equal(w.device.pase.windowOpen, false, "closed after the second failure");

    const deviceCredentials = fabricCredentials("home", 0x0dn);
    w.device.installFabric(deviceCredentials);
    const stranger = secondStack(w, "stranger", 0xc2);
    // The same fabric id and epoch key under another root: the destination id matches no fabric.
    stranger.installFabric({ ...fabricCredentials("elsewhere", 0x01n), ipkEpochKey: deviceCredentials.ipkEpochKey });
    const noRoots = await rejects(() => drive(w.clock, stranger.establishCase({ fabricIndex: 1, peerNodeId: 0x0dn, peerAddress: memoryPeer("device") })));
    ok(noRoots instanceof PeerStatusError);
    equal(noRoots.report.protocolCode, SecureChannelCode.noSharedTrustRoots);
    await w.clock.advance(10_000);
    idle(w.device);
    equal(w.device.sessions.count, 0);
  });

  test("a handshake the peer abandons is released after the timeout (manual time)", async () => {
    const w = world();
    openWindow(w.device);
    const commissioner = makeNode(w.link, "commissioner", 0xc0);
    const exchange = commissioner.exchanges.initiate(commissioner.sessions.createUnsecuredSession(memoryPeer("device")));
    exchange.send(
      SECURE_CHANNEL_PROTOCOL_ID,
      SecureChannelOpcode.pbkdfParamRequest,
      encodePbkdfParamRequest({ initiatorRandom: new Uint8Array(32), initiatorSessionId: 1, passcodeId: 0, hasPbkdfParameters: false }),
    );
    await drive(w.clock, exchange.nextMessage(10_000));
    exchange.close();
    ok(w.device.pase.handshakeInProgress);
    equal(w.device.sessions.reservedCount, 1);
    await w.clock.advance(59_000);
    ok(w.device.pase.handshakeInProgress, "still waiting before 60 s");
    await w.clock.advance(12_000);
    idle(w.device);
    equal(w.device.pase.failedAttempts, 1);
    // Busy while a handshake holds the device; the wait is in the report.
    const busy = makeNode(w.link, "second", 0xc3);
    // The first request reaches the device just before the second one.
    const first = paseInitiator(commissioner);
    first.catch(() => {});
    const refused = await rejects(() => drive(w.clock, paseInitiator(busy)));
    ok(refused instanceof PeerStatusError);
    equal(refused.report.generalCode, GeneralCode.busy);
    equal(refused.busyWaitMs, 5000);
    await drive(w.clock, first);
  });
});
