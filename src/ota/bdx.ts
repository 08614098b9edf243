// Bulk Data Exchange (spec 11.22, protocol id 0x0002): the message codecs and the receiver side
// of a receiver-driven synchronous transfer, which is how an OTA Requestor downloads an image:
//
//   device                     provider
//   ReceiveInit          ->
//                        <-    ReceiveAccept
//   BlockQuery(0)        ->
//                        <-    Block(0)
//   BlockQuery(1)        ->                  (each query also acknowledges the previous block)
//                        <-    ... BlockEOF(n)
//   BlockAckEOF(n)       ->
//
// Either side ends a transfer early with a StatusReport (secure channel opcode 0x40) naming the
// BDX protocol and one of the codes below.
//
// Layouts (little endian):
//   SendInit / ReceiveInit  TransferControl u8 | RangeControl u8 | MaxBlockSize u16 |
//                           [StartOffset u32/u64] | [MaxLength u32/u64] | FileDesignatorLength u16 |
//                           FileDesignator | Metadata (rest, TLV)
//   SendAccept              TransferControl u8 | MaxBlockSize u16 | Metadata
//   ReceiveAccept           TransferControl u8 | RangeControl u8 | MaxBlockSize u16 |
//                           [StartOffset u32/u64] | [Length u32/u64] | Metadata
//   BlockQuery, BlockAck, BlockAckEOF   BlockCounter u32
//   BlockQueryWithSkip      BlockCounter u32 | BytesToSkip u64
//   Block, BlockEOF         BlockCounter u32 | Data
// TransferControl: version in the low nibble (0), 0x10 sender drive, 0x20 receiver drive, 0x40
// asynchronous. RangeControl: 0x01 definite length, 0x02 start offset, 0x10 wide (64-bit) fields.
import { ByteReader, ByteWriter, CodecError } from "../codec/bytes";
import { decodeStatusReport, encodeStatusReport, GeneralCode, SecureChannelOpcode, type StatusReport } from "../securechannel/status-report";
import { BDX_PROTOCOL_ID, SECURE_CHANNEL_PROTOCOL_ID } from "../transport/exchange";

export { BDX_PROTOCOL_ID };

export const BdxOpcode = Object.freeze({
  sendInit: 0x01,
  sendAccept: 0x02,
  receiveInit: 0x04,
  receiveAccept: 0x05,
  blockQuery: 0x10,
  block: 0x11,
  blockEof: 0x12,
  blockAck: 0x13,
  blockAckEof: 0x14,
  blockQueryWithSkip: 0x15,
} as const);

/** BDX protocol status codes (spec 11.22.5.x, carried in a StatusReport). */
export const BdxStatus = Object.freeze({
  lengthTooLarge: 0x0012,
  lengthTooShort: 0x0013,
  lengthMismatch: 0x0014,
  lengthRequired: 0x0015,
  badMessageContent: 0x0016,
  badBlockCounter: 0x0017,
  unexpectedMessage: 0x0018,
  responderBusy: 0x0019,
  transferFailedUnknownError: 0x001f,
  transferMethodNotSupported: 0x0050,
  fileDesignatorUnknown: 0x0051,
  startOffsetNotSupported: 0x0052,
  versionNotSupported: 0x0053,
  unknown: 0x005f,
} as const);

export const BDX_VERSION = 0;
export const TransferControl = Object.freeze({
  versionMask: 0x0f,
  senderDrive: 0x10,
  receiverDrive: 0x20,
  asynchronous: 0x40,
} as const);
export const RangeControl = Object.freeze({
  definiteLength: 0x01,
  startOffset: 0x02,
  wideRange: 0x10,
} as const);

const U32_LIMIT = 0x1_0000_0000;

export function bdxStatusName(code: number): string {
  for (const [name, value] of Object.entries(BdxStatus)) if (value === code) return name;
  return `0x${code.toString(16).padStart(4, "0")}`;
}

/** The modes an initiator offers, or the one mode an accept chooses. */
export interface TransferModes {
  senderDrive: boolean;
  receiverDrive: boolean;
  asynchronous: boolean;
}

/** SendInit and ReceiveInit. */
export interface TransferInit {
  version: number;
  modes: TransferModes;
  maxBlockSize: number;
  startOffset?: number;
  /** Omitted (or 0 on the wire): the whole file. */
  maxLength?: number;
  fileDesignator: Uint8Array;
  metadata?: Uint8Array;
}

export interface SendAccept {
  version: number;
  modes: TransferModes;
  maxBlockSize: number;
  metadata?: Uint8Array;
}

export interface ReceiveAccept {
  version: number;
  modes: TransferModes;
  maxBlockSize: number;
  startOffset?: number;
  /** Omitted: the length is not known in advance. */
  length?: number;
  metadata?: Uint8Array;
}

export interface BlockMessage {
  blockCounter: number;
  data: Uint8Array;
}

export interface BlockQueryWithSkip {
  blockCounter: number;
  bytesToSkip: number;
}

function transferControlByte(version: number, modes: TransferModes): number {
  if (!Number.isInteger(version) || version < 0 || version > TransferControl.versionMask) throw new CodecError(`BDX: version ${version} is not 0..15`);
  return (
    version |
    (modes.senderDrive ? TransferControl.senderDrive : 0) |
    (modes.receiverDrive ? TransferControl.receiverDrive : 0) |
    (modes.asynchronous ? TransferControl.asynchronous : 0)
  );
}

function readTransferControl(byte: number): { version: number; modes: TransferModes } {
  if (byte & 0x80) throw new CodecError("BDX: reserved transfer control bit 7 is set");
  return {
    version: byte & TransferControl.versionMask,
    modes: {
      senderDrive: (byte & TransferControl.senderDrive) !== 0,
      receiverDrive: (byte & TransferControl.receiverDrive) !== 0,
      asynchronous: (byte & TransferControl.asynchronous) !== 0,
    },
  };
}

function checkBlockSize(size: number): void {
  if (!Number.isInteger(size) || size < 1 || size > 0xffff) throw new CodecError(`BDX: max block size ${size} is not 1..65535`);
}

function checkSize(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new CodecError(`BDX: ${name} ${value}`);
}

function readSize(reader: ByteReader, wide: boolean, name: string): number {
  if (!wide) return reader.u32le();
  const value = reader.u64le();
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new CodecError(`BDX: ${name} ${value} is too large`);
  return Number(value);
}

function writeRange(writer: ByteWriter, startOffset: number | undefined, length: number | undefined): void {
  const wide = (startOffset ?? 0) >= U32_LIMIT || (length ?? 0) >= U32_LIMIT;
  if (startOffset) (wide ? writer.u64le(startOffset) : writer.u32le(startOffset));
  if (length) (wide ? writer.u64le(length) : writer.u32le(length));
}

function rangeControlByte(startOffset: number | undefined, length: number | undefined): number {
  const wide = (startOffset ?? 0) >= U32_LIMIT || (length ?? 0) >= U32_LIMIT;
  return (length ? RangeControl.definiteLength : 0) | (startOffset ? RangeControl.startOffset : 0) | (wide ? RangeControl.wideRange : 0);
}

function readRangeControl(byte: number): { definite: boolean; offset: boolean; wide: boolean } {
  if (byte & ~(RangeControl.definiteLength | RangeControl.startOffset | RangeControl.wideRange)) {
    throw new CodecError(`BDX: reserved range control bits set (0x${byte.toString(16)})`);
  }
  return { definite: (byte & RangeControl.definiteLength) !== 0, offset: (byte & RangeControl.startOffset) !== 0, wide: (byte & RangeControl.wideRange) !== 0 };
}

function rest(reader: ByteReader): Uint8Array | undefined {
  return reader.remaining > 0 ? reader.rest() : undefined;
}

/** SendInit / ReceiveInit. A start offset or max length of 0 is left out, as CHIP does. */
export function encodeTransferInit(message: TransferInit): Uint8Array {
  checkBlockSize(message.maxBlockSize);
  if (message.startOffset !== undefined) checkSize(message.startOffset, "start offset");
  if (message.maxLength !== undefined) checkSize(message.maxLength, "max length");
  if (message.fileDesignator.length < 1 || message.fileDesignator.length > 0xffff) throw new CodecError("BDX: file designator length");
  const writer = new ByteWriter(32 + message.fileDesignator.length);
  writer.u8(transferControlByte(message.version, message.modes));
  writer.u8(rangeControlByte(message.startOffset, message.maxLength));
  writer.u16le(message.maxBlockSize);
  writeRange(writer, message.startOffset, message.maxLength);
  writer.u16le(message.fileDesignator.length).bytes(message.fileDesignator);
  if (message.metadata) writer.bytes(message.metadata);
  return writer.finish();
}

export function decodeTransferInit(payload: Uint8Array): TransferInit {
  const reader = new ByteReader(payload);
  const { version, modes } = readTransferControl(reader.u8());
  const range = readRangeControl(reader.u8());
  const maxBlockSize = reader.u16le();
  const message: TransferInit = { version, modes, maxBlockSize, fileDesignator: new Uint8Array(0) };
  if (range.offset) message.startOffset = readSize(reader, range.wide, "start offset");
  if (range.definite) {
    const length = readSize(reader, range.wide, "max length");
    if (length > 0) message.maxLength = length;
  }
  const designatorLength = reader.u16le();
  if (designatorLength === 0) throw new CodecError("BDX: empty file designator");
  message.fileDesignator = reader.bytes(designatorLength);
  const metadata = rest(reader);
  if (metadata) message.metadata = metadata;
  return message;
}

export function encodeSendAccept(message: SendAccept): Uint8Array {
  checkBlockSize(message.maxBlockSize);
  const writer = new ByteWriter(3).u8(transferControlByte(message.version, message.modes)).u16le(message.maxBlockSize);
  if (message.metadata) writer.bytes(message.metadata);
  return writer.finish();
}

export function decodeSendAccept(payload: Uint8Array): SendAccept {
  const reader = new ByteReader(payload);
  const { version, modes } = readTransferControl(reader.u8());
  const message: SendAccept = { version, modes, maxBlockSize: reader.u16le() };
  const metadata = rest(reader);
  if (metadata) message.metadata = metadata;
  return message;
}

export function encodeReceiveAccept(message: ReceiveAccept): Uint8Array {
  checkBlockSize(message.maxBlockSize);
  if (message.startOffset !== undefined) checkSize(message.startOffset, "start offset");
  if (message.length !== undefined) checkSize(message.length, "length");
  const writer = new ByteWriter(20);
  writer.u8(transferControlByte(message.version, message.modes));
  writer.u8(rangeControlByte(message.startOffset, message.length));
  writer.u16le(message.maxBlockSize);
  writeRange(writer, message.startOffset, message.length);
  if (message.metadata) writer.bytes(message.metadata);
  return writer.finish();
}

export function decodeReceiveAccept(payload: Uint8Array): ReceiveAccept {
  const reader = new ByteReader(payload);
  const { version, modes } = readTransferControl(reader.u8());
  const range = readRangeControl(reader.u8());
  const message: ReceiveAccept = { version, modes, maxBlockSize: reader.u16le() };
  if (range.offset) message.startOffset = readSize(reader, range.wide, "start offset");
  if (range.definite) {
    const length = readSize(reader, range.wide, "length");
    if (length > 0) message.length = length;
  }
  const metadata = rest(reader);
  if (metadata) message.metadata = metadata;
  return message;
}

function checkCounter(counter: number): void {
  if (!Number.isInteger(counter) || counter < 0 || counter >= U32_LIMIT) throw new CodecError(`BDX: block counter ${counter} is not a u32`);
}

/** BlockQuery, BlockAck, BlockAckEOF. */
export function encodeCounterMessage(blockCounter: number): Uint8Array {
  checkCounter(blockCounter);
  return new ByteWriter(4).u32le(blockCounter).finish();
}

export function decodeCounterMessage(payload: Uint8Array): number {
  if (payload.length !== 4) throw new CodecError(`BDX: a counter message is 4 bytes, got ${payload.length}`);
  return new ByteReader(payload).u32le();
}

export function encodeBlockQueryWithSkip(message: BlockQueryWithSkip): Uint8Array {
  checkCounter(message.blockCounter);
  checkSize(message.bytesToSkip, "bytes to skip");
  return new ByteWriter(12).u32le(message.blockCounter).u64le(message.bytesToSkip).finish();
}

export function decodeBlockQueryWithSkip(payload: Uint8Array): BlockQueryWithSkip {
  if (payload.length !== 12) throw new CodecError(`BDX: BlockQueryWithSkip is 12 bytes, got ${payload.length}`);
  const reader = new ByteReader(payload);
  const blockCounter = reader.u32le();
  return { blockCounter, bytesToSkip: readSize(reader, true, "bytes to skip") };
}

/** Block and BlockEOF. */
export function encodeBlock(message: BlockMessage): Uint8Array {
  checkCounter(message.blockCounter);
  return new ByteWriter(4 + message.data.length).u32le(message.blockCounter).bytes(message.data).finish();
}

/** The data is a view into `payload`. */
export function decodeBlock(payload: Uint8Array): BlockMessage {
  const reader = new ByteReader(payload);
  return { blockCounter: reader.u32le(), data: reader.rest() };
}

/** A StatusReport ending a transfer: Failure, protocol BDX, `code`. */
export function bdxStatusReport(code: number): StatusReport {
  return { generalCode: GeneralCode.failure, vendorId: 0, protocolId: BDX_PROTOCOL_ID, protocolCode: code, data: new Uint8Array(0) };
}

/** Why a transfer ended early. */
export class BdxError extends Error {
  override name = "BdxError";
  constructor(
    message: string,
    /** The BDX status code (ours when `byPeer` is false, the sender's otherwise). */
    readonly status: number,
    /** True when the sender ended the transfer with a StatusReport. */
    readonly byPeer: boolean,
    /** Bytes received before it ended. */
    readonly bytesReceived: number,
  ) {
    super(message);
  }
}

/** A message for the exchange: protocol, opcode, payload. */
export interface BdxOutgoing {
  protocolId: number;
  opcode: number;
  payload: Uint8Array;
}

export interface BdxReceiverOptions {
  /** What to download (the ImageURI's path for OTA). */
  fileDesignator: Uint8Array;
  /** Largest block to ask for; the sender may choose less. */
  maxBlockSize: number;
  /** Resume from this byte of the file (StartOffset); the sender may refuse. */
  startOffset?: number;
}

/** What one message from the sender amounted to. */
export type BdxReceiverEvent =
  | { kind: "accepted"; accept: ReceiveAccept }
  /** Data to store (a view into the message), `last` for BlockEOF. */
  | { kind: "data"; data: Uint8Array; last: boolean };

/**
 * The receiver's state machine, without I/O: start() gives the ReceiveInit, receive() judges each
 * message from the sender, next() gives the BlockQuery (or, after BlockEOF, the BlockAckEOF) to
 * send once the data is stored. A violation throws BdxError; `failure(status)` is the StatusReport
 * to tell the sender. receiveBdx drives it over an exchange.
 */
export class BdxReceiver {
  private accept: ReceiveAccept | undefined;
  private counter = 0;
  private received = 0;
  private state: "new" | "accepting" | "querying" | "storing" | "done" | "failed" = "new";
  private lastBlock = false;

  constructor(private readonly options: BdxReceiverOptions) {
    checkBlockSize(options.maxBlockSize);
    if (options.startOffset !== undefined) checkSize(options.startOffset, "start offset");
  }

  get bytesReceived(): number {
    return this.received;
  }

  /** The block size the sender accepted (0 before ReceiveAccept). */
  get blockSize(): number {
    return this.accept?.maxBlockSize ?? 0;
  }

  /** The Length the sender announced, if it did. */
  get length(): number | undefined {
    return this.accept?.length;
  }

  get done(): boolean {
    return this.state === "done";
  }

  start(): BdxOutgoing {
    if (this.state !== "new") throw new Error("BDX receiver already started");
    const init: TransferInit = {
      version: BDX_VERSION,
      modes: { senderDrive: false, receiverDrive: true, asynchronous: false },
      maxBlockSize: this.options.maxBlockSize,
      fileDesignator: this.options.fileDesignator,
    };
    if (this.options.startOffset) init.startOffset = this.options.startOffset;
    this.state = "accepting";
    return { protocolId: BDX_PROTOCOL_ID, opcode: BdxOpcode.receiveInit, payload: encodeTransferInit(init) };
  }

  /** Judges a message from the sender. */
  receive(message: BdxOutgoing): BdxReceiverEvent {
    if (this.state !== "accepting" && this.state !== "querying") throw new Error(`BDX receiver not waiting (${this.state})`);
    const what = this.state === "accepting" ? "ReceiveAccept" : "Block";
    if (message.protocolId === SECURE_CHANNEL_PROTOCOL_ID && message.opcode === SecureChannelOpcode.statusReport) {
      let report: StatusReport;
      try {
        report = decodeStatusReport(message.payload);
      } catch {
        throw this.violation(BdxStatus.badMessageContent, "malformed StatusReport");
      }
      this.state = "failed";
      throw new BdxError(
        `BDX: the sender ended the transfer (general code ${report.generalCode}, ${report.protocolId === BDX_PROTOCOL_ID ? bdxStatusName(report.protocolCode) : `protocol ${report.protocolId} code ${report.protocolCode}`})`,
        report.protocolCode,
        true,
        this.received,
      );
    }
    const expected: readonly number[] = this.state === "accepting" ? [BdxOpcode.receiveAccept] : [BdxOpcode.block, BdxOpcode.blockEof];
    if (message.protocolId !== BDX_PROTOCOL_ID || !expected.includes(message.opcode)) {
      throw this.violation(BdxStatus.unexpectedMessage, `expected ${what}, got protocol ${message.protocolId} opcode 0x${message.opcode.toString(16)}`);
    }
    return this.state === "accepting" ? this.accepted(message.payload) : this.block(message.opcode, message.payload);
  }

  /** After an accept or stored data: the BlockQuery for the next block, or BlockAckEOF after the last. */
  next(): BdxOutgoing {
    if (this.state !== "storing") throw new Error(`BDX receiver: nothing to send (${this.state})`);
    if (this.lastBlock) {
      this.state = "done";
      return { protocolId: BDX_PROTOCOL_ID, opcode: BdxOpcode.blockAckEof, payload: encodeCounterMessage(this.counter) };
    }
    this.state = "querying";
    return { protocolId: BDX_PROTOCOL_ID, opcode: BdxOpcode.blockQuery, payload: encodeCounterMessage(this.counter) };
  }

  /** The StatusReport that ends the transfer with `status` (after a violation, or when the data is refused). */
  failure(status: number): BdxOutgoing {
    this.state = "failed";
    return { protocolId: SECURE_CHANNEL_PROTOCOL_ID, opcode: SecureChannelOpcode.statusReport, payload: encodeStatusReport(bdxStatusReport(status)) };
  }

  private violation(status: number, message: string): BdxError {
    this.state = "failed";
    return new BdxError(`BDX: ${message}`, status, false, this.received);
  }

  private accepted(payload: Uint8Array): BdxReceiverEvent {
    let accept: ReceiveAccept;
    try {
      accept = decodeReceiveAccept(payload);
    } catch (error) {
      throw this.violation(BdxStatus.badMessageContent, `malformed ReceiveAccept: ${(error as Error).message}`);
    }
    const asked = this.options;
    if (accept.version !== BDX_VERSION) throw this.violation(BdxStatus.versionNotSupported, `sender chose version ${accept.version}`);
    if (!accept.modes.receiverDrive || accept.modes.senderDrive || accept.modes.asynchronous) {
      throw this.violation(BdxStatus.transferMethodNotSupported, "sender refused receiver-driven synchronous");
    }
    if (accept.maxBlockSize > asked.maxBlockSize) {
      throw this.violation(BdxStatus.badMessageContent, `sender chose blocks of ${accept.maxBlockSize} bytes`);
    }
    if (accept.startOffset !== undefined && accept.startOffset !== (asked.startOffset ?? 0)) {
      throw this.violation(BdxStatus.startOffsetNotSupported, `sender starts at ${accept.startOffset}, not at ${asked.startOffset ?? 0}`);
    }
    this.accept = accept;
    this.counter = 0;
    this.state = "storing";
    return { kind: "accepted", accept };
  }

  private block(opcode: number, payload: Uint8Array): BdxReceiverEvent {
    const accept = this.accept!;
    let block: BlockMessage;
    try {
      block = decodeBlock(payload);
    } catch (error) {
      throw this.violation(BdxStatus.badMessageContent, `malformed Block: ${(error as Error).message}`);
    }
    if (block.blockCounter !== this.counter) throw this.violation(BdxStatus.badBlockCounter, `block counter ${block.blockCounter}, expected ${this.counter}`);
    const last = opcode === BdxOpcode.blockEof;
    const length = block.data.length;
    if (length > accept.maxBlockSize) throw this.violation(BdxStatus.badMessageContent, `block of ${length} bytes exceeds ${accept.maxBlockSize}`);
    if (!last && length === 0) throw this.violation(BdxStatus.badMessageContent, "empty Block");
    if (accept.length !== undefined && this.received + length > accept.length) {
      throw this.violation(BdxStatus.lengthTooLarge, `more than the ${accept.length} bytes announced`);
    }
    if (last && accept.length !== undefined && this.received + length !== accept.length) {
      throw this.violation(BdxStatus.lengthTooShort, `BlockEOF after ${this.received + length} of the ${accept.length} bytes`);
    }
    this.received += length;
    this.lastBlock = last;
    if (!last) this.counter = (this.counter + 1) % U32_LIMIT;
    this.state = "storing";
    return { kind: "data", data: block.data, last };
  }
}

/** The part of an exchange a transfer needs (transport's Exchange fits). */
export interface BdxExchange {
  send(protocolId: number, opcode: number, payload: Uint8Array): void;
  nextMessage(timeoutMs: number): Promise<{ protocolId: number; opcode: number; payload: Uint8Array }>;
}

export interface BdxReceiveOptions extends BdxReceiverOptions {
  exchange: BdxExchange;
  /** How long to wait for each answer (ReceiveAccept, Block) before giving up. */
  timeoutMs: number;
  /**
   * Takes each block's data, in order (a view, valid during the call). A throw or rejection ends
   * the transfer: the sender is told, and receiveBdx rejects with that error.
   */
  onBlock(data: Uint8Array): void | Promise<void>;
  /** The sender accepted: the block size and (when it said) the length that will come. */
  onAccept?(accept: ReceiveAccept): void;
}

export interface BdxReceiveResult {
  bytesReceived: number;
  /** The Length the sender announced in ReceiveAccept, when it did. */
  length?: number;
  blockSize: number;
}

/**
 * Runs the receiver side of a receiver-driven synchronous transfer on `exchange` (opened by the
 * caller, who closes it afterwards). Resolves after BlockAckEOF has been sent; rejects with
 * BdxError on a peer StatusReport, a protocol violation (the sender is told first) or a timeout,
 * and with the onBlock error when the sink refuses data.
 */
export async function receiveBdx(options: BdxReceiveOptions): Promise<BdxReceiveResult> {
  const { exchange, timeoutMs } = options;
  const receiver = new BdxReceiver(options);
  const send = (message: BdxOutgoing) => exchange.send(message.protocolId, message.opcode, message.payload);
  const tellSender = (status: number) => {
    try {
      send(receiver.failure(status));
    } catch {
      // The exchange is already gone; the error thrown still says what happened.
    }
  };
  send(receiver.start());
  for (;;) {
    let message: { protocolId: number; opcode: number; payload: Uint8Array };
    try {
      message = await exchange.nextMessage(timeoutMs);
    } catch (error) {
      const what = receiver.blockSize === 0 ? "ReceiveAccept" : "Block";
      throw new BdxError(`BDX: no ${what} (${(error as Error).message})`, BdxStatus.transferFailedUnknownError, false, receiver.bytesReceived);
    }
    let event: BdxReceiverEvent;
    try {
      event = receiver.receive(message);
    } catch (error) {
      if (error instanceof BdxError && !error.byPeer) tellSender(error.status);
      throw error;
    }
    if (event.kind === "accepted") options.onAccept?.(event.accept);
    else if (event.data.length > 0) {
      try {
        await options.onBlock(event.data);
      } catch (error) {
        tellSender(BdxStatus.unknown);
        throw error;
      }
    }
    send(receiver.next());
    if (receiver.done) {
      const result: BdxReceiveResult = { bytesReceived: receiver.bytesReceived, blockSize: receiver.blockSize };
      if (receiver.length !== undefined) result.length = receiver.length;
      return result;
    }
  }
}
