// BTP: wire format, segmentation and reassembly across segment sizes and windows, acknowledgements
// and window limits checked on the wire, timers (ack timeout, keep-alive, idle), malformed packets,
// and the peripheral transport's handshake over a scripted BLE peripheral.
import {
  BTP_ACK_TIMEOUT_MS,
  BtpSession,
  BtpTransport,
  decodeBtpHandshakeRequest,
  decodeBtpHandshakeResponse,
  decodeBtpPacket,
  encodeBtpHandshakeRequest,
  encodeBtpHandshakeResponse,
  encodeBtpPacket,
  negotiateBtp,
  type BtpPacket,
} from "../../src/transport/btp";
import type { BleConnection, BleEvents, BlePeripheral } from "../../src/platform";
import type { PeerAddress } from "../../src/transport/transport";
import { bytesEqual, deepEqual, equal, ok, suite, throws, toHex } from "../portable/harness";
import { btpPair, exchangeBothWays, patternMessage } from "./btp-fixtures";
import { ManualClock } from "./transport-fixtures";

/** MTUs at and around the segment-size boundaries (23 is BLE's minimum, 247 the largest used). */
const MTUS = [23, 24, 25, 26, 27, 50, 64, 100, 128, 131, 185, 200, 244, 246, 247];
/** Message sizes around one- and two-segment boundaries for every segment size, and the maximum. */
const SIZES = [1, 2, 15, 16, 17, 18, 19, 20, 21, 40, 100, 240, 241, 242, 243, 244, 487, 488, 1279, 1280];

class ScriptedBle implements BlePeripheral {
  events: BleEvents | undefined;
  readonly indications: { connection: BleConnection; data: Uint8Array }[] = [];
  readonly disconnects: BleConnection[] = [];
  serviceData: Uint8Array | undefined;
  subscribedConnections = new Set<BleConnection>();
  advertise(serviceData: Uint8Array | undefined): void {
    this.serviceData = serviceData;
  }
  setAdditionalData(): void {}
  indicate(connection: BleConnection, data: Uint8Array): void {
    if (!this.subscribedConnections.has(connection)) throw new Error("not subscribed");
    this.indications.push({ connection, data: data.slice() });
  }
  disconnect(connection: BleConnection): void {
    this.disconnects.push(connection);
  }
  setHandler(events: BleEvents): void {
    this.events = events;
  }
  subscribe(connection: BleConnection): void {
    this.subscribedConnections.add(connection);
    this.events!.subscribed(connection, true);
  }
}

function transportSetup(maxConnections = 1) {
  const clock = new ManualClock();
  const ble = new ScriptedBle();
  const transport = new BtpTransport({ ble, clock, maxConnections });
  const received: { message: Uint8Array; peer: PeerAddress }[] = [];
  const closed: string[] = [];
  transport.onReceive((message, peer) => received.push({ message, peer }));
  transport.onConnectionClosed((peer, reason) => closed.push(`${peer.address}: ${reason}`));
  return { clock, ble, transport, received, closed };
}

const request = (attMtu: number, windowSize: number, versions = [4]) => encodeBtpHandshakeRequest({ versions, attMtu, windowSize });

export default suite("btp", (test) => {
  test("handshake request and response: layout, version nibbles, negotiation", () => {
    const bytes = encodeBtpHandshakeRequest({ versions: [4, 3], attMtu: 247, windowSize: 6 });
    equal(toHex(bytes), "656c34000000f70006");
    deepEqual(decodeBtpHandshakeRequest(bytes), { versions: [4, 3], attMtu: 247, windowSize: 6 });
    deepEqual(decodeBtpHandshakeRequest(Uint8Array.of(0x65, 0x6c, 0x00, 0x40, 0, 0, 0, 0, 3)).versions, [4], "a version in a high nibble");
    bytesEqual(encodeBtpHandshakeResponse({ version: 4, segmentSize: 244, windowSize: 6 }), "656c04f40006");
    deepEqual(decodeBtpHandshakeResponse(Uint8Array.of(0x65, 0x6c, 0x04, 0x14, 0x00, 0x03)), { version: 4, segmentSize: 20, windowSize: 3 });
    deepEqual(negotiateBtp({ versions: [4], attMtu: 247, windowSize: 6 }, 247), { version: 4, segmentSize: 244, windowSize: 6 });
    deepEqual(negotiateBtp({ versions: [4], attMtu: 0, windowSize: 12 }, 185), { version: 4, segmentSize: 182, windowSize: 8 });
    deepEqual(negotiateBtp({ versions: [4], attMtu: 0, windowSize: 2 }, 0), { version: 4, segmentSize: 20, windowSize: 2 });
    deepEqual(negotiateBtp({ versions: [4], attMtu: 517, windowSize: 2 }, 100), { version: 4, segmentSize: 97, windowSize: 2 });
    equal(negotiateBtp({ versions: [3, 2], attMtu: 100, windowSize: 2 }, 100).version, 0);
    for (const [bad, pattern] of [
      [Uint8Array.of(0x65, 0x6c, 0, 0, 0, 0, 0xf7, 0, 6), "no version"],
      [Uint8Array.of(0x65, 0x6c, 4, 0, 0, 0, 0xf7, 0, 0), "window of 0"],
      [Uint8Array.of(0x64, 0x6c, 4, 0, 0, 0, 0xf7, 0, 6), "not a BTP handshake"],
      [Uint8Array.of(0x65, 0x6d, 4, 0, 0, 0, 0xf7, 0, 6), "not a BTP handshake"],
      [Uint8Array.of(0x65, 0x6c, 4, 0, 0, 0, 0xf7, 0), "8 bytes"],
    ] as const) {
      throws(() => decodeBtpHandshakeRequest(bad), pattern);
    }
    throws(() => decodeBtpHandshakeResponse(Uint8Array.of(0x65, 0x6c, 4, 19, 0, 3)), "below 20");
  });

  test("data packets: header layout and strict flags", () => {
    const first: BtpPacket = { ack: 0, sequence: 1, beginning: true, continuing: false, ending: true, messageLength: 3, payload: Uint8Array.of(0xaa, 0xbb, 0xcc) };
    equal(toHex(encodeBtpPacket(first)), "0d00010300aabbcc");
    deepEqual(decodeBtpPacket(encodeBtpPacket(first)), first);
    equal(toHex(encodeBtpPacket({ ack: 5, sequence: 6, beginning: false, continuing: false, ending: false, payload: new Uint8Array(0) })), "080506");
    equal(toHex(encodeBtpPacket({ sequence: 7, beginning: false, continuing: true, ending: false, payload: Uint8Array.of(1) })), "020701");
    for (const [bytes, pattern] of [
      [Uint8Array.of(0x10, 0, 1), "reserved"],
      [Uint8Array.of(0x80, 0, 1), "reserved"],
      [Uint8Array.of(0x65, 0x6c, 4), "handshake"],
      [Uint8Array.of(0x03, 0, 1, 0, 1), "both begin and continue"],
      [Uint8Array.of(0x04, 0, 1), "ending flag alone"],
      [Uint8Array.of(0x00, 0, 1), "payload in a packet without segment"],
      [Uint8Array.of(0x00, 0), "neither segment nor ack"],
      [Uint8Array.of(0x02, 0), "without payload"],
      [Uint8Array.of(0x05, 0, 0, 0, 1), "message length 0"],
      [Uint8Array.of(0x05, 0, 2, 0, 1, 2, 3), "message length 2"],
      [Uint8Array.of(0x01, 0, 5), "message length"],
      [Uint8Array.of(0x08), "packet of 1"],
    ] as const) {
      throws(() => decodeBtpPacket(bytes), pattern, toHex(bytes));
    }
  });

  test("segmentation and reassembly both ways for MTUs 23..247 and windows 1..8, within the limits on the wire", async () => {
    for (const mtu of MTUS) {
      for (let window = 1; window <= 8; window++) {
        const pair = btpPair({ segmentSize: Math.min(mtu - 3, 244), windowSize: window });
        const problem = await exchangeBothWays(pair, SIZES);
        if (problem) throw new Error(`MTU ${mtu}, window ${window}: ${problem}`);
        ok(pair.central.session.stats.maxOutstanding <= window && pair.peripheral.session.stats.maxOutstanding <= window);
        pair.central.session.close();
        pair.peripheral.session.close();
      }
    }
  });

  test("segments fill the segment size: a 1280-byte message over MTU 23 uses full 20-byte packets", async () => {
    const pair = btpPair({ segmentSize: 20, windowSize: 8 });
    pair.central.session.send(patternMessage(1280, 9));
    await pair.clock.advance(5000);
    equal(pair.peripheral.received.length, 1);
    const segments = pair.central.sent.filter((packet) => decodeBtpPacket(packet).payload.length > 0);
    // First segment: 20 - flags, ack of the handshake response, sequence, length = 15 bytes.
    equal(decodeBtpPacket(segments[0]!).payload.length, 15);
    ok(segments.slice(0, -1).every((packet) => packet.length === 20), "every segment but the last is full");
    const payload = segments.reduce((sum, packet) => sum + decodeBtpPacket(packet).payload.length, 0);
    equal(payload, 1280);
    // 17 or 18 payload bytes a segment, depending on whether it carries an acknowledgement.
    ok(segments.length >= 1 + Math.ceil(1265 / 18) && segments.length <= 1 + Math.ceil(1265 / 17), `${segments.length} segments`);
    const decoded = segments.map(decodeBtpPacket);
    ok(decoded[0]!.beginning && !decoded[0]!.ending && decoded[decoded.length - 1]!.ending && decoded.slice(1).every((p) => p.continuing));
  });

  test("idle peers keep acknowledging each other (keep-alive); a silent peer ends the session", async () => {
    const pair = btpPair({ segmentSize: 20, windowSize: 4 });
    await pair.clock.advance(120_000);
    equal(pair.central.closedReason, undefined);
    equal(pair.peripheral.closedReason, undefined);
    ok(pair.central.session.stats.standaloneAcksSent > 10 && pair.peripheral.session.stats.standaloneAcksSent > 10, "acks went both ways");
    equal(pair.violations.length, 0, pair.violations.join("; "));

    // In a window of one every packet needs an immediate answer; acks of acks still trickle.
    const tight = btpPair({ segmentSize: 20, windowSize: 1 });
    await tight.clock.advance(10_000);
    const acks = tight.central.session.stats.standaloneAcksSent + tight.peripheral.session.stats.standaloneAcksSent;
    ok(acks > 20 && acks <= 10_000 / 50 + 2, `${acks} stand-alone acks in 10 s`);
    equal(tight.central.closedReason, undefined);
    tight.central.session.close();
    tight.peripheral.session.close();

    // The central alone, its packets unanswered: its ack timer ends it.
    const clock = new ManualClock();
    let reason: string | undefined;
    const lonely = new BtpSession({ role: "central", segmentSize: 20, windowSize: 4, clock, send: () => {}, deliver: () => {}, closed: (r) => (reason = r) });
    lonely.send(patternMessage(10, 1));
    await clock.advance(BTP_ACK_TIMEOUT_MS - 10);
    equal(reason, undefined);
    await clock.advance(20);
    ok(reason?.includes("ack"), reason);
  });

  test("malformed or out-of-order packets end the session without throwing", async () => {
    const cases: [string, (pair: ReturnType<typeof btpPair>) => void, string][] = [
      ["wrong sequence number", (p) => p.inject("peripheral", Uint8Array.of(0x08, 0x00, 0x05)), "sequence"],
      ["ack for a packet never sent", (p) => p.inject("peripheral", Uint8Array.of(0x08, 0x07, 0x00)), "acknowledgement"],
      ["reserved flag", (p) => p.inject("peripheral", Uint8Array.of(0x88, 0x00, 0x00)), "reserved"],
      ["handshake inside the session", (p) => p.inject("peripheral", request(100, 4)), "handshake"],
      ["packet longer than the segment", (p) => p.inject("peripheral", Uint8Array.of(0x05, 0x00, 30, 0, ...new Uint8Array(30))), "over segment size"],
      ["continuing segment without a beginning", (p) => p.inject("peripheral", Uint8Array.of(0x02, 0x00, 1)), "outside a message"],
      ["message longer than 1280", (p) => p.inject("peripheral", Uint8Array.of(0x01, 0x00, 0x01, 0x05, 1)), "exceeds"],
      ["segments beyond the message length", (p) => { p.inject("peripheral", Uint8Array.of(0x01, 0x00, 2, 0, 1)); p.inject("peripheral", Uint8Array.of(0x06, 0x01, 1, 2)); }, "exceed"],
      ["ending before the length is reached", (p) => { p.inject("peripheral", Uint8Array.of(0x01, 0x00, 3, 0, 1)); p.inject("peripheral", Uint8Array.of(0x06, 0x01, 1)); }, "ended after"],
      ["complete message without an ending flag", (p) => p.inject("peripheral", Uint8Array.of(0x01, 0x00, 1, 0, 1)), "lacks the ending"],
      ["two beginnings", (p) => { p.inject("peripheral", Uint8Array.of(0x01, 0x00, 3, 0, 1)); p.inject("peripheral", Uint8Array.of(0x01, 0x01, 3, 0, 1)); }, "began before"],
      ["window overrun", (p) => { for (let s = 0; s < 4; s++) p.inject("peripheral", Uint8Array.of(0x05, s, 1, 0, s)); }, "overran"],
      ["empty write", (p) => p.inject("peripheral", new Uint8Array(0)), "packet of 0"],
    ];
    for (const [name, act, pattern] of cases) {
      const pair = btpPair({ segmentSize: 20, windowSize: 2 });
      act(pair);
      const reason = pair.peripheral.closedReason;
      ok(reason !== undefined && reason.includes(pattern), `${name}: ${reason}`);
      ok(!pair.peripheral.session.isOpen, name);
      pair.central.session.close();
    }
  });

  test("transport: handshake after or before the subscription, negotiated sizes, messages both ways", async () => {
    for (const subscribeFirst of [false, true]) {
      const { clock, ble, transport, received } = transportSetup();
      ble.events!.connected(7, 185);
      if (subscribeFirst) ble.subscribe(7);
      ble.events!.received(7, request(0, 5));
      equal(ble.indications.length, subscribeFirst ? 1 : 0);
      if (!subscribeFirst) ble.subscribe(7);
      deepEqual(decodeBtpHandshakeResponse(ble.indications[0]!.data), { version: 4, segmentSize: 182, windowSize: 5 });
      equal(transport.sessionCount, 1);
      // The central's first packet: acks the response (0), sequence 0, a whole 3-byte message.
      ble.events!.received(7, Uint8Array.of(0x0d, 0x00, 0x00, 0x03, 0x00, 9, 8, 7));
      equal(received.length, 1);
      bytesEqual(received[0]!.message, "090807");
      deepEqual(received[0]!.peer, { transport: "btp", address: "7", port: 0 });
      transport.send(patternMessage(300, 3), received[0]!.peer);
      const packets = ble.indications.slice(1).map((i) => decodeBtpPacket(i.data));
      equal(packets.length, 2, "300 bytes in two 182-byte segments");
      equal(packets[0]!.ack, 0, "our first segment acknowledges the central's packet 0");
      equal(packets[0]!.sequence, 1, "the handshake response was our packet 0");
      await clock.advance(10);
      transport.close();
      deepEqual(ble.disconnects, [7]);
    }
  });

  test("transport: bad handshakes, early data, unsubscribing, timeouts and extra centrals end connections cleanly", async () => {
    {
      const { ble, transport } = transportSetup();
      ble.events!.connected(1, 23);
      ble.events!.received(1, Uint8Array.of(1, 2, 3));
      deepEqual(ble.disconnects, [1], "garbage instead of a handshake");
      equal(transport.sessionCount, 0);
    }
    {
      const { ble } = transportSetup();
      ble.events!.connected(1, 23);
      ble.subscribe(1);
      ble.events!.received(1, request(23, 4, [3]));
      equal(decodeBtpHandshakeResponse(ble.indications[0]!.data).version, 0, "no common version is answered with 0");
      deepEqual(ble.disconnects, [1]);
    }
    {
      const { ble } = transportSetup();
      ble.events!.connected(1, 23);
      ble.events!.received(1, request(23, 4));
      ble.events!.received(1, Uint8Array.of(0x08, 0, 0));
      deepEqual(ble.disconnects, [1], "data before the subscription");
    }
    {
      const { ble, closed } = transportSetup();
      ble.events!.connected(1, 23);
      ble.events!.received(1, request(23, 4));
      ble.subscribe(1);
      ble.events!.subscribed(1, false);
      deepEqual(ble.disconnects, [1], "unsubscribed");
      equal(closed.length, 1);
    }
    {
      const { clock, ble } = transportSetup();
      ble.events!.connected(1, 23);
      await clock.advance(15_001);
      deepEqual(ble.disconnects, [1], "no handshake within the connect timeout");
    }
    {
      const { ble, transport, closed } = transportSetup();
      ble.events!.connected(1, 23);
      ble.events!.connected(2, 23);
      deepEqual(ble.disconnects, [2], "a second central while one is connected");
      ble.events!.received(1, request(23, 4));
      ble.subscribe(1);
      ble.events!.received(1, Uint8Array.of(0x08, 0x00, 0x07));
      deepEqual(ble.disconnects, [2, 1], "bad sequence number");
      equal(transport.sessionCount, 0);
      equal(closed.length, 1);
      ble.events!.disconnected(1);
      ble.events!.connected(3, 23);
      ble.events!.received(3, request(23, 4));
      ble.subscribe(3);
      equal(transport.sessionCount, 1, "the next central gets a session");
    }
  });
});
