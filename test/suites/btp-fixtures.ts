// A BTP central and peripheral session joined by an in-order in-memory link on a manual clock,
// with a monitor that checks every packet against the negotiated segment size and each
// direction's window. Used by the portable BTP suite and the full MTU x window sweep on Node.
import { BtpSession, decodeBtpPacket, type BtpRole } from "../../src/transport/btp";
import { ManualClock } from "./transport-fixtures";

export interface BtpPairOptions {
  segmentSize: number;
  windowSize: number;
  latencyMs?: number;
  clock?: ManualClock;
}

export interface BtpSide {
  session: BtpSession;
  received: Uint8Array[];
  closedReason: string | undefined;
  /** Raw packets this side put on the link. */
  sent: Uint8Array[];
}

export interface BtpPair {
  clock: ManualClock;
  central: BtpSide;
  peripheral: BtpSide;
  /** Problems the link monitor saw; a correct pair leaves it empty. */
  violations: string[];
  /** Packets in flight or delivered, per direction, not yet acknowledged by the receiver. */
  inject(to: BtpRole, bytes: Uint8Array): void;
}

export function btpPair(options: BtpPairOptions): BtpPair {
  const clock = options.clock ?? new ManualClock();
  const latency = options.latencyMs ?? 1;
  const violations: string[] = [];
  const sides = {} as Record<BtpRole, BtpSide>;
  // Unacknowledged packets per sender, as seen on the wire: sequence numbers not yet covered by an
  // acknowledgement coming the other way.
  const unacked: Record<BtpRole, number[]> = { central: [], peripheral: [0] };
  const other = (role: BtpRole): BtpRole => (role === "central" ? "peripheral" : "central");

  const make = (role: BtpRole): BtpSide => {
    const side: BtpSide = { session: undefined as unknown as BtpSession, received: [], closedReason: undefined, sent: [] };
    side.session = new BtpSession({
      role,
      segmentSize: options.segmentSize,
      windowSize: options.windowSize,
      clock,
      send: (packet) => {
        side.sent.push(packet);
        if (packet.length > options.segmentSize) violations.push(`${role} sent ${packet.length} bytes, segment size ${options.segmentSize}`);
        const decoded = decodeBtpPacket(packet);
        if (decoded.ack !== undefined) {
          const list = unacked[other(role)];
          const index = list.indexOf(decoded.ack);
          if (index < 0) violations.push(`${role} acknowledged ${decoded.ack}, not outstanding (${list.join(",")})`);
          else list.splice(0, index + 1);
        }
        unacked[role].push(decoded.sequence);
        if (unacked[role].length > options.windowSize) violations.push(`${role} has ${unacked[role].length} packets unacknowledged, window ${options.windowSize}`);
        clock.setTimer(latency, () => sides[other(role)].session.receive(packet));
      },
      deliver: (message) => side.received.push(message),
      closed: (reason) => {
        side.closedReason = reason;
      },
    });
    return side;
  };
  sides.peripheral = make("peripheral");
  sides.central = make("central");
  return {
    clock,
    central: sides.central,
    peripheral: sides.peripheral,
    violations,
    inject: (to, bytes) => sides[to].session.receive(bytes),
  };
}

/** Deterministic message bytes: length and a seed make every message distinct. */
export function patternMessage(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

/**
 * Sends `sizes` both ways at once (each direction its own seeds) and runs the clock until all
 * arrive; returns a description of the first mismatch, or undefined.
 */
export async function exchangeBothWays(pair: BtpPair, sizes: number[], maxMs = 120_000): Promise<string | undefined> {
  const toPeripheral = sizes.map((size, i) => patternMessage(size, i + 1));
  const toCentral = sizes.map((size, i) => patternMessage(size, i + 101));
  // Queue at most a few at a time: the session's send queue is bounded.
  let nextToPeripheral = 0;
  let nextToCentral = 0;
  const feed = () => {
    while (nextToPeripheral < toPeripheral.length && pair.central.session.pendingMessages < 4) pair.central.session.send(toPeripheral[nextToPeripheral++]!);
    while (nextToCentral < toCentral.length && pair.peripheral.session.pendingMessages < 4) pair.peripheral.session.send(toCentral[nextToCentral++]!);
  };
  for (let elapsed = 0; elapsed < maxMs; elapsed += 50) {
    feed();
    if (pair.central.received.length === sizes.length && pair.peripheral.received.length === sizes.length) break;
    if (pair.central.closedReason || pair.peripheral.closedReason) break;
    await pair.clock.advance(50);
  }
  if (pair.central.closedReason || pair.peripheral.closedReason) return `closed: central ${pair.central.closedReason}, peripheral ${pair.peripheral.closedReason}`;
  if (pair.violations.length > 0) return pair.violations.slice(0, 3).join("; ");
  for (const [name, got, want] of [
    ["peripheral", pair.peripheral.received, toPeripheral],
    ["central", pair.central.received, toCentral],
  ] as const) {
    if (got.length !== want.length) return `${name} received ${got.length} of ${want.length} messages`;
    for (let i = 0; i < want.length; i++) {
      const a = got[i]!;
      const b = want[i]!;
      if (a.length !== b.length || a.some((byte, j) => byte !== b[j])) return `${name}: message ${i} (${b.length} bytes) differs`;
    }
  }
  return undefined;
}
