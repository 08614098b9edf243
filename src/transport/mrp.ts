// Message Reliability Protocol (spec 4.12): timing and the table of messages awaiting an
// acknowledgement. The exchange manager drives it from one platform timer.
import type { Session, SessionParameters } from "./session";

/** Transmissions of one message, the first included (spec 4.12.8). */
export const MRP_MAX_TRANSMISSIONS = 5;
export const MRP_BACKOFF_BASE = 1.6;
export const MRP_BACKOFF_JITTER = 0.25;
export const MRP_BACKOFF_MARGIN = 1.1;
export const MRP_BACKOFF_THRESHOLD = 1;
/** How long a receiver waits for a reply to piggyback an ack on before sending it alone. */
export const MRP_STANDALONE_ACK_TIMEOUT_MS = 200;
/** Messages awaiting an ack at once, over all exchanges (bounded memory: each holds up to 1280 bytes). */
export const DEFAULT_MAX_RETRANSMISSIONS = 16;

/**
 * Spec 4.12.2.1: t = i × MRP_BACKOFF_MARGIN × MRP_BACKOFF_BASE^max(0, n − MRP_BACKOFF_THRESHOLD)
 * × (1 + random × MRP_BACKOFF_JITTER), where n counts the retransmissions already sent (0 while
 * waiting after the first transmission) and random is in [0, 1).
 */
export function mrpBackoffMs(baseIntervalMs: number, retransmissionsSent: number, random01: number): number {
  const exponent = Math.max(0, retransmissionsSent - MRP_BACKOFF_THRESHOLD);
  return baseIntervalMs * MRP_BACKOFF_MARGIN * MRP_BACKOFF_BASE ** exponent * (1 + random01 * MRP_BACKOFF_JITTER);
}

/** The base interval i: the peer's active interval while it is active (or this exchange already heard from it), else its idle interval. */
export function mrpBaseIntervalMs(session: Session, now: number, exchangeHeardFromPeer: boolean): number {
  const parameters = session.peerParameters;
  return exchangeHeardFromPeer || session.isPeerActive(now) ? parameters.activeIntervalMs : parameters.idleIntervalMs;
}

/**
 * The longest MRP may take to deliver a message or give up (every backoff at full jitter), so
 * that a response timeout can allow for it (CHIP GetRetransmissionTimeout).
 */
export function mrpWorstCaseDeliveryMs(parameters: SessionParameters, peerActive: boolean): number {
  const base = peerActive ? parameters.activeIntervalMs : parameters.idleIntervalMs;
  let total = 0;
  for (let sent = 0; sent < MRP_MAX_TRANSMISSIONS; sent++) total += mrpBackoffMs(base, sent, 1);
  return Math.ceil(total);
}

export interface RetransmissionEntry<Owner> {
  owner: Owner;
  session: Session;
  messageCounter: number;
  /** The message exactly as first sent: a retransmission reuses its counter and bytes. */
  message: Uint8Array;
  /** Transmissions so far, the first included. */
  transmissions: number;
  nextAttemptMs: number;
}

export class RetransmissionTableFullError extends Error {
  override name = "RetransmissionTableFullError";
}

/** Messages sent reliably and not yet acknowledged, bounded. */
export class RetransmissionTable<Owner> {
  private readonly entries: RetransmissionEntry<Owner>[] = [];

  constructor(readonly capacity: number = DEFAULT_MAX_RETRANSMISSIONS) {}

  get size(): number {
    return this.entries.length;
  }

  add(entry: RetransmissionEntry<Owner>): void {
    if (this.entries.length >= this.capacity) throw new RetransmissionTableFullError(`all ${this.capacity} retransmission slots in use`);
    this.entries.push(entry);
  }

  /** Removes and returns the entry an acknowledgement on `session` refers to. */
  acknowledge(session: Session, messageCounter: number): RetransmissionEntry<Owner> | undefined {
    const index = this.entries.findIndex((entry) => entry.session === session && entry.messageCounter === messageCounter);
    if (index < 0) return undefined;
    return this.entries.splice(index, 1)[0];
  }

  pendingFor(owner: Owner): RetransmissionEntry<Owner> | undefined {
    return this.entries.find((entry) => entry.owner === owner);
  }

  remove(entry: RetransmissionEntry<Owner>): void {
    const index = this.entries.indexOf(entry);
    if (index >= 0) this.entries.splice(index, 1);
  }

  removeOwner(owner: Owner): void {
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]!.owner === owner) this.entries.splice(i, 1);
  }

  /** Entries whose next attempt is due at `now`. */
  due(now: number): RetransmissionEntry<Owner>[] {
    return this.entries.filter((entry) => entry.nextAttemptMs <= now);
  }

  nextAttemptMs(): number | undefined {
    let next: number | undefined;
    for (const entry of this.entries) if (next === undefined || entry.nextAttemptMs < next) next = entry.nextAttemptMs;
    return next;
  }
}
