// The Interaction Model: message codecs, the data model framework, access control and the server.
export * from "./constants";
export * from "./errors";
export * from "./messages";
export * from "./schema";
export * from "./access-control";
export * from "./events";
export * from "./store";
export * from "./model";
export * from "./reports";
export * from "./subscriptions";
export * from "./server";
