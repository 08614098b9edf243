// StatusReport (spec 4.11.1.3 / Appendix D): the message every secure channel exchange ends with.
//   GeneralCode u16 LE | ProtocolId u32 LE (vendor id << 16 | protocol id) | ProtocolCode u16 LE | ProtocolData
import { ByteReader, ByteWriter, CodecError } from "../codec/bytes";
import { SECURE_CHANNEL_PROTOCOL_ID } from "../transport/exchange";

/** Secure channel opcodes (spec 4.11.1.2). */
export const SecureChannelOpcode = {
  msgCounterSyncRequest: 0x00,
  msgCounterSyncResponse: 0x01,
  standaloneAck: 0x10,
  pbkdfParamRequest: 0x20,
  pbkdfParamResponse: 0x21,
  pake1: 0x22,
  pake2: 0x23,
  pake3: 0x24,
  sigma1: 0x30,
  sigma2: 0x31,
  sigma3: 0x32,
  sigma2Resume: 0x33,
  statusReport: 0x40,
  icdCheckIn: 0x50,
} as const;

/** Status codes common to every protocol (spec Appendix D.3.1). */
export const GeneralCode = {
  success: 0,
  failure: 1,
  badPrecondition: 2,
  outOfRange: 3,
  badRequest: 4,
  unsupported: 5,
  unexpected: 6,
  resourceExhausted: 7,
  busy: 8,
  timeout: 9,
  continue: 10,
  aborted: 11,
  invalidArgument: 12,
  notFound: 13,
  alreadyExists: 14,
  permissionDenied: 15,
  dataLoss: 16,
} as const;

/** Protocol codes of the secure channel protocol (spec 4.11.1.4). */
export const SecureChannelCode = {
  sessionEstablishmentSuccess: 0,
  noSharedTrustRoots: 1,
  invalidParameter: 2,
  closeSession: 3,
  busy: 4,
} as const;

export interface StatusReport {
  generalCode: number;
  /** Common vendor (0) unless the report belongs to a vendor's protocol. */
  vendorId: number;
  protocolId: number;
  protocolCode: number;
  /** Protocol-specific data (Busy: the minimum wait in ms, u16 LE); empty when there is none. */
  data: Uint8Array;
}

const HEADER_LENGTH = 8;

export function encodeStatusReport(report: StatusReport): Uint8Array {
  return new ByteWriter(HEADER_LENGTH + report.data.length)
    .u16le(report.generalCode)
    .u16le(report.protocolId)
    .u16le(report.vendorId)
    .u16le(report.protocolCode)
    .bytes(report.data)
    .finish();
}

/** CodecError when the report is shorter than its fixed 8-byte header. */
export function decodeStatusReport(payload: Uint8Array): StatusReport {
  if (payload.length < HEADER_LENGTH) throw new CodecError(`StatusReport of ${payload.length} bytes`);
  const reader = new ByteReader(payload);
  const generalCode = reader.u16le();
  const protocolId = reader.u16le();
  const vendorId = reader.u16le();
  const protocolCode = reader.u16le();
  return { generalCode, vendorId, protocolId, protocolCode, data: reader.rest().slice() };
}

/** A secure channel StatusReport: Success for SESSION_ESTABLISHMENT_SUCCESS and CLOSE_SESSION, Failure otherwise. */
export function secureChannelStatus(protocolCode: number, generalCode?: number, data: Uint8Array = new Uint8Array(0)): StatusReport {
  const general =
    generalCode ??
    (protocolCode === SecureChannelCode.sessionEstablishmentSuccess || protocolCode === SecureChannelCode.closeSession
      ? GeneralCode.success
      : protocolCode === SecureChannelCode.busy
        ? GeneralCode.busy
        : GeneralCode.failure);
  return { generalCode: general, vendorId: 0, protocolId: SECURE_CHANNEL_PROTOCOL_ID, protocolCode, data };
}

/** Busy with the minimum time the peer should wait before trying again (spec 4.11.1.4). */
export function busyStatus(minimumWaitMs: number): StatusReport {
  const wait = Math.max(1, Math.min(0xffff, Math.round(minimumWaitMs)));
  return secureChannelStatus(SecureChannelCode.busy, GeneralCode.busy, new ByteWriter(2).u16le(wait).finish());
}

/** The minimum wait a Busy report asks for, or undefined when it carries none. */
export function busyWaitMs(report: StatusReport): number | undefined {
  if (report.generalCode !== GeneralCode.busy || report.protocolCode !== SecureChannelCode.busy || report.data.length !== 2) return undefined;
  return report.data[0]! | (report.data[1]! << 8);
}

export function isSecureChannelSuccess(report: StatusReport): boolean {
  return (
    report.generalCode === GeneralCode.success &&
    report.vendorId === 0 &&
    report.protocolId === SECURE_CHANNEL_PROTOCOL_ID &&
    report.protocolCode === SecureChannelCode.sessionEstablishmentSuccess
  );
}

export function isCloseSession(report: StatusReport): boolean {
  return (
    report.generalCode === GeneralCode.success &&
    report.vendorId === 0 &&
    report.protocolId === SECURE_CHANNEL_PROTOCOL_ID &&
    report.protocolCode === SecureChannelCode.closeSession
  );
}

/** "failure/invalidParameter" style text for logs and errors. */
export function describeStatus(report: StatusReport): string {
  const nameOf = (codes: Record<string, number>, code: number) => Object.keys(codes).find((name) => codes[name] === code);
  const general = nameOf(GeneralCode, report.generalCode) ?? `general ${report.generalCode}`;
  const protocol =
    report.protocolId === SECURE_CHANNEL_PROTOCOL_ID && report.vendorId === 0
      ? (nameOf(SecureChannelCode, report.protocolCode) ?? `code ${report.protocolCode}`)
      : `protocol ${report.vendorId.toString(16)}:${report.protocolId.toString(16)} code ${report.protocolCode}`;
  return `${general}/${protocol}`;
}
