// A device under test: the firmware's secure channel stack on the Node platform, listening on a
// free UDP port of the loopback interface, with an echo protocol so that sessions can be shown to
// carry messages both ways.
import assert from "node:assert/strict";
import { NodePlatform } from "../../hosts/sim/platform/node";
import type { LogLevel } from "../../src/platform";
import { createSecureChannelStack, type EstablishedBy, type SecureChannelStack, type SecureChannelStackOptions } from "../../src/securechannel";
import type { Exchange, ReceivedMessage } from "../../src/transport/exchange";
import type { SecureSession } from "../../src/transport/session";
import type { Endpoint } from "./test-peer";

export const TEST_VENDOR_ID = 0xfff1;
export const ECHO_PROTOCOL = 0x0001;
/** How the echo protocol travels in a matter.js-style combined protocol id. */
export const ECHO_PROTOCOL_ID = TEST_VENDOR_ID * 0x10000 + ECHO_PROTOCOL;
export const ECHO_REQUEST = 0x01;
export const ECHO_RESPONSE = 0x02;

/** The echo protocol's answer: "echo:" followed by the request. */
export function echoOf(payload: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from("echo:"), payload]));
}

export interface DeviceUnderTest {
  platform: NodePlatform;
  stack: SecureChannelStack;
  endpoint: Endpoint;
  /** Echo requests delivered to the device, with the session they came on. */
  echoes: { payload: Uint8Array; session: SecureSession }[];
  established: { session: SecureSession; by: EstablishedBy }[];
  windowClosed: string[];
  logs: { level: LogLevel; message: string }[];
  close(): void;
}

export async function startDevice(options: SecureChannelStackOptions = {}): Promise<DeviceUnderTest> {
  const logs: { level: LogLevel; message: string }[] = [];
  const platform = new NodePlatform({ log: (level, message) => logs.push({ level, message }) });
  const established: DeviceUnderTest["established"] = [];
  const windowClosed: string[] = [];
  const stack = createSecureChannelStack(platform, {
    port: 0,
    families: [4],
    onSessionEstablished: (session, by) => established.push({ session, by }),
    onCommissioningWindowClosed: (reason) => windowClosed.push(reason),
    ...options,
  });
  await platform.network.ready();
  const echoes: DeviceUnderTest["echoes"] = [];
  stack.exchanges.registerProtocol(
    ECHO_PROTOCOL,
    (exchange: Exchange, message: ReceivedMessage) => {
      if (message.session.kind === "unsecured") return exchange.close();
      echoes.push({ payload: message.payload, session: message.session });
      exchange.send(ECHO_PROTOCOL, ECHO_RESPONSE, echoOf(message.payload), { vendorId: TEST_VENDOR_ID });
      exchange.close();
    },
    TEST_VENDOR_ID,
  );
  const port = stack.udp!.port(4)!;
  return {
    platform,
    stack,
    endpoint: { address: "127.0.0.1", port },
    echoes,
    established,
    windowClosed,
    logs,
    close() {
      stack.close();
      platform.close();
    },
  };
}

/**
 * Waits until no handshake holds state: no handshake in progress, no reserved session id, no
 * unsecured session, no exchange (they linger only until their last acknowledgement).
 */
export async function waitUntilIdle(device: DeviceUnderTest, timeoutMs = 3000): Promise<void> {
  const { stack } = device;
  const deadline = Date.now() + timeoutMs;
  const state = () => ({
    pase: stack.pase.handshakeInProgress,
    caseResponder: stack.caseResponder.handshakesInProgress,
    caseInitiator: stack.caseInitiator.handshakesInProgress,
    reserved: stack.sessions.reservedCount,
    unsecured: stack.sessions.unsecuredCount,
    exchanges: stack.exchanges.exchangeCount,
  });
  const idle = { pase: false, caseResponder: 0, caseInitiator: 0, reserved: 0, unsecured: 0, exchanges: 0 };
  while (Date.now() < deadline) {
    if (JSON.stringify(state()) === JSON.stringify(idle)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.deepEqual(state(), idle, "the device still holds handshake state");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
