// Exchanges and MRP over an in-memory lossy link with a manual clock: deterministic timing, on
// Node and inside XS.
import { suite, equal, ok, deepEqual, bytesEqual, rejects, throws } from "../portable/harness";
import {
  DeliveryFailedError,
  ExchangeClosedError,
  ExchangeTimeoutError,
  MRP_STANDALONE_ACK_OPCODE,
  SECURE_CHANNEL_PROTOCOL_ID,
  INTERACTION_MODEL_PROTOCOL_ID,
  SessionClosedError,
  type Exchange,
  type ReceivedMessage,
} from "../../src/transport/exchange";
import { MRP_BACKOFF_BASE, MRP_BACKOFF_JITTER, MRP_BACKOFF_MARGIN, MRP_MAX_TRANSMISSIONS, mrpBackoffMs, mrpWorstCaseDeliveryMs } from "../../src/transport/mrp";
import { SessionCounter } from "../../src/transport/counters";
import { encodePacketHeader, encodeSecuredMessage } from "../../src/transport/message";
import type { SecureSession } from "../../src/transport/session";
import { ManualClock, MemoryLink, makeNode, openPacket, pairSessions, memoryPeer, I2R_KEY, INITIATOR_NODE_ID, type TestNode, type Packet } from "./transport-fixtures";

const IM = INTERACTION_MODEL_PROTOCOL_ID;
const PARAMETERS = { idleIntervalMs: 500, activeIntervalMs: 300, activeThresholdMs: 4000 };

interface World {
  clock: ManualClock;
  link: MemoryLink;
  a: TestNode;
  b: TestNode;
  inbox: { exchange: Exchange; message: ReceivedMessage }[];
}

/** Two nodes with a CASE session pair; b collects the exchanges a opens. */
function world(options: { bMaxExchanges?: number } = {}): World & { sa: SecureSession; sb: SecureSession } {
  const clock = new ManualClock();
  const link = new MemoryLink(clock);
  const a = makeNode(link, "a", 1);
  const b = makeNode(link, "b", 2, options.bMaxExchanges ? { maxExchanges: options.bMaxExchanges } : {});
  const inbox: World["inbox"] = [];
  b.exchanges.registerProtocol(IM, (exchange, message) => inbox.push({ exchange, message }));
  const sessions = pairSessions(a, b, undefined, PARAMETERS);
  return { clock, link, a, b, inbox, sa: sessions.a, sb: sessions.b };
}

function flags(packet: Packet, fromInitiatorNode: boolean) {
  const decoded = openPacket(packet, fromInitiatorNode);
  return {
    counter: decoded.packetHeader.messageCounter,
    opcode: decoded.protocolHeader.opcode,
    protocolId: decoded.protocolHeader.protocolId,
    reliable: decoded.protocolHeader.needsAck,
    acked: decoded.protocolHeader.ackedMessageCounter,
    initiator: decoded.protocolHeader.initiator,
    exchangeId: decoded.protocolHeader.exchangeId,
  };
}

const bytes = (...values: number[]) => new Uint8Array(values);

export default suite("transport exchanges and MRP", (test) => {
  test("request and response: the response piggybacks the ack, closing flushes the last ack", async () => {
    const w = world();
    const exchange = w.a.exchanges.initiate(w.sa);
    exchange.send(IM, 0x02, bytes(1, 2, 3));
    await w.clock.advance(5);
    equal(w.inbox.length, 1);
    const { exchange: served, message } = w.inbox[0]!;
    equal(message.opcode, 0x02);
    bytesEqual(message.payload, bytes(1, 2, 3));
    equal(message.session, w.sb);
    ok(!served.isInitiator && served.id === exchange.id);
    const replyPromise = exchange.nextMessage(5000);
    served.send(IM, 0x05, bytes(9));
    served.close();
    await w.clock.advance(5);
    const reply = await replyPromise;
    equal(reply.opcode, 0x05);
    exchange.close();
    await w.clock.advance(5);
    const toB = w.link.between("a", "b").map((p) => flags(p, true));
    const toA = w.link.between("b", "a").map((p) => flags(p, false));
    equal(toB.length, 2);
    equal(toA.length, 1);
    ok(toB[0]!.reliable && toB[0]!.initiator && toB[0]!.acked === undefined, "request asks for an ack");
    ok(toA[0]!.reliable && !toA[0]!.initiator, "response asks for an ack");
    equal(toA[0]!.acked, toB[0]!.counter, "response carries the ack of the request");
    equal(toB[1]!.opcode, MRP_STANDALONE_ACK_OPCODE, "closing sends the pending ack at once");
    equal(toB[1]!.protocolId, SECURE_CHANNEL_PROTOCOL_ID);
    equal(toB[1]!.acked, toA[0]!.counter);
    ok(!toB[1]!.reliable && toB[1]!.initiator);
    equal(w.a.exchanges.exchangeCount, 0);
    equal(w.b.exchanges.exchangeCount, 0, "the responder's exchange ended when its response was acked");
    equal(w.a.exchanges.retransmissionCount + w.b.exchanges.retransmissionCount, 0);
    equal(w.a.exchanges.stats.retransmissions + w.b.exchanges.stats.retransmissions, 0);
    equal(w.sa.activeExchanges, 0);
  });

  test("a link that delivers inside send: the piggybacked ack still clears the retransmission", async () => {
    const w = world();
    w.link.synchronous = true;
    w.b.exchanges.unregisterProtocol(IM);
    w.b.exchanges.registerProtocol(IM, (exchange) => {
      exchange.send(IM, 0x05, bytes(1));
      exchange.close();
    });
    const exchange = w.a.exchanges.initiate(w.sa);
    exchange.send(IM, 0x02, bytes());
    equal(exchange.awaitingAck, false, "acknowledged by the response before send returned");
    const reply = await exchange.nextMessage(1000);
    equal(reply.opcode, 0x05);
    exchange.close();
    await w.clock.advance(10_000);
    equal(w.a.exchanges.stats.retransmissions + w.b.exchanges.stats.retransmissions, 0);
    equal(w.a.exchanges.exchangeCount + w.b.exchanges.exchangeCount, 0);
  });

  test("without a reply, the standalone ack goes out after 200 ms, and stops retransmission", async () => {
    const w = world();
    const exchange = w.a.exchanges.initiate(w.sa);
    exchange.send(IM, 0x02, bytes());
    await w.clock.advance(1 + 199);
    equal(w.link.between("b", "a").length, 0, "not before the standalone-ack timeout");
    await w.clock.advance(1);
    const acks = w.link.between("b", "a").map((p) => flags(p, false));
    equal(acks.length, 1);
    equal(acks[0]!.opcode, MRP_STANDALONE_ACK_OPCODE);
    equal(acks[0]!.acked, flags(w.link.packets[0]!, true).counter);
    await w.clock.advance(20_000);
    equal(w.link.between("a", "b").length, 1, "acknowledged: never retransmitted");
    equal(exchange.awaitingAck, false);
    equal(w.b.exchanges.stats.standaloneAcksSent, 1);
    equal(w.a.exchanges.stats.acksReceived, 1);
  });

  test("retransmission backoff follows the spec's formula and gives up after 5 transmissions", async () => {
    const w = world();
    w.link.drop = (packet) => packet.from === "a";
    const exchange = w.a.exchanges.initiate(w.sa);
    exchange.send(IM, 0x02, bytes(7));
    const outcome = exchange.nextMessage(60_000).then(
      () => "delivered",
      (error: Error) => error,
    );
    await w.clock.advance(20_000);
    const sent = w.link.between("a", "b");
    equal(sent.length, MRP_MAX_TRANSMISSIONS);
    for (const packet of sent) bytesEqual(packet.bytes, sent[0]!.bytes, "a retransmission repeats the message, counter included");
    // Never heard from b: the idle interval is the base.
    const base = PARAMETERS.idleIntervalMs * MRP_BACKOFF_MARGIN;
    for (let i = 1; i < sent.length; i++) {
      const gap = sent[i]!.at - sent[i - 1]!.at;
      const minimum = base * MRP_BACKOFF_BASE ** Math.max(0, i - 2);
      ok(gap >= minimum - 1e-9 && gap <= minimum * (1 + MRP_BACKOFF_JITTER), `gap ${i}: ${gap} ms not in [${minimum}, ${minimum * 1.25}]`);
    }
    const error = await outcome;
    ok(error instanceof DeliveryFailedError, `got ${String(error)}`);
    equal(w.a.exchanges.stats.deliveryFailures, 1);
    equal(w.a.exchanges.stats.retransmissions, MRP_MAX_TRANSMISSIONS - 1);
    equal(w.a.exchanges.exchangeCount, 0);
    equal(w.a.exchanges.retransmissionCount, 0);
    throws(() => exchange.send(IM, 1, bytes()), /acknowledged/);
    const lastWait = w.clock.now() - sent[sent.length - 1]!.at;
    ok(lastWait > 0);
  });

  test("the active interval is the base once the peer has been heard from", async () => {
    const w = world();
    // b speaks first, so a considers it active.
    const fromB = w.b.exchanges.initiate(w.sb);
    fromB.send(IM, 0x01, bytes(), { reliable: false });
    w.a.exchanges.registerProtocol(IM, (exchange) => exchange.close());
    await w.clock.advance(5);
    w.link.drop = (packet) => packet.from === "a";
    const exchange = w.a.exchanges.initiate(w.sa);
    exchange.send(IM, 0x02, bytes());
    await w.clock.advance(2000);
    const sent = w.link.between("a", "b");
    ok(sent.length >= 3);
    const gap = sent[1]!.at - sent[0]!.at;
    const minimum = PARAMETERS.activeIntervalMs * MRP_BACKOFF_MARGIN;
    ok(gap >= minimum && gap <= minimum * 1.25, `gap ${gap} with an active peer`);
    exchange.abort();
  });

  test("backoff bounds for every attempt and the worst-case delivery time", () => {
    for (const base of [300, 500, 3_600_000]) {
      for (let n = 0; n < MRP_MAX_TRANSMISSIONS; n++) {
        const low = mrpBackoffMs(base, n, 0);
        const high = mrpBackoffMs(base, n, 0.999999);
        const expected = base * 1.1 * 1.6 ** Math.max(0, n - 1);
        ok(Math.abs(low - expected) < 1e-6 * expected, `minimum for base ${base}, n ${n}`);
        ok(high < expected * 1.25 && high > expected * 1.2499, `maximum for base ${base}, n ${n}`);
      }
    }
    equal(mrpWorstCaseDeliveryMs(PARAMETERS, true), Math.ceil(300 * 1.1 * 1.25 * (1 + 1 + 1.6 + 2.56 + 4.096)));
  });

  test("a lost message is retransmitted and delivered exactly once", async () => {
    const w = world();
    w.link.drop = (packet, index) => packet.from === "a" && index < 2;
    const exchange = w.a.exchanges.initiate(w.sa);
    exchange.send(IM, 0x02, bytes(1));
    await w.clock.advance(3000);
    equal(w.inbox.length, 1);
    equal(w.link.between("a", "b").length, 3);
    equal(exchange.awaitingAck, false);
    equal(w.b.exchanges.stats.dropped.duplicate, 0);
  });

  test("a duplicate (ack lost) is acknowledged again at once and not delivered twice", async () => {
    const w = world();
    w.link.drop = (packet) => packet.from === "b" && w.link.between("b", "a").length === 0;
    const exchange = w.a.exchanges.initiate(w.sa);
    exchange.send(IM, 0x02, bytes(1));
    await w.clock.advance(3000);
    equal(w.inbox.length, 1, "delivered once");
    equal(w.b.exchanges.stats.dropped.duplicate, 1);
    const acks = w.link.between("b", "a");
    equal(acks.length, 2, "the delayed standalone ack (lost), then an immediate one for the duplicate");
    const retransmission = w.link.between("a", "b")[1]!;
    ok(acks[1]!.at - retransmission.at <= w.link.latencyMs, "the duplicate is acknowledged without waiting");
    equal(exchange.awaitingAck, false);
    equal(w.b.exchanges.stats.delivered, 1);
  });

  test("replayed, tampered, unknown-session and malformed messages are dropped and counted", async () => {
    const w = world();
    const exchange = w.a.exchanges.initiate(w.sa);
    exchange.send(IM, 0x02, bytes(1));
    await w.clock.advance(300);
    equal(w.inbox.length, 1);
    const original = w.link.between("a", "b")[0]!.bytes;
    const sentBefore = w.link.between("b", "a").length;

    w.link.inject("a", "b", original);
    await w.clock.advance(5);
    equal(w.inbox.length, 1, "a replay is not delivered");
    equal(w.b.exchanges.stats.dropped.duplicate, 1);
    equal(w.link.between("b", "a").length, sentBefore + 1, "but it asked for an ack, so it gets one");

    const tampered = original.slice();
    tampered[tampered.length - 20]! ^= 0x40;
    w.link.inject("a", "b", tampered);
    const wrongSession = original.slice();
    wrongSession[1] = 0x99;
    wrongSession[2] = 0x99;
    w.link.inject("a", "b", wrongSession);
    w.link.inject("a", "b", bytes(0x70, 0, 0));
    w.link.inject("a", "b", new Uint8Array(2000));
    w.link.inject("a", "b", encodePacketHeader({ sessionId: 5, sessionType: "group", messageCounter: 1, sourceNodeId: 1n, destinationGroupId: 1 }));
    await w.clock.advance(5);
    const dropped = w.b.exchanges.stats.dropped;
    equal(dropped.decryptFailed, 1);
    equal(dropped.unknownSession, 1);
    equal(dropped.malformed, 1);
    equal(dropped.oversize, 1);
    equal(dropped.group, 1);
    equal(w.inbox.length, 1);
    equal(w.link.between("b", "a").length, sentBefore + 1, "no reply to any of them");
  });

  test("a counter rollover attempt from the peer is dropped as a replay", async () => {
    const w = world();
    const forge = (counter: number) =>
      encodeSecuredMessage(
        {
          packetHeader: { sessionId: w.sb.localSessionId, sessionType: "unicast", messageCounter: counter },
          protocolHeader: { exchangeId: 0x100 + (counter & 0xff), protocolId: IM, opcode: 2, initiator: true, needsAck: false },
          payload: bytes(),
        },
        { key: I2R_KEY, nonceNodeId: INITIATOR_NODE_ID },
      );
    w.link.inject("a", "b", forge(0xfffffffe));
    w.link.inject("a", "b", forge(0xffffffff));
    await w.clock.advance(5);
    equal(w.inbox.length, 2);
    w.link.inject("a", "b", forge(0));
    w.link.inject("a", "b", forge(1));
    await w.clock.advance(5);
    equal(w.inbox.length, 2, "wrapped counters are refused");
    equal(w.b.exchanges.stats.dropped.duplicate, 2);
    for (const { exchange } of w.inbox) exchange.close();
  });

  test("our counter's exhaustion expires the session", async () => {
    const w = world();
    const removed: string[] = [];
    w.a.sessions.onRemoved((_session, reason) => removed.push(reason));
    (w.sa as { counter: SessionCounter }).counter = new SessionCounter(0xfffffffe);
    const exchange = w.a.exchanges.initiate(w.sa);
    exchange.send(IM, 1, bytes(), { reliable: false });
    exchange.send(IM, 2, bytes(), { reliable: false });
    const error = throws(() => exchange.send(IM, 3, bytes(), { reliable: false }), /exhausted/);
    ok(error instanceof SessionClosedError);
    deepEqual(removed, ["counter-exhausted"]);
    equal(w.a.sessions.count, 0);
    await w.clock.advance(5);
    equal(w.b.exchanges.stats.delivered, 2, "the last counter was still usable");
  });

  test("unsolicited messages without a handler, and messages for unknown exchanges, are acknowledged and dropped", async () => {
    const w = world();
    const exchange = w.a.exchanges.initiate(w.sa);
    exchange.send(0x0042, 0x01, bytes());
    await w.clock.advance(5);
    equal(w.b.exchanges.stats.dropped.noHandler, 1);
    const ack = w.link.between("b", "a").map((p) => flags(p, false));
    equal(ack.length, 1);
    equal(ack[0]!.opcode, MRP_STANDALONE_ACK_OPCODE, "acked at once so that the sender stops");
    equal(ack[0]!.exchangeId, exchange.id);
    equal(ack[0]!.initiator, false);
    equal(exchange.awaitingAck, false);
    // A responder's message (initiator flag clear) for an exchange b never had.
    w.link.inject(
      "a",
      "b",
      encodeSecuredMessage(
        {
          packetHeader: { sessionId: w.sb.localSessionId, sessionType: "unicast", messageCounter: flags(w.link.packets[0]!, true).counter + 1 },
          protocolHeader: { exchangeId: 0x4242, protocolId: IM, opcode: 2, initiator: false, needsAck: true },
          payload: bytes(),
        },
        { key: I2R_KEY, nonceNodeId: INITIATOR_NODE_ID },
      ),
    );
    await w.clock.advance(5);
    equal(w.b.exchanges.stats.dropped.unknownExchange, 1);
    const second = w.link.between("b", "a").map((p) => flags(p, false));
    equal(second.length, 2);
    equal(second[1]!.exchangeId, 0x4242);
    equal(second[1]!.initiator, true, "the ack speaks for the exchange's initiator side");
    equal(w.b.exchanges.exchangeCount, 0);
    equal(w.inbox.length, 0);
    exchange.close();
  });

  test("exchanges are bounded: a message that finds no room is not acknowledged, and gets in later", async () => {
    const w = world({ bMaxExchanges: 2 });
    const exchanges = [0, 1, 2].map(() => w.a.exchanges.initiate(w.sa));
    exchanges.forEach((exchange, i) => exchange.send(IM, 0x10 + i, bytes(i)));
    await w.clock.advance(5);
    equal(w.inbox.length, 2);
    equal(w.b.exchanges.exchangeCount, 2);
    equal(w.b.exchanges.stats.dropped.exchangeTableFull, 1);
    await w.clock.advance(300);
    ok(exchanges[2]!.awaitingAck, "the refused message is still awaiting its ack");
    ok(!exchanges[0]!.awaitingAck && !exchanges[1]!.awaitingAck);
    w.inbox[0]!.exchange.close();
    await w.clock.advance(2000);
    equal(w.inbox.length, 3, "its retransmission found room");
    equal(w.inbox[2]!.message.opcode, 0x12);
    ok(!exchanges[2]!.awaitingAck);
    throws(() => {
      for (let i = 0; i < 20; i++) w.a.exchanges.initiate(w.sa);
    }, /exchanges in use/);
  });

  test("one reliable message at a time; close lingers until the ack; timeouts leave the exchange usable", async () => {
    const w = world();
    w.link.drop = (packet, index) => packet.from === "b" && index < 3;
    const exchange = w.a.exchanges.initiate(w.sa);
    exchange.send(IM, 0x01, bytes());
    throws(() => exchange.send(IM, 0x02, bytes()), /awaiting its ack/);
    exchange.send(IM, 0x03, bytes(), { reliable: false });
    await rejects(async () => {
      const pending = exchange.nextMessage(100);
      await w.clock.advance(100);
      await pending;
    }, /within 100 ms/);
    ok(exchange.isOpen, "a timeout does not close the exchange");
    exchange.close();
    await rejects(() => exchange.nextMessage(10), /closed/);
    throws(() => exchange.send(IM, 4, bytes()), /closed/);
    equal(w.a.exchanges.exchangeCount, 1, "lingers while its message awaits an ack");
    await w.clock.advance(5000);
    equal(w.a.exchanges.exchangeCount, 0);
    equal(w.a.exchanges.stats.deliveryFailures, 0, "the ack arrived");
    const error = await exchange.nextMessage(1).catch((e: Error) => e);
    ok(error instanceof ExchangeClosedError);
    const timeout = await (async () => {
      const other = w.a.exchanges.initiate(w.sa);
      const pending = other.nextMessage(50).catch((e: Error) => e);
      await w.clock.advance(60);
      other.close();
      return pending;
    })();
    ok(timeout instanceof ExchangeTimeoutError);
  });

  test("removing a session fails its exchanges and drops their retransmissions", async () => {
    const w = world();
    w.link.drop = () => true;
    const exchange = w.a.exchanges.initiate(w.sa);
    exchange.send(IM, 0x01, bytes());
    const waiting = exchange.nextMessage(60_000).catch((e: Error) => e);
    equal(w.a.exchanges.retransmissionCount, 1);
    w.a.sessions.remove(w.sa.localSessionId);
    const error = await waiting;
    ok(error instanceof SessionClosedError, String(error));
    equal(w.a.exchanges.retransmissionCount, 0);
    equal(w.a.exchanges.exchangeCount, 0);
    throws(() => w.a.exchanges.initiate(w.sa), /removed/);
    await w.clock.advance(10_000);
    equal(w.link.between("a", "b").length, 1, "nothing retransmitted after removal");
    equal(w.clock.pendingTimers, 0, "no timer left behind");
  });

  test("a fresh authenticated message from a new address moves the session there; forgeries and replays do not", async () => {
    const w = world();
    w.link.endpoint("a-moved");
    const exchange = w.a.exchanges.initiate(w.sa);
    exchange.send(IM, 0x01, bytes(), { reliable: false });
    const packet = w.link.packets[0]!;
    w.link.packets.length = 0;
    await w.clock.advance(5);
    const moved = encodeSecuredMessage(
      {
        packetHeader: { sessionId: w.sb.localSessionId, sessionType: "unicast", messageCounter: flags(packet, true).counter + 1 },
        protocolHeader: { exchangeId: 77, protocolId: IM, opcode: 2, initiator: true, needsAck: true },
        payload: bytes(),
      },
      { key: I2R_KEY, nonceNodeId: INITIATOR_NODE_ID },
    );
    w.link.inject("a-moved", "b", moved);
    await w.clock.advance(300);
    deepEqual(w.sb.peerAddress, memoryPeer("a-moved"));
    equal(w.link.between("b", "a-moved").length, 1, "the ack went to the new address");
    // A forged message from elsewhere does not move it.
    const forged = moved.slice();
    forged[10]! ^= 1;
    w.link.inject("evil", "b", forged);
    // Nor does a replay of an authentic one.
    w.link.inject("evil", "b", moved);
    await w.clock.advance(5);
    deepEqual(w.sb.peerAddress, memoryPeer("a-moved"));
    equal(w.b.exchanges.stats.dropped.duplicate, 1);
  });

  test("a handler that throws or rejects gets its exchange aborted and logged", async () => {
    const clock = new ManualClock();
    const link = new MemoryLink(clock);
    const logged: string[] = [];
    const a = makeNode(link, "a", 1);
    const b = makeNode(link, "b", 2, { log: (_level, message) => logged.push(message) });
    const sessions = pairSessions(a, b, undefined, PARAMETERS);
    let seen = 0;
    b.exchanges.registerProtocol(IM, (exchange, message) => {
      seen++;
      if (message.opcode === 1) throw new Error("sync failure");
      return (async () => {
        await exchange.nextMessage(1000).catch(() => undefined);
        throw new Error("async failure");
      })();
    });
    a.exchanges.initiate(sessions.a).send(IM, 1, bytes(), { reliable: false });
    a.exchanges.initiate(sessions.a).send(IM, 2, bytes(), { reliable: false });
    await clock.advance(1500);
    equal(seen, 2);
    equal(b.exchanges.exchangeCount, 0, "both exchanges were aborted");
    equal(logged.filter((line) => /sync failure|async failure/.test(line)).length, 2);
  });

  test("unsecured handshake sessions: ephemeral initiator node id out, destination node id back", async () => {
    const w = world();
    const served: { exchange: Exchange; message: ReceivedMessage }[] = [];
    w.b.exchanges.registerProtocol(SECURE_CHANNEL_PROTOCOL_ID, (exchange, message) => served.push({ exchange, message }));
    const session = w.a.sessions.createUnsecuredSession(memoryPeer("b"));
    const exchange = w.a.exchanges.initiate(session);
    exchange.send(SECURE_CHANNEL_PROTOCOL_ID, 0x20, bytes(0x15, 0x18));
    await w.clock.advance(5);
    equal(served.length, 1);
    const responderSession = served[0]!.message.session;
    equal(responderSession.kind, "unsecured");
    equal(responderSession.kind === "unsecured" && responderSession.initiatorNodeId, session.initiatorNodeId);
    equal(served[0]!.message.packetHeader.sourceNodeId, session.initiatorNodeId);
    equal(served[0]!.message.packetHeader.destinationNodeId, undefined);
    const reply = exchange.nextMessage(5000);
    served[0]!.exchange.send(SECURE_CHANNEL_PROTOCOL_ID, 0x21, bytes(0x18));
    await w.clock.advance(5);
    const received = await reply;
    equal(received.opcode, 0x21);
    equal(received.packetHeader.destinationNodeId, session.initiatorNodeId);
    equal(received.packetHeader.sourceNodeId, undefined);
    equal(received.protocolHeader.ackedMessageCounter, served[0]!.message.packetHeader.messageCounter);
    // A reply addressed to an ephemeral id nobody uses is dropped.
    const other = w.b.sessions.unsecuredForInitiator(memoryPeer("a"), 0x5555n)!;
    const orphan = w.b.exchanges.initiate(other);
    orphan.send(SECURE_CHANNEL_PROTOCOL_ID, 0x22, bytes(), { reliable: false });
    await w.clock.advance(5);
    equal(w.a.exchanges.stats.dropped.unknownSession, 1);
  });
});
