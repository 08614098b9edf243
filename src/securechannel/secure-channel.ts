// The secure channel protocol's entry point on a node: routes the messages that open an exchange
// (PBKDFParamRequest to PASE, Sigma1 to CASE), honours CloseSession, and closes sessions itself.
import { CodecError } from "../codec/bytes";
import { SECURE_CHANNEL_PROTOCOL_ID, type Exchange, type ExchangeManager, type ReceivedMessage } from "../transport/exchange";
import type { SecureSession, SessionManager } from "../transport/session";
import type { LogLevel } from "../platform";
import type { CaseResponder } from "./case";
import type { PaseResponder } from "./pase";
import { SecureChannelCode, SecureChannelOpcode, decodeStatusReport, describeStatus, encodeStatusReport, isCloseSession, secureChannelStatus } from "./status-report";

export interface SecureChannelServerOptions {
  exchanges: ExchangeManager;
  sessions: SessionManager;
  pase?: PaseResponder;
  caseResponder?: CaseResponder;
  log: (level: LogLevel, message: string) => void;
  /** Called when a peer closes one of our sessions with CloseSession. */
  onSessionClosedByPeer?: (session: SecureSession) => void;
}

export class SecureChannelServer {
  constructor(private readonly options: SecureChannelServerOptions) {
    options.exchanges.registerProtocol(SECURE_CHANNEL_PROTOCOL_ID, (exchange, message) => this.dispatch(exchange, message));
  }

  /** Stops taking secure channel messages. */
  close(): void {
    this.options.exchanges.unregisterProtocol(SECURE_CHANNEL_PROTOCOL_ID);
  }

  /**
   * Tells the peer the session is over (StatusReport CloseSession, sent once without asking for
   * an acknowledgement, as CHIP and matter.js do) and removes it here.
   */
  closeSession(session: SecureSession): void {
    const { exchanges, sessions, log } = this.options;
    if (session.removed) return;
    try {
      const exchange = exchanges.initiate(session);
      exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.statusReport, encodeStatusReport(secureChannelStatus(SecureChannelCode.closeSession)), { reliable: false });
      exchange.close();
    } catch (error) {
      log("info", `CloseSession for session ${session.localSessionId} not sent: ${(error as Error).message}`);
    }
    sessions.remove(session.localSessionId);
  }

  private dispatch(exchange: Exchange, message: ReceivedMessage): void {
    switch (message.opcode) {
      case SecureChannelOpcode.pbkdfParamRequest:
        if (this.options.pase) return this.options.pase.handle(exchange, message);
        break;
      case SecureChannelOpcode.sigma1:
        if (this.options.caseResponder) return this.options.caseResponder.handle(exchange, message);
        break;
      case SecureChannelOpcode.statusReport:
        return this.statusReport(exchange, message);
    }
    // Anything else opening an exchange (a handshake message whose handshake is gone, counter
    // sync for groups we do not have) is acknowledged and otherwise ignored.
    this.options.log("debug", `secure channel opcode 0x${message.opcode.toString(16)} ignored`);
    exchange.close();
  }

  private statusReport(exchange: Exchange, message: ReceivedMessage): void {
    exchange.close();
    const session = exchange.session;
    let report;
    try {
      report = decodeStatusReport(message.payload);
    } catch (error) {
      if (error instanceof CodecError) return this.options.log("info", `malformed StatusReport ignored: ${error.message}`);
      throw error;
    }
    if (!isCloseSession(report)) return this.options.log("debug", `unsolicited StatusReport ${describeStatus(report)} ignored`);
    if (session.kind === "unsecured") return this.options.log("info", "CloseSession over an unsecured session ignored");
    this.options.log("info", `peer closed session ${session.localSessionId}`);
    this.options.sessions.remove(session.localSessionId);
    this.options.onSessionClosedByPeer?.(session);
  }
}
