// PASE against the device over real UDP on loopback: the test commissioner (matter.js TLV, Node
// crypto, noble points) against the firmware's stack on the Node platform.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { SecureChannelStatus } from "./support/status";
import { StatusError, TestCommissioner, Opcode, statusReport } from "./support/commissioner";
import { ECHO_PROTOCOL_ID, ECHO_REQUEST, ECHO_RESPONSE, TEST_VENDOR_ID, ECHO_PROTOCOL, echoOf, sleep, startDevice, waitUntilIdle, type DeviceUnderTest } from "./support/device";
import { random } from "./support/node-crypto";
import { passcodeToVerifier } from "./support/spake2p-prover";
import { SECURE_CHANNEL, TestPeer } from "./support/test-peer";

const PASSCODE = 20202021;
const ITERATIONS = 1000;

describe("PASE: the device as responder over UDP", () => {
  let device: DeviceUnderTest;
  let peer: TestPeer;
  let commissioner: TestCommissioner;
  const salt = random(32);

  async function setUp(options: Parameters<typeof startDevice>[0] = {}): Promise<void> {
    device = await startDevice(options);
    device.stack.openCommissioningWindow({ ...passcodeToVerifier(PASSCODE, salt, ITERATIONS), salt, iterations: ITERATIONS });
    peer = await TestPeer.open();
    commissioner = new TestCommissioner(peer, device.endpoint);
  }

  beforeEach(() => setUp());
  afterEach(() => {
    peer.close();
    device.close();
  });

  it("establishes a PASE session whose keys protect messages both ways", async () => {
    const result = await commissioner.pase({ passcode: PASSCODE });
    assert.deepEqual(result.pbkdf, { iterations: ITERATIONS, salt }, "the device's PBKDF parameters");
    assert.deepEqual(
      result.responderSessionParams,
      { idleInterval: 500, activeInterval: 300, activeThreshold: 4000, dataModelRevision: 18, interactionModelRevision: 12, specificationVersion: 0x01040100, maxPathsPerInvoke: 1 },
      "the device announces its MRP intervals and a Matter 1.4.1 node's revisions",
    );
    const [session] = device.stack.sessions.secureSessions();
    assert.ok(session);
    assert.equal(session.kind, "pase");
    assert.equal(session.peerNodeId, 0n);
    assert.equal(session.fabricIndex, 0);
    assert.equal(session.localSessionId, result.session.peerSessionId);
    assert.equal(session.peerSessionId, result.session.localSessionId);
    assert.deepEqual(session.attestationChallenge, result.attestationChallenge, "both sides derive the same attestation challenge");
    assert.deepEqual(session.peerParameters, { idleIntervalMs: 500, activeIntervalMs: 300, activeThresholdMs: 4000 });
    assert.deepEqual(device.established.map((entry) => entry.by), ["pase"]);

    // Commissioner → device, answered on the same exchange.
    const reply = await peer.request(result.session, ECHO_PROTOCOL_ID, ECHO_REQUEST, Buffer.from("over PASE"));
    assert.equal(reply.opcode, ECHO_RESPONSE);
    assert.deepEqual(reply.payload, echoOf(Buffer.from("over PASE")));
    assert.equal(device.echoes.length, 1);
    assert.equal(device.echoes[0]!.session, session);

    // Device → commissioner, on an exchange the device opens.
    const arrived = new Promise<Uint8Array>((resolve) => {
      peer.onUnsolicited = (exchange, message) => {
        resolve(message.payload);
        exchange.close();
      };
    });
    const exchange = device.stack.exchanges.initiate(session);
    exchange.send(ECHO_PROTOCOL, ECHO_REQUEST, Buffer.from("from the device"), { vendorId: TEST_VENDOR_ID });
    assert.deepEqual(await arrived, new Uint8Array(Buffer.from("from the device")));
    exchange.close();

    await waitUntilIdle(device);
    assert.equal(device.stack.sessions.count, 1);
  });

  it("leaves the PBKDF parameters out when the commissioner already has them", async () => {
    const result = await commissioner.pase({ passcode: PASSCODE, knownPbkdf: { iterations: ITERATIONS, salt } });
    assert.equal(result.pbkdf, undefined);
    const reply = await peer.request(result.session, ECHO_PROTOCOL_ID, ECHO_REQUEST, Buffer.from("x"));
    assert.deepEqual(reply.payload, echoOf(Buffer.from("x")));
  });

  it("a wrong passcode gets Failure/InvalidParameter, creates no session, and counts as a failed attempt", async () => {
    await assert.rejects(commissioner.pase({ passcode: PASSCODE + 1, confirmDespiteMismatch: true }), (error: unknown) => {
      assert.ok(error instanceof StatusError);
      assert.equal(error.status.generalCode, SecureChannelStatus.general.failure);
      assert.equal(error.status.protocolCode, SecureChannelStatus.code.invalidParameter);
      return true;
    });
    assert.equal(device.stack.pase.failedAttempts, 1);
    // A commissioner that notices the wrong passcode from Pake2 itself reports it; that counts too.
    await assert.rejects(commissioner.pase({ passcode: PASSCODE + 2 }), /wrong passcode/);
    await waitUntilIdle(device);
    assert.equal(device.stack.pase.failedAttempts, 2);
    assert.equal(device.stack.sessions.count, 0);
    assert.ok(device.stack.pase.windowOpen);
    const ok = await commissioner.pase({ passcode: PASSCODE });
    assert.equal(device.stack.sessions.count, 1);
    assert.ok(ok.session);
  });

  it("closes the commissioning window after 20 failed attempts and says why", async () => {
    for (let attempt = 1; attempt <= 20; attempt++) {
      assert.ok(device.stack.pase.windowOpen, `the window is open before attempt ${attempt}`);
      await assert.rejects(commissioner.pase({ passcode: 11111111, confirmDespiteMismatch: true }), StatusError);
    }
    await waitUntilIdle(device);
    assert.equal(device.stack.pase.windowOpen, false);
    assert.deepEqual(device.windowClosed, ["too-many-failures"]);
    // The right passcode no longer helps: the window is closed.
    await assert.rejects(commissioner.pase({ passcode: PASSCODE }), (error: unknown) => {
      assert.ok(error instanceof StatusError);
      assert.equal(error.status.protocolCode, SecureChannelStatus.code.invalidParameter);
      return true;
    });
    await waitUntilIdle(device);
    assert.equal(device.stack.sessions.count, 0);
    assert.deepEqual(device.windowClosed, ["too-many-failures"], "reported once");
  });

  it("answers a second PBKDFParamRequest with Busy while a handshake runs", async () => {
    void commissioner.pase({ passcode: PASSCODE, stopAfter: "PBKDFParamRequest" });
    while (!device.stack.pase.handshakeInProgress) await sleep(5);
    const other = await TestPeer.open();
    try {
      await assert.rejects(new TestCommissioner(other, device.endpoint).pase({ passcode: PASSCODE }), (error: unknown) => {
        assert.ok(error instanceof StatusError);
        assert.equal(error.status.generalCode, SecureChannelStatus.general.busy);
        assert.equal(error.status.protocolCode, SecureChannelStatus.code.busy);
        assert.equal(Buffer.from(error.status.data).readUInt16LE(0), 5000, "Busy carries the minimum wait");
        return true;
      });
    } finally {
      other.close();
    }
    assert.equal(device.stack.sessions.reservedCount, 1, "only the running handshake holds a session id");
    assert.equal(device.stack.pase.failedAttempts, 0, "Busy is not a failed attempt");
  });

  it("keeps to one PASE session: Busy while it exists, a new handshake once the peer closes it", async () => {
    const first = await commissioner.pase({ passcode: PASSCODE });
    await assert.rejects(commissioner.pase({ passcode: PASSCODE }), (error: unknown) => {
      assert.ok(error instanceof StatusError);
      assert.equal(error.status.generalCode, SecureChannelStatus.general.busy);
      return true;
    });
    // CloseSession over the PASE session (Success / CLOSE_SESSION, sent without asking for an ack).
    const exchange = peer.exchange(first.session);
    exchange.send(SECURE_CHANNEL, Opcode.statusReport, statusReport(0, SecureChannelStatus.code.closeSession), { reliable: false });
    exchange.close();
    const deadline = Date.now() + 2000;
    while (device.stack.sessions.count > 0 && Date.now() < deadline) await sleep(10);
    assert.equal(device.stack.sessions.count, 0, "CloseSession removed the session");
    await commissioner.pase({ passcode: PASSCODE });
    assert.equal(device.stack.sessions.count, 1);
    assert.equal(device.stack.pase.failedAttempts, 0);
  });

  it("refuses PASE while the commissioning window is closed", async () => {
    device.stack.closeCommissioningWindow();
    assert.deepEqual(device.windowClosed, ["closed"]);
    await assert.rejects(commissioner.pase({ passcode: PASSCODE }), (error: unknown) => {
      assert.ok(error instanceof StatusError);
      assert.equal(error.status.generalCode, SecureChannelStatus.general.failure);
      assert.equal(error.status.protocolCode, SecureChannelStatus.code.invalidParameter);
      return true;
    });
    await waitUntilIdle(device);
  });

  it("answers a malformed PBKDFParamRequest with InvalidParameter", async () => {
    const exchange = peer.exchange(peer.unsecuredSession(device.endpoint));
    // initiatorRandom of 31 bytes instead of 32.
    const malformed = Buffer.from("1530011f" + "00".repeat(31) + "25023412240300280418", "hex");
    exchange.send(SECURE_CHANNEL, Opcode.pbkdfParamRequest, malformed);
    const reply = await exchange.next();
    exchange.close();
    assert.equal(reply.opcode, Opcode.statusReport);
    assert.deepEqual(reply.payload, statusReport(1, 2));
    await waitUntilIdle(device);
    assert.equal(device.stack.pase.failedAttempts, 1);
  });
});

describe("PASE: a peer that stops mid-handshake", () => {
  let device: DeviceUnderTest;
  let peer: TestPeer;
  const salt = random(16);

  beforeEach(async () => {
    device = await startDevice({ paseTimeoutMs: 400 });
    device.stack.openCommissioningWindow({ ...passcodeToVerifier(PASSCODE, salt, ITERATIONS), salt, iterations: ITERATIONS });
    peer = await TestPeer.open();
  });
  afterEach(() => {
    peer.close();
    device.close();
  });

  it("releases the handshake's state after the timeout when the peer goes quiet", async () => {
    const commissioner = new TestCommissioner(peer, device.endpoint);
    void commissioner.pase({ passcode: PASSCODE, stopAfter: "Pake1" });
    while (!device.stack.pase.handshakeInProgress) await sleep(5);
    await sleep(50);
    assert.equal(device.stack.sessions.reservedCount, 1);
    assert.equal(device.stack.sessions.unsecuredCount, 1);
    await sleep(450);
    await waitUntilIdle(device);
    assert.equal(device.stack.sessions.count, 0);
    assert.equal(device.stack.pase.failedAttempts, 1, "a stale handshake is a failed attempt");
    assert.ok(device.stack.pase.windowOpen);
    // The device is free for the next commissioner.
    await commissioner.pase({ passcode: PASSCODE });
    assert.equal(device.stack.sessions.count, 1);
  });

});

describe("PASE: a peer that vanishes", () => {
  it("releases the handshake's state once MRP gives up on the unacknowledged response", async () => {
    const device = await startDevice();
    const salt = random(16);
    device.stack.openCommissioningWindow({ ...passcodeToVerifier(PASSCODE, salt, ITERATIONS), salt, iterations: ITERATIONS });
    const silent = await TestPeer.open();
    try {
      // Short MRP intervals announced by the peer make the device give up within a few hundred ms.
      const commissioner = new TestCommissioner(silent, device.endpoint);
      silent.deaf = true;
      void commissioner.pase({ passcode: PASSCODE, stopAfter: "PBKDFParamRequest", sessionParameters: { idleInterval: 20, activeInterval: 20, activeThreshold: 4000 } });
      while (!device.stack.pase.handshakeInProgress) await sleep(5);
      await waitUntilIdle(device, 3000);
      assert.equal(device.stack.sessions.count, 0);
      assert.equal(device.stack.pase.failedAttempts, 1);
      assert.ok(device.stack.exchanges.stats.retransmissions >= 4, "the response was retransmitted before giving up");
      assert.ok(device.logs.some((entry) => /did not acknowledge/.test(entry.message)));
    } finally {
      silent.close();
      device.close();
    }
  });
});
