// The secure channel: StatusReport, PASE (device as responder), CASE (responder and initiator,
// with resumption), the fabric view CASE needs, and the stack that wires them to the transport.
export * from "./status-report";
export * from "./errors";
export * from "./session-parameters";
export * from "./messages";
export * from "./fabric";
export * from "./resumption";
export * from "./handshake";
export * from "./pase";
export * from "./case";
export * from "./secure-channel";
export * from "./stack";
