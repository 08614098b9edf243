// Bluetooth Transport Protocol (Matter Core spec 4.19, "BTP"): Matter messages over the GATT
// service 0xFFF6, C1 written by the central, C2 indicated by the peripheral.
//
// This file holds the wire format (handshake request/response, data packets), the session engine
// shared by both roles (segmentation and reassembly, sequence numbers, acknowledgements, receive
// windows, timers), and BtpTransport: the peripheral side over the platform's BlePeripheral,
// exposed as a Transport so that PASE runs over it exactly as over UDP.
//
// Sequence numbers start asymmetric (as in CHIP's BLEEndPoint): the handshake response counts as
// the peripheral's packet 0, which the central acknowledges; the central's first packet is 0.
// Every packet, stand-alone acknowledgements included, takes a sequence number and a slot in the
// receiver's window, so idle peers keep acknowledging each other (the keep-alive). A protocol
// violation (bad flags, sequence or acknowledgement, overrun window, bad lengths) ends the
// session and the BLE connection, as the spec requires; it never throws to the caller.
import type { BleConnection, BleEvents, BlePeripheral, Clock, LogLevel, TimerHandle } from "../platform";
import type { PeerAddress, Transport } from "./transport";

export const BTP_VERSION = 4;
export const BTP_MIN_ATT_MTU = 23;
const ATT_HEADER_LENGTH = 3;
/** 247-byte ATT MTU less the ATT header. */
export const BTP_MAX_SEGMENT_SIZE = 244;
/** When neither side knows the ATT MTU: 23 less the ATT header. */
export const BTP_DEFAULT_SEGMENT_SIZE = 20;
/**
 * Our largest receive window. Received packets are reassembled at once, so a window costs no
 * buffers; 8 lets a central's proposal of 1..8 stand (CHIP proposes 6, matter.js 255).
 */
export const BTP_MAX_WINDOW_SIZE = 8;
/** The largest Matter message carried (as over UDP). */
export const BTP_MAX_MESSAGE_SIZE = 1280;
/** Spec 4.19.4: a sent packet unacknowledged for this long ends the session. */
export const BTP_ACK_TIMEOUT_MS = 15_000;
/** A received packet is acknowledged within this time (CHIP's 2.5 s, below half the ack timeout). */
export const BTP_SEND_ACK_TIMEOUT_MS = 2500;
/** From the BLE connection to the subscription that completes the handshake. */
export const BTP_CONNECT_TIMEOUT_MS = 15_000;
/** Nothing at all received for this long ends the session. */
export const BTP_IDLE_TIMEOUT_MS = 30_000;
/** Acknowledge at once when our window has at most this many free slots. */
const IMMEDIATE_ACK_WINDOW_THRESHOLD = 1;
/** How long a stand-alone ack waits for its own acknowledgement when the window is nearly full. */
const ACK_OF_ACK_DELAY_MS = 50;
/** Data without an acknowledgement needs more free slots in the peer's window than this. */
const NO_ACK_SEND_THRESHOLD = 1;

const FLAG_BEGINNING = 0x01;
const FLAG_CONTINUING = 0x02;
const FLAG_ENDING = 0x04;
const FLAG_ACK = 0x08;
const FLAG_MANAGEMENT = 0x20;
const FLAG_HANDSHAKE = 0x40;
const RESERVED_FLAGS = 0x90;
const HANDSHAKE_FLAGS = FLAG_HANDSHAKE | FLAG_MANAGEMENT | FLAG_ENDING | FLAG_BEGINNING;
const HANDSHAKE_OPCODE = 0x6c;
const HANDSHAKE_REQUEST_LENGTH = 9;
const HANDSHAKE_RESPONSE_LENGTH = 6;

export class BtpError extends Error {
  override name = "BtpError";
}

// ---------------------------------------------------------------------------------------------
// Wire format

export interface BtpHandshakeRequest {
  /** Versions the central supports, most preferred first (up to 8, each 1..15). */
  versions: number[];
  /** The ATT MTU the central observed; 0 when unknown. */
  attMtu: number;
  windowSize: number;
}

export interface BtpHandshakeResponse {
  /** 0 when no version is shared: the session will not open. */
  version: number;
  segmentSize: number;
  windowSize: number;
}

export function encodeBtpHandshakeRequest(request: BtpHandshakeRequest): Uint8Array {
  if (request.versions.length === 0 || request.versions.length > 8) throw new BtpError(`${request.versions.length} versions`);
  const out = new Uint8Array(HANDSHAKE_REQUEST_LENGTH);
  out[0] = HANDSHAKE_FLAGS;
  out[1] = HANDSHAKE_OPCODE;
  request.versions.forEach((version, index) => {
    if (!Number.isInteger(version) || version < 1 || version > 15) throw new BtpError(`BTP version ${version}`);
    out[2 + (index >> 1)]! |= index % 2 === 0 ? version : version << 4;
  });
  checkRange(request.attMtu, 0xffff, "ATT MTU");
  checkRange(request.windowSize, 0xff, "window size");
  out[6] = request.attMtu & 0xff;
  out[7] = request.attMtu >> 8;
  out[8] = request.windowSize;
  return out;
}

/** Length, flags and opcode of a handshake request or response. */
function checkHandshake(bytes: Uint8Array, length: number, what: string): void {
  if (bytes.length !== length) throw new BtpError(`handshake ${what} of ${bytes.length} bytes`);
  if (bytes[0] !== HANDSHAKE_FLAGS || bytes[1] !== HANDSHAKE_OPCODE) throw new BtpError(`not a BTP handshake ${what}`);
}

export function decodeBtpHandshakeRequest(bytes: Uint8Array): BtpHandshakeRequest {
  checkHandshake(bytes, HANDSHAKE_REQUEST_LENGTH, "request");
  const versions: number[] = [];
  for (let i = 0; i < 8; i++) {
    const version = (bytes[2 + (i >> 1)]! >> (i % 2 === 0 ? 0 : 4)) & 0x0f;
    if (version !== 0) versions.push(version);
  }
  if (versions.length === 0) throw new BtpError("handshake request lists no version");
  const windowSize = bytes[8]!;
  if (windowSize === 0) throw new BtpError("handshake window of 0");
  return { versions, attMtu: bytes[6]! | (bytes[7]! << 8), windowSize };
}

export function encodeBtpHandshakeResponse(response: BtpHandshakeResponse): Uint8Array {
  checkRange(response.version, 0x0f, "version");
  checkRange(response.segmentSize, 0xffff, "segment size");
  checkRange(response.windowSize, 0xff, "window size");
  return Uint8Array.of(HANDSHAKE_FLAGS, HANDSHAKE_OPCODE, response.version, response.segmentSize & 0xff, response.segmentSize >> 8, response.windowSize);
}

export function decodeBtpHandshakeResponse(bytes: Uint8Array): BtpHandshakeResponse {
  checkHandshake(bytes, HANDSHAKE_RESPONSE_LENGTH, "response");
  const response = { version: bytes[2]! & 0x0f, segmentSize: bytes[3]! | (bytes[4]! << 8), windowSize: bytes[5]! };
  if (response.segmentSize < BTP_DEFAULT_SEGMENT_SIZE) throw new BtpError(`segment size ${response.segmentSize} is below ${BTP_DEFAULT_SEGMENT_SIZE}`);
  if (response.windowSize === 0) throw new BtpError("handshake window of 0");
  return response;
}

export interface BtpPacket {
  /** The sender's newest received sequence number it acknowledges. */
  ack?: number;
  sequence: number;
  beginning: boolean;
  continuing: boolean;
  ending: boolean;
  /** Whole message length, on the beginning segment only. */
  messageLength?: number;
  payload: Uint8Array;
}

export function encodeBtpPacket(packet: BtpPacket): Uint8Array {
  validatePacketShape(packet);
  const header = 2 + (packet.ack !== undefined ? 1 : 0) + (packet.beginning ? 2 : 0);
  const out = new Uint8Array(header + packet.payload.length);
  let at = 0;
  out[at++] = (packet.beginning ? FLAG_BEGINNING : 0) | (packet.continuing ? FLAG_CONTINUING : 0) | (packet.ending ? FLAG_ENDING : 0) | (packet.ack !== undefined ? FLAG_ACK : 0);
  if (packet.ack !== undefined) out[at++] = packet.ack;
  out[at++] = packet.sequence;
  if (packet.beginning) {
    out[at++] = packet.messageLength! & 0xff;
    out[at++] = packet.messageLength! >> 8;
  }
  out.set(packet.payload, at);
  return out;
}

export function decodeBtpPacket(bytes: Uint8Array): BtpPacket {
  if (bytes.length < 2) throw new BtpError(`packet of ${bytes.length} bytes`);
  const flags = bytes[0]!;
  if (flags & (FLAG_HANDSHAKE | FLAG_MANAGEMENT)) throw new BtpError("handshake or management packet inside a session");
  if (flags & RESERVED_FLAGS) throw new BtpError(`reserved flag bits 0x${(flags & RESERVED_FLAGS).toString(16)}`);
  let at = 1;
  const take = (what: string): number => {
    if (at >= bytes.length) throw new BtpError(`packet ends before its ${what}`);
    return bytes[at++]!;
  };
  const ack = flags & FLAG_ACK ? take("acknowledgement number") : undefined;
  const sequence = take("sequence number");
  const beginning = (flags & FLAG_BEGINNING) !== 0;
  let messageLength: number | undefined;
  if (beginning) messageLength = take("message length") | (take("message length") << 8);
  const packet: BtpPacket = { sequence, beginning, continuing: (flags & FLAG_CONTINUING) !== 0, ending: (flags & FLAG_ENDING) !== 0, payload: bytes.slice(at) };
  if (ack !== undefined) packet.ack = ack;
  if (messageLength !== undefined) packet.messageLength = messageLength;
  validatePacketShape(packet);
  return packet;
}

function validatePacketShape(packet: BtpPacket): void {
  checkRange(packet.sequence, 0xff, "sequence number");
  if (packet.ack !== undefined) checkRange(packet.ack, 0xff, "acknowledgement number");
  if (packet.beginning && packet.continuing) throw new BtpError("segment both begin and continue");
  const carriesData = packet.beginning || packet.continuing;
  if (packet.ending && !carriesData) throw new BtpError("ending flag alone");
  if (carriesData && packet.payload.length === 0) throw new BtpError("segment without payload");
  if (!carriesData && packet.payload.length > 0) throw new BtpError("payload in a packet without segment");
  if (!carriesData && packet.ack === undefined) throw new BtpError("neither segment nor ack");
  if (packet.beginning) {
    if (packet.messageLength === undefined) throw new BtpError("no message length");
    checkRange(packet.messageLength, 0xffff, "message length");
    if (packet.messageLength === 0 || packet.payload.length > packet.messageLength) throw new BtpError(`message length ${packet.messageLength}, segment ${packet.payload.length}`);
  } else if (packet.messageLength !== undefined) {
    throw new BtpError("message length on a later segment");
  }
}

/** Clears `timer` when set; returns undefined for the field that held it. */
function cancelTimer(clock: Clock, timer: TimerHandle | undefined): undefined {
  if (timer !== undefined) clock.clearTimer(timer);
  return undefined;
}

function checkRange(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new BtpError(`${what} ${value} is outside 0..${max}`);
}

/** What the peripheral answers to a handshake request. */
export function negotiateBtp(request: BtpHandshakeRequest, platformMtu: number, maxWindowSize = BTP_MAX_WINDOW_SIZE): BtpHandshakeResponse {
  const version = request.versions.includes(BTP_VERSION) ? BTP_VERSION : 0;
  // The central's observation first (CHIP), else the platform's; unknown or below 23 means 23.
  const mtu = request.attMtu >= BTP_MIN_ATT_MTU ? (platformMtu >= BTP_MIN_ATT_MTU ? Math.min(request.attMtu, platformMtu) : request.attMtu) : platformMtu;
  const segmentSize = mtu >= BTP_MIN_ATT_MTU ? Math.min(mtu - ATT_HEADER_LENGTH, BTP_MAX_SEGMENT_SIZE) : BTP_DEFAULT_SEGMENT_SIZE;
  return { version, segmentSize, windowSize: Math.min(request.windowSize, maxWindowSize) };
}

// ---------------------------------------------------------------------------------------------
// Session engine

export type BtpRole = "central" | "peripheral";

export interface BtpSessionOptions {
  role: BtpRole;
  segmentSize: number;
  windowSize: number;
  clock: Clock;
  /** Puts one packet on the link (C1 write for the central, C2 indication for the peripheral). */
  send: (packet: Uint8Array) => void;
  /** A whole Matter message arrived. */
  deliver: (message: Uint8Array) => void;
  /** The session ended (error, timeout, or close()); called once. */
  closed: (reason: string) => void;
  maxMessageSize?: number;
  ackTimeoutMs?: number;
  sendAckTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Messages waiting to be sent at most (bounded memory). */
  maxQueuedMessages?: number;
}

export interface BtpSessionStats {
  packetsSent: number;
  packetsReceived: number;
  standaloneAcksSent: number;
  messagesSent: number;
  messagesReceived: number;
  /** Largest number of our packets unacknowledged at once. */
  maxOutstanding: number;
}

const DEFAULT_MAX_QUEUED_MESSAGES = 8;

export class BtpSession {
  readonly role: BtpRole;
  readonly segmentSize: number;
  readonly windowSize: number;
  readonly stats: BtpSessionStats = { packetsSent: 0, packetsReceived: 0, standaloneAcksSent: 0, messagesSent: 0, messagesReceived: 0, maxOutstanding: 0 };
  private readonly options: BtpSessionOptions;
  private readonly clock: Clock;
  private readonly maxMessageSize: number;
  private nextTxSequence: number;
  private lastAckReceived = 0xff;
  private expectedRxSequence: number;
  private lastAckSent = 0xff;
  private readonly queue: Uint8Array[] = [];
  private sending: { message: Uint8Array; offset: number } | undefined;
  private reassembly: { buffer: Uint8Array; filled: number } | undefined;
  private ackTimer: TimerHandle | undefined;
  private sendAckTimer: TimerHandle | undefined;
  private sendAckDeadline = 0;
  private sendAckDue = false;
  /** The owed acknowledgement is for stand-alone acks only, and waits ACK_OF_ACK_DELAY_MS. */
  private deferAck = false;
  /** Some owed acknowledgement covers a message segment (those are never deferred). */
  private owesData = false;
  private idleTimer: TimerHandle | undefined;
  private pumping = false;
  private ended = false;

  constructor(options: BtpSessionOptions) {
    if (!Number.isInteger(options.segmentSize) || options.segmentSize < BTP_DEFAULT_SEGMENT_SIZE || options.segmentSize > 0xffff) throw new BtpError(`segment size ${options.segmentSize}`);
    if (!Number.isInteger(options.windowSize) || options.windowSize < 1 || options.windowSize > 0xff) throw new BtpError(`window size ${options.windowSize}`);
    this.options = options;
    this.clock = options.clock;
    this.role = options.role;
    this.segmentSize = options.segmentSize;
    this.windowSize = options.windowSize;
    this.maxMessageSize = options.maxMessageSize ?? BTP_MAX_MESSAGE_SIZE;
    // The handshake response was the peripheral's packet 0: the peripheral awaits its
    // acknowledgement, the central owes it.
    const peripheral = options.role === "peripheral";
    this.nextTxSequence = peripheral ? 1 : 0;
    this.expectedRxSequence = peripheral ? 0 : 1;
    if (peripheral) this.startAckTimer();
    else this.startSendAckTimer(options.sendAckTimeoutMs ?? BTP_SEND_ACK_TIMEOUT_MS);
    this.restartIdleTimer();
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  /** Our packets the peer has not acknowledged yet. */
  get outstanding(): number {
    return (this.nextTxSequence - 1 - this.lastAckReceived) & 0xff;
  }

  /** Peer packets we have not acknowledged yet. */
  get owed(): number {
    return (this.expectedRxSequence - 1 - this.lastAckSent) & 0xff;
  }

  /** Messages accepted by send() and not yet fully segmented. */
  get pendingMessages(): number {
    return this.queue.length + (this.sending ? 1 : 0);
  }

  /** Queues a whole Matter message for segmentation. */
  send(message: Uint8Array): void {
    if (this.ended) throw new BtpError("the BTP session is closed");
    if (message.length === 0 || message.length > this.maxMessageSize) throw new BtpError(`message of ${message.length} bytes (1..${this.maxMessageSize})`);
    if (this.queue.length >= (this.options.maxQueuedMessages ?? DEFAULT_MAX_QUEUED_MESSAGES)) throw new BtpError("the BTP send queue is full");
    this.queue.push(message.slice());
    this.pump();
  }

  /** Handles one packet from the link; a violation ends the session. */
  receive(bytes: Uint8Array): void {
    if (this.ended) return;
    try {
      this.receivePacket(bytes);
    } catch (error) {
      if (error instanceof BtpError) {
        this.close(`protocol error: ${error.message}`);
        return;
      }
      throw error;
    }
  }

  /** Ends the session: timers stop, queued messages are dropped. */
  close(reason = "closed"): void {
    if (this.ended) return;
    this.ended = true;
    for (const timer of [this.ackTimer, this.sendAckTimer, this.idleTimer]) cancelTimer(this.clock, timer);
    this.ackTimer = this.sendAckTimer = this.idleTimer = undefined;
    this.queue.length = 0;
    this.sending = undefined;
    this.reassembly = undefined;
    this.options.closed(reason);
  }

  private receivePacket(bytes: Uint8Array): void {
    if (bytes.length > this.segmentSize) throw new BtpError(`packet of ${bytes.length} bytes over segment size`);
    const packet = decodeBtpPacket(bytes);
    if (packet.sequence !== this.expectedRxSequence) throw new BtpError(`sequence number ${packet.sequence}, expected ${this.expectedRxSequence}`);
    if (this.owed >= this.windowSize) throw new BtpError("the peer overran our receive window");
    this.expectedRxSequence = (packet.sequence + 1) & 0xff;
    this.stats.packetsReceived++;
    this.restartIdleTimer();

    if (packet.ack !== undefined) {
      const advance = (packet.ack - this.lastAckReceived) & 0xff;
      if (advance === 0 || advance > this.outstanding) throw new BtpError(`acknowledgement ${packet.ack} of nothing outstanding`);
      this.lastAckReceived = packet.ack;
      this.stopAckTimer();
      if (this.outstanding > 0) this.startAckTimer();
    }

    let complete: Uint8Array | undefined;
    if (packet.beginning) {
      if (this.reassembly) throw new BtpError("message began before the last ended");
      if (packet.messageLength! > this.maxMessageSize) throw new BtpError(`message of ${packet.messageLength} bytes exceeds ${this.maxMessageSize}`);
      this.reassembly = { buffer: new Uint8Array(packet.messageLength!), filled: 0 };
    } else if (packet.continuing && !this.reassembly) {
      throw new BtpError("continuing outside a message");
    }
    if (packet.beginning || packet.continuing) {
      const reassembly = this.reassembly!;
      if (reassembly.filled + packet.payload.length > reassembly.buffer.length) throw new BtpError("segments exceed the message length");
      reassembly.buffer.set(packet.payload, reassembly.filled);
      reassembly.filled += packet.payload.length;
      if (packet.ending) {
        if (reassembly.filled !== reassembly.buffer.length) throw new BtpError(`message ended after ${reassembly.filled} of ${reassembly.buffer.length} bytes`);
        complete = reassembly.buffer;
        this.reassembly = undefined;
      } else if (reassembly.filled === reassembly.buffer.length) {
        throw new BtpError("last segment lacks the ending flag");
      }
    }

    if (this.owed > 0) {
      const windowLow = this.windowSize - this.owed <= IMMEDIATE_ACK_WINDOW_THRESHOLD;
      const carriesData = packet.beginning || packet.continuing;
      if (!windowLow) {
        this.startSendAckTimer(this.options.sendAckTimeoutMs ?? BTP_SEND_ACK_TIMEOUT_MS);
      } else if (!carriesData && !this.owesData) {
        // In windows of one or two, acknowledging every stand-alone ack at once would make the
        // peers trade acks as fast as the link goes; a short pause bounds that to a trickle.
        this.deferAck = true;
        this.startSendAckTimer(ACK_OF_ACK_DELAY_MS);
      }
      if (carriesData) {
        this.owesData = true;
        this.deferAck = false;
      }
    }
    if (complete) {
      this.stats.messagesReceived++;
      // The message layer may answer at once; its reply then carries our acknowledgement.
      this.options.deliver(complete);
      if (this.ended) return;
    }
    this.pump();
  }

  /** Sends what the windows allow: message segments (with any owed ack), else a due stand-alone ack. */
  private pump(): void {
    if (this.pumping || this.ended) return;
    this.pumping = true;
    try {
      while (!this.ended) {
        if (!this.sending && this.queue.length > 0) this.sending = { message: this.queue.shift()!, offset: 0 };
        const free = this.windowSize - this.outstanding;
        const carryAck = this.owed > 0;
        if (this.sending) {
          if (free <= 0 || (free <= NO_ACK_SEND_THRESHOLD && !carryAck)) break;
          this.sendSegment(this.sending, carryAck);
          continue;
        }
        const ackNow = carryAck && (this.sendAckDue || (this.windowSize - this.owed <= IMMEDIATE_ACK_WINDOW_THRESHOLD && !this.deferAck));
        if (ackNow && free > 0) {
          this.transmit({ ack: this.ackNumber(), sequence: this.nextTxSequence, beginning: false, continuing: false, ending: false, payload: new Uint8Array(0) });
          this.stats.standaloneAcksSent++;
        }
        break;
      }
    } finally {
      this.pumping = false;
    }
  }

  private sendSegment(sending: { message: Uint8Array; offset: number }, carryAck: boolean): void {
    const beginning = sending.offset === 0;
    const header = 2 + (carryAck ? 1 : 0) + (beginning ? 2 : 0);
    const length = Math.min(this.segmentSize - header, sending.message.length - sending.offset);
    const payload = sending.message.subarray(sending.offset, sending.offset + length);
    sending.offset += length;
    const ending = sending.offset === sending.message.length;
    const packet: BtpPacket = { sequence: this.nextTxSequence, beginning, continuing: !beginning, ending, payload };
    if (beginning) packet.messageLength = sending.message.length;
    if (carryAck) packet.ack = this.ackNumber();
    if (ending) {
      this.sending = undefined;
      this.stats.messagesSent++;
    }
    this.transmit(packet);
  }

  private ackNumber(): number {
    return (this.expectedRxSequence - 1) & 0xff;
  }

  private transmit(packet: BtpPacket): void {
    if (packet.ack !== undefined) {
      this.lastAckSent = packet.ack;
      this.sendAckDue = false;
      this.deferAck = false;
      this.owesData = false;
      this.sendAckTimer = cancelTimer(this.clock, this.sendAckTimer);
    }
    this.nextTxSequence = (this.nextTxSequence + 1) & 0xff;
    this.stats.packetsSent++;
    this.stats.maxOutstanding = Math.max(this.stats.maxOutstanding, this.outstanding);
    if (this.ackTimer === undefined) this.startAckTimer();
    this.options.send(encodeBtpPacket(packet));
  }

  private startAckTimer(): void {
    this.ackTimer = this.clock.setTimer(this.options.ackTimeoutMs ?? BTP_ACK_TIMEOUT_MS, () => {
      this.ackTimer = undefined;
      if (this.outstanding > 0) this.close("ack timeout");
    });
  }

  private stopAckTimer(): void {
    this.ackTimer = cancelTimer(this.clock, this.ackTimer);
  }

  /** Arms the send-ack timer, or brings it forward when `delayMs` ends sooner. */
  private startSendAckTimer(delayMs: number): void {
    const deadline = this.clock.now() + delayMs;
    if (this.sendAckTimer !== undefined) {
      if (deadline >= this.sendAckDeadline) return;
      this.clock.clearTimer(this.sendAckTimer);
    }
    this.sendAckDeadline = deadline;
    this.sendAckTimer = this.clock.setTimer(delayMs, () => {
      this.sendAckTimer = undefined;
      if (this.owed === 0) return;
      this.sendAckDue = true;
      this.pump();
    });
  }

  private restartIdleTimer(): void {
    cancelTimer(this.clock, this.idleTimer);
    this.idleTimer = this.clock.setTimer(this.options.idleTimeoutMs ?? BTP_IDLE_TIMEOUT_MS, () => {
      this.idleTimer = undefined;
      this.close("idle timeout");
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The peripheral side as a Transport

export interface BtpTransportOptions {
  ble: BlePeripheral;
  clock: Clock;
  /** Centrals served at once (ESP32's bleserver serves one). */
  maxConnections?: number;
  maxWindowSize?: number;
  log?: (level: LogLevel, message: string) => void;
  /** Overrides for tests. */
  timeouts?: { connectMs?: number; ackMs?: number; sendAckMs?: number; idleMs?: number };
}

type ConnectionState = "awaiting-request" | "awaiting-subscription" | "open" | "closing";

interface BtpConnection {
  connection: BleConnection;
  mtu: number;
  state: ConnectionState;
  subscribed: boolean;
  response: BtpHandshakeResponse | undefined;
  session: BtpSession | undefined;
  connectTimer: TimerHandle | undefined;
}

/** A BTP peer address: the BLE connection handle. */
export function btpPeer(connection: BleConnection): PeerAddress {
  return { transport: "btp", address: String(connection), port: 0 };
}

export class BtpTransport implements Transport {
  readonly name = "btp";
  readonly reliable = true;
  readonly maxMessageSize = BTP_MAX_MESSAGE_SIZE;
  private readonly connections = new Map<BleConnection, BtpConnection>();
  private handler: ((message: Uint8Array, peer: PeerAddress) => void) | undefined;
  private closedHandler: ((peer: PeerAddress, reason: string) => void) | undefined;
  private readonly log: (level: LogLevel, message: string) => void;

  constructor(private readonly options: BtpTransportOptions) {
    this.log = options.log ?? (() => {});
    const events: BleEvents = {
      connected: (connection, mtu) => this.connected(connection, mtu),
      disconnected: (connection) => this.ended(connection, "the central disconnected", false),
      received: (connection, data) => this.received(connection, data),
      subscribed: (connection, subscribed) => this.subscribed(connection, subscribed),
      confirmed: () => {},
    };
    options.ble.setHandler(events);
  }

  /** Open BTP sessions. */
  get sessionCount(): number {
    let count = 0;
    for (const entry of this.connections.values()) if (entry.state === "open") count++;
    return count;
  }

  /** The session of a connection, for tests and diagnostics. */
  session(connection: BleConnection): BtpSession | undefined {
    return this.connections.get(connection)?.session;
  }

  onReceive(handler: (message: Uint8Array, peer: PeerAddress) => void): void {
    this.handler = handler;
  }

  /** Called when a BTP session ends, so that the sessions running over it can be dropped. */
  onConnectionClosed(handler: (peer: PeerAddress, reason: string) => void): void {
    this.closedHandler = handler;
  }

  send(message: Uint8Array, peer: PeerAddress): void {
    const entry = this.connections.get(Number(peer.address));
    if (!entry?.session || entry.state !== "open") throw new BtpError(`no BTP session on ${peer.address}`);
    entry.session.send(message);
  }

  close(): void {
    for (const entry of [...this.connections.values()]) this.ended(entry.connection, "transport closed", true);
    this.handler = undefined;
  }

  private connected(connection: BleConnection, mtu: number): void {
    if (this.connections.size >= (this.options.maxConnections ?? 1)) {
      this.log("warn", `BTP: refused connection ${connection}`);
      this.options.ble.disconnect(connection);
      return;
    }
    const entry: BtpConnection = { connection, mtu, state: "awaiting-request", subscribed: false, response: undefined, session: undefined, connectTimer: undefined };
    entry.connectTimer = this.options.clock.setTimer(this.options.timeouts?.connectMs ?? BTP_CONNECT_TIMEOUT_MS, () => {
      entry.connectTimer = undefined;
      if (entry.state !== "open") this.ended(connection, "no BTP handshake in time", true);
    });
    this.connections.set(connection, entry);
  }

  private received(connection: BleConnection, data: Uint8Array): void {
    const entry = this.connections.get(connection);
    if (!entry) return;
    if (entry.state === "open") {
      entry.session!.receive(data);
      return;
    }
    if (entry.state !== "awaiting-request") {
      this.ended(connection, "data before handshake", true);
      return;
    }
    let request: BtpHandshakeRequest;
    try {
      request = decodeBtpHandshakeRequest(data);
    } catch (error) {
      this.ended(connection, `bad handshake request: ${(error as Error).message}`, true);
      return;
    }
    entry.response = negotiateBtp(request, entry.mtu, this.options.maxWindowSize);
    entry.state = "awaiting-subscription";
    if (entry.subscribed) this.completeHandshake(entry);
  }

  private subscribed(connection: BleConnection, subscribed: boolean): void {
    const entry = this.connections.get(connection);
    if (!entry) return;
    entry.subscribed = subscribed;
    if (!subscribed) {
      // The central unsubscribing from C2 ends the BTP session (spec 4.19.3).
      if (entry.state !== "awaiting-request") this.ended(connection, "the central unsubscribed", true);
      return;
    }
    if (entry.state === "awaiting-subscription") this.completeHandshake(entry);
  }

  private completeHandshake(entry: BtpConnection): void {
    const response = entry.response!;
    try {
      this.options.ble.indicate(entry.connection, encodeBtpHandshakeResponse(response));
    } catch (error) {
      this.ended(entry.connection, `handshake response not sent: ${(error as Error).message}`, true);
      return;
    }
    if (response.version === 0) {
      this.ended(entry.connection, "no BTP version in common", true);
      return;
    }
    entry.connectTimer = cancelTimer(this.options.clock, entry.connectTimer);
    entry.state = "open";
    const peer = btpPeer(entry.connection);
    const timeouts = this.options.timeouts ?? {};
    entry.session = new BtpSession({
      role: "peripheral",
      segmentSize: response.segmentSize,
      windowSize: response.windowSize,
      clock: this.options.clock,
      send: (packet) => {
        try {
          this.options.ble.indicate(entry.connection, packet);
        } catch (error) {
          entry.session?.close(`indication failed: ${(error as Error).message}`);
        }
      },
      deliver: (message) => this.handler?.(message, peer),
      closed: (reason) => this.ended(entry.connection, reason, true),
      ackTimeoutMs: timeouts.ackMs,
      sendAckTimeoutMs: timeouts.sendAckMs,
      idleTimeoutMs: timeouts.idleMs,
    });
    this.log("info", `BTP: open on ${entry.connection}, segment ${response.segmentSize}, window ${response.windowSize}`);
  }

  /** Ends a connection's BTP state once; `disconnect` also drops the BLE link. */
  private ended(connection: BleConnection, reason: string, disconnect: boolean): void {
    const entry = this.connections.get(connection);
    if (!entry || entry.state === "closing") return;
    const wasOpen = entry.state === "open";
    entry.state = "closing";
    cancelTimer(this.options.clock, entry.connectTimer);
    entry.session?.close(reason);
    this.connections.delete(connection);
    this.log(wasOpen ? "info" : "warn", `BTP: ${connection} ended: ${reason}`);
    if (disconnect) {
      try {
        this.options.ble.disconnect(connection);
      } catch (error) {
        this.log("warn", `BTP: disconnect ${connection}: ${(error as Error).message}`);
      }
    }
    if (wasOpen) this.closedHandler?.(btpPeer(connection), reason);
  }
}
