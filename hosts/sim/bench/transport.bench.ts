// Rows for the message layer: what one protected message costs, and a whole MRP round trip
// (request, response with piggybacked ack, standalone ack) through two exchange managers.
import type { Random } from "../../../src/crypto";
import type { Clock, TimerHandle } from "../../../src/platform";
import {
  ExchangeManager,
  INTERACTION_MODEL_PROTOCOL_ID,
  SessionManager,
  decodeSecuredMessage,
  derivePrivacyKey,
  encodeSecuredMessage,
  type PeerAddress,
  type Transport,
} from "../../../src/transport";
import type { BenchOperation } from "./runner";

function benchRandom(seed: number): Random {
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

/** Timers are recorded, never fired: the round trip completes without them. */
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

/** Queues datagrams; `pump` delivers them until the link is quiet. */
class QueueLink {
  private readonly queue: { to: string; from: string; bytes: Uint8Array }[] = [];
  private readonly receivers = new Map<string, (bytes: Uint8Array, peer: PeerAddress) => void>();

  endpoint(name: string): Transport {
    return {
      name: "bench",
      reliable: false,
      maxMessageSize: 1280,
      send: (bytes, peer) => this.queue.push({ to: peer.address, from: name, bytes }),
      onReceive: (handler) => this.receivers.set(name, handler),
      close: () => this.receivers.delete(name),
    };
  }

  pump(): void {
    for (let packet = this.queue.shift(); packet; packet = this.queue.shift()) {
      this.receivers.get(packet.to)?.(packet.bytes, { transport: "bench", address: packet.from, port: 0 });
    }
  }
}

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i * 7);
const PAYLOAD_100 = Uint8Array.from({ length: 100 }, (_, i) => i);

const operations: BenchOperation[] = [
  {
    name: "secured message encode + decode (100-byte payload)",
    bytesPerRun: 100,
    prepare() {
      const keys = { key: KEY, nonceNodeId: 0x1234n };
      return (run) => {
        const wire = encodeSecuredMessage(
          {
            packetHeader: { sessionId: 0x4321, sessionType: "unicast", messageCounter: run + 1 },
            protocolHeader: { exchangeId: 7, protocolId: INTERACTION_MODEL_PROTOCOL_ID, opcode: 2, initiator: true, needsAck: true },
            payload: PAYLOAD_100,
          },
          keys,
        );
        decodeSecuredMessage(wire, keys);
      };
    },
  },
  {
    name: "secured message with privacy, encode + decode (100-byte payload)",
    bytesPerRun: 100,
    prepare() {
      const keys = { key: KEY, nonceNodeId: 0x1234n, privacyKey: derivePrivacyKey(KEY) };
      return (run) => {
        const wire = encodeSecuredMessage(
          {
            packetHeader: { sessionId: 0x4321, sessionType: "unicast", messageCounter: run + 1, privacy: true },
            protocolHeader: { exchangeId: 7, protocolId: INTERACTION_MODEL_PROTOCOL_ID, opcode: 2, initiator: true, needsAck: true },
            payload: PAYLOAD_100,
          },
          keys,
        );
        decodeSecuredMessage(wire, keys);
      };
    },
  },
  {
    name: "MRP round trip over CASE sessions: request, response + piggybacked ack, standalone ack",
    prepare() {
      const clock = new StillClock();
      const link = new QueueLink();
      const make = (name: string, seed: number) => {
        const random = benchRandom(seed);
        const sessions = new SessionManager({ clock, random });
        const exchanges = new ExchangeManager({ sessions, clock, random });
        exchanges.addTransport(link.endpoint(name));
        return { sessions, exchanges };
      };
      const controller = make("controller", 1);
      const device = make("device", 2);
      const common = { kind: "case" as const, i2rKey: KEY, r2iKey: KEY.map((b) => b ^ 0xff), attestationChallenge: new Uint8Array(16), fabricIndex: 1 };
      const session = controller.sessions.createSecureSession({
        ...common,
        localSessionId: 1,
        peerSessionId: 2,
        isInitiator: true,
        localNodeId: 10n,
        peerNodeId: 20n,
        peerAddress: { transport: "bench", address: "device", port: 0 },
      });
      device.sessions.createSecureSession({
        ...common,
        localSessionId: 2,
        peerSessionId: 1,
        isInitiator: false,
        localNodeId: 20n,
        peerNodeId: 10n,
        peerAddress: { transport: "bench", address: "controller", port: 0 },
      });
      device.exchanges.registerProtocol(INTERACTION_MODEL_PROTOCOL_ID, (exchange, message) => {
        exchange.send(INTERACTION_MODEL_PROTOCOL_ID, 0x05, message.payload);
        exchange.close();
      });
      return () => {
        const exchange = controller.exchanges.initiate(session);
        exchange.send(INTERACTION_MODEL_PROTOCOL_ID, 0x02, PAYLOAD_100);
        link.pump();
        exchange.close();
        link.pump();
        if (controller.exchanges.exchangeCount + device.exchanges.exchangeCount !== 0) throw new Error("round trip left an exchange open");
      };
    },
  },
];

export default operations;
