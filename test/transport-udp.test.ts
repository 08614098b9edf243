// MRP between two nodes over real UDP on loopback (127.0.0.1 and ::1), through an in-test relay
// that drops chosen datagrams and timestamps everything it sees.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { NodeClock, NodeEntropy, NodeNetwork } from "../hosts/sim/platform/node";
import { LossyRelay, type Seen } from "./fixtures/lossy-relay";
import { CtrDrbg } from "../src/crypto";
import {
  DeliveryFailedError,
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
  type Exchange,
  type PeerAddress,
  type ReceivedMessage,
  type SecureSession,
  type SessionParameters,
} from "../src/transport";

const IM = INTERACTION_MODEL_PROTOCOL_ID;
const I2R = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const R2I = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 - i);
const CONTROLLER_NODE_ID = 0x1111n;
const DEVICE_NODE_ID = 0x2222n;
/** Short intervals keep the test quick; the formula is the spec's whatever the base. */
const PARAMETERS: SessionParameters = { idleIntervalMs: 200, activeIntervalMs: 200, activeThresholdMs: 4000 };
/** Timer slack: never early; lateness bounded loosely, as other test runs share the 2 cores. */
const EARLY_MS = 2;
const LATE_MS = 100;

/** Notes when each datagram leaves: the backoff is checked against the sender's own send times. */
class RecordingUdpTransport extends UdpTransport {
  readonly sendTimes: number[] = [];
  override send(message: Uint8Array, peer: PeerAddress): void {
    this.sendTimes.push(performance.now());
    super.send(message, peer);
  }
}

interface Node {
  network: NodeNetwork;
  udp: RecordingUdpTransport;
  sessions: SessionManager;
  exchanges: ExchangeManager;
}

function node(family: 4 | 6): Node {
  const clock = new NodeClock();
  const random = new CtrDrbg(new NodeEntropy());
  const network = new NodeNetwork();
  const udp = new RecordingUdpTransport(network, { port: 0, families: [family] });
  const sessions = new SessionManager({ clock, random });
  const exchanges = new ExchangeManager({ sessions, clock, random });
  exchanges.addTransport(udp);
  return { network, udp, sessions, exchanges };
}

interface Setup {
  relay: LossyRelay;
  controller: Node;
  device: Node;
  controllerSession: SecureSession;
  deviceSession: SecureSession;
  served: { exchange: Exchange; message: ReceivedMessage }[];
  close(): void;
}

async function setup(family: 4 | 6, onRequest?: (exchange: Exchange, message: ReceivedMessage) => void): Promise<Setup> {
  const loopback = family === 6 ? "::1" : "127.0.0.1";
  const controller = node(family);
  const device = node(family);
  await Promise.all([controller.network.ready(), device.network.ready()]);
  const relay = new LossyRelay(family, { address: loopback, port: device.udp.port(family)! });
  await relay.bind(loopback);
  const common = { kind: "case" as const, i2rKey: I2R, r2iKey: R2I, attestationChallenge: new Uint8Array(16), fabricIndex: 1, peerParameters: PARAMETERS };
  const controllerSession = controller.sessions.createSecureSession({
    ...common,
    localSessionId: 10,
    peerSessionId: 20,
    isInitiator: true,
    localNodeId: CONTROLLER_NODE_ID,
    peerNodeId: DEVICE_NODE_ID,
    peerAddress: udpPeer(loopback, relay.port(relay.facingController)),
  });
  const deviceSession = device.sessions.createSecureSession({
    ...common,
    localSessionId: 20,
    peerSessionId: 10,
    isInitiator: false,
    localNodeId: DEVICE_NODE_ID,
    peerNodeId: CONTROLLER_NODE_ID,
    peerAddress: udpPeer(loopback, relay.port(relay.facingDevice)),
  });
  const served: Setup["served"] = [];
  device.exchanges.registerProtocol(IM, (exchange, message) => {
    served.push({ exchange, message });
    onRequest?.(exchange, message);
  });
  return {
    relay,
    controller,
    device,
    controllerSession,
    deviceSession,
    served,
    close() {
      for (const each of [controller, device]) {
        each.exchanges.close();
        each.sessions.clear();
        each.udp.close();
      }
      relay.close();
    },
  };
}

function open(seen: Seen) {
  const fromController = seen.direction === "toDevice";
  return decodeSecuredMessage(seen.bytes, { key: fromController ? I2R : R2I, nonceNodeId: fromController ? CONTROLLER_NODE_ID : DEVICE_NODE_ID });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > end) throw new Error("condition not met in time");
    await sleep(5);
  }
}

/** Gap i (between transmissions i-1 and i) lies in i × 1.1 × 1.6^max(0, i-2) × [1, 1.25]. */
function assertBackoff(times: number[], base: number): void {
  for (let i = 1; i < times.length; i++) {
    const gap = times[i]! - times[i - 1]!;
    const minimum = base * MRP_BACKOFF_MARGIN * MRP_BACKOFF_BASE ** Math.max(0, i - 2);
    const maximum = minimum * (1 + MRP_BACKOFF_JITTER);
    assert.ok(gap >= minimum - EARLY_MS && gap <= maximum + LATE_MS, `gap ${i} is ${gap.toFixed(1)} ms, outside [${minimum}, ${maximum}]`);
  }
}

for (const family of [4, 6] as const) {
  describe(`MRP over UDP, IPv${family} loopback`, { concurrency: false }, () => {
    it("piggybacks the ack on an immediate response and flushes the last ack on close", async () => {
      const s = await setup(family, (exchange) => {
        exchange.send(IM, 0x05, new Uint8Array([0xaa]));
        exchange.close();
      });
      try {
        const exchange = s.controller.exchanges.initiate(s.controllerSession);
        exchange.send(IM, 0x02, new Uint8Array([1, 2]));
        const reply = await exchange.nextMessage(exchange.responseTimeoutMs(100));
        assert.equal(reply.opcode, 0x05);
        assert.deepEqual(reply.payload, new Uint8Array([0xaa]));
        exchange.close();
        await until(() => s.relay.of("toDevice").length === 2 && s.device.exchanges.exchangeCount === 0, 2000);
        await sleep(300);
        const [request, ack] = s.relay.of("toDevice").map(open);
        const [response, ...more] = s.relay.of("toController").map(open);
        assert.equal(more.length, 0, "no standalone ack from the device: it rode on the response");
        assert.equal(response!.protocolHeader.ackedMessageCounter, request!.packetHeader.messageCounter);
        assert.ok(response!.protocolHeader.needsAck);
        assert.equal(ack!.protocolHeader.opcode, MRP_STANDALONE_ACK_OPCODE);
        assert.equal(ack!.protocolHeader.ackedMessageCounter, response!.packetHeader.messageCounter);
        assert.equal(s.controller.exchanges.exchangeCount, 0);
        assert.equal(s.controller.exchanges.stats.retransmissions + s.device.exchanges.stats.retransmissions, 0);
      } finally {
        s.close();
      }
    });

    it("sends a standalone ack after 200 ms when no response comes", async () => {
      const s = await setup(family);
      try {
        const exchange = s.controller.exchanges.initiate(s.controllerSession);
        exchange.send(IM, 0x02, new Uint8Array());
        await until(() => s.relay.of("toController").length === 1, 2000);
        const request = s.relay.of("toDevice")[0]!;
        const ack = s.relay.of("toController")[0]!;
        const delay = ack.at - request.at;
        assert.ok(delay >= 200 - EARLY_MS && delay <= 200 + LATE_MS, `standalone ack after ${delay.toFixed(1)} ms`);
        const decoded = open(ack);
        assert.equal(decoded.protocolHeader.opcode, MRP_STANDALONE_ACK_OPCODE);
        assert.equal(decoded.protocolHeader.ackedMessageCounter, open(request).packetHeader.messageCounter);
        await sleep(400);
        assert.equal(s.relay.of("toDevice").length, 1, "acknowledged in time: no retransmission");
        assert.equal(exchange.awaitingAck, false);
        s.served[0]!.exchange.close();
        exchange.close();
      } finally {
        s.close();
      }
    });

    it("retransmits lost messages with the spec's backoff and delivers once", async () => {
      const s = await setup(family);
      s.relay.drop = (direction, index) => direction === "toDevice" && index < 2;
      try {
        const exchange = s.controller.exchanges.initiate(s.controllerSession);
        exchange.send(IM, 0x02, new Uint8Array([7]));
        await until(() => s.served.length === 1 && !exchange.awaitingAck, 5000);
        const sent = s.relay.of("toDevice");
        assert.equal(sent.length, 3);
        assert.deepEqual(sent[1]!.bytes, sent[0]!.bytes, "same bytes, same counter");
        assert.equal(s.controller.udp.sendTimes.length, 3);
        assertBackoff(s.controller.udp.sendTimes, PARAMETERS.idleIntervalMs);
        assert.equal(s.device.exchanges.stats.dropped.duplicate, 0);
        assert.equal(s.controller.exchanges.stats.retransmissions, 2);
        s.served[0]!.exchange.close();
        exchange.close();
      } finally {
        s.close();
      }
    });

    it("gives up after 5 transmissions and fails the exchange", async () => {
      const s = await setup(family);
      s.relay.drop = (direction) => direction === "toDevice";
      try {
        const exchange = s.controller.exchanges.initiate(s.controllerSession);
        const started = performance.now();
        exchange.send(IM, 0x02, new Uint8Array([7]));
        const error = await exchange.nextMessage(30_000).catch((e: Error) => e);
        const elapsed = performance.now() - started;
        assert.ok(error instanceof DeliveryFailedError, String(error));
        const sent = s.relay.of("toDevice");
        assert.equal(sent.length, MRP_MAX_TRANSMISSIONS);
        const sendTimes = s.controller.udp.sendTimes;
        assert.equal(sendTimes.length, MRP_MAX_TRANSMISSIONS);
        assertBackoff(sendTimes, PARAMETERS.idleIntervalMs);
        // The last wait is the 5th backoff, 1.1 × 1.6^3 × base, before giving up.
        const lastWait = started + elapsed - sendTimes[sendTimes.length - 1]!;
        const minimum = PARAMETERS.idleIntervalMs * MRP_BACKOFF_MARGIN * MRP_BACKOFF_BASE ** 3;
        assert.ok(lastWait >= minimum - EARLY_MS && lastWait <= minimum * 1.25 + LATE_MS, `gave up ${lastWait.toFixed(1)} ms after the last transmission`);
        assert.equal(s.controller.exchanges.exchangeCount, 0);
        assert.equal(s.controller.exchanges.retransmissionCount, 0);
        assert.equal(s.controller.exchanges.stats.deliveryFailures, 1);
        assert.equal(s.served.length, 0);
      } finally {
        s.close();
      }
    });

    it("acknowledges a duplicate at once and does not deliver it again", async () => {
      const s = await setup(family);
      s.relay.drop = (direction, index) => direction === "toController" && index === 0;
      try {
        const exchange = s.controller.exchanges.initiate(s.controllerSession);
        exchange.send(IM, 0x02, new Uint8Array([7]));
        await until(() => !exchange.awaitingAck, 5000);
        assert.equal(s.served.length, 1);
        assert.equal(s.device.exchanges.stats.dropped.duplicate, 1);
        const acks = s.relay.of("toController");
        assert.equal(acks.length, 2);
        const retransmission = s.relay.of("toDevice")[1]!;
        assert.ok(acks[1]!.at - retransmission.at < LATE_MS, "the duplicate is acknowledged without the 200 ms wait");
        s.served[0]!.exchange.close();
        exchange.close();
      } finally {
        s.close();
      }
    });

    it("drops messages for unknown sessions and tampered ones, without answering", async () => {
      const s = await setup(family);
      try {
        const exchange = s.controller.exchanges.initiate(s.controllerSession);
        exchange.send(IM, 0x02, new Uint8Array([7]), { reliable: false });
        await until(() => s.served.length === 1, 2000);
        const original = s.relay.of("toDevice")[0]!.bytes;
        const unknown = original.slice();
        unknown[1] = 0x77;
        const tampered = original.slice();
        tampered[original.length - 1]! ^= 1;
        const sender = createSocket(family === 6 ? "udp6" : "udp4");
        const loopback = family === 6 ? "::1" : "127.0.0.1";
        for (const message of [unknown, tampered, original]) sender.send(message, s.device.udp.port(family)!, loopback);
        await until(() => s.device.exchanges.stats.received === 4, 2000);
        sender.close();
        const dropped = s.device.exchanges.stats.dropped;
        assert.equal(dropped.unknownSession, 1);
        assert.equal(dropped.decryptFailed, 1);
        assert.equal(dropped.duplicate, 1, "the replayed original");
        assert.equal(s.served.length, 1);
        assert.equal(s.device.exchanges.stats.sent, 0, "nothing answered (none asked for an ack)");
        s.served[0]!.exchange.close();
        exchange.close();
      } finally {
        s.close();
      }
    });
  });
}

describe("UdpTransport", () => {
  it("listens on IPv6 and IPv4 at once, reports peers with their family, and refuses oversize messages", async () => {
    const network = new NodeNetwork();
    const udp = new UdpTransport(network, { port: 0 });
    const received: { bytes: Uint8Array; peer: PeerAddress }[] = [];
    udp.onReceive((bytes, peer) => received.push({ bytes, peer }));
    const raw = { 4: createSocket("udp4"), 6: createSocket("udp6") };
    try {
      await network.ready();
      for (const family of [4, 6] as const) {
        assert.ok(udp.port(family)! > 0, `IPv${family} port`);
        await new Promise<void>((resolve) => raw[family].bind(0, family === 6 ? "::1" : "127.0.0.1", resolve));
        raw[family].send(new Uint8Array([family]), udp.port(family)!, family === 6 ? "::1" : "127.0.0.1");
      }
      await until(() => received.length === 2, 2000);
      for (const family of [4, 6] as const) {
        const entry = received.find((r) => r.peer.family === family)!;
        assert.deepEqual(entry.bytes, new Uint8Array([family]));
        assert.equal(entry.peer.transport, "udp");
        assert.equal(entry.peer.port, raw[family].address().port);
        // Replies go out on the socket of the peer's family.
        const echoed = new Promise<Uint8Array>((resolve) => raw[family].once("message", (message) => resolve(new Uint8Array(message))));
        udp.send(new Uint8Array([0xee, family]), entry.peer);
        assert.deepEqual(await echoed, new Uint8Array([0xee, family]));
      }
      assert.throws(() => udp.send(new Uint8Array(1281), udpPeer("127.0.0.1", 9)), /exceeds 1280/);
      assert.deepEqual(udpPeer("fe80::1", 5540, "eth0"), { transport: "udp", address: "fe80::1", port: 5540, family: 6, interfaceName: "eth0" });
      assert.equal(udpPeer("10.0.0.1").port, 5540);
      const v4only = new UdpTransport(network, { port: 0, families: [4] });
      assert.throws(() => v4only.send(new Uint8Array(1), udpPeer("::1", 9)), /no IPv6 socket/);
      v4only.close();
    } finally {
      udp.close();
      raw[4].close();
      raw[6].close();
      network.close();
    }
  });
});
