// Test doubles for the message layer that run on Node and inside XS: a manual clock, a seeded
// random source, an in-memory lossy link, and pairs of nodes sharing fixed-key secure sessions.
import type { Random } from "../../src/crypto";
import type { Clock, TimerHandle } from "../../src/platform";
import { decodeSecuredMessage, decodeUnsecuredMessage, type DecodedMessage } from "../../src/transport/message";
import { ExchangeManager, type ExchangeManagerOptions } from "../../src/transport/exchange";
import { SessionManager, type SecureSession, type SessionParameters } from "../../src/transport/session";
import type { PeerAddress, Transport } from "../../src/transport/transport";

/** Time moves only when a test says so; due timers run in deadline order. */
export class ManualClock implements Clock {
  private current = 1000;
  private sequence = 0;
  private readonly timers = new Map<number, { at: number; order: number; callback: () => void }>();

  now(): number {
    return this.current;
  }

  setTimer(ms: number, callback: () => void): TimerHandle {
    const handle = ++this.sequence;
    this.timers.set(handle, { at: this.current + ms, order: handle, callback });
    return handle;
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Advances by `ms`, firing due timers one by one and letting promise jobs run after each. */
  async advance(ms: number): Promise<void> {
    const end = this.current + ms;
    for (;;) {
      await settle();
      let next: [number, { at: number; order: number; callback: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at > end) continue;
        if (!next || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[1].order < next[1].order)) next = entry;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.current = Math.max(this.current, next[1].at);
      next[1].callback();
    }
    this.current = end;
    await settle();
  }
}

/** Lets queued promise jobs (and the jobs they queue) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** xorshift32: reproducible, not for keys. */
export class SeededRandom implements Random {
  constructor(private state = 0x12345678) {}
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      let x = this.state;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.state = x >>> 0;
      out[i] = this.state & 0xff;
    }
    return out;
  }
}

export interface Packet {
  from: string;
  to: string;
  bytes: Uint8Array;
  at: number;
  dropped: boolean;
}

/** An in-memory network of named endpoints; packets arrive after `latencyMs` unless `drop` says otherwise. */
export class MemoryLink {
  readonly packets: Packet[] = [];
  latencyMs = 1;
  /** Deliver inside send(), as a link layer with its own buffering might. */
  synchronous = false;
  drop: (packet: Packet, index: number) => boolean = () => false;
  private readonly endpoints = new Map<string, MemoryTransport>();

  constructor(readonly clock: ManualClock) {}

  endpoint(address: string): MemoryTransport {
    const transport = new MemoryTransport(this, address);
    this.endpoints.set(address, transport);
    return transport;
  }

  /** Puts a datagram on the link as if `from` had sent it (replays, forgeries). */
  inject(from: string, to: string, bytes: Uint8Array): void {
    this.send(from, to, bytes);
  }

  send(from: string, to: string, bytes: Uint8Array): void {
    const packet: Packet = { from, to, bytes: bytes.slice(), at: this.clock.now(), dropped: false };
    packet.dropped = this.drop(packet, this.packets.length);
    this.packets.push(packet);
    if (packet.dropped) return;
    if (this.synchronous) this.endpoints.get(to)?.arrive(packet.bytes, from);
    else this.clock.setTimer(this.latencyMs, () => this.endpoints.get(to)?.arrive(packet.bytes, from));
  }

  between(from: string, to: string): Packet[] {
    return this.packets.filter((packet) => packet.from === from && packet.to === to);
  }
}

export class MemoryTransport implements Transport {
  readonly name = "mem";
  readonly reliable = false;
  readonly maxMessageSize = 1280;
  private handler: ((message: Uint8Array, peer: PeerAddress) => void) | undefined;

  constructor(
    private readonly link: MemoryLink,
    readonly address: string,
  ) {}

  send(message: Uint8Array, peer: PeerAddress): void {
    this.link.send(this.address, peer.address, message);
  }

  onReceive(handler: (message: Uint8Array, peer: PeerAddress) => void): void {
    this.handler = handler;
  }

  arrive(bytes: Uint8Array, from: string): void {
    this.handler?.(bytes, memoryPeer(from));
  }

  close(): void {
    this.handler = undefined;
  }
}

export function memoryPeer(address: string): PeerAddress {
  return { transport: "mem", address, port: 1 };
}

export interface TestNode {
  name: string;
  sessions: SessionManager;
  exchanges: ExchangeManager;
}

export function makeNode(link: MemoryLink, name: string, seed: number, options: Partial<ExchangeManagerOptions> & { maxSecureSessions?: number; maxUnsecuredSessions?: number } = {}): TestNode {
  const random = new SeededRandom(seed);
  const sessions = new SessionManager({
    clock: link.clock,
    random,
    ...(options.maxSecureSessions ? { maxSecureSessions: options.maxSecureSessions } : {}),
    ...(options.maxUnsecuredSessions ? { maxUnsecuredSessions: options.maxUnsecuredSessions } : {}),
  });
  const exchanges = new ExchangeManager({ sessions, clock: link.clock, random, ...options });
  exchanges.addTransport(link.endpoint(name));
  return { name, sessions, exchanges };
}

export const I2R_KEY = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);
export const R2I_KEY = Uint8Array.from({ length: 16 }, (_, i) => 0x80 + i);
export const CHALLENGE = new Uint8Array(16).fill(0xcc);
export const INITIATOR_NODE_ID = 0x0000_0000_0000_0a01n;
export const RESPONDER_NODE_ID = 0x0000_0000_0000_0b02n;

/** Fixed-key CASE sessions between `a` (initiator) and `b`, standing in for a handshake. */
export function pairSessions(
  a: TestNode,
  b: TestNode,
  ids: { a: number; b: number } = { a: 0x1111, b: 0x2222 },
  parameters?: SessionParameters,
): { a: SecureSession; b: SecureSession } {
  const common = { kind: "case" as const, i2rKey: I2R_KEY, r2iKey: R2I_KEY, attestationChallenge: CHALLENGE, fabricIndex: 1 };
  const sessionA = a.sessions.createSecureSession({
    ...common,
    localSessionId: ids.a,
    peerSessionId: ids.b,
    isInitiator: true,
    localNodeId: INITIATOR_NODE_ID,
    peerNodeId: RESPONDER_NODE_ID,
    peerAddress: memoryPeer(b.name),
    ...(parameters ? { peerParameters: parameters } : {}),
  });
  const sessionB = b.sessions.createSecureSession({
    ...common,
    localSessionId: ids.b,
    peerSessionId: ids.a,
    isInitiator: false,
    localNodeId: RESPONDER_NODE_ID,
    peerNodeId: INITIATOR_NODE_ID,
    peerAddress: memoryPeer(a.name),
    ...(parameters ? { peerParameters: parameters } : {}),
  });
  return { a: sessionA, b: sessionB };
}

/** Opens a captured packet of a fixed-key session pair (or an unsecured one). */
export function openPacket(packet: Packet, fromInitiator: boolean): DecodedMessage {
  if (packet.bytes[1] === 0 && packet.bytes[2] === 0) return decodeUnsecuredMessage(packet.bytes);
  return decodeSecuredMessage(packet.bytes, { key: fromInitiator ? I2R_KEY : R2I_KEY, nonceNodeId: fromInitiator ? INITIATOR_NODE_ID : RESPONDER_NODE_ID });
}
