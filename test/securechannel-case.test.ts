// CASE against the device over real UDP on loopback: PASE then CASE then CASE resumption from the
// test commissioner, the device as CASE initiator against a test responder, and the negative cases
// (tampering, replay, unknown session, foreign root, unknown fabric, counter rollover, silence, Busy).
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { PeerStatusError, SecureChannelError, type CaseFabric } from "../src/securechannel";
import { udpPeer } from "../src/transport/udp";
import { StatusError, TestCaseResponder, TestCommissioner, type ControllerIdentity } from "./support/commissioner";
import { FabricAuthority, type NodeCredentials } from "./support/credentials";
import { ECHO_PROTOCOL, ECHO_PROTOCOL_ID, ECHO_REQUEST, ECHO_RESPONSE, TEST_VENDOR_ID, echoOf, sleep, startDevice, waitUntilIdle, type DeviceUnderTest } from "./support/device";
import { random } from "./support/node-crypto";
import { passcodeToVerifier } from "./support/spake2p-prover";
import { SecureChannelStatus } from "./support/status";
import { TestPeer, type SecureContext } from "./support/test-peer";

const FABRIC_ID = 0x2906c908d115d362n;
const DEVICE_NODE_ID = 0x0000_0000_0001_0099n;
const CONTROLLER_NODE_ID = 0x0000_0000_0000_0001n;
const CONTROLLER_CAT = 0x0001_0002;

interface Fixture {
  authority: FabricAuthority;
  /** Another root, issuing NOCs with the same fabric id. */
  foreignAuthority: FabricAuthority;
  deviceCredentials: NodeCredentials;
  controllerCredentials: NodeCredentials;
}

let fixture: Fixture;

before(async () => {
  const authority = await FabricAuthority.create(FABRIC_ID);
  const foreignAuthority = await FabricAuthority.create(FABRIC_ID);
  fixture = {
    authority,
    foreignAuthority,
    deviceCredentials: await authority.issue(DEVICE_NODE_ID),
    controllerCredentials: await authority.issue(CONTROLLER_NODE_ID, [CONTROLLER_CAT]),
  };
});

function install(device: DeviceUnderTest, authority = fixture.authority, credentials = fixture.deviceCredentials): CaseFabric {
  return device.stack.installFabric({
    rcac: authority.rcac,
    ...(credentials.icac ? { icac: credentials.icac } : {}),
    noc: credentials.noc,
    operationalPrivateKey: credentials.key.privateKey,
    ipkEpochKey: authority.ipkEpochKey,
  });
}

function controller(credentials = fixture.controllerCredentials, authority = fixture.authority): ControllerIdentity {
  return { authority, credentials, resumption: new Map() };
}

async function echo(peer: TestPeer, session: SecureContext, text: string): Promise<void> {
  const reply = await peer.request(session, ECHO_PROTOCOL_ID, ECHO_REQUEST, Buffer.from(text));
  assert.equal(reply.opcode, ECHO_RESPONSE);
  assert.deepEqual(reply.payload, echoOf(Buffer.from(text)));
}

/** Sends from the device on `session` and returns what the peer received. */
async function deviceSends(device: DeviceUnderTest, peer: TestPeer, localSessionId: number, text: string): Promise<Uint8Array> {
  const session = device.stack.sessions.secureSession(localSessionId);
  assert.ok(session, `device session ${localSessionId}`);
  const arrived = new Promise<Uint8Array>((resolve) => {
    peer.onUnsolicited = (exchange, message) => {
      resolve(message.payload);
      exchange.close();
    };
  });
  const exchange = device.stack.exchanges.initiate(session);
  exchange.send(ECHO_PROTOCOL, ECHO_REQUEST, Buffer.from(text), { vendorId: TEST_VENDOR_ID });
  exchange.close();
  return arrived;
}

function expectStatus(general: number, code: number) {
  return (error: unknown) => {
    assert.ok(error instanceof StatusError, `expected a StatusReport, got ${String(error)}`);
    assert.equal(error.status.generalCode, general, "general code");
    assert.equal(error.status.protocolCode, code, "protocol code");
    return true;
  };
}

describe("CASE: the device as responder over UDP", () => {
  let device: DeviceUnderTest;
  let peer: TestPeer;
  let commissioner: TestCommissioner;

  beforeEach(async () => {
    device = await startDevice();
    peer = await TestPeer.open();
    commissioner = new TestCommissioner(peer, device.endpoint);
  });
  afterEach(() => {
    peer.close();
    device.close();
  });

  it("PASE, then CASE, then CASE resumption: each session carries messages both ways", async () => {
    const salt = random(32);
    device.stack.openCommissioningWindow({ ...passcodeToVerifier(20202021, salt, 1000), salt, iterations: 1000 });
    const pase = await commissioner.pase({ passcode: 20202021 });
    await echo(peer, pase.session, "PASE");

    // What AddNOC will do later: the fabric goes in through the device's API.
    const fabric = install(device);
    assert.equal(fabric.fabricIndex, 1);
    assert.equal(fabric.nodeId, DEVICE_NODE_ID);
    assert.deepEqual(fabric.ipk, fixture.authority.ipk, "the device derives the same IPK from the epoch key");
    assert.deepEqual(fabric.compressedFabricId, fixture.authority.compressedFabricId);

    const identity = controller();
    const full = await commissioner.case({ controller: identity, deviceNodeId: DEVICE_NODE_ID });
    assert.equal(full.resumed, false);
    assert.deepEqual(full.deviceNoc, fixture.deviceCredentials.noc, "Sigma2 carries the device's NOC");
    assert.equal(full.responderSessionParams?.["dataModelRevision"], 18);
    const caseSession = device.stack.sessions.secureSession(full.session.peerSessionId);
    assert.ok(caseSession);
    assert.equal(caseSession.kind, "case");
    assert.equal(caseSession.peerNodeId, CONTROLLER_NODE_ID);
    assert.equal(caseSession.localNodeId, DEVICE_NODE_ID);
    assert.equal(caseSession.fabricIndex, 1);
    assert.deepEqual([...caseSession.caseAuthenticatedTags], [CONTROLLER_CAT]);
    await echo(peer, full.session, "CASE");
    assert.deepEqual(await deviceSends(device, peer, caseSession.localSessionId, "device over CASE"), new Uint8Array(Buffer.from("device over CASE")));
    assert.equal(device.stack.responderResumption.size, 1);

    const resumed = await commissioner.case({ controller: identity, deviceNodeId: DEVICE_NODE_ID });
    assert.equal(resumed.resumed, true);
    await echo(peer, resumed.session, "resumed");
    const resumedSession = device.stack.sessions.secureSession(resumed.session.peerSessionId);
    assert.ok(resumedSession);
    assert.equal(resumedSession.peerNodeId, CONTROLLER_NODE_ID);
    assert.deepEqual([...resumedSession.caseAuthenticatedTags], [CONTROLLER_CAT], "a resumed session keeps the CATs");
    assert.deepEqual(await deviceSends(device, peer, resumedSession.localSessionId, "device over resumed"), new Uint8Array(Buffer.from("device over resumed")));
    // The earlier sessions still work alongside.
    await echo(peer, full.session, "CASE again");
    await echo(peer, pase.session, "PASE again");
    assert.deepEqual(device.established.map((entry) => entry.by), ["pase", "case", "case-resumption"]);
    assert.equal(device.stack.sessions.count, 3);
    assert.equal(device.stack.responderResumption.size, 1, "one record per peer");
    await waitUntilIdle(device);
  });

  it("resumption renews the id: an old id or a wrong MIC falls back to the full handshake", async () => {
    install(device);
    const identity = controller();
    await commissioner.case({ controller: identity, deviceNodeId: DEVICE_NODE_ID });
    const firstRecord = { ...identity.resumption.get(DEVICE_NODE_ID)! };
    assert.equal((await commissioner.case({ controller: identity, deviceNodeId: DEVICE_NODE_ID })).resumed, true);
    // Presenting the id used before: the device has replaced it, so the full handshake runs.
    identity.resumption.set(DEVICE_NODE_ID, firstRecord);
    const replayed = await commissioner.case({ controller: identity, deviceNodeId: DEVICE_NODE_ID });
    assert.equal(replayed.resumed, false);
    await echo(peer, replayed.session, "after fallback");
    // The current id with a MIC that does not verify: full handshake too.
    const fallback = await commissioner.case({ controller: identity, deviceNodeId: DEVICE_NODE_ID, resumeMicOverride: new Uint8Array(16) });
    assert.equal(fallback.resumed, false);
    await echo(peer, fallback.session, "after bad MIC");
    await waitUntilIdle(device);
  });

  it("works with a fabric whose NOCs are issued by the root directly (no ICAC)", async () => {
    const rootOnly = await FabricAuthority.create(0x42n, { icac: false });
    const deviceCredentials = await rootOnly.issue(DEVICE_NODE_ID);
    assert.equal(deviceCredentials.icac, undefined);
    install(device, rootOnly, deviceCredentials);
    const identity = controller(await rootOnly.issue(0x7n), rootOnly);
    const result = await commissioner.case({ controller: identity, deviceNodeId: DEVICE_NODE_ID });
    await echo(peer, result.session, "no ICAC");
  });

  it("picks the fabric the destination identifier names among several", async () => {
    const other = await FabricAuthority.create(0x77n);
    install(device, other, await other.issue(0x55n));
    const second = install(device);
    assert.equal(second.fabricIndex, 2);
    const result = await commissioner.case({ controller: controller(), deviceNodeId: DEVICE_NODE_ID });
    assert.equal(device.stack.sessions.secureSession(result.session.peerSessionId)?.fabricIndex, 2);
  });

  it("a Sigma1 for a fabric the device does not have gets NoSharedTrustRoots", async () => {
    install(device);
    await assert.rejects(
      commissioner.case({ controller: controller(), deviceNodeId: DEVICE_NODE_ID, destinationAuthority: fixture.foreignAuthority }),
      expectStatus(SecureChannelStatus.general.failure, SecureChannelStatus.code.noSharedTrustRoots),
    );
    // Our own fabric, but another node id: no match either.
    await assert.rejects(
      commissioner.case({ controller: controller(), deviceNodeId: DEVICE_NODE_ID + 1n }),
      expectStatus(SecureChannelStatus.general.failure, SecureChannelStatus.code.noSharedTrustRoots),
    );
    await waitUntilIdle(device);
    assert.equal(device.stack.sessions.count, 0);
    assert.equal(device.stack.responderResumption.size, 0);
  });

  it("a Sigma3 whose NOC chains to another root gets InvalidParameter", async () => {
    install(device);
    // Same fabric id, same node id, valid signature, but issued under a root the device does not trust.
    const foreign = await fixture.foreignAuthority.issue(CONTROLLER_NODE_ID, [CONTROLLER_CAT]);
    await assert.rejects(
      commissioner.case({ controller: controller(), deviceNodeId: DEVICE_NODE_ID, presentCredentials: foreign }),
      expectStatus(SecureChannelStatus.general.failure, SecureChannelStatus.code.invalidParameter),
    );
    // Our root, but a NOC for another fabric id.
    const otherFabric = await fixture.authority.issue(CONTROLLER_NODE_ID, [], FABRIC_ID + 1n);
    await assert.rejects(
      commissioner.case({ controller: controller(), deviceNodeId: DEVICE_NODE_ID, presentCredentials: otherFabric }),
      expectStatus(SecureChannelStatus.general.failure, SecureChannelStatus.code.invalidParameter),
    );
    await waitUntilIdle(device);
    assert.equal(device.stack.sessions.count, 0);
    assert.equal(device.stack.responderResumption.size, 0, "no resumption record for a failed handshake");
    assert.ok(device.logs.some((entry) => /peer certificate chain/.test(entry.message)));
  });

  it("a tampered Sigma3 gets InvalidParameter", async () => {
    install(device);
    await assert.rejects(
      commissioner.case({
        controller: controller(),
        deviceNodeId: DEVICE_NODE_ID,
        tamperSigma3: (encrypted) => {
          const copy = encrypted.slice();
          copy[10]! ^= 0x01;
          return copy;
        },
      }),
      expectStatus(SecureChannelStatus.general.failure, SecureChannelStatus.code.invalidParameter),
    );
    await waitUntilIdle(device);
    assert.equal(device.stack.sessions.count, 0);
  });

  it("a second Sigma1 while a handshake runs gets Busy", async () => {
    install(device);
    void commissioner.case({ controller: controller(), deviceNodeId: DEVICE_NODE_ID, stopAfter: "Sigma1" });
    while (device.stack.caseResponder.handshakesInProgress === 0) await sleep(5);
    const other = await TestPeer.open();
    try {
      await assert.rejects(new TestCommissioner(other, device.endpoint).case({ controller: controller(), deviceNodeId: DEVICE_NODE_ID }), (error: unknown) => {
        expectStatus(SecureChannelStatus.general.busy, SecureChannelStatus.code.busy)(error);
        assert.equal(Buffer.from((error as StatusError).status.data).readUInt16LE(0), 5000);
        return true;
      });
    } finally {
      other.close();
    }
    assert.equal(device.stack.sessions.reservedCount, 1, "only the running handshake holds a session id");
  });
});

describe("CASE: messages on an established session", () => {
  let device: DeviceUnderTest;
  let peer: TestPeer;
  let session: SecureContext;

  beforeEach(async () => {
    device = await startDevice();
    peer = await TestPeer.open();
    install(device);
    session = (await new TestCommissioner(peer, device.endpoint).case({ controller: controller(), deviceNodeId: DEVICE_NODE_ID })).session;
    await waitUntilIdle(device);
  });
  afterEach(() => {
    peer.close();
    device.close();
  });

  function echoMessage(counter?: number): Uint8Array {
    return peer.encode(session, {
      exchangeId: 0x4242,
      protocolId: ECHO_PROTOCOL_ID,
      opcode: ECHO_REQUEST,
      initiator: true,
      requiresAck: true,
      ackedCounter: undefined,
      payload: new Uint8Array(Buffer.from("raw")),
      ...(counter !== undefined ? { counter } : {}),
    }).bytes;
  }

  async function nothingArrives(from: number, ms = 300): Promise<void> {
    await sleep(ms);
    assert.deepEqual(peer.inbound.slice(from).map((message) => message.opcode), [], "the device answered");
  }

  it("drops a tampered message without answering, and its counter stays unused", async () => {
    const counter = session.nextCounter;
    const genuine = echoMessage(counter);
    const tampered = genuine.slice();
    tampered[tampered.length - 20]! ^= 0x80;
    const before = peer.inbound.length;
    peer.transmit(tampered, device.endpoint);
    await nothingArrives(before);
    assert.equal(device.stack.exchanges.stats.dropped.decryptFailed, 1);
    assert.equal(device.echoes.length, 0);
    // The genuine message with the same counter is still accepted: the forgery did not move the window.
    peer.transmit(genuine, device.endpoint);
    const reply = await peer.waitFor((message) => message.opcode === ECHO_RESPONSE, 3000, before);
    assert.deepEqual(reply.payload, echoOf(Buffer.from("raw")));
    assert.equal(device.echoes.length, 1);
  });

  it("drops a replayed message but acknowledges it again", async () => {
    const replayed = echoMessage();
    const counter = session.nextCounter - 1;
    const before = peer.inbound.length;
    peer.transmit(replayed, device.endpoint);
    await peer.waitFor((message) => message.opcode === ECHO_RESPONSE, 3000, before);
    assert.equal(device.echoes.length, 1);
    const afterFirst = peer.inbound.length;
    peer.transmit(replayed, device.endpoint);
    const ack = await peer.waitFor((message) => message.opcode === 0x10 && message.ackedCounter === counter, 3000, afterFirst);
    assert.ok(ack, "a standalone acknowledgement of the duplicate");
    await sleep(200);
    assert.equal(device.echoes.length, 1, "delivered once");
    assert.equal(device.stack.exchanges.stats.dropped.duplicate, 1);
    assert.equal(peer.inbound.slice(afterFirst).filter((message) => message.opcode === ECHO_RESPONSE).length, 0);
  });

  it("drops a message for a session it does not have", async () => {
    const ids = new Set(device.stack.sessions.secureSessions().map((entry) => entry.localSessionId));
    let unknown = 1;
    while (ids.has(unknown)) unknown++;
    const stranger: SecureContext = { ...session, peerSessionId: unknown, seen: new Set() };
    const before = peer.inbound.length;
    peer.transmit(
      peer.encode(stranger, { exchangeId: 1, protocolId: ECHO_PROTOCOL_ID, opcode: ECHO_REQUEST, initiator: true, requiresAck: true, ackedCounter: undefined, payload: new Uint8Array(3) }).bytes,
      device.endpoint,
    );
    await nothingArrives(before);
    assert.equal(device.stack.exchanges.stats.dropped.unknownSession, 1);
    assert.equal(device.echoes.length, 0);
    assert.equal(device.stack.sessions.count, 1);
  });

  it("refuses counters that roll over: after 2^32-1 nothing more is accepted on the session", async () => {
    const deviceSession = device.stack.sessions.secureSession(session.peerSessionId)!;
    session.nextCounter = 0xfffffffe;
    // The request takes counter 0xfffffffe, the acknowledgement of the reply 0xffffffff: the last one there is.
    await echo(peer, session, "at the top");
    const deadline = Date.now() + 2000;
    while (deviceSession.reception.maximum !== 0xffffffff && Date.now() < deadline) await sleep(10);
    assert.equal(deviceSession.reception.maximum, 0xffffffff);
    assert.equal(device.echoes.length, 1);
    const droppedBefore = device.stack.exchanges.stats.dropped.duplicate;
    for (const wrapped of [0, 1, 0x10]) {
      const before = peer.inbound.length;
      peer.transmit(echoMessage(wrapped), device.endpoint);
      await sleep(150);
      assert.equal(peer.inbound.slice(before).filter((message) => message.opcode === ECHO_RESPONSE).length, 0, `counter ${wrapped} after the maximum was refused`);
    }
    assert.equal(device.echoes.length, 1);
    assert.equal(device.stack.exchanges.stats.dropped.duplicate - droppedBefore, 3);
    assert.equal(device.stack.sessions.count, 1);
  });

  it("a peer's CloseSession removes the session", async () => {
    const before = device.stack.sessions.count;
    const exchange = peer.exchange(session);
    exchange.send(0, 0x40, Buffer.from([0, 0, 0, 0, 0, 0, 3, 0]), { reliable: false });
    exchange.close();
    const deadline = Date.now() + 2000;
    while (device.stack.sessions.count === before && Date.now() < deadline) await sleep(10);
    assert.equal(device.stack.sessions.count, before - 1);
  });
});

describe("CASE: a peer that stops mid-handshake", () => {
  it("releases the handshake's state after the timeout; the table is back to its size", async () => {
    const device = await startDevice({ caseTimeoutMs: 400 });
    const peer = await TestPeer.open();
    try {
      install(device);
      const commissioner = new TestCommissioner(peer, device.endpoint);
      const identity = controller();
      await commissioner.case({ controller: identity, deviceNodeId: DEVICE_NODE_ID });
      await waitUntilIdle(device);
      const sessions = device.stack.sessions.count;
      void commissioner.case({ controller: identity, deviceNodeId: DEVICE_NODE_ID, resume: false, stopAfter: "Sigma1" });
      while (device.stack.caseResponder.handshakesInProgress === 0) await sleep(5);
      await sleep(50);
      assert.equal(device.stack.sessions.reservedCount, 1);
      await sleep(450);
      await waitUntilIdle(device);
      assert.equal(device.stack.sessions.count, sessions);
      assert.equal(device.stack.responderResumption.size, 1);
      // And the device takes the next handshake.
      await commissioner.case({ controller: identity, deviceNodeId: DEVICE_NODE_ID, resume: false });
      assert.equal(device.stack.sessions.count, sessions + 1);
    } finally {
      peer.close();
      device.close();
    }
  });
});

describe("CASE: the device as initiator", () => {
  let device: DeviceUnderTest;
  let responderPeer: TestPeer;
  let responder: TestCaseResponder;
  const PROVIDER_NODE_ID = 0x0000_0000_0000_2222n;

  before(async () => {
    device = await startDevice();
    install(device);
    responderPeer = await TestPeer.open();
    responder = new TestCaseResponder(responderPeer, fixture.authority, await fixture.authority.issue(PROVIDER_NODE_ID));
  });
  after(() => {
    responderPeer.close();
    device.close();
  });

  const target = () => ({ fabricIndex: 1, peerNodeId: PROVIDER_NODE_ID, peerAddress: udpPeer("127.0.0.1", responderPeer.port) });

  it("opens a CASE session to a peer, which then carries messages both ways", async () => {
    const { session, resumed } = await device.stack.establishCase(target());
    assert.equal(resumed, false);
    assert.equal(session.kind, "case");
    assert.equal(session.isInitiator, true);
    assert.equal(session.peerNodeId, PROVIDER_NODE_ID);
    assert.equal(responder.events.established.length, 1);
    assert.equal(responder.events.established[0]!.initiatorNodeId, DEVICE_NODE_ID, "the responder saw the device's NOC");
    const peerSession = responder.events.established[0]!.session;
    await echo(responderPeer, peerSession, "provider to device");
    const received = new Promise<Uint8Array>((resolve) => {
      responder.onApplicationMessage = (exchange, message) => {
        resolve(message.payload);
        exchange.close();
      };
    });
    const exchange = device.stack.exchanges.initiate(session);
    exchange.send(ECHO_PROTOCOL, ECHO_REQUEST, Buffer.from("device to provider"), { vendorId: TEST_VENDOR_ID });
    exchange.close();
    assert.deepEqual(await received, new Uint8Array(Buffer.from("device to provider")));
    await waitUntilIdle(device);
  });

  it("resumes the session next time", async () => {
    const before = responder.events.established.length;
    const { session, resumed } = await device.stack.establishCase(target());
    assert.equal(resumed, true);
    // The responder's session exists once our StatusReport reaches it.
    const deadline = Date.now() + 2000;
    while (responder.events.established.length === before && Date.now() < deadline) await sleep(5);
    assert.equal(responder.events.established.at(-1)!.resumed, true);
    await waitUntilIdle(device);
    await echo(responderPeer, responder.events.established.at(-1)!.session, "over the resumed session");
    assert.equal(device.stack.sessions.secureSession(session.localSessionId), session);
  });

  it("reports the peer's Busy with its minimum wait", async () => {
    responder.busyOnce = 1234;
    await assert.rejects(device.stack.establishCase(target()), (error: unknown) => {
      assert.ok(error instanceof PeerStatusError);
      assert.equal(error.busyWaitMs, 1234);
      return true;
    });
    await waitUntilIdle(device);
  });

  it("refuses a responder whose NOC chains to another root, and tells it so", async () => {
    const impostorPeer = await TestPeer.open();
    try {
      // Answers for our fabric's destination id, but presents a NOC from a root we do not trust.
      const impostor = new TestCaseResponder(impostorPeer, fixture.authority, await fixture.foreignAuthority.issue(PROVIDER_NODE_ID));
      await assert.rejects(
        device.stack.establishCase({ fabricIndex: 1, peerNodeId: PROVIDER_NODE_ID, peerAddress: udpPeer("127.0.0.1", impostorPeer.port), resume: false }),
        (error: unknown) => {
          assert.ok(error instanceof SecureChannelError);
          assert.equal(error.protocolCode, SecureChannelStatus.code.invalidParameter);
          assert.match(error.message, /certificate chain/);
          return true;
        },
      );
      const deadline = Date.now() + 2000;
      while (impostor.events.failures.length === 0 && Date.now() < deadline) await sleep(10);
      assert.match(impostor.events.failures[0] ?? "", /protocol code 2/, "the impostor got InvalidParameter");
      await waitUntilIdle(device);
    } finally {
      impostorPeer.close();
    }
  });

  it("gives up on a silent peer after the handshake timeout", async () => {
    const quiet = await startDevice({ caseTimeoutMs: 300 });
    const silentPeer = await TestPeer.open();
    silentPeer.deaf = true;
    try {
      install(quiet);
      await assert.rejects(
        quiet.stack.establishCase({ fabricIndex: 1, peerNodeId: PROVIDER_NODE_ID, peerAddress: udpPeer("127.0.0.1", silentPeer.port) }),
        /did not answer|exchange ended|acknowledge/,
      );
      await waitUntilIdle(quiet);
      assert.equal(quiet.stack.sessions.count, 0);
    } finally {
      silentPeer.close();
      quiet.close();
    }
  });
});
