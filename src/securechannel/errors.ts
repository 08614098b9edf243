// Errors of the secure channel layer. Each carries the StatusReport protocol code the handshake
// answers with, so that the state machines map a failure to the right report without guessing.
import { SecureChannelCode, busyWaitMs, describeStatus, type StatusReport } from "./status-report";

export class SecureChannelError extends Error {
  override name = "SecureChannelError";
  constructor(
    message: string,
    /** The secure channel protocol code to report (InvalidParameter unless said otherwise). */
    readonly protocolCode: number = SecureChannelCode.invalidParameter,
  ) {
    super(message);
  }
}

/** The peer ended the handshake with a StatusReport other than success. */
export class PeerStatusError extends SecureChannelError {
  override name = "PeerStatusError";
  /** For Busy: how long the peer asked us to wait, in ms. */
  readonly busyWaitMs: number | undefined;
  constructor(readonly report: StatusReport) {
    super(`the peer reported ${describeStatus(report)}`, report.protocolCode);
    this.busyWaitMs = busyWaitMs(report);
  }
}

/** No answer from the peer in time, or our message was never acknowledged. */
export class HandshakeTimeoutError extends SecureChannelError {
  override name = "HandshakeTimeoutError";
}
