// The message layer: message format, sessions, exchanges with MRP, and transports.
//
// Wiring (device.ts does this once):
//   const sessions = new SessionManager({ clock, random });
//   const exchanges = new ExchangeManager({ sessions, clock, random, log });
//   exchanges.addTransport(new UdpTransport(platform.network));          // port 5540, IPv6 + IPv4
//
// A handshake responder (PASE, CASE) registers for the secure channel protocol:
//   exchanges.registerProtocol(SECURE_CHANNEL_PROTOCOL_ID, (exchange, first) => { ...async state machine... });
// runs on `exchange` (send / nextMessage(timeout) / close), takes the peer's MRP parameters
// into `exchange.session.peerParameters`, and on success calls
//   sessions.createSecureSession({ kind, localSessionId: sessions.allocateLocalSessionId(), ... ,
//                                  peerAddress: lastMessage.peerAddress })
// (on failure: sessions.remove(localSessionId) to release the reserved id).
// An initiator (CASE to an OTA provider) starts with
//   const exchange = exchanges.initiate(sessions.createUnsecuredSession(udpPeer(address, port)));
export * from "./message";
export * from "./counters";
export * from "./session";
export * from "./mrp";
export * from "./exchange";
export * from "./transport";
export * from "./udp";
