// Sessions (spec 4.13): the unsecured sessions that carry handshakes, and the bounded table of
// secure unicast sessions (PASE and CASE) keyed by local session id.
//
// Limits, sized for an ESP32 with about 100 KB of heap left to the firmware:
// - 8 secure sessions (CHIP's default pool is 16 on Linux; a device with 5 fabrics needs one
//   CASE session per controller plus room for a PASE session and a resumption),
// - 4 unsecured sessions (handshakes in flight at once; CHIP uses 4 as well).
// When the secure table is full, the least recently used session is evicted; never the one the
// current message arrived on, and never one with an exchange in progress.
import type { Random } from "../crypto";
import type { Clock } from "../platform";
import { ReceptionWindow, RollingCounter, SessionCounter, randomInitialCounter } from "./counters";
import { derivePrivacyKey, type MessageKeys } from "./message";
import { peerKey, type PeerAddress } from "./transport";

export const DEFAULT_MAX_SECURE_SESSIONS = 8;
export const DEFAULT_MAX_UNSECURED_SESSIONS = 4;

/** A peer's MRP timing (spec 4.12.8 / session parameters SII, SAI, SAT of the handshakes). */
export interface SessionParameters {
  /** SESSION_IDLE_INTERVAL: retransmission base while the peer sleeps. */
  idleIntervalMs: number;
  /** SESSION_ACTIVE_INTERVAL: retransmission base while the peer is active. */
  activeIntervalMs: number;
  /** SESSION_ACTIVE_THRESHOLD: how long the peer stays active after it last sent. */
  activeThresholdMs: number;
}

export const DEFAULT_SESSION_PARAMETERS: Readonly<SessionParameters> = Object.freeze({
  idleIntervalMs: 500,
  activeIntervalMs: 300,
  activeThresholdMs: 4000,
});

/** Spec 2.12.x / 4.12.8: SII and SAI are at most one hour, SAT fits 16 bits. */
export const MAX_SESSION_INTERVAL_MS = 3_600_000;
export const MAX_SESSION_ACTIVE_THRESHOLD_MS = 0xffff;

export class SessionError extends Error {
  override name = "SessionError";
}

/** No room in a session table and nothing that may be evicted (a handshake answers Busy). */
export class SessionTableFullError extends SessionError {
  override name = "SessionTableFullError";
}

/** Validates peer parameters from a handshake (a handshake answers InvalidParameter). */
export function checkSessionParameters(parameters: SessionParameters): SessionParameters {
  const { idleIntervalMs, activeIntervalMs, activeThresholdMs } = parameters;
  for (const [name, value, max] of [
    ["idle interval", idleIntervalMs, MAX_SESSION_INTERVAL_MS],
    ["active interval", activeIntervalMs, MAX_SESSION_INTERVAL_MS],
    ["active threshold", activeThresholdMs, MAX_SESSION_ACTIVE_THRESHOLD_MS],
  ] as const) {
    if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`session ${name} ${value} ms is outside 0..${max}`);
  }
  return { idleIntervalMs, activeIntervalMs, activeThresholdMs };
}

export type SessionKind = "unsecured" | "pase" | "case";
export type SessionRemovalReason = "removed" | "evicted" | "counter-exhausted" | "shutdown";

abstract class SessionBase {
  abstract readonly kind: SessionKind;
  /** Where messages go; follows the peer when its authenticated messages come from elsewhere. */
  peerAddress: PeerAddress;
  peerParameters: SessionParameters;
  /** Last send or receive: the eviction order. */
  lastActivityMs: number;
  /** Last message received from the peer: decides active vs idle retransmission intervals. */
  lastPeerActivityMs: number | undefined;
  /** Exchanges open on this session, kept by the exchange manager. */
  activeExchanges = 0;
  /** True once removed from its table: nothing more is sent or delivered. */
  removed = false;
  abstract readonly reception: ReceptionWindow;

  constructor(peerAddress: PeerAddress, peerParameters: SessionParameters | undefined, now: number) {
    this.peerAddress = peerAddress;
    this.peerParameters = checkSessionParameters(peerParameters ?? DEFAULT_SESSION_PARAMETERS);
    this.lastActivityMs = now;
  }

  get isSecure(): boolean {
    return this.kind !== "unsecured";
  }

  /** Spec 4.12.2.1: the peer is active if it sent within its active threshold. */
  isPeerActive(now: number): boolean {
    return this.lastPeerActivityMs !== undefined && now - this.lastPeerActivityMs < this.peerParameters.activeThresholdMs;
  }
}

/**
 * An unsecured session with one peer during a handshake (spec 4.13.2.1), identified by the peer
 * address and the initiator's ephemeral node id. Its messages use the node's global counter.
 */
export class UnsecuredSession extends SessionBase {
  readonly kind = "unsecured";
  readonly reception = new ReceptionWindow("unsecured");

  constructor(
    peerAddress: PeerAddress,
    /** The handshake initiator's random node id (ours when isInitiator). */
    readonly initiatorNodeId: bigint,
    readonly isInitiator: boolean,
    now: number,
  ) {
    super(peerAddress, undefined, now);
  }
}

export interface SecureSessionOptions {
  kind: "pase" | "case";
  localSessionId: number;
  peerSessionId: number;
  i2rKey: Uint8Array;
  r2iKey: Uint8Array;
  attestationChallenge: Uint8Array;
  isInitiator: boolean;
  /** 0n for PASE (no operational identities yet). */
  peerNodeId: bigint;
  localNodeId: bigint;
  /** 0 when the session belongs to no fabric (PASE). */
  fabricIndex: number;
  peerParameters?: SessionParameters;
  caseAuthenticatedTags?: number[];
  /** Where the handshake's peer is: the address its last handshake message came from. */
  peerAddress: PeerAddress;
}

const U64_MAX = (1n << 64n) - 1n;

export class SecureSession extends SessionBase {
  readonly kind: "pase" | "case";
  readonly localSessionId: number;
  readonly peerSessionId: number;
  readonly isInitiator: boolean;
  readonly peerNodeId: bigint;
  readonly localNodeId: bigint;
  readonly fabricIndex: number;
  readonly caseAuthenticatedTags: readonly number[];
  readonly attestationChallenge: Uint8Array;
  readonly counter: SessionCounter;
  readonly reception = new ReceptionWindow("secure-unicast");
  private readonly encryptionKey: Uint8Array;
  private readonly decryptionKey: Uint8Array;
  private encryptionPrivacyKey: Uint8Array | undefined;
  private decryptionPrivacyKey: Uint8Array | undefined;

  constructor(options: SecureSessionOptions, initialCounter: number, now: number) {
    super(options.peerAddress, options.peerParameters, now);
    this.kind = options.kind;
    this.localSessionId = options.localSessionId;
    this.peerSessionId = options.peerSessionId;
    this.isInitiator = options.isInitiator;
    this.peerNodeId = options.peerNodeId;
    this.localNodeId = options.localNodeId;
    this.fabricIndex = options.fabricIndex;
    this.caseAuthenticatedTags = Object.freeze([...(options.caseAuthenticatedTags ?? [])]);
    this.attestationChallenge = options.attestationChallenge.slice();
    // The initiator encrypts with I2R and decrypts with R2I; the responder the other way round.
    this.encryptionKey = (options.isInitiator ? options.i2rKey : options.r2iKey).slice();
    this.decryptionKey = (options.isInitiator ? options.r2iKey : options.i2rKey).slice();
    this.counter = new SessionCounter(initialCounter);
  }

  /** Keys to protect a message to the peer; the nonce carries our node id (0 for PASE). */
  outboundKeys(): MessageKeys {
    this.encryptionPrivacyKey ??= derivePrivacyKey(this.encryptionKey);
    return { key: this.encryptionKey, nonceNodeId: this.kind === "pase" ? 0n : this.localNodeId, privacyKey: this.encryptionPrivacyKey };
  }

  /** Keys to open a message from the peer; the nonce carries its node id (0 for PASE). */
  inboundKeys(): MessageKeys {
    this.decryptionPrivacyKey ??= derivePrivacyKey(this.decryptionKey);
    return { key: this.decryptionKey, nonceNodeId: this.kind === "pase" ? 0n : this.peerNodeId, privacyKey: this.decryptionPrivacyKey };
  }

  /** Forgets the key material once the session is gone. */
  wipe(): void {
    this.encryptionKey.fill(0);
    this.decryptionKey.fill(0);
    this.encryptionPrivacyKey?.fill(0);
    this.decryptionPrivacyKey?.fill(0);
    this.attestationChallenge.fill(0);
  }
}

export type Session = UnsecuredSession | SecureSession;
export type SessionRemovedListener = (session: Session, reason: SessionRemovalReason) => void;

export interface SessionManagerOptions {
  clock: Clock;
  random: Random;
  maxSecureSessions?: number;
  maxUnsecuredSessions?: number;
  /** What this node advertises in its handshakes. */
  localParameters?: SessionParameters;
}

function checkKey(bytes: Uint8Array, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 16) throw new SessionError(`${what} not 16 bytes`);
}

function checkSessionId(id: number, what: string): void {
  if (!Number.isInteger(id) || id < 1 || id > 0xffff) throw new SessionError(`${what} ${id} not in 1..65535`);
}

function checkNodeId(id: bigint, what: string): void {
  if (typeof id !== "bigint" || id < 0n || id > U64_MAX) throw new SessionError(`${what} not a u64 bigint`);
}

export class SessionManager {
  readonly maxSecureSessions: number;
  readonly maxUnsecuredSessions: number;
  readonly localParameters: SessionParameters;
  /** The session of the message being dispatched right now; never evicted meanwhile. */
  currentSession: Session | undefined;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly secure = new Map<number, SecureSession>();
  private readonly reserved = new Set<number>();
  private readonly unsecured: UnsecuredSession[] = [];
  private readonly listeners: SessionRemovedListener[] = [];
  private readonly unsecuredCounter: RollingCounter;

  constructor(options: SessionManagerOptions) {
    this.clock = options.clock;
    this.random = options.random;
    this.maxSecureSessions = options.maxSecureSessions ?? DEFAULT_MAX_SECURE_SESSIONS;
    this.maxUnsecuredSessions = options.maxUnsecuredSessions ?? DEFAULT_MAX_UNSECURED_SESSIONS;
    for (const limit of [this.maxSecureSessions, this.maxUnsecuredSessions]) if (!Number.isInteger(limit) || limit < 1) throw new SessionError(`session table size ${limit}`);
    this.localParameters = checkSessionParameters(options.localParameters ?? DEFAULT_SESSION_PARAMETERS);
    this.unsecuredCounter = new RollingCounter(randomInitialCounter(this.random));
  }

  /** Secure sessions in the table. */
  get count(): number {
    return this.secure.size;
  }

  get unsecuredCount(): number {
    return this.unsecured.length;
  }

  /** Local session ids handed out by allocateLocalSessionId and not yet used or released. */
  get reservedCount(): number {
    return this.reserved.size;
  }

  /**
   * A random, non-zero local session id that no session uses, reserved until createSecureSession
   * takes it or remove(id) releases it (a failed handshake must call remove).
   */
  allocateLocalSessionId(): number {
    if (this.reserved.size >= this.maxSecureSessions) throw new SessionTableFullError("too many session ids reserved");
    for (;;) {
      const bytes = this.random.bytes(2);
      const id = bytes[0]! | (bytes[1]! << 8);
      if (id !== 0 && !this.secure.has(id) && !this.reserved.has(id)) {
        this.reserved.add(id);
        return id;
      }
    }
  }

  createSecureSession(options: SecureSessionOptions): SecureSession {
    if (options.kind !== "pase" && options.kind !== "case") throw new SessionError(`secure session kind ${String(options.kind)}`);
    checkSessionId(options.localSessionId, "local session id");
    checkSessionId(options.peerSessionId, "peer session id");
    checkKey(options.i2rKey, "I2R key");
    checkKey(options.r2iKey, "R2I key");
    checkKey(options.attestationChallenge, "attestation challenge");
    checkNodeId(options.peerNodeId, "peer node id");
    checkNodeId(options.localNodeId, "local node id");
    if (!Number.isInteger(options.fabricIndex) || options.fabricIndex < 0 || options.fabricIndex > 254) throw new SessionError(`fabric index ${options.fabricIndex}`);
    if (options.caseAuthenticatedTags && options.caseAuthenticatedTags.length > 3) throw new SessionError("over 3 CASE authenticated tags");
    if (this.secure.has(options.localSessionId)) throw new SessionError(`local session id ${options.localSessionId} is in use`);
    if (this.secure.size >= this.maxSecureSessions) this.evictSecureSession();
    const session = new SecureSession(options, randomInitialCounter(this.random), this.clock.now());
    this.reserved.delete(options.localSessionId);
    this.secure.set(options.localSessionId, session);
    return session;
  }

  secureSession(localSessionId: number): SecureSession | undefined {
    return this.secure.get(localSessionId);
  }

  secureSessions(): SecureSession[] {
    return [...this.secure.values()];
  }

  /** Removes a secure session (or releases a reserved id); true if there was one. */
  remove(localSessionId: number, reason: SessionRemovalReason = "removed"): boolean {
    const released = this.reserved.delete(localSessionId);
    const session = this.secure.get(localSessionId);
    if (!session) return released;
    this.secure.delete(localSessionId);
    try {
      this.retire(session, reason);
    } finally {
      session.wipe();
    }
    return true;
  }

  /** Calls `listener` whenever a session (secure or unsecured) leaves its table; returns an unsubscribe function. */
  onRemoved(listener: SessionRemovedListener): () => void {
    this.listeners.push(listener);
    return () => {
      const index = this.listeners.indexOf(listener);
      if (index >= 0) this.listeners.splice(index, 1);
    };
  }

  /** Marks traffic on a session (for eviction order). */
  touch(session: Session): void {
    session.lastActivityMs = this.clock.now();
  }

  nextUnsecuredCounter(): number {
    return this.unsecuredCounter.next();
  }

  /** The session of a handshake a peer started: found by its address and ephemeral node id, or made. */
  unsecuredForInitiator(peer: PeerAddress, initiatorNodeId: bigint): UnsecuredSession | undefined {
    const existing = this.findUnsecured(peer, initiatorNodeId, false);
    if (existing) return existing;
    if (!this.makeUnsecuredRoom()) return undefined;
    const session = new UnsecuredSession(peer, initiatorNodeId, false, this.clock.now());
    this.unsecured.push(session);
    return session;
  }

  /** A new session to start a handshake with `peer`, under a random ephemeral node id of ours. */
  createUnsecuredSession(peer: PeerAddress): UnsecuredSession {
    if (!this.makeUnsecuredRoom()) throw new SessionTableFullError("no room for an unsecured session");
    let nodeId: bigint;
    do {
      nodeId = 0n;
      for (const byte of this.random.bytes(8)) nodeId = (nodeId << 8n) | BigInt(byte);
    } while (nodeId === 0n || this.findUnsecured(peer, nodeId, true));
    const session = new UnsecuredSession(peer, nodeId, true, this.clock.now());
    this.unsecured.push(session);
    return session;
  }

  /** The session of a handshake we started, matched by the node id the peer's reply is addressed to. */
  findUnsecured(peer: PeerAddress, initiatorNodeId: bigint, isInitiator: boolean): UnsecuredSession | undefined {
    const key = peerKey(peer);
    return this.unsecured.find(
      (session) => session.initiatorNodeId === initiatorNodeId && session.isInitiator === isInitiator && peerKey(session.peerAddress) === key,
    );
  }

  removeUnsecured(session: UnsecuredSession, reason: SessionRemovalReason = "removed"): void {
    const index = this.unsecured.indexOf(session);
    if (index < 0) return;
    this.unsecured.splice(index, 1);
    this.retire(session, reason);
  }

  /** Removes every session (shutdown). */
  clear(): void {
    for (const id of [...this.secure.keys()]) this.remove(id, "shutdown");
    for (const session of [...this.unsecured]) this.removeUnsecured(session, "shutdown");
    this.reserved.clear();
  }

  private inUse(session: Session): boolean {
    return session === this.currentSession || session.activeExchanges > 0;
  }

  /** The least recently active session no exchange or handler is using. */
  private idlest<T extends Session>(sessions: Iterable<T>): T | undefined {
    let victim: T | undefined;
    for (const session of sessions) {
      if (this.inUse(session)) continue;
      if (!victim || session.lastActivityMs < victim.lastActivityMs) victim = session;
    }
    return victim;
  }

  private evictSecureSession(): void {
    const victim = this.idlest(this.secure.values());
    if (!victim) throw new SessionTableFullError(`all ${this.maxSecureSessions} secure sessions in use`);
    this.remove(victim.localSessionId, "evicted");
  }

  private makeUnsecuredRoom(): boolean {
    if (this.unsecured.length < this.maxUnsecuredSessions) return true;
    const victim = this.idlest(this.unsecured);
    if (victim) this.removeUnsecured(victim, "evicted");
    return victim !== undefined;
  }

  /** Every listener runs even if one throws; the first error is rethrown afterwards. */
  private retire(session: Session, reason: SessionRemovalReason): void {
    session.removed = true;
    let failure: unknown;
    for (const listener of [...this.listeners]) {
      try {
        listener(session, reason);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }
}
