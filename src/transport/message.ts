// Matter message format (spec 4.4): the message header, the protocol header, AES-128-CCM
// protection of secured messages (spec 4.8) and header privacy obfuscation (spec 4.9).
//
//   message header:  flags(1) session id(2 LE) security flags(1) counter(4 LE)
//                    [source node id(8 LE)] [destination node id(8 LE) | group id(2 LE)]
//                    [extensions length(2 LE) extensions]
//   protocol header: exchange flags(1) opcode(1) exchange id(2 LE) [vendor id(2 LE)] protocol id(2 LE)
//                    [acknowledged counter(4 LE)] [secured extensions length(2 LE) extensions]
//   then the application payload; secured messages encrypt the protocol header and payload and
//   append a 16-byte MIC.
import { ByteReader, ByteWriter, CodecError, concatBytes } from "../codec/bytes";
import { aesCcmDecrypt, aesCcmEncrypt, aesCtr, hkdfSha256 } from "../crypto";

export class MessageError extends Error {
  override name = "MessageError";
}

export const MESSAGE_HEADER_VERSION = 0;
export const MIC_LENGTH = 16;
export const NONCE_LENGTH = 13;
/** Unsecured messages use session id 0 with the unicast session type. */
export const UNSECURED_SESSION_ID = 0;

const MESSAGE_FLAG_SOURCE = 0x04;
const MESSAGE_FLAG_DSIZ_MASK = 0x03;
const DSIZ_NONE = 0;
const DSIZ_NODE = 1;
const DSIZ_GROUP = 2;

const SECURITY_FLAG_PRIVACY = 0x80;
const SECURITY_FLAG_CONTROL = 0x40;
const SECURITY_FLAG_EXTENSIONS = 0x20;
const SECURITY_SESSION_TYPE_MASK = 0x03;
const SESSION_TYPE_UNICAST = 0;
const SESSION_TYPE_GROUP = 1;

const EXCHANGE_FLAG_INITIATOR = 0x01;
const EXCHANGE_FLAG_ACK = 0x02;
const EXCHANGE_FLAG_RELIABLE = 0x04;
const EXCHANGE_FLAG_SECURED_EXTENSIONS = 0x08;
const EXCHANGE_FLAG_VENDOR = 0x10;

/** Offset of the privacy-obfuscated part of the header: everything after the security flags. */
const PRIVACY_HEADER_OFFSET = 4;
/** The privacy nonce takes the MIC's last 11 bytes (spec 4.9.3, CHIP kPrivacyNonceMicFragmentOffset). */
const PRIVACY_NONCE_MIC_OFFSET = 5;

const U64_MAX = (1n << 64n) - 1n;

export type SessionType = "unicast" | "group";

export interface PacketHeader {
  sessionId: number;
  sessionType: SessionType;
  messageCounter: number;
  /** P: the header is privacy-obfuscated on the wire. */
  privacy?: boolean;
  /** C: a control message (its own counter domain). */
  control?: boolean;
  sourceNodeId?: bigint;
  destinationNodeId?: bigint;
  destinationGroupId?: number;
  /** MX: the extensions' bytes (skipped by this implementation, but carried and authenticated). */
  messageExtensions?: Uint8Array;
}

export interface DecodedPacketHeader extends PacketHeader {
  privacy: boolean;
  control: boolean;
  /** The security flags byte as received: part of the nonce. */
  securityFlags: number;
}

export interface ProtocolHeader {
  exchangeId: number;
  protocolId: number;
  /** Absent or 0 for the common (Matter) protocols. */
  vendorId?: number;
  opcode: number;
  /** I: sent by the exchange's initiator. */
  initiator: boolean;
  /** R: the sender wants an acknowledgement (MRP). */
  needsAck: boolean;
  /** A: the counter of the message this one acknowledges. */
  ackedMessageCounter?: number;
  securedExtensions?: Uint8Array;
}

export interface MessageParts {
  packetHeader: PacketHeader;
  protocolHeader: ProtocolHeader;
  payload: Uint8Array;
}

export interface DecodedMessage extends MessageParts {
  packetHeader: DecodedPacketHeader;
}

/** The fields readable before any key is known: enough to find the session. */
export interface MessagePrefix {
  sessionId: number;
  sessionType: SessionType;
  securityFlags: number;
  privacy: boolean;
  control: boolean;
  hasSourceNodeId: boolean;
  destination: "none" | "node" | "group";
}

function checkInteger(value: number, bits: 8 | 16 | 32, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) throw new MessageError(`${what} ${value} not a u${bits}`);
}

function checkNodeId(value: bigint, what: string): void {
  if (typeof value !== "bigint" || value < 0n || value > U64_MAX) throw new MessageError(`${what} not a u64 bigint`);
}

function truncated<T>(what: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof CodecError) throw new MessageError(`${what}: ${error.message}`);
    throw error;
  }
}

export function securityFlagsOf(header: PacketHeader): number {
  return (
    (header.privacy ? SECURITY_FLAG_PRIVACY : 0) |
    (header.control ? SECURITY_FLAG_CONTROL : 0) |
    (header.messageExtensions !== undefined ? SECURITY_FLAG_EXTENSIONS : 0) |
    (header.sessionType === "group" ? SESSION_TYPE_GROUP : SESSION_TYPE_UNICAST)
  );
}

export function encodePacketHeader(header: PacketHeader): Uint8Array {
  checkInteger(header.sessionId, 16, "session id");
  checkInteger(header.messageCounter, 32, "message counter");
  if (header.sessionType !== "unicast" && header.sessionType !== "group") throw new MessageError(`unknown session type ${String(header.sessionType)}`);
  if (header.destinationNodeId !== undefined && header.destinationGroupId !== undefined) {
    throw new MessageError("both destination node and group id");
  }
  if (header.destinationNodeId !== undefined && header.sessionType !== "unicast") throw new MessageError("node id needs the unicast session type");
  if (header.destinationGroupId !== undefined && header.sessionType !== "group") throw new MessageError("group id needs the group session type");
  let flags = MESSAGE_HEADER_VERSION << 4;
  if (header.sourceNodeId !== undefined) {
    checkNodeId(header.sourceNodeId, "source node id");
    flags |= MESSAGE_FLAG_SOURCE;
  }
  if (header.destinationNodeId !== undefined) {
    checkNodeId(header.destinationNodeId, "destination node id");
    flags |= DSIZ_NODE;
  } else if (header.destinationGroupId !== undefined) {
    checkInteger(header.destinationGroupId, 16, "destination group id");
    flags |= DSIZ_GROUP;
  }
  const writer = new ByteWriter(32);
  writer.u8(flags).u16le(header.sessionId).u8(securityFlagsOf(header)).u32le(header.messageCounter);
  if (header.sourceNodeId !== undefined) writer.u64le(header.sourceNodeId);
  if (header.destinationNodeId !== undefined) writer.u64le(header.destinationNodeId);
  if (header.destinationGroupId !== undefined) writer.u16le(header.destinationGroupId);
  if (header.messageExtensions !== undefined) {
    if (header.messageExtensions.length > 0xffff) throw new MessageError("message extensions too long");
    writer.u16le(header.messageExtensions.length).bytes(header.messageExtensions);
  }
  return writer.finish();
}

/** Reads the message flags, session id and security flags (never obfuscated). */
export function decodeMessagePrefix(bytes: Uint8Array): MessagePrefix {
  if (bytes.length < 4) throw new MessageError(`message truncated: ${bytes.length} bytes`);
  const flags = bytes[0]!;
  const version = flags >> 4;
  if (version !== MESSAGE_HEADER_VERSION) throw new MessageError(`unsupported message version ${version}`);
  const dsiz = flags & MESSAGE_FLAG_DSIZ_MASK;
  if (dsiz === 3) throw new MessageError("reserved destination size (DSIZ 3)");
  const securityFlags = bytes[3]!;
  const sessionTypeBits = securityFlags & SECURITY_SESSION_TYPE_MASK;
  if (sessionTypeBits > SESSION_TYPE_GROUP) throw new MessageError(`reserved session type ${sessionTypeBits}`);
  const sessionType: SessionType = sessionTypeBits === SESSION_TYPE_GROUP ? "group" : "unicast";
  const destination = dsiz === DSIZ_NODE ? "node" : dsiz === DSIZ_GROUP ? "group" : "none";
  if (destination === "node" && sessionType !== "unicast") throw new MessageError("destination node id on a group message");
  if (destination === "group" && sessionType !== "group") throw new MessageError("destination group id on a unicast message");
  return {
    sessionId: bytes[1]! | (bytes[2]! << 8),
    sessionType,
    securityFlags,
    privacy: (securityFlags & SECURITY_FLAG_PRIVACY) !== 0,
    control: (securityFlags & SECURITY_FLAG_CONTROL) !== 0,
    hasSourceNodeId: (flags & MESSAGE_FLAG_SOURCE) !== 0,
    destination,
  };
}

/** Decodes the message header (with extensions); `length` is where the protocol header (or ciphertext) starts. */
export function decodePacketHeader(bytes: Uint8Array): { header: DecodedPacketHeader; length: number } {
  const prefix = decodeMessagePrefix(bytes);
  const reader = new ByteReader(bytes);
  return truncated("message header", () => {
    reader.bytes(4);
    const header: DecodedPacketHeader = {
      sessionId: prefix.sessionId,
      sessionType: prefix.sessionType,
      securityFlags: prefix.securityFlags,
      privacy: prefix.privacy,
      control: prefix.control,
      messageCounter: reader.u32le(),
    };
    if (prefix.hasSourceNodeId) header.sourceNodeId = reader.u64le();
    if (prefix.destination === "node") header.destinationNodeId = reader.u64le();
    else if (prefix.destination === "group") header.destinationGroupId = reader.u16le();
    if (prefix.securityFlags & SECURITY_FLAG_EXTENSIONS) {
      const length = reader.u16le();
      header.messageExtensions = reader.bytes(length);
    }
    return { header, length: reader.offset };
  });
}

export function encodeProtocolHeader(header: ProtocolHeader): Uint8Array {
  checkInteger(header.exchangeId, 16, "exchange id");
  checkInteger(header.protocolId, 16, "protocol id");
  checkInteger(header.opcode, 8, "opcode");
  const vendorId = header.vendorId ?? 0;
  checkInteger(vendorId, 16, "protocol vendor id");
  let flags = 0;
  if (header.initiator) flags |= EXCHANGE_FLAG_INITIATOR;
  if (header.needsAck) flags |= EXCHANGE_FLAG_RELIABLE;
  if (header.ackedMessageCounter !== undefined) {
    checkInteger(header.ackedMessageCounter, 32, "acknowledged message counter");
    flags |= EXCHANGE_FLAG_ACK;
  }
  if (header.securedExtensions !== undefined) flags |= EXCHANGE_FLAG_SECURED_EXTENSIONS;
  if (vendorId !== 0) flags |= EXCHANGE_FLAG_VENDOR;
  const writer = new ByteWriter(16);
  writer.u8(flags).u8(header.opcode).u16le(header.exchangeId);
  if (vendorId !== 0) writer.u16le(vendorId);
  writer.u16le(header.protocolId);
  if (header.ackedMessageCounter !== undefined) writer.u32le(header.ackedMessageCounter);
  if (header.securedExtensions !== undefined) {
    if (header.securedExtensions.length > 0xffff) throw new MessageError("secured extensions too long");
    writer.u16le(header.securedExtensions.length).bytes(header.securedExtensions);
  }
  return writer.finish();
}

/** Decodes the protocol header; the rest of `bytes` is the application payload (a view). */
export function decodeProtocolHeader(bytes: Uint8Array): { header: ProtocolHeader; payload: Uint8Array } {
  const reader = new ByteReader(bytes);
  return truncated("protocol header", () => {
    const flags = reader.u8();
    const opcode = reader.u8();
    const exchangeId = reader.u16le();
    const vendorId = flags & EXCHANGE_FLAG_VENDOR ? reader.u16le() : undefined;
    const header: ProtocolHeader = {
      exchangeId,
      protocolId: reader.u16le(),
      opcode,
      initiator: (flags & EXCHANGE_FLAG_INITIATOR) !== 0,
      needsAck: (flags & EXCHANGE_FLAG_RELIABLE) !== 0,
    };
    if (vendorId !== undefined) header.vendorId = vendorId;
    if (flags & EXCHANGE_FLAG_ACK) header.ackedMessageCounter = reader.u32le();
    if (flags & EXCHANGE_FLAG_SECURED_EXTENSIONS) {
      const length = reader.u16le();
      header.securedExtensions = reader.bytes(length);
    }
    return { header, payload: reader.rest() };
  });
}

/** CCM nonce (spec 4.8.2): security flags || message counter (LE) || source node id (LE). */
export function messageNonce(securityFlags: number, messageCounter: number, sourceNodeId: bigint): Uint8Array {
  checkInteger(securityFlags, 8, "security flags");
  checkInteger(messageCounter, 32, "message counter");
  checkNodeId(sourceNodeId, "nonce node id");
  return new ByteWriter(NONCE_LENGTH).u8(securityFlags).u32le(messageCounter).u64le(sourceNodeId).finish();
}

/** Privacy nonce (spec 4.9.3): session id (BE) || MIC[5..16]. */
export function privacyNonce(sessionId: number, mic: Uint8Array): Uint8Array {
  checkInteger(sessionId, 16, "session id");
  if (mic.length !== MIC_LENGTH) throw new MessageError(`MIC must be ${MIC_LENGTH} bytes, got ${mic.length}`);
  return new ByteWriter(NONCE_LENGTH).u16be(sessionId).bytes(mic.subarray(PRIVACY_NONCE_MIC_OFFSET)).finish();
}

/** PrivacyKey = HKDF-SHA256(encryption key, salt = [], info = "PrivacyKey", 16) (spec 4.9.1). */
export function derivePrivacyKey(encryptionKey: Uint8Array): Uint8Array {
  // Built per call: module scope holds no mutable objects (preloaded modules are frozen on XS).
  const info = new Uint8Array([0x50, 0x72, 0x69, 0x76, 0x61, 0x63, 0x79, 0x4b, 0x65, 0x79]); // "PrivacyKey"
  return hkdfSha256(encryptionKey, new Uint8Array(0), info, 16);
}

/** Length of the obfuscated header part: counter and node/group ids (extensions stay in clear, as in CHIP). */
function privacyHeaderLength(prefix: MessagePrefix): number {
  return 4 + (prefix.hasSourceNodeId ? 8 : 0) + (prefix.destination === "node" ? 8 : prefix.destination === "group" ? 2 : 0);
}

/**
 * Matter AES-CTR (spec 3.7.1) is CCM's counter mode: the first counter block is
 * flags (15 - 13 - 1 = 1) || 13-byte nonce || counter 1 (big-endian, 2 bytes).
 */
function privacyCrypt(privacyKey: Uint8Array, nonce: Uint8Array, data: Uint8Array): Uint8Array {
  const counterBlock = new Uint8Array(16);
  counterBlock[0] = 15 - NONCE_LENGTH - 1;
  counterBlock.set(nonce, 1);
  counterBlock[15] = 1;
  return aesCtr(privacyKey, counterBlock, data);
}

/** Applies (or removes: CTR is symmetric) the privacy obfuscation of a whole secured message; returns a copy. */
export function togglePrivacy(message: Uint8Array, privacyKey: Uint8Array): Uint8Array {
  const prefix = decodeMessagePrefix(message);
  const end = PRIVACY_HEADER_OFFSET + privacyHeaderLength(prefix);
  if (message.length < end + MIC_LENGTH) throw new MessageError("message truncated for privacy header and MIC");
  const nonce = privacyNonce(prefix.sessionId, message.subarray(message.length - MIC_LENGTH));
  const out = message.slice();
  out.set(privacyCrypt(privacyKey, nonce, message.subarray(PRIVACY_HEADER_OFFSET, end)), PRIVACY_HEADER_OFFSET);
  return out;
}

/** An unsecured message: header, protocol header and payload in clear. */
export function encodeUnsecuredMessage(parts: MessageParts): Uint8Array {
  const header = parts.packetHeader;
  if (header.sessionId !== UNSECURED_SESSION_ID || header.sessionType !== "unicast") throw new MessageError("unsecured needs unicast session id 0");
  if (header.privacy) throw new MessageError("unsecured with privacy");
  return concatBytes(encodePacketHeader(header), encodeProtocolHeader(parts.protocolHeader), parts.payload);
}

export function decodeUnsecuredMessage(bytes: Uint8Array): DecodedMessage {
  const { header, length } = decodePacketHeader(bytes);
  if (header.sessionId !== UNSECURED_SESSION_ID || header.sessionType !== "unicast") throw new MessageError("not an unsecured message");
  if (header.privacy) throw new MessageError("unsecured with privacy flag");
  const { header: protocolHeader, payload } = decodeProtocolHeader(bytes.subarray(length));
  return { packetHeader: header, protocolHeader, payload };
}

export interface MessageKeys {
  /** AES-128-CCM key of the sender's direction. */
  key: Uint8Array;
  /** Node id in the nonce: the sender's operational node id, 0 for PASE. */
  nonceNodeId: bigint;
  /** Required when the header asks for privacy. */
  privacyKey?: Uint8Array;
}

/** Encrypts and authenticates: the encoded header is the AAD, the MIC follows the ciphertext. */
export function encodeSecuredMessage(parts: MessageParts, keys: MessageKeys): Uint8Array {
  const header = parts.packetHeader;
  const headerBytes = encodePacketHeader(header);
  const nonce = messageNonce(securityFlagsOf(header), header.messageCounter, keys.nonceNodeId);
  const plaintext = concatBytes(encodeProtocolHeader(parts.protocolHeader), parts.payload);
  const message = concatBytes(headerBytes, aesCcmEncrypt(keys.key, nonce, plaintext, headerBytes, MIC_LENGTH));
  if (!header.privacy) return message;
  if (!keys.privacyKey) throw new MessageError("no privacy key");
  return togglePrivacy(message, keys.privacyKey);
}

/**
 * Removes privacy (when flagged), then authenticates and decrypts. `nonceNodeId` undefined takes
 * the header's source node id (group messages). Any failure is a MessageError.
 */
export function decodeSecuredMessage(bytes: Uint8Array, keys: { key: Uint8Array; nonceNodeId?: bigint; privacyKey?: Uint8Array }): DecodedMessage {
  const prefix = decodeMessagePrefix(bytes);
  let clear = bytes;
  if (prefix.privacy) {
    if (!keys.privacyKey) throw new MessageError("privacy flag but no privacy key");
    clear = togglePrivacy(bytes, keys.privacyKey);
  }
  const { header, length } = decodePacketHeader(clear);
  if (clear.length < length + MIC_LENGTH) throw new MessageError("secured message truncated");
  const nonceNodeId = keys.nonceNodeId ?? header.sourceNodeId;
  if (nonceNodeId === undefined) throw new MessageError("no node id for the nonce");
  const nonce = messageNonce(header.securityFlags, header.messageCounter, nonceNodeId);
  let plaintext: Uint8Array;
  try {
    plaintext = aesCcmDecrypt(keys.key, nonce, clear.subarray(length), clear.subarray(0, length), MIC_LENGTH);
  } catch (error) {
    throw new MessageError(`message authentication failed: ${(error as Error).message}`);
  }
  const { header: protocolHeader, payload } = decodeProtocolHeader(plaintext);
  return { packetHeader: header, protocolHeader, payload };
}
