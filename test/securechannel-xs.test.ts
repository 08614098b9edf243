// The device's secure channel running inside the XS engine (through the simulator's bridge) over
// real UDP on loopback, against the same independent commissioner and responder as the Node tests:
// PASE, CASE, CASE resumption, the device as CASE initiator, and refusals with their statuses.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleForXs } from "../hosts/sim/engine/bundle";
import { XsHost } from "../hosts/sim/bridge/host";
import { NodePlatform } from "../hosts/sim/platform/node";
import { StatusError, TestCaseResponder, TestCommissioner, statusReport, type ControllerIdentity } from "./support/commissioner";
import { FabricAuthority, type NodeCredentials } from "./support/credentials";
import { ECHO_PROTOCOL_ID, ECHO_REQUEST, ECHO_RESPONSE, echoOf, sleep } from "./support/device";
import { random } from "./support/node-crypto";
import { passcodeToVerifier } from "./support/spake2p-prover";
import { SecureChannelStatus } from "./support/status";
import { TestPeer, type SecureContext } from "./support/test-peer";

const here = dirname(fileURLToPath(import.meta.url));
const PASSCODE = 34567890;
const FABRIC_ID = 0x0000_0000_0000_abcdn;
const DEVICE_NODE_ID = 0x0000_0000_0000_0d0dn;
const CONTROLLER_NODE_ID = 0x0000_0000_0000_0001n;
const PROVIDER_NODE_ID = 0x0000_0000_0000_0002n;

interface DeviceState {
  sessions: { kind: string; localSessionId: number; peerNodeId: string; fabricIndex: number; cats: number[] }[];
  reserved: number;
  unsecured: number;
  exchanges: number;
  pase: boolean;
  caseResponder: number;
  caseInitiator: number;
  failedAttempts: number;
  windowOpen: boolean;
  established: string[];
}

describe("secure channel with the device inside XS, over UDP", { concurrency: false }, () => {
  const notes: any[] = [];
  const platform = new NodePlatform({ logLevel: "error" });
  let host: XsHost;
  let peer: TestPeer;
  let commissioner: TestCommissioner;
  let authority: FabricAuthority;
  let controller: ControllerIdentity;
  let deviceCredentials: NodeCredentials;
  const timings: Record<string, number> = {};
  let paseSession: SecureContext | undefined;

  const state = () => host.control<DeviceState>({ op: "state" });
  async function idle(): Promise<DeviceState> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const current = await state();
      const { reserved, unsecured, exchanges, pase, caseResponder, caseInitiator } = current;
      if (reserved + unsecured + exchanges + caseResponder + caseInitiator === 0 && !pase) return current;
      if (Date.now() > deadline) assert.fail(`the device still holds handshake state: ${JSON.stringify(current)}`);
      await sleep(25);
    }
  }
  async function echo(session: SecureContext, text: string): Promise<void> {
    const reply = await peer.request(session, ECHO_PROTOCOL_ID, ECHO_REQUEST, Buffer.from(text), 5000);
    assert.equal(reply.opcode, ECHO_RESPONSE);
    assert.deepEqual(reply.payload, echoOf(Buffer.from(text)));
  }
  async function timed<T>(name: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const result = await work();
    timings[name] = Math.round(performance.now() - started);
    return result;
  }

  before(async () => {
    authority = await FabricAuthority.create(FABRIC_ID);
    deviceCredentials = await authority.issue(DEVICE_NODE_ID);
    controller = { authority, credentials: await authority.issue(CONTROLLER_NODE_ID, [0x00030001]), resumption: new Map() };
    host = new XsHost({ platform, onNotify: (note) => notes.push(note) });
    await host.evaluate(await bundleForXs({ resolveDir: here, contents: `import "./fixtures/securechannel-firmware";` }));
    const salt = random(32);
    const { w0, L } = passcodeToVerifier(PASSCODE, salt, 1000);
    const { port } = await host.control<{ port: number }>({
      op: "start",
      w0: [...w0],
      L: [...L],
      salt: [...salt],
      iterations: 1000,
      rcac: [...authority.rcac],
      icac: deviceCredentials.icac ? [...deviceCredentials.icac] : undefined,
      noc: [...deviceCredentials.noc],
      key: [...deviceCredentials.key.privateKey],
      epochKey: [...authority.ipkEpochKey],
    });
    await sleep(50);
    peer = await TestPeer.open();
    commissioner = new TestCommissioner(peer, { address: "127.0.0.1", port });
  });

  after(async () => {
    console.log(`handshakes with the device in XS, as the peer saw them (ms): ${JSON.stringify(timings)}`);
    peer?.close();
    await host?.control({ op: "stop" }).catch(() => {});
    await host?.stop();
    platform.close();
  });

  it("PASE, CASE and CASE resumption succeed and their sessions carry messages", async () => {
    const pase = await timed("PASE", () => commissioner.pase({ passcode: PASSCODE, timeoutMs: 20_000 }));
    paseSession = pase.session;
    await echo(pase.session, "PASE in XS");
    const full = await timed("CASE", () => commissioner.case({ controller, deviceNodeId: DEVICE_NODE_ID, timeoutMs: 20_000 }));
    assert.equal(full.resumed, false);
    await echo(full.session, "CASE in XS");
    const resumed = await timed("CASE resumption", () => commissioner.case({ controller, deviceNodeId: DEVICE_NODE_ID, timeoutMs: 20_000 }));
    assert.equal(resumed.resumed, true);
    await echo(resumed.session, "resumed in XS");
    const current = await idle();
    assert.deepEqual(current.established, ["pase", "case", "case-resumption"]);
    const caseSessions = current.sessions.filter((session) => session.kind === "case");
    assert.equal(caseSessions.length, 2);
    for (const session of caseSessions) {
      assert.equal(BigInt(session.peerNodeId), CONTROLLER_NODE_ID);
      assert.deepEqual(session.cats, [0x00030001]);
    }
  });

  it("refuses a second PASE (Busy), a wrong passcode, an unknown fabric and a foreign root with the right statuses", async () => {
    // One PASE session per window: Busy while the first one exists, then the peer closes it.
    await assert.rejects(commissioner.pase({ passcode: PASSCODE, timeoutMs: 20_000 }), (error: unknown) => {
      assert.ok(error instanceof StatusError);
      assert.equal(error.status.protocolCode, SecureChannelStatus.code.busy);
      return true;
    });
    const closing = peer.exchange(paseSession!);
    closing.send(0, 0x40, statusReport(0, SecureChannelStatus.code.closeSession), { reliable: false });
    closing.close();
    const deadline = Date.now() + 5000;
    while ((await state()).sessions.some((session) => session.kind === "pase") && Date.now() < deadline) await sleep(20);
    const before = await state();
    assert.equal(before.sessions.filter((session) => session.kind === "pase").length, 0, "CloseSession removed the PASE session");
    await assert.rejects(commissioner.pase({ passcode: PASSCODE + 1, confirmDespiteMismatch: true, timeoutMs: 20_000 }), (error: unknown) => {
      assert.ok(error instanceof StatusError);
      assert.equal(error.status.protocolCode, SecureChannelStatus.code.invalidParameter);
      return true;
    });
    const elsewhere = await FabricAuthority.create(FABRIC_ID);
    await assert.rejects(commissioner.case({ controller, deviceNodeId: DEVICE_NODE_ID, destinationAuthority: elsewhere, resume: false, timeoutMs: 20_000 }), (error: unknown) => {
      assert.ok(error instanceof StatusError);
      assert.equal(error.status.protocolCode, SecureChannelStatus.code.noSharedTrustRoots);
      return true;
    });
    await assert.rejects(
      commissioner.case({ controller, deviceNodeId: DEVICE_NODE_ID, presentCredentials: await elsewhere.issue(CONTROLLER_NODE_ID), resume: false, timeoutMs: 20_000 }),
      (error: unknown) => {
        assert.ok(error instanceof StatusError);
        assert.equal(error.status.protocolCode, SecureChannelStatus.code.invalidParameter);
        return true;
      },
    );
    const after = await idle();
    assert.equal(after.sessions.length, before.sessions.length, "no session from a refused handshake");
    assert.equal(after.failedAttempts, before.failedAttempts + 1);
  });

  it("opens CASE itself to a peer and resumes it", async () => {
    const providerPeer = await TestPeer.open();
    try {
      const responder = new TestCaseResponder(providerPeer, authority, await authority.issue(PROVIDER_NODE_ID));
      const received: string[] = [];
      responder.onApplicationMessage = (exchange, message) => {
        received.push(Buffer.from(message.payload).toString());
        exchange.close();
      };
      for (const expectResumed of [false, true]) {
        const start = notes.length;
        await host.control({ op: "establish", peerNodeId: PROVIDER_NODE_ID.toString(), port: providerPeer.port });
        const deadline = Date.now() + 20_000;
        while (!notes.slice(start).some((note) => note.established || note.failed) && Date.now() < deadline) await sleep(20);
        const outcome = notes.slice(start).find((note) => note.established || note.failed);
        assert.ok(outcome?.established, `establish failed: ${JSON.stringify(outcome)}`);
        assert.equal(outcome.established.resumed, expectResumed);
        timings[expectResumed ? "device-initiated CASE resumption" : "device-initiated CASE"] = Math.round(outcome.established.ms);
        while (received.length < (expectResumed ? 2 : 1) && Date.now() < deadline) await sleep(20);
        assert.equal(received.at(-1), "from XS");
      }
      const reply = await providerPeer.request(responder.events.established.at(-1)!.session, ECHO_PROTOCOL_ID, ECHO_REQUEST, Buffer.from("provider to XS"), 5000);
      assert.deepEqual(reply.payload, echoOf(Buffer.from("provider to XS")));
      await idle();
    } finally {
      providerPeer.close();
    }
  });
});
