// What PASE and CASE share: reading the next handshake message within the handshake's deadline,
// ending a failed handshake with a StatusReport, and letting go of the unsecured session once the
// exchange has delivered its last message.
import { CodecError } from "../codec/bytes";
import type { Random } from "../crypto";
import type { Clock, LogLevel, TimerHandle } from "../platform";
import {
  DeliveryFailedError,
  ExchangeTimeoutError,
  SECURE_CHANNEL_PROTOCOL_ID,
  type Exchange,
  type ExchangeManager,
  type ReceivedMessage,
} from "../transport/exchange";
import { mrpWorstCaseDeliveryMs } from "../transport/mrp";
import { SessionTableFullError, type SessionManager, type UnsecuredSession } from "../transport/session";
import { HandshakeTimeoutError, PeerStatusError, SecureChannelError } from "./errors";
import { SecureChannelCode, SecureChannelOpcode, decodeStatusReport, encodeStatusReport, isSecureChannelSuccess, secureChannelStatus, type StatusReport } from "./status-report";

/** What a handshake runs on. */
export interface HandshakeContext {
  exchanges: ExchangeManager;
  sessions: SessionManager;
  clock: Clock;
  random: Random;
  log: (level: LogLevel, message: string) => void;
}

/** Wraps crypto and codec failures of a handshake step as InvalidParameter, keeping other errors. */
export function asHandshakeError(error: unknown, what: string): SecureChannelError {
  if (error instanceof SecureChannelError) return error;
  return new SecureChannelError(`${what}: ${error instanceof Error ? error.message : String(error)}`);
}

/**
 * The peer's next message on `exchange`, which must be (one of) `opcode` of the secure channel protocol.
 * A StatusReport other than success is PeerStatusError; a timeout or an unacknowledged message of
 * ours is HandshakeTimeoutError; anything else unexpected is InvalidParameter.
 */
export async function receiveHandshakeMessage(exchange: Exchange, opcode: number | readonly number[], deadlineMs: number, clock: Clock): Promise<ReceivedMessage> {
  const expected = typeof opcode === "number" ? [opcode] : opcode;
  const remaining = deadlineMs - clock.now();
  if (remaining <= 0) throw new HandshakeTimeoutError("handshake out of time");
  let message: ReceivedMessage;
  try {
    message = await exchange.nextMessage(remaining);
  } catch (error) {
    if (error instanceof ExchangeTimeoutError) throw new HandshakeTimeoutError("the peer did not answer in time");
    if (error instanceof DeliveryFailedError) throw new HandshakeTimeoutError("the peer did not acknowledge our message");
    throw new HandshakeTimeoutError(`the exchange ended: ${(error as Error).message}`);
  }
  if (message.protocolId !== SECURE_CHANNEL_PROTOCOL_ID || message.vendorId !== 0) {
    throw new SecureChannelError(`protocol ${message.vendorId}:${message.protocolId} in a handshake`);
  }
  if (message.opcode === SecureChannelOpcode.statusReport) {
    let report: StatusReport;
    try {
      report = decodeStatusReport(message.payload);
    } catch (error) {
      if (error instanceof CodecError) throw new SecureChannelError(`malformed StatusReport: ${error.message}`);
      throw error;
    }
    if (expected.includes(SecureChannelOpcode.statusReport) && isSecureChannelSuccess(report)) return message;
    throw new PeerStatusError(report);
  }
  if (!expected.includes(message.opcode)) {
    throw new SecureChannelError(`expected opcode ${expected.join(" or ")}, got ${message.opcode}`);
  }
  return message;
}

/** Sends a StatusReport on the exchange; false (logged) if it could not be sent. */
export function sendStatus(context: HandshakeContext, exchange: Exchange, report: StatusReport, reliable = true): boolean {
  try {
    exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.statusReport, encodeStatusReport(report), { reliable });
    return true;
  } catch (error) {
    context.log("info", `StatusReport not sent on exchange ${exchange.id}: ${(error as Error).message}`);
    return false;
  }
}

/**
 * Ends a failed handshake: a StatusReport with the error's code unless the peer itself reported
 * a failure or is not answering, then the exchange closes.
 */
export function failHandshake(context: HandshakeContext, exchange: Exchange, error: SecureChannelError): void {
  // A silent peer: stop retransmitting to it now rather than keep the exchange and its unsecured
  // session until MRP gives up (the handshake's own timer may fire after its receive deadline).
  if (error instanceof HandshakeTimeoutError) return exchange.abort();
  if (!(error instanceof PeerStatusError) && exchange.isOpen) {
    // Only one reliable message may be in flight: while ours awaits its ack, the report goes unreliably.
    sendStatus(context, exchange, secureChannelStatus(error.protocolCode), !exchange.awaitingAck);
  }
  exchange.close();
}

/** Calls an application callback; what it throws is logged and does not undo the handshake. */
export function notifyApplication(context: HandshakeContext, what: string, callback: () => void): void {
  try {
    callback();
  } catch (error) {
    context.log("error", `${what} callback failed: ${(error as Error).message}`);
  }
}

/** Runs `fn`; anything it throws that is not already a SecureChannelError becomes InvalidParameter. */
/** Runs `action`; a full session table is Busy to the peer. */
export function busyWhenFull<T>(action: () => T): T {
  try {
    return action();
  } catch (error) {
    if (error instanceof SessionTableFullError) throw new SecureChannelError(error.message, SecureChannelCode.busy);
    throw error;
  }
}

export function step<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw asHandshakeError(error, what);
  }
}

export const INVALID_PARAMETER = SecureChannelCode.invalidParameter;

/**
 * Removes handshake sessions (unsecured) once their exchanges are finished: at once when idle,
 * otherwise as soon as a check (every peer active interval) finds them idle, for as long as MRP
 * may take to deliver the last message or give up. A session still busy after that is left to
 * the table's LRU eviction.
 */
export class UnsecuredSessionReleaser {
  private readonly timers = new Set<TimerHandle>();

  constructor(
    private readonly sessions: SessionManager,
    private readonly clock: Clock,
  ) {}

  release(session: UnsecuredSession): void {
    if (this.releaseIfIdle(session)) return;
    const parameters = session.peerParameters;
    const deadline = this.clock.now() + mrpWorstCaseDeliveryMs(parameters, true) + parameters.activeIntervalMs;
    const check = () => {
      const timer = this.clock.setTimer(Math.max(parameters.activeIntervalMs, 50), () => {
        this.timers.delete(timer);
        if (!this.releaseIfIdle(session) && this.clock.now() < deadline) check();
      });
      this.timers.add(timer);
    };
    check();
  }

  /** Cancels pending releases (shutdown). */
  close(): void {
    for (const timer of this.timers) this.clock.clearTimer(timer);
    this.timers.clear();
  }

  private releaseIfIdle(session: UnsecuredSession): boolean {
    if (session.removed) return true;
    if (session.activeExchanges > 0) return false;
    this.sessions.removeUnsecured(session);
    return true;
  }
}

/** The 48 bytes both handshakes derive: I2R key, R2I key and attestation challenge, 16 bytes each. */
export function splitSessionKeys(keys: Uint8Array): { i2rKey: Uint8Array; r2iKey: Uint8Array; attestationChallenge: Uint8Array } {
  return { i2rKey: keys.subarray(0, 16), r2iKey: keys.subarray(16, 32), attestationChallenge: keys.subarray(32, 48) };
}
