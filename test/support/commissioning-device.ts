// The whole device (src/device.ts startDevice) under test on the Node platform: a factory image made
// from the Matter test PKI (../shared/vectors: the FFF1/8000 DAC and PAI, the test CD) and a
// passcode of the test's choosing, UDP on a free loopback port, and DNS-SD kept off the machine's
// interfaces (its port-5353 sockets are replaced by ones that only record what would be sent).
// Storage is a directory (restarts read it back) or a store the test gives (power-cut tests).
import { readFileSync } from "node:fs";
import { NodePlatform } from "../../hosts/sim/platform/node";
import { fromHex } from "../../src/codec/bytes";
import { publicKeyFromPrivate, sha256 } from "../../src/crypto";
import { utf8Encode } from "../../src/codec/bytes";
import { startDevice, type Device, type DeviceEvent, type DeviceOptions } from "../../src/device";
import { encodeFactoryImage, type FactoryDataInput } from "../../src/factory";
import type { KeyValueStore, LogLevel, Network, Platform, UdpOptions, UdpSocket } from "../../src/platform";
import { vectorPath } from "../portable/vectors";
import { random } from "./node-crypto";
import { passcodeToVerifier } from "./spake2p-prover";
import type { Endpoint } from "./test-peer";

export const TEST_PASSCODE = 20202021;
export const TEST_DISCRIMINATOR = 3840;
export const TEST_ITERATIONS = 1000;

export interface TestIdentity {
  input: FactoryDataInput;
  /** The sealed factory image (unpadded). */
  image: Uint8Array;
  dacDer: Uint8Array;
  paiDer: Uint8Array;
  paaDer: Uint8Array;
  dacPublicKey: Uint8Array;
  certificationDeclaration: Uint8Array;
}

/** A factory image for the FFF1/8000 test device with `passcode`'s verifier. */
export function testIdentity(passcode = TEST_PASSCODE): TestIdentity {
  const chain = JSON.parse(readFileSync(vectorPath("attestation/attestation_chain_fff1_8000.json"), "utf8"));
  const cd = JSON.parse(readFileSync(vectorPath("certification_declaration/cd_vectors.json"), "utf8"));
  const salt = random(32);
  const { w0, L } = passcodeToVerifier(passcode, salt, TEST_ITERATIONS);
  const input: FactoryDataInput = {
    vendorId: 0xfff1,
    productId: 0x8000,
    vendorName: "Matter XS Test Vendor",
    productName: "Test Light",
    hardwareVersion: 1,
    hardwareVersionString: "v1.0",
    serialNumber: "MXS-TEST-0001",
    discriminator: TEST_DISCRIMINATOR,
    passcode,
    pbkdfIterations: TEST_ITERATIONS,
    pbkdfSalt: salt,
    spake2pW0: w0,
    spake2pL: L,
    rotatingDeviceIdUniqueId: random(16),
    dacCertificate: fromHex(chain.DAC.der_hex),
    dacPrivateKey: fromHex(chain.DAC.private_key_hex),
    paiCertificate: fromHex(chain.PAI.der_hex),
    certificationDeclaration: fromHex(cd.test_cases[0].cms_signed_hex),
    firmwareSigningKey: publicKeyFromPrivate(sha256(utf8Encode("matter-xs firmware signing test key"))),
  };
  return {
    input,
    image: encodeFactoryImage(input),
    dacDer: input.dacCertificate,
    paiDer: input.paiCertificate,
    paaDer: fromHex(chain.PAA.der_hex),
    dacPublicKey: fromHex(chain.DAC.public_key_uncompressed_hex),
    certificationDeclaration: input.certificationDeclaration,
  };
}

/** A Network whose mDNS sockets (port 5353) never reach a real interface. */
export function withoutMulticast(network: Network): Network & { mdnsPackets: number } {
  let packets = 0;
  return {
    get mdnsPackets() {
      return packets;
    },
    interfaces: () => network.interfaces(),
    openUdp(options: UdpOptions, onMessage) {
      if (options.port !== 5353) return network.openUdp(options, onMessage);
      const socket: UdpSocket = {
        port: 5353,
        family: options.family,
        send: () => void packets++,
        close: () => {},
      };
      return socket;
    },
  };
}

export interface DeviceUnderTest {
  device: Device;
  node: NodePlatform;
  platform: Platform;
  identity: TestIdentity;
  events: DeviceEvent[];
  logs: { level: LogLevel; message: string }[];
  endpoint: Endpoint;
  /** Shuts the device down and releases the platform. */
  stop(): void;
}

export interface TestDeviceOptions {
  identity?: TestIdentity;
  /** A directory for storage and flash (kept across restarts). */
  directory?: string;
  /** A store to use instead (power-cut tests wrap one). */
  storage?: KeyValueStore;
  deviceOptions?: Partial<DeviceOptions>;
  /** Print the device's log as it goes (debugging). */
  echoLog?: boolean;
  /** Give the platform the simulated BLE peripheral (loopback TCP). */
  ble?: boolean;
}

export async function startTestDevice(options: TestDeviceOptions = {}): Promise<DeviceUnderTest> {
  const identity = options.identity ?? testIdentity();
  const logs: { level: LogLevel; message: string }[] = [];
  const record = (level: LogLevel, message: string) => {
    logs.push({ level, message });
    if (options.echoLog) process.stderr.write(`[device ${level}] ${message}\n`);
  };
  const node = new NodePlatform({ ...(options.directory ? { directory: options.directory } : {}), ...(options.ble ? { ble: {} } : {}), log: record });
  const factory = node.flash.open("factory")!;
  if (factory.read(0, 4).every((byte) => byte === 0xff)) factory.write(0, identity.image);
  const network = withoutMulticast(node.network);
  const platform: Platform = {
    clock: node.clock,
    entropy: node.entropy,
    storage: options.storage ?? node.storage,
    flash: node.flash,
    network,
    log: record,
    reboot: () => node.reboot(),
    ...(node.ble ? { ble: node.ble } : {}),
  };
  const events: DeviceEvent[] = [];
  const device = startDevice(platform, {
    softwareVersion: 1,
    softwareVersionString: "1.0-test",
    port: 0,
    families: [4],
    log: record,
    onEvent: (event) => events.push(event),
    ...options.deviceOptions,
  });
  await node.network.ready();
  return {
    device,
    node,
    platform,
    identity,
    events,
    logs,
    endpoint: { address: "127.0.0.1", port: device.status().port },
    stop() {
      device.shutdown();
      node.close();
    },
  };
}
