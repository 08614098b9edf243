// BLE commissioning in the simulator: the advertisement and C3 over the simulated link, PASE over
// BTP (the test commissioner's messages carried by matter.js's BTP central, and by ours at the
// smallest MTU and window), and malformed link frames and BTP packets dropped without harm.
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { afterEach, describe, it } from "node:test";
import { BleDisconnectedError, BtpCodec, BtpSessionHandler } from "@matter/protocol";
import { SimulatedBleCentral, SimulatedBlePeripheral } from "../hosts/sim/platform/ble-link";
import { NodeClock } from "../hosts/sim/platform/clock";
import { NodePlatform } from "../hosts/sim/platform/node";
import { BleCommissionableAdvertiser, decodeBleServiceData } from "../src/discovery/ble-advertisement";
import { rotatingDeviceId } from "../src/discovery/rotating-id";
import { BtpSession, BtpTransport, decodeBtpHandshakeResponse, encodeBtpHandshakeRequest } from "../src/transport/btp";
import { btpPair, exchangeBothWays } from "./suites/btp-fixtures";
import { TestCommissioner } from "./support/commissioner";
import { ECHO_PROTOCOL_ID, ECHO_REQUEST, ECHO_RESPONSE, echoOf, startDevice, type DeviceUnderTest } from "./support/device";
import { random } from "./support/node-crypto";
import { passcodeToVerifier } from "./support/spake2p-prover";
import { TestPeer, type Endpoint } from "./support/test-peer";

const PASSCODE = 20202021;
const ITERATIONS = 1000;

/** A BTP central on the simulated link: sends Matter messages and hands back those it receives. */
interface CentralLink {
  send(message: Uint8Array): Promise<void>;
  onMessage(handler: (message: Uint8Array) => void): void;
  close(): Promise<void>;
  link: SimulatedBleCentral;
}

/** matter.js's BTP central (BtpCodec, BtpSessionHandler) over our simulated link. */
async function matterJsCentral(port: number, mtu: number, window: number): Promise<CentralLink> {
  const link = await SimulatedBleCentral.open(port);
  link.connect(mtu);
  let handler: (message: Uint8Array) => void = () => {};
  const response = new Promise<Uint8Array>((resolve) => link.onIndication(resolve));
  link.write(new Uint8Array(BtpCodec.encodeBtpHandshakeRequest({ versions: [4, 0, 0, 0, 0, 0, 0, 0], attMtu: mtu, clientWindowSize: window })));
  link.subscribe();
  const session = await BtpSessionHandler.createAsCentral(
    await response,
    async (data) => {
      // matter.js expects this error from a link that has gone away.
      if (!link.isOpen) throw new BleDisconnectedError("the simulated BLE link is closed");
      link.write(new Uint8Array(data));
    },
    async () => link.disconnect(),
    async (message) => handler(new Uint8Array(message)),
  );
  link.onIndication((data) => void session.handleIncomingBleData(data));
  void link.closed.then(() => session.close());
  return {
    send: (message) => session.sendMatterMessage(message),
    onMessage: (next) => (handler = next),
    close: () => session.close(),
    link,
  };
}

/** Our own BTP central engine over the simulated link. */
async function ownCentral(port: number, mtu: number, window: number): Promise<CentralLink> {
  const link = await SimulatedBleCentral.open(port);
  link.connect(mtu);
  let handler: (message: Uint8Array) => void = () => {};
  const response = new Promise<Uint8Array>((resolve) => link.onIndication(resolve));
  link.write(encodeBtpHandshakeRequest({ versions: [4], attMtu: mtu, windowSize: window }));
  link.subscribe();
  const negotiated = decodeBtpHandshakeResponse(await response);
  const session = new BtpSession({
    role: "central",
    segmentSize: negotiated.segmentSize,
    windowSize: negotiated.windowSize,
    clock: new NodeClock(),
    send: (packet) => link.write(packet),
    deliver: (message) => handler(message),
    closed: () => link.disconnect(),
  });
  void link.closed.then(() => session.close());
  link.onIndication((data) => session.receive(data));
  return {
    send: async (message) => session.send(message),
    onMessage: (next) => (handler = next),
    close: async () => session.close(),
    link,
  };
}

/**
 * Carries the test commissioner's UDP datagrams over a BTP central and back: the commissioner
 * talks to `endpoint` as if it were the device.
 */
async function relay(central: CentralLink): Promise<{ endpoint: Endpoint; close(): void }> {
  const socket: Socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  let commissioner: { address: string; port: number } | undefined;
  socket.on("message", (message, from) => {
    commissioner = { address: from.address, port: from.port };
    void central.send(new Uint8Array(message));
  });
  central.onMessage((message) => {
    if (commissioner) socket.send(message, commissioner.port, commissioner.address);
  });
  return { endpoint: { address: "127.0.0.1", port: socket.address().port }, close: () => socket.close() };
}

async function bleDevice(): Promise<{ device: DeviceUnderTest; ble: SimulatedBlePeripheral; btp: BtpTransport; port: number; closedLinks: string[] }> {
  const ble = new SimulatedBlePeripheral({ onError: () => {} });
  const btp = new BtpTransport({ ble, clock: new NodeClock() });
  const closedLinks: string[] = [];
  btp.onConnectionClosed((peer, reason) => closedLinks.push(`${peer.address}: ${reason}`));
  const device = await startDevice({ transports: [btp] });
  const salt = random(32);
  device.stack.openCommissioningWindow({ ...passcodeToVerifier(PASSCODE, salt, ITERATIONS), salt, iterations: ITERATIONS });
  return { device, ble, btp, port: await ble.ready, closedLinks };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("BLE commissioning over the simulated link", { timeout: 120_000 }, () => {
  const cleanup: (() => void | Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it("advertises the service data and C3 only while the window is open (the Node platform's BLE)", async () => {
    const platform = new NodePlatform({ ble: {}, log: () => {} });
    cleanup.push(() => platform.close());
    const ble = platform.ble!;
    const port = await ble.ready;
    const advertiser = new BleCommissionableAdvertiser(ble);
    assert.equal(await SimulatedBleCentral.scan(port), undefined, "nothing before the window opens");
    const rotating = rotatingDeviceId(Uint8Array.from({ length: 16 }, (_, i) => i * 0x11), 10);
    advertiser.start({ discriminator: 3840, vendorId: 0xfff1, productId: 0x8000, rotatingId: rotating });
    const data = await SimulatedBleCentral.scan(port);
    assert.ok(data);
    // matter.js's own encoder for the same advertisement: flags AD, then the service data AD
    // (length, type 0x16, UUID 0xFFF6 little-endian) whose last 8 bytes are ours.
    const reference = new Uint8Array(BtpCodec.encodeBleAdvertisementData(3840, 0xfff1, 0x8000, true));
    assert.deepEqual(data, reference.subarray(reference.length - 8));
    assert.deepEqual(decodeBleServiceData(data), { opcode: 0, discriminator: 3840, version: 0, vendorId: 0xfff1, productId: 0x8000, additionalData: true });
    const central = await SimulatedBleCentral.open(port);
    cleanup.push(() => central.disconnect());
    assert.equal(Buffer.from(await central.readAdditionalData()).toString("hex"), `15300012${Buffer.from(rotating).toString("hex")}18`);
    advertiser.stop();
    assert.equal(await SimulatedBleCentral.scan(port), undefined, "nothing after the window closes");
    assert.equal((await central.readAdditionalData()).length, 0);
  });

  for (const [name, makeCentral, mtu, window] of [
    ["matter.js's BTP central, MTU 247, window 6", matterJsCentral, 247, 6],
    ["matter.js's BTP central, MTU 23, window 3", matterJsCentral, 23, 3],
    ["our BTP central, MTU 23, window 1", ownCentral, 23, 1],
  ] as const) {
    it(`PASE completes over BTP with ${name}, and the session carries messages`, async () => {
      const { device, ble, btp, port } = await bleDevice();
      cleanup.push(() => {
        device.close();
        ble.close();
      });
      const central = await makeCentral(port, mtu, window);
      cleanup.push(() => central.close());
      const bridge = await relay(central);
      cleanup.push(() => bridge.close());
      const peer = await TestPeer.open();
      cleanup.push(() => peer.close());
      const commissioner = new TestCommissioner(peer, bridge.endpoint);

      const result = await commissioner.pase({ passcode: PASSCODE, timeoutMs: 15000 });
      const [session] = device.stack.sessions.secureSessions();
      assert.ok(session);
      assert.equal(session.kind, "pase");
      assert.equal(session.peerAddress.transport, "btp", "the device's PASE session runs over BTP");
      assert.equal(session.localSessionId, result.session.peerSessionId);
      assert.equal(btp.sessionCount, 1);
      const segment = btp.session(Number(session.peerAddress.address))!.segmentSize;
      assert.equal(segment, Math.min(mtu - 3, 244));
      assert.equal(btp.session(Number(session.peerAddress.address))!.windowSize, window);

      const payload = Buffer.alloc(600, 0x5a); // several segments at every MTU
      const reply = await peer.request(result.session, ECHO_PROTOCOL_ID, ECHO_REQUEST, payload);
      assert.equal(reply.opcode, ECHO_RESPONSE);
      assert.deepEqual(reply.payload, echoOf(payload));
      assert.equal(device.echoes.length, 1);
    });
  }

  it("malformed link frames and BTP packets end that connection only; the next central commissions", async () => {
    const { device, ble, btp, port, closedLinks } = await bleDevice();
    cleanup.push(() => {
      device.close();
      ble.close();
    });
    // A frame longer than any ATT value.
    const garbage = await SimulatedBleCentral.open(port);
    garbage.writeRaw(Uint8Array.of(0x02, 0xff, 0xff, 1, 2, 3));
    await garbage.closed;
    // A write before connecting.
    const early = await SimulatedBleCentral.open(port);
    early.write(Uint8Array.of(1));
    await early.closed;
    // Not a handshake.
    const wrong = await SimulatedBleCentral.open(port);
    wrong.connect(100);
    wrong.subscribe();
    wrong.write(Uint8Array.of(0x05, 0x00, 0x01, 0x00, 0x00));
    await wrong.closed;
    // A session that then breaks the sequence numbers.
    const broken = await ownCentral(port, 100, 4);
    await until(() => btp.sessionCount === 1);
    broken.link.write(Uint8Array.of(0x08, 0x00, 0x09));
    await broken.link.closed;
    await until(() => btp.sessionCount === 0);
    assert.equal(closedLinks.length, 1, closedLinks.join("; "));
    assert.match(closedLinks[0]!, /sequence number 9/);
    // A reserved flag bit after a good handshake, from matter.js's central this time.
    const flagged = await matterJsCentral(port, 185, 4);
    flagged.link.write(Uint8Array.of(0x88, 0x00, 0x00));
    await flagged.link.closed;

    // None of it disturbed the device: a well-behaved central commissions.
    const central = await matterJsCentral(port, 185, 4);
    cleanup.push(() => central.close());
    const bridge = await relay(central);
    cleanup.push(() => bridge.close());
    const peer = await TestPeer.open();
    cleanup.push(() => peer.close());
    await new TestCommissioner(peer, bridge.endpoint).pase({ passcode: PASSCODE, timeoutMs: 15000 });
    assert.equal(device.stack.sessions.secureSessions()[0]?.peerAddress.transport, "btp");
  });
});

describe("BTP segmentation sweep (engine pair on a manual clock)", () => {
  it("every ATT MTU 23..247 with every window 1..8 carries messages both ways within the negotiated limits", async () => {
    let pairs = 0;
    for (let mtu = 23; mtu <= 247; mtu++) {
      const segment = Math.min(mtu - 3, 244);
      // Around the first segment's capacity (segment - 5 with an ack), two segments, and the largest.
      const sizes = [1, segment - 6, segment - 5, segment - 4, segment - 3, 2 * segment, 1280].filter((size) => size >= 1);
      for (let window = 1; window <= 8; window++) {
        const pair = btpPair({ segmentSize: segment, windowSize: window });
        const problem = await exchangeBothWays(pair, sizes);
        assert.equal(problem, undefined, `MTU ${mtu}, window ${window}: ${problem}`);
        pair.central.session.close();
        pair.peripheral.session.close();
        pairs++;
      }
    }
    assert.equal(pairs, 225 * 8);
  });
});
