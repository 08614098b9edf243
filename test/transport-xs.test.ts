// The message layer running inside the XS engine, over real UDP on loopback (through the
// simulator's bridge), against a Node controller, with a lossy relay in between.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleForXs } from "../hosts/sim/engine/bundle";
import { XsHost } from "../hosts/sim/bridge/host";
import { NodeClock, NodeEntropy, NodeNetwork, NodePlatform } from "../hosts/sim/platform/node";
import { CtrDrbg } from "../src/crypto";
import {
  ExchangeManager,
  INTERACTION_MODEL_PROTOCOL_ID,
  MRP_BACKOFF_BASE,
  MRP_BACKOFF_JITTER,
  MRP_BACKOFF_MARGIN,
  MRP_MAX_TRANSMISSIONS,
  MRP_STANDALONE_ACK_OPCODE,
  SessionManager,
  UdpTransport,
  decodeSecuredMessage,
  udpPeer,
  type SecureSession,
  type SessionParameters,
  type TransportStats,
} from "../src/transport";
import { LossyRelay } from "./fixtures/lossy-relay";

const here = dirname(fileURLToPath(import.meta.url));
const IM = INTERACTION_MODEL_PROTOCOL_ID;
const I2R = Uint8Array.from({ length: 16 }, (_, i) => 0x30 + i);
const R2I = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const CONTROLLER_NODE_ID = 0x7001n;
const DEVICE_NODE_ID = 0x7002n;
const PARAMETERS: SessionParameters = { idleIntervalMs: 200, activeIntervalMs: 200, activeThresholdMs: 4000 };
/**
 * Every platform call from XS crosses a pipe to the host, on a machine shared with other test
 * runs: lateness is bounded loosely here. The exact bounds are asserted inside XS by the
 * manual-clock suite (test/suites/exchange.suite.ts); this checks the real thing is never early.
 */
const EARLY_MS = 2;
const LATE_MS = 300;

type DeviceStats = TransportStats & { exchanges: number; awaitingAck: number; sessions: number };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > end) throw new Error("condition not met in time");
    await sleep(10);
  }
}

describe("message layer inside XS over UDP", { concurrency: false }, () => {
  const notes: any[] = [];
  const platform = new NodePlatform({ logLevel: "error" });
  const network = new NodeNetwork();
  const clock = new NodeClock();
  const random = new CtrDrbg(new NodeEntropy());
  const sessions = new SessionManager({ clock, random });
  const controller = new ExchangeManager({ sessions, clock, random });
  const udp = new UdpTransport(network, { port: 0, families: [4] });
  controller.addTransport(udp);
  const relay = new LossyRelay(4, { address: "127.0.0.1", port: 0 });
  let host: XsHost;
  let session: SecureSession;

  const deviceStats = () => host.control<DeviceStats>({ op: "stats" });

  before(async () => {
    host = new XsHost({ platform, onNotify: (note) => notes.push(note) });
    await host.evaluate(await bundleForXs({ resolveDir: here, contents: `import "./fixtures/transport-firmware";` }));
    await network.ready();
    await relay.bind("127.0.0.1");
    const { port } = await host.control<{ port: number }>({
      op: "start",
      peerSessionId: 10,
      i2r: [...I2R],
      r2i: [...R2I],
      localNodeId: String(DEVICE_NODE_ID),
      peerNodeId: String(CONTROLLER_NODE_ID),
      parameters: PARAMETERS,
      peerPort: relay.port(relay.facingDevice),
    });
    relay.device = { address: "127.0.0.1", port };
    relay.setController("127.0.0.1", udp.port(4)!);
    session = sessions.createSecureSession({
      kind: "case",
      localSessionId: 10,
      peerSessionId: 20,
      i2rKey: I2R,
      r2iKey: R2I,
      attestationChallenge: new Uint8Array(16),
      isInitiator: true,
      localNodeId: CONTROLLER_NODE_ID,
      peerNodeId: DEVICE_NODE_ID,
      fabricIndex: 1,
      peerParameters: PARAMETERS,
      peerAddress: udpPeer("127.0.0.1", relay.port(relay.facingController)),
    });
  });

  after(async () => {
    controller.close();
    udp.close();
    relay.close();
    await host.stop();
    platform.close();
  });

  it("answers a request whose first two transmissions were lost, once", async () => {
    const before = await deviceStats();
    relay.seen.length = 0;
    relay.drop = (direction, index) => direction === "toDevice" && index < 2;
    const exchange = controller.initiate(session);
    exchange.send(IM, 0x02, new Uint8Array([1, 2, 3]));
    const reply = await exchange.nextMessage(exchange.responseTimeoutMs(500));
    assert.deepEqual(reply.payload, new Uint8Array([3, 2, 1]));
    exchange.close();
    await until(async () => (await deviceStats()).exchanges === 0, 3000);
    const after = await deviceStats();
    assert.equal(after.delivered - before.delivered, 1, "the request, delivered once");
    assert.equal(after.acksReceived - before.acksReceived, 1, "the controller's standalone ack of the response");
    assert.equal(after.dropped.duplicate - before.dropped.duplicate, 0);
    assert.equal(relay.of("toDevice").length, 4, "three transmissions of the request, then the ack of the response");
    const response = decodeSecuredMessage(relay.of("toController")[0]!.bytes, { key: R2I, nonceNodeId: DEVICE_NODE_ID });
    const request = decodeSecuredMessage(relay.of("toDevice")[2]!.bytes, { key: I2R, nonceNodeId: CONTROLLER_NODE_ID });
    assert.equal(response.protocolHeader.ackedMessageCounter, request.packetHeader.messageCounter, "piggybacked ack from XS");
    assert.equal(after.awaitingAck, 0);
  });

  it("acknowledges a duplicate at once and retransmits its own lost response", async () => {
    const before = await deviceStats();
    relay.seen.length = 0;
    // The device's response and its first retransmission are lost; its standalone ack is not.
    let responsesDropped = 0;
    relay.drop = (direction, _index, bytes) => {
      if (direction !== "toController" || responsesDropped >= 2) return false;
      const opcode = decodeSecuredMessage(bytes, { key: R2I, nonceNodeId: DEVICE_NODE_ID }).protocolHeader.opcode;
      if (opcode !== 0x05) return false;
      responsesDropped++;
      return true;
    };
    const exchange = controller.initiate(session);
    exchange.send(IM, 0x02, new Uint8Array([9, 8]));
    const reply = await exchange.nextMessage(exchange.responseTimeoutMs(500));
    assert.deepEqual(reply.payload, new Uint8Array([8, 9]));
    exchange.close();
    await until(async () => (await deviceStats()).exchanges === 0, 5000);
    const after = await deviceStats();
    assert.equal(after.dropped.duplicate - before.dropped.duplicate, 1, "the request's retransmission");
    assert.ok(after.retransmissions - before.retransmissions >= 1, "the lost response went out again");
    const fromDevice = relay.of("toController").map((seen) => decodeSecuredMessage(seen.bytes, { key: R2I, nonceNodeId: DEVICE_NODE_ID }).protocolHeader);
    assert.ok(
      fromDevice.some((header) => header.opcode === MRP_STANDALONE_ACK_OPCODE),
      "a standalone ack answered the duplicate",
    );
  });

  it("retransmits with the spec's backoff from inside XS and gives up after 5 transmissions", async () => {
    const before = await deviceStats();
    relay.seen.length = 0;
    relay.drop = (direction) => direction === "toController";
    const notesBefore = notes.length;
    await host.control({ op: "initiate", payload: [5], timeoutMs: 30_000 });
    await until(() => notes.length > notesBefore, 15_000);
    assert.deepEqual(notes[notes.length - 1], { failed: "DeliveryFailedError" });
    const sent = relay.of("toController").map((seen) => seen.at);
    assert.equal(sent.length, MRP_MAX_TRANSMISSIONS);
    for (let i = 1; i < sent.length; i++) {
      const gap = sent[i]! - sent[i - 1]!;
      const minimum = PARAMETERS.idleIntervalMs * MRP_BACKOFF_MARGIN * MRP_BACKOFF_BASE ** Math.max(0, i - 2);
      const maximum = minimum * (1 + MRP_BACKOFF_JITTER);
      assert.ok(gap >= minimum - EARLY_MS && gap <= maximum + LATE_MS, `gap ${i} is ${gap.toFixed(1)} ms, outside [${minimum}, ${maximum}]`);
    }
    const after = await deviceStats();
    assert.equal(after.deliveryFailures - before.deliveryFailures, 1);
    assert.equal(after.exchanges, 0);
    assert.equal(after.awaitingAck, 0);
    assert.equal(after.sessions, 1);
  });
});
