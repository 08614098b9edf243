// A Matter node for tests, over a real UDP socket: matter.js's message codec for the headers, Node's
// AES-CCM for protection, and a small MRP (acks piggybacked or standalone, retransmissions,
// duplicate detection). Independent of the firmware's transport, and open at every layer so that
// tests can forge, replay and tamper with messages.
import { createSocket, type Socket } from "node:dgram";
import { MessageCodec, SessionType, type Message } from "@matter/protocol";
import { ccmDecrypt, ccmEncrypt, concat, random, u64le } from "./node-crypto";

export interface Endpoint {
  address: string;
  port: number;
}

export const SECURE_CHANNEL = 0x0000;
export const STANDALONE_ACK = 0x10;
export const STATUS_REPORT = 0x40;

export interface UnsecuredContext {
  kind: "unsecured";
  /** The handshake initiator's ephemeral node id (ours when we initiated). */
  initiatorNodeId: bigint;
  weInitiated: boolean;
  remote: Endpoint;
  seen: Set<number>;
}

export interface SecureContext {
  kind: "secure";
  localSessionId: number;
  peerSessionId: number;
  encryptKey: Uint8Array;
  decryptKey: Uint8Array;
  /** Node ids in the nonces: 0 for PASE, operational ids for CASE. */
  localNodeId: bigint;
  peerNodeId: bigint;
  /** The next counter we send; tests may set it. */
  nextCounter: number;
  remote: Endpoint;
  seen: Set<number>;
}

export type SessionContext = UnsecuredContext | SecureContext;

export interface InboundMessage {
  session: SessionContext;
  counter: number;
  exchangeId: number;
  fromInitiator: boolean;
  protocolId: number;
  opcode: number;
  payload: Uint8Array;
  ackedCounter: number | undefined;
  requiresAck: boolean;
  raw: Uint8Array;
}

export interface SendOptions {
  reliable?: boolean;
  /** Counter to use instead of the session's next one (replays, rollover attempts). */
  counter?: number;
}

interface Pending {
  counter: number;
  bytes: Uint8Array;
  attempts: number;
  timer: NodeJS.Timeout;
}

const MRP_INTERVAL_MS = 300;
const MRP_MAX_TRANSMISSIONS = 5;
const STANDALONE_ACK_DELAY_MS = 100;

export class TestExchange {
  readonly queue: InboundMessage[] = [];
  private waiter: { resolve: (message: InboundMessage) => void; reject: (error: Error) => void; timer: NodeJS.Timeout } | undefined;
  /** Counter of the peer's message we still owe an ack for. */
  pendingAck: number | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  pending: Pending | undefined;
  failure: Error | undefined;
  private closing = false;

  constructor(
    readonly peer: TestPeer,
    readonly session: SessionContext,
    readonly id: number,
    readonly weInitiated: boolean,
  ) {}

  send(protocolId: number, opcode: number, payload: Uint8Array, options: SendOptions = {}): Uint8Array {
    const reliable = options.reliable ?? true;
    const acked = this.pendingAck;
    this.pendingAck = undefined;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    const { bytes, counter } = this.peer.encode(this.session, {
      exchangeId: this.id,
      protocolId,
      opcode,
      initiator: this.weInitiated,
      requiresAck: reliable,
      ackedCounter: acked,
      payload,
      ...(options.counter !== undefined ? { counter: options.counter } : {}),
    });
    this.peer.transmit(bytes, this.session.remote);
    if (reliable) {
      if (this.pending) clearTimeout(this.pending.timer);
      const pending: Pending = { counter, bytes, attempts: 1, timer: setTimeout(() => this.retransmit(pending), MRP_INTERVAL_MS) };
      this.pending = pending;
    }
    return bytes;
  }

  /** The next message on this exchange (never duplicates or standalone acks). */
  next(timeoutMs = 5000): Promise<InboundMessage> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no message on exchange ${this.id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = { resolve, reject, timer };
    });
  }

  /** Sends the ack we owe now, alone. */
  flushAck(): void {
    if (this.pendingAck === undefined) return;
    const counter = this.pendingAck;
    this.pendingAck = undefined;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.peer.sendStandaloneAck(this.session, this.id, this.weInitiated, counter);
  }

  /** Flushes the ack we owe; the exchange stays until our last reliable message is acknowledged or given up. */
  close(): void {
    this.flushAck();
    this.closing = true;
    if (this.waiter) clearTimeout(this.waiter.timer);
    this.waiter = undefined;
    if (!this.pending) this.peer.forget(this);
  }

  /** Stops at once (peer shutdown). */
  abort(): void {
    if (this.pending) clearTimeout(this.pending.timer);
    this.pending = undefined;
    this.close();
  }

  /** @internal */
  deliver(message: InboundMessage): void {
    if (message.requiresAck) {
      if (this.pendingAck !== undefined && this.pendingAck !== message.counter) this.flushAck();
      this.pendingAck = message.counter;
      if (this.ackTimer) clearTimeout(this.ackTimer);
      this.ackTimer = setTimeout(() => this.flushAck(), STANDALONE_ACK_DELAY_MS);
    }
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      clearTimeout(waiter.timer);
      waiter.resolve(message);
    } else {
      this.queue.push(message);
    }
  }

  /** @internal */
  acknowledged(counter: number): void {
    if (this.pending?.counter === counter) {
      clearTimeout(this.pending.timer);
      this.pending = undefined;
      if (this.closing) this.peer.forget(this);
    }
  }

  private retransmit(pending: Pending): void {
    if (this.pending !== pending) return;
    if (pending.attempts >= MRP_MAX_TRANSMISSIONS) {
      this.pending = undefined;
      this.failure = new Error(`message ${pending.counter} never acknowledged`);
      if (this.closing) this.peer.forget(this);
      if (this.waiter) {
        clearTimeout(this.waiter.timer);
        this.waiter.reject(this.failure);
        this.waiter = undefined;
      }
      return;
    }
    pending.attempts++;
    this.peer.transmit(pending.bytes, this.session.remote);
    pending.timer = setTimeout(() => this.retransmit(pending), MRP_INTERVAL_MS * 1.6 ** (pending.attempts - 1));
  }
}

export interface EncodeRequest {
  exchangeId: number;
  protocolId: number;
  opcode: number;
  initiator: boolean;
  requiresAck: boolean;
  ackedCounter: number | undefined;
  payload: Uint8Array;
  counter?: number;
}

export class TestPeer {
  /** Every datagram received, decoded where a session was found. */
  readonly inbound: InboundMessage[] = [];
  readonly undecodable: Uint8Array[] = [];
  readonly outbound: Uint8Array[] = [];
  /** While set, everything received is ignored (a peer that has gone away). */
  deaf = false;
  private closed = false;
  /** Unsolicited exchanges opened by the other side. */
  onUnsolicited: ((exchange: TestExchange, message: InboundMessage) => void) | undefined;
  private readonly secure = new Map<number, SecureContext>();
  private readonly unsecured: UnsecuredContext[] = [];
  private readonly exchanges = new Map<string, TestExchange>();
  private unsecuredCounter = new DataView(random(4).buffer).getUint32(0, true) & 0x0fffffff;
  private nextExchangeId = new DataView(random(2).buffer).getUint16(0, true);

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
  ) {
    socket.on("message", (message, remote) => this.receive(new Uint8Array(message), { address: remote.address, port: remote.port }));
  }

  static async open(address = "127.0.0.1"): Promise<TestPeer> {
    const socket = createSocket(address.includes(":") ? "udp6" : "udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, address, () => resolve());
    });
    return new TestPeer(socket, socket.address().port);
  }

  close(): void {
    for (const exchange of [...this.exchanges.values()]) exchange.abort();
    this.closed = true;
    this.socket.close();
  }

  /** A handshake session we start with `remote`, under a fresh ephemeral node id. */
  unsecuredSession(remote: Endpoint): UnsecuredContext {
    const id = new DataView(random(8).buffer).getBigUint64(0, true) | 1n;
    const context: UnsecuredContext = { kind: "unsecured", initiatorNodeId: id, weInitiated: true, remote, seen: new Set() };
    this.unsecured.push(context);
    return context;
  }

  addSecureSession(context: Omit<SecureContext, "kind" | "seen" | "nextCounter"> & { nextCounter?: number }): SecureContext {
    const session: SecureContext = {
      kind: "secure",
      seen: new Set(),
      nextCounter: (new DataView(random(4).buffer).getUint32(0, true) & 0x0fffffff) + 1,
      ...context,
    };
    this.secure.set(session.localSessionId, session);
    return session;
  }

  removeSecureSession(session: SecureContext): void {
    this.secure.delete(session.localSessionId);
  }

  exchange(session: SessionContext): TestExchange {
    const id = this.nextExchangeId;
    this.nextExchangeId = (id + 1) & 0xffff;
    const exchange = new TestExchange(this, session, id, true);
    this.exchanges.set(this.key(session, id, true), exchange);
    return exchange;
  }

  /** Builds a message without sending it. */
  encode(session: SessionContext, request: EncodeRequest): { bytes: Uint8Array; counter: number } {
    if (session.kind === "secure" && request.counter === undefined && session.nextCounter > 0xffffffff) {
      throw new Error("the session's message counter is exhausted");
    }
    const counter = request.counter ?? (session.kind === "secure" ? session.nextCounter++ : this.unsecuredCounter++);
    const message: Message = {
      packetHeader: {
        sessionId: session.kind === "secure" ? session.peerSessionId : 0,
        sessionType: SessionType.Unicast,
        hasPrivacyEnhancements: false,
        isControlMessage: false,
        hasMessageExtensions: false,
        messageId: counter,
        ...(session.kind === "unsecured"
          ? session.weInitiated
            ? { sourceNodeId: session.initiatorNodeId as never }
            : { destNodeId: session.initiatorNodeId as never }
          : {}),
      },
      payloadHeader: {
        exchangeId: request.exchangeId,
        protocolId: request.protocolId,
        messageType: request.opcode,
        isInitiatorMessage: request.initiator,
        requiresAck: request.requiresAck,
        ...(request.ackedCounter !== undefined ? { ackedMessageId: request.ackedCounter } : {}),
        hasSecuredExtension: false,
      },
      payload: request.payload,
    };
    const packet = MessageCodec.encodePayload(message);
    const header = new Uint8Array(MessageCodec.encodePacketHeader(packet.header));
    const body = new Uint8Array(packet.applicationPayload as Uint8Array);
    if (session.kind === "unsecured") return { bytes: concat(header, body), counter };
    const nonce = concat(Uint8Array.of(header[3]!), u32le(counter), u64le(session.localNodeId));
    return { bytes: concat(header, ccmEncrypt(session.encryptKey, nonce, body, header)), counter };
  }

  transmit(bytes: Uint8Array, to: Endpoint): void {
    // Timers of exchanges that were lingering for an acknowledgement may still fire after close.
    if (this.closed) return;
    this.outbound.push(bytes);
    this.socket.send(bytes, to.port, to.address);
  }

  sendStandaloneAck(session: SessionContext, exchangeId: number, weInitiated: boolean, counter: number): void {
    if (session.kind === "secure" && session.nextCounter > 0xffffffff) return;
    const { bytes } = this.encode(session, {
      exchangeId,
      protocolId: SECURE_CHANNEL,
      opcode: STANDALONE_ACK,
      initiator: weInitiated,
      requiresAck: false,
      ackedCounter: counter,
      payload: new Uint8Array(0),
    });
    this.transmit(bytes, session.remote);
  }

  /** Sends one message on a new exchange and waits for the answer. */
  async request(session: SessionContext, protocolId: number, opcode: number, payload: Uint8Array, timeoutMs = 3000): Promise<InboundMessage> {
    const exchange = this.exchange(session);
    try {
      exchange.send(protocolId, opcode, payload);
      return await exchange.next(timeoutMs);
    } finally {
      exchange.close();
    }
  }

  /** Waits until a received message satisfies `predicate` (looking at those already received too). */
  async waitFor(predicate: (message: InboundMessage) => boolean, timeoutMs = 3000, from = 0): Promise<InboundMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.inbound.slice(from).find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error("expected message did not arrive");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** @internal */
  forget(exchange: TestExchange): void {
    this.exchanges.delete(this.key(exchange.session, exchange.id, exchange.weInitiated));
  }

  private key(session: SessionContext, exchangeId: number, weInitiated: boolean): string {
    const sessionKey = session.kind === "secure" ? `s${session.localSessionId}` : `u${session.initiatorNodeId}`;
    return `${sessionKey}/${exchangeId}/${weInitiated}`;
  }

  private receive(bytes: Uint8Array, from: Endpoint): void {
    if (this.deaf) return;
    let decoded: ReturnType<typeof MessageCodec.decodePayload>;
    let session: SessionContext | undefined;
    try {
      const packet = MessageCodec.decodePacket(bytes);
      const header = packet.header;
      if (header.sessionId === 0) {
        const destination = header.destNodeId as bigint | undefined;
        const source = header.sourceNodeId as bigint | undefined;
        if (destination !== undefined) {
          session = this.unsecured.find((candidate) => candidate.weInitiated && candidate.initiatorNodeId === destination);
        } else if (source !== undefined) {
          session = this.unsecured.find((candidate) => !candidate.weInitiated && candidate.initiatorNodeId === source);
          if (!session) {
            session = { kind: "unsecured", initiatorNodeId: source, weInitiated: false, remote: from, seen: new Set() };
            this.unsecured.push(session);
          }
        }
        if (!session) throw new Error("unsecured message for no session of ours");
        decoded = MessageCodec.decodePayload(packet);
      } else {
        const secure = this.secure.get(header.sessionId);
        if (!secure) throw new Error(`message for unknown session ${header.sessionId}`);
        session = secure;
        const headerBytes = bytes.subarray(0, bytes.length - packet.applicationPayload.byteLength);
        const nonce = concat(Uint8Array.of(bytes[3]!), u32le(header.messageId), u64le(secure.peerNodeId));
        const plaintext = ccmDecrypt(secure.decryptKey, nonce, new Uint8Array(packet.applicationPayload as Uint8Array), headerBytes);
        decoded = MessageCodec.decodePayload({ ...packet, applicationPayload: plaintext });
      }
    } catch {
      this.undecodable.push(bytes);
      return;
    }
    const payloadHeader = decoded.payloadHeader;
    const message: InboundMessage = {
      session,
      counter: decoded.packetHeader.messageId,
      exchangeId: payloadHeader.exchangeId,
      fromInitiator: payloadHeader.isInitiatorMessage,
      protocolId: payloadHeader.protocolId,
      opcode: payloadHeader.messageType,
      payload: new Uint8Array(decoded.payload as Uint8Array),
      ackedCounter: payloadHeader.ackedMessageId,
      requiresAck: payloadHeader.requiresAck,
      raw: bytes,
    };
    this.inbound.push(message);
    const exchangeKey = this.key(session, message.exchangeId, !message.fromInitiator);
    let exchange = this.exchanges.get(exchangeKey);
    if (message.ackedCounter !== undefined) exchange?.acknowledged(message.ackedCounter);
    if (session.seen.has(message.counter)) {
      if (message.requiresAck) this.sendStandaloneAck(session, message.exchangeId, !message.fromInitiator, message.counter);
      return;
    }
    session.seen.add(message.counter);
    if (message.protocolId === SECURE_CHANNEL && message.opcode === STANDALONE_ACK) return;
    if (!exchange) {
      if (!message.fromInitiator) {
        if (message.requiresAck) this.sendStandaloneAck(session, message.exchangeId, true, message.counter);
        return;
      }
      exchange = new TestExchange(this, session, message.exchangeId, false);
      this.exchanges.set(exchangeKey, exchange);
      exchange.deliver(message);
      if (this.onUnsolicited) this.onUnsolicited(exchange, exchange.queue.shift()!);
      return;
    }
    exchange.deliver(message);
  }
}

function u32le(value: number): Uint8Array {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value >>> 0);
  return new Uint8Array(out);
}
