// Exchanges (spec 4.10) with MRP (spec 4.12), and the inbound pipeline that feeds them:
//   transport → decode header → find session (unsecured, or secure by session id)
//   → decrypt → replay window → acks and MRP → the exchange, or a protocol's handler.
// Every message dropped on the way is counted in `stats.dropped`.
//
// Handshakes and other protocols talk through Exchange objects:
//   const exchange = exchanges.initiate(session);
//   exchange.send(SECURE_CHANNEL_PROTOCOL_ID, opcode, payload);
//   const reply = await exchange.nextMessage(exchange.responseTimeoutMs(processingMs));
//   exchange.close();
// and register for the messages that open an exchange from the peer's side:
//   exchanges.registerProtocol(SECURE_CHANNEL_PROTOCOL_ID, (exchange, first) => { ... });
// All timing uses the platform clock (XS hosts own their timers).
import type { Random } from "../crypto";
import type { Clock, LogLevel, TimerHandle } from "../platform";
import { CounterExhaustedError } from "./counters";
import {
  MessageError,
  decodeMessagePrefix,
  decodeSecuredMessage,
  decodeUnsecuredMessage,
  encodeSecuredMessage,
  encodeUnsecuredMessage,
  type DecodedMessage,
  type DecodedPacketHeader,
  type PacketHeader,
  type ProtocolHeader,
} from "./message";
import {
  DEFAULT_MAX_RETRANSMISSIONS,
  MRP_MAX_TRANSMISSIONS,
  MRP_STANDALONE_ACK_TIMEOUT_MS,
  RetransmissionTable,
  mrpBackoffMs,
  mrpBaseIntervalMs,
  mrpWorstCaseDeliveryMs,
  type RetransmissionEntry,
} from "./mrp";
import type { Session, SessionManager, SessionRemovalReason } from "./session";
import { describePeer, peerKey, type PeerAddress, type Transport } from "./transport";

export const SECURE_CHANNEL_PROTOCOL_ID = 0x0000;
export const INTERACTION_MODEL_PROTOCOL_ID = 0x0001;
export const BDX_PROTOCOL_ID = 0x0002;
export const USER_DIRECTED_COMMISSIONING_PROTOCOL_ID = 0x0003;
/** Secure channel opcode of MRP's standalone acknowledgement. */
export const MRP_STANDALONE_ACK_OPCODE = 0x10;

/** Open exchanges at once (CHIP's default is 16; each is small, but bounds handler state). */
export const DEFAULT_MAX_EXCHANGES = 16;
/** Messages an exchange holds for a reader that has not asked yet; more are refused unacknowledged. */
export const EXCHANGE_QUEUE_LENGTH = 4;

export class ExchangeError extends Error {
  override name = "ExchangeError";
}
/** The exchange was closed (locally, or because the manager shut down). */
export class ExchangeClosedError extends ExchangeError {
  override name = "ExchangeClosedError";
}
/** nextMessage waited longer than its timeout. */
export class ExchangeTimeoutError extends ExchangeError {
  override name = "ExchangeTimeoutError";
}
/** A reliable message went unacknowledged after MRP_MAX_TRANSMISSIONS transmissions. */
export class DeliveryFailedError extends ExchangeError {
  override name = "DeliveryFailedError";
}
/** The exchange's session was removed (evicted, expired, closed). */
export class SessionClosedError extends ExchangeError {
  override name = "SessionClosedError";
}
export class ExchangeTableFullError extends ExchangeError {
  override name = "ExchangeTableFullError";
}

export interface ReceivedMessage {
  protocolId: number;
  vendorId: number;
  opcode: number;
  payload: Uint8Array;
  exchangeId: number;
  session: Session;
  peerAddress: PeerAddress;
  packetHeader: DecodedPacketHeader;
  protocolHeader: ProtocolHeader;
}

export interface SendOptions {
  /** Ask for an MRP acknowledgement (default true; never over a reliable transport). */
  reliable?: boolean;
  vendorId?: number;
  /** Obfuscate the header with the session's privacy key (secure sessions only). */
  privacy?: boolean;
}

/**
 * Called for a message that opens an exchange (initiator flag set, no such exchange yet). A
 * handler may be async: if its promise rejects, the error is logged and the exchange aborted.
 */
export type UnsolicitedHandler = (exchange: Exchange, message: ReceivedMessage) => unknown;

export interface TransportStats {
  received: number;
  delivered: number;
  sent: number;
  retransmissions: number;
  standaloneAcksSent: number;
  acksReceived: number;
  deliveryFailures: number;
  dropped: {
    oversize: number;
    malformed: number;
    group: number;
    control: number;
    unknownSession: number;
    sessionTableFull: number;
    decryptFailed: number;
    duplicate: number;
    unknownExchange: number;
    noHandler: number;
    exchangeTableFull: number;
    exchangeQueueFull: number;
    exchangeClosed: number;
  };
}

const DROP_REASONS: (keyof TransportStats["dropped"])[] = [
  "oversize",
  "malformed",
  "group",
  "control",
  "unknownSession",
  "sessionTableFull",
  "decryptFailed",
  "duplicate",
  "unknownExchange",
  "noHandler",
  "exchangeTableFull",
  "exchangeQueueFull",
  "exchangeClosed",
];

function newStats(): TransportStats {
  return {
    received: 0,
    delivered: 0,
    sent: 0,
    retransmissions: 0,
    standaloneAcksSent: 0,
    acksReceived: 0,
    deliveryFailures: 0,
    dropped: Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as TransportStats["dropped"],
  };
}

type ExchangeState = "open" | "closing" | "closed";

interface Waiter {
  resolve: (message: ReceivedMessage) => void;
  reject: (error: Error) => void;
  timer: TimerHandle | undefined;
}

export class Exchange {
  /** True once a message from the peer arrived on this exchange (MRP then assumes it active). */
  heardFromPeer = false;
  private state: ExchangeState = "open";
  private readonly queue: ReceivedMessage[] = [];
  private waiter: Waiter | undefined;
  private failure: Error | undefined;
  /** @internal counter of a received message still to be acknowledged, and when at the latest. */
  pendingAck: { counter: number; deadlineMs: number } | undefined;

  /** @internal made by ExchangeManager.initiate or for an unsolicited message */
  constructor(
    private readonly manager: ExchangeManager,
    readonly session: Session,
    readonly id: number,
    readonly isInitiator: boolean,
  ) {}

  get isOpen(): boolean {
    return this.state === "open";
  }

  /** True while a reliable message of ours waits for its acknowledgement. */
  get awaitingAck(): boolean {
    return this.manager.awaitingAck(this);
  }

  /**
   * Sends a message on this exchange, piggybacking a pending acknowledgement. Reliable by default;
   * only one reliable message may await its acknowledgement at a time (spec 4.12.5.1).
   */
  send(protocolId: number, opcode: number, payload: Uint8Array, options: SendOptions = {}): void {
    if (this.state !== "open") throw this.failure ?? new ExchangeClosedError("exchange closed");
    this.manager.sendOnExchange(this, protocolId, opcode, payload, options);
  }

  /**
   * The next message the peer sends on this exchange (duplicates and standalone acks are never
   * delivered). Rejects with ExchangeTimeoutError after `timeoutMs`, DeliveryFailedError when our
   * last reliable message was never acknowledged, SessionClosedError or ExchangeClosedError.
   */
  nextMessage(timeoutMs: number): Promise<ReceivedMessage> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    if (this.state !== "open") return Promise.reject(new ExchangeClosedError("exchange closed"));
    if (this.waiter) return Promise.reject(new ExchangeError("nextMessage already waiting"));
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) return Promise.reject(new RangeError(`timeout ${timeoutMs}`));
    return new Promise<ReceivedMessage>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined };
      waiter.timer = this.manager.clock.setTimer(timeoutMs, () => {
        if (this.waiter !== waiter) return;
        this.waiter = undefined;
        reject(new ExchangeTimeoutError(`exchange ${this.id}: nothing within ${timeoutMs} ms`));
      });
      this.waiter = waiter;
    });
  }

  /**
   * A timeout for nextMessage after a send: MRP's worst case to deliver our message, the peer's
   * `processingMs`, and MRP's worst case for its reply (CHIP's response timeout).
   */
  responseTimeoutMs(processingMs: number): number {
    return this.manager.responseTimeoutMs(this.session, processingMs);
  }

  /**
   * Closes the exchange: a pending acknowledgement goes out now, and the exchange lingers
   * (invisible to protocols) until our last reliable message is acknowledged or given up.
   */
  close(): void {
    if (this.state !== "open") return;
    this.state = "closing";
    this.fail(new ExchangeClosedError("exchange closed"));
    this.manager.closeExchange(this, true);
  }

  /** Closes at once: no acknowledgement flushed, retransmissions dropped. */
  abort(): void {
    if (this.state === "closed") return;
    this.state = "closing";
    this.fail(new ExchangeClosedError("exchange aborted"));
    this.manager.closeExchange(this, false);
  }

  private closedCallbacks: (() => void)[] | undefined;

  /** @internal */
  get queueFull(): boolean {
    return this.queue.length >= EXCHANGE_QUEUE_LENGTH;
  }

  /** @internal */
  get lifecycle(): ExchangeState {
    return this.state;
  }

  /**
   * Calls `callback` once the exchange is fully closed: its last reliable message acknowledged
   * or given up. At once when it already is. For actions that must follow a delivered response
   * (RemoveFabric ends the very session the response travels on).
   */
  onClosed(callback: () => void): void {
    if (this.state === "closed") callback();
    else (this.closedCallbacks ??= []).push(callback);
  }

  /** @internal */
  markClosed(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    const callbacks = this.closedCallbacks;
    this.closedCallbacks = undefined;
    for (const callback of callbacks ?? []) callback();
  }

  /** The pending nextMessage, its timer stopped, if there is one. */
  private takeWaiter(): Waiter | undefined {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter?.timer !== undefined) this.manager.clock.clearTimer(waiter.timer);
    return waiter;
  }

  /** @internal */
  deliver(message: ReceivedMessage): void {
    const waiter = this.takeWaiter();
    if (waiter) waiter.resolve(message);
    else this.queue.push(message);
  }

  /** @internal ends every wait with `error`; later waits see it too. */
  fail(error: Error): void {
    this.failure ??= error;
    this.queue.length = 0;
    this.takeWaiter()?.reject(this.failure);
  }
}

export interface ExchangeManagerOptions {
  sessions: SessionManager;
  clock: Clock;
  random: Random;
  maxExchanges?: number;
  maxRetransmissions?: number;
  log?: (level: LogLevel, message: string) => void;
}

const ALL_TRANSPORTS_MAX = 1280;

export class ExchangeManager {
  readonly stats: TransportStats = newStats();
  readonly clock: Clock;
  readonly sessions: SessionManager;
  readonly maxExchanges: number;
  private readonly random: Random;
  private readonly log: (level: LogLevel, message: string) => void;
  private readonly transports = new Map<string, Transport>();
  private readonly handlers = new Map<number, UnsolicitedHandler>();
  private readonly exchanges = new Map<string, Exchange>();
  private readonly retransmissions: RetransmissionTable<Exchange>;
  private nextExchangeId: number;
  private timer: TimerHandle | undefined;
  private timerDeadline: number | undefined;
  private readonly stopListening: () => void;

  constructor(options: ExchangeManagerOptions) {
    this.sessions = options.sessions;
    this.clock = options.clock;
    this.random = options.random;
    this.log = options.log ?? (() => {});
    this.maxExchanges = options.maxExchanges ?? DEFAULT_MAX_EXCHANGES;
    this.retransmissions = new RetransmissionTable(options.maxRetransmissions ?? DEFAULT_MAX_RETRANSMISSIONS);
    const seed = this.random.bytes(2);
    this.nextExchangeId = seed[0]! | (seed[1]! << 8);
    this.stopListening = this.sessions.onRemoved((session, reason) => this.sessionRemoved(session, reason));
  }

  /** Open exchanges, including closed ones still waiting for their last acknowledgement. */
  get exchangeCount(): number {
    return this.exchanges.size;
  }

  /** Reliable messages awaiting acknowledgement. */
  get retransmissionCount(): number {
    return this.retransmissions.size;
  }

  addTransport(transport: Transport): void {
    if (this.transports.has(transport.name)) throw new ExchangeError(`transport ${transport.name} already attached`);
    this.transports.set(transport.name, transport);
    transport.onReceive((message, peer) => this.receive(message, peer));
  }

  /** Routes messages that open an exchange for `protocolId` (common vendor unless given). */
  registerProtocol(protocolId: number, handler: UnsolicitedHandler, vendorId = 0): void {
    this.handlers.set(vendorId * 0x10000 + protocolId, handler);
  }

  unregisterProtocol(protocolId: number, vendorId = 0): void {
    this.handlers.delete(vendorId * 0x10000 + protocolId);
  }

  /** Starts an exchange as its initiator. */
  initiate(session: Session): Exchange {
    if (session.removed) throw new SessionClosedError("session removed");
    if (this.exchanges.size >= this.maxExchanges) throw new ExchangeTableFullError(`all ${this.maxExchanges} exchanges in use`);
    let id = this.nextExchangeId;
    while (this.exchanges.has(this.keyOf(session, id, true))) id = (id + 1) & 0xffff;
    this.nextExchangeId = (id + 1) & 0xffff;
    return this.register(new Exchange(this, session, id, true));
  }

  /** Stops timers, fails every exchange and detaches from the session manager (transports stay open). */
  close(): void {
    for (const exchange of [...this.exchanges.values()]) {
      exchange.fail(new ExchangeClosedError("exchange manager closed"));
      this.finalize(exchange);
    }
    this.stopTimer();
    this.stopListening();
  }

  /** Handles one inbound message from a transport. Never throws: failures are counted drops. */
  receive(bytes: Uint8Array, peer: PeerAddress): void {
    this.stats.received++;
    const transport = this.transports.get(peer.transport);
    if (bytes.length > (transport?.maxMessageSize ?? ALL_TRANSPORTS_MAX)) return this.drop("oversize", peer);
    try {
      const prefix = decodeMessagePrefix(bytes);
      if (prefix.sessionType === "group") return this.drop("group", peer);
      if (prefix.sessionId === 0) return this.receiveUnsecured(bytes, peer);
      const session = this.sessions.secureSession(prefix.sessionId);
      if (!session) return this.drop("unknownSession", peer, `session ${prefix.sessionId}`);
      if (prefix.control) return this.drop("control", peer);
      let decoded: DecodedMessage;
      try {
        decoded = decodeSecuredMessage(bytes, session.inboundKeys());
      } catch {
        return this.drop("decryptFailed", peer, `session ${prefix.sessionId}`);
      }
      this.dispatch(session, decoded, peer);
    } catch (error) {
      if (error instanceof MessageError) return this.drop("malformed", peer, error.message);
      this.log("error", `from ${describePeer(peer)}: ${(error as Error).message}`);
    }
  }

  private receiveUnsecured(bytes: Uint8Array, peer: PeerAddress): void {
    const decoded = decodeUnsecuredMessage(bytes);
    const header = decoded.packetHeader;
    let session: Session | undefined;
    if (header.sourceNodeId !== undefined && header.destinationNodeId === undefined) {
      // From a handshake's initiator: its first message makes the session.
      session = decoded.protocolHeader.initiator
        ? this.sessions.unsecuredForInitiator(peer, header.sourceNodeId)
        : this.sessions.findUnsecured(peer, header.sourceNodeId, false);
      if (!session) return this.drop(decoded.protocolHeader.initiator ? "sessionTableFull" : "unknownSession", peer);
    } else if (header.destinationNodeId !== undefined && header.sourceNodeId === undefined) {
      // A reply to a handshake we started, addressed to our ephemeral node id.
      session = this.sessions.findUnsecured(peer, header.destinationNodeId, true);
      if (!session) return this.drop("unknownSession", peer, "reply to no handshake");
    } else {
      return this.drop("malformed", peer, "need one of source and destination");
    }
    this.dispatch(session, decoded, peer);
  }

  /** Replay window, acknowledgements, then the exchange or protocol handler (spec 4.12.5.2). */
  private dispatch(session: Session, decoded: DecodedMessage, peer: PeerAddress): void {
    const header = decoded.protocolHeader;
    const counter = decoded.packetHeader.messageCounter;
    const verdict = session.reception.check(counter);
    const standaloneAck = header.protocolId === SECURE_CHANNEL_PROTOCOL_ID && (header.vendorId ?? 0) === 0 && header.opcode === MRP_STANDALONE_ACK_OPCODE;
    const exchange = this.exchanges.get(this.keyOf(session, header.exchangeId, !header.initiator));
    const handler = header.initiator && !exchange ? this.handlers.get((header.vendorId ?? 0) * 0x10000 + header.protocolId) : undefined;

    // Refuse what cannot be taken before the counter is committed, so that the peer's
    // retransmission is not mistaken for a duplicate and the message is not lost.
    if (verdict === "new" && !standaloneAck) {
      if (exchange?.isOpen && exchange.queueFull) return this.drop("exchangeQueueFull", peer);
      if (handler && this.exchanges.size >= this.maxExchanges) return this.drop("exchangeTableFull", peer);
    }
    if (verdict === "new") session.reception.commit(counter);

    const now = this.clock.now();
    session.lastPeerActivityMs = now;
    this.sessions.touch(session);
    // A peer may move (spec 4.13.2.2), but only a fresh authenticated message moves its session:
    // a replay from elsewhere must not redirect the traffic.
    if (verdict === "new" && session.isSecure && peerKey(session.peerAddress) !== peerKey(peer)) session.peerAddress = peer;

    if (header.ackedMessageCounter !== undefined) this.acknowledged(session, header.ackedMessageCounter);

    // Our side of the exchange is the opposite of the sender's.
    const ackAtOnce = () => {
      if (header.needsAck) this.sendStandaloneAck(session, header.exchangeId, !header.initiator, counter, exchange);
    };
    if (verdict === "duplicate") {
      // Spec 4.12.5.2.2: a duplicate is acknowledged again at once, never delivered.
      ackAtOnce();
      return this.drop("duplicate", peer);
    }
    if (standaloneAck) return;

    const message: ReceivedMessage = {
      protocolId: header.protocolId,
      vendorId: header.vendorId ?? 0,
      opcode: header.opcode,
      payload: decoded.payload,
      exchangeId: header.exchangeId,
      session,
      peerAddress: peer,
      packetHeader: decoded.packetHeader,
      protocolHeader: header,
    };

    if (exchange) {
      if (!exchange.isOpen) {
        ackAtOnce();
        return this.drop("exchangeClosed", peer);
      }
      this.accepted(exchange, header.needsAck, counter);
      exchange.deliver(message);
      return;
    }
    if (!header.initiator) {
      ackAtOnce();
      return this.drop("unknownExchange", peer, `exchange ${header.exchangeId}`);
    }
    if (!handler) {
      ackAtOnce();
      return this.drop("noHandler", peer, `protocol ${header.protocolId}`);
    }
    const created = this.register(new Exchange(this, session, header.exchangeId, false));
    this.accepted(created, header.needsAck, counter);
    this.sessions.currentSession = session;
    const failed = (error: unknown) => {
      this.log("error", `protocol ${header.protocolId} handler: ${(error as Error)?.message ?? error}`);
      created.abort();
    };
    try {
      const result = handler(created, message);
      if (result instanceof Promise) result.then(undefined, failed);
    } catch (error) {
      failed(error);
    } finally {
      this.sessions.currentSession = undefined;
    }
  }

  private accepted(exchange: Exchange, needsAck: boolean, counter: number): void {
    if (needsAck) this.scheduleAck(exchange, counter);
    exchange.heardFromPeer = true;
    this.stats.delivered++;
  }

  /** @internal */
  sendOnExchange(exchange: Exchange, protocolId: number, opcode: number, payload: Uint8Array, options: SendOptions): void {
    const session = exchange.session;
    if (session.removed) throw new SessionClosedError("session removed");
    const transport = this.transportFor(session);
    const reliable = (options.reliable ?? true) && !transport.reliable;
    if (reliable && this.retransmissions.pendingFor(exchange)) {
      throw new ExchangeError("previous message still awaiting its ack");
    }
    if (reliable && this.retransmissions.size >= this.retransmissions.capacity) {
      throw new ExchangeError(`all ${this.retransmissions.capacity} retransmission slots in use`);
    }
    const protocolHeader: ProtocolHeader = {
      exchangeId: exchange.id,
      protocolId,
      opcode,
      initiator: exchange.isInitiator,
      needsAck: reliable,
      ...(options.vendorId ? { vendorId: options.vendorId } : {}),
      ...(exchange.pendingAck ? { ackedMessageCounter: exchange.pendingAck.counter } : {}),
    };
    const { bytes, counter } = this.encode(session, protocolHeader, payload, options.privacy === true);
    if (bytes.length > transport.maxMessageSize) throw new ExchangeError(`${bytes.length}-byte message over ${transport.name}'s ${transport.maxMessageSize}`);
    exchange.pendingAck = undefined;
    if (reliable) {
      // Recorded before the datagram leaves: a transport that delivers synchronously may bring
      // the acknowledgement back before transmit returns.
      const now = this.clock.now();
      this.retransmissions.add({
        owner: exchange,
        session,
        messageCounter: counter,
        message: bytes,
        transmissions: 1,
        nextAttemptMs: now + this.backoff(exchange, now, 0),
      });
    }
    this.transmit(transport, session, bytes);
    this.reschedule();
  }

  /** @internal */
  awaitingAck(exchange: Exchange): boolean {
    return this.retransmissions.pendingFor(exchange) !== undefined;
  }

  /** @internal */
  responseTimeoutMs(session: Session, processingMs: number): number {
    const transport = this.transports.get(session.peerAddress.transport);
    if (transport?.reliable) return processingMs;
    const now = this.clock.now();
    return mrpWorstCaseDeliveryMs(session.peerParameters, session.isPeerActive(now)) + processingMs + mrpWorstCaseDeliveryMs(this.sessions.localParameters, true);
  }

  /** @internal */
  closeExchange(exchange: Exchange, graceful: boolean): void {
    if (graceful && exchange.pendingAck) this.sendPendingAck(exchange);
    exchange.pendingAck = undefined;
    if (!graceful) this.retransmissions.removeOwner(exchange);
    if (!this.retransmissions.pendingFor(exchange)) this.finalize(exchange);
    this.reschedule();
  }

  private register(exchange: Exchange): Exchange {
    this.exchanges.set(this.keyOf(exchange.session, exchange.id, exchange.isInitiator), exchange);
    exchange.session.activeExchanges++;
    return exchange;
  }

  private finalize(exchange: Exchange): void {
    const key = this.keyOf(exchange.session, exchange.id, exchange.isInitiator);
    if (this.exchanges.get(key) !== exchange) return;
    this.exchanges.delete(key);
    exchange.session.activeExchanges--;
    exchange.pendingAck = undefined;
    exchange.markClosed();
    this.retransmissions.removeOwner(exchange);
  }

  private keyOf(session: Session, exchangeId: number, isInitiator: boolean): string {
    const sessionKey = session.kind === "unsecured" ? `u:${session.isInitiator ? "i" : "r"}:${session.initiatorNodeId}:${peerKey(session.peerAddress)}` : `s:${session.localSessionId}`;
    return `${sessionKey}/${exchangeId}/${isInitiator ? "i" : "r"}`;
  }

  private transportFor(session: Session): Transport {
    const transport = this.transports.get(session.peerAddress.transport);
    if (!transport) throw new ExchangeError(`no transport ${session.peerAddress.transport}`);
    return transport;
  }

  private encode(session: Session, protocolHeader: ProtocolHeader, payload: Uint8Array, privacy: boolean): { bytes: Uint8Array; counter: number } {
    if (session.kind === "unsecured") {
      const counter = this.sessions.nextUnsecuredCounter();
      const packetHeader: PacketHeader = {
        sessionId: 0,
        sessionType: "unicast",
        messageCounter: counter,
        ...(session.isInitiator ? { sourceNodeId: session.initiatorNodeId } : { destinationNodeId: session.initiatorNodeId }),
      };
      return { bytes: encodeUnsecuredMessage({ packetHeader, protocolHeader, payload }), counter };
    }
    let counter: number;
    try {
      counter = session.counter.next();
    } catch (error) {
      if (error instanceof CounterExhaustedError) {
        // Spec 4.6.1.1: the session's keys may protect no further message.
        this.sessions.remove(session.localSessionId, "counter-exhausted");
        throw new SessionClosedError("message counter exhausted");
      }
      throw error;
    }
    const packetHeader: PacketHeader = { sessionId: session.peerSessionId, sessionType: "unicast", messageCounter: counter, privacy };
    return { bytes: encodeSecuredMessage({ packetHeader, protocolHeader, payload }, session.outboundKeys()), counter };
  }

  private transmit(transport: Transport, session: Session, bytes: Uint8Array): void {
    this.sessions.touch(session);
    this.stats.sent++;
    transport.send(bytes, session.peerAddress);
  }

  private sendStandaloneAck(session: Session, exchangeId: number, weAreInitiator: boolean, counter: number, exchange: Exchange | undefined): void {
    if (session.removed) return;
    if (exchange && exchange.pendingAck?.counter === counter) exchange.pendingAck = undefined;
    try {
      const transport = this.transportFor(session);
      const { bytes } = this.encode(
        session,
        {
          exchangeId,
          protocolId: SECURE_CHANNEL_PROTOCOL_ID,
          opcode: MRP_STANDALONE_ACK_OPCODE,
          initiator: weAreInitiator,
          needsAck: false,
          ackedMessageCounter: counter,
        },
        new Uint8Array(0),
        false,
      );
      this.transmit(transport, session, bytes);
      this.stats.standaloneAcksSent++;
    } catch (error) {
      this.log("warn", `ack on exchange ${exchangeId} not sent: ${(error as Error).message}`);
    }
  }

  private sendPendingAck(exchange: Exchange): void {
    this.sendStandaloneAck(exchange.session, exchange.id, exchange.isInitiator, exchange.pendingAck!.counter, exchange);
  }

  /** Holds the ack for a reply to carry; a different ack still pending goes out on its own first. */
  private scheduleAck(exchange: Exchange, counter: number): void {
    const pending = exchange.pendingAck;
    if (pending && pending.counter !== counter) this.sendPendingAck(exchange);
    exchange.pendingAck = { counter, deadlineMs: this.clock.now() + MRP_STANDALONE_ACK_TIMEOUT_MS };
    this.reschedule();
  }

  private acknowledged(session: Session, counter: number): void {
    const entry = this.retransmissions.acknowledge(session, counter);
    if (!entry) return;
    this.stats.acksReceived++;
    if (entry.owner.lifecycle === "closing") this.finalize(entry.owner);
    this.reschedule();
  }

  private backoff(exchange: Exchange, now: number, retransmissionsSent: number): number {
    const jitter = this.random.bytes(1)[0]! / 256;
    return mrpBackoffMs(mrpBaseIntervalMs(exchange.session, now, exchange.heardFromPeer), retransmissionsSent, jitter);
  }

  /** One platform timer for the earliest standalone ack or retransmission due. */
  private reschedule(): void {
    let next = this.retransmissions.nextAttemptMs();
    for (const exchange of this.exchanges.values()) {
      const deadline = exchange.pendingAck?.deadlineMs;
      if (deadline !== undefined && (next === undefined || deadline < next)) next = deadline;
    }
    if (next === this.timerDeadline) return;
    this.stopTimer();
    this.timerDeadline = next;
    if (next === undefined) return;
    this.timer = this.clock.setTimer(Math.max(0, next - this.clock.now()), () => {
      this.timer = this.timerDeadline = undefined;
      this.onTimer();
    });
  }

  private stopTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = this.timerDeadline = undefined;
  }

  private onTimer(): void {
    const now = this.clock.now();
    for (const exchange of [...this.exchanges.values()]) {
      if (exchange.pendingAck && exchange.pendingAck.deadlineMs <= now) this.sendPendingAck(exchange);
    }
    for (const entry of this.retransmissions.due(now)) this.retransmit(entry, now);
    this.reschedule();
  }

  private retransmit(entry: RetransmissionEntry<Exchange>, now: number): void {
    const exchange = entry.owner;
    if (entry.transmissions >= MRP_MAX_TRANSMISSIONS || entry.session.removed) {
      this.retransmissions.remove(entry);
      this.stats.deliveryFailures++;
      const failure = new DeliveryFailedError(`message ${entry.messageCounter} unacknowledged after ${entry.transmissions} sends`);
      this.log("info", `exchange ${exchange.id}: ${failure.message}`);
      exchange.fail(failure);
      this.finalize(exchange);
      return;
    }
    const transport = this.transports.get(entry.session.peerAddress.transport);
    if (!transport) return this.retransmissions.remove(entry);
    entry.nextAttemptMs = now + this.backoff(exchange, now, entry.transmissions);
    entry.transmissions++;
    this.stats.retransmissions++;
    this.transmit(transport, entry.session, entry.message);
  }

  private sessionRemoved(session: Session, reason: SessionRemovalReason): void {
    for (const exchange of [...this.exchanges.values()]) {
      if (exchange.session !== session) continue;
      exchange.fail(new SessionClosedError(`session removed (${reason})`));
      this.finalize(exchange);
    }
    this.reschedule();
  }

  private drop(reason: keyof TransportStats["dropped"], peer: PeerAddress, detail?: string): void {
    this.stats.dropped[reason]++;
    this.log("debug", `dropped from ${describePeer(peer)}: ${reason} ${detail ?? ""}`);
  }
}
