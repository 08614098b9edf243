// The message layer: message format, sessions, exchanges with MRP, and transports.
export * from "./message";
export * from "./counters";
export * from "./session";
export * from "./mrp";
export * from "./exchange";
export * from "./transport";
export * from "./udp";
