// The test's handle on a matter.js On/Off light (device-main.ts) running inside a network
// namespace: start, restart on another port with the same storage, inspect, stop.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildChannel } from "./channel";
import { sharedTestCredentials, TEST_PRODUCT_ID, TEST_VENDOR_ID, type DeviceAttestationCredentials } from "./credentials";
import type { NetworkNamespace } from "./netns";
import { spawnMatterJsChild } from "./spawn";

export interface MatterJsDeviceOptions {
  /** UDP port of the Matter service; 5540 by default (the namespace is private). */
  port?: number;
  passcode?: number;
  discriminator?: number;
  credentials?: DeviceAttestationCredentials;
  /** Interface to advertise on; "lo" in a namespace of the harness. */
  networkInterface?: string;
  /** Storage root to reuse; a fresh temporary directory (removed by stop()) when omitted. */
  storagePath?: string;
  label?: string;
}

export interface DeviceFabric {
  fabricIndex: number;
  fabricId: bigint;
  nodeId: bigint;
  vendorId: number;
  label: string;
}

export interface DeviceState {
  commissioned: boolean;
  fabrics: DeviceFabric[];
  /** Number of fabric table changes since the process started. */
  fabricsVersion: number;
  onOff: boolean;
}

export class MatterJsDevice {
  readonly namespace: NetworkNamespace;
  readonly storagePath: string;
  readonly passcode: number;
  readonly discriminator: number;
  #port: number;
  #channel: ChildChannel;
  readonly #options: MatterJsDeviceOptions;
  readonly #ownsStorage: boolean;

  private constructor(namespace: NetworkNamespace, options: MatterJsDeviceOptions, storagePath: string, ownsStorage: boolean, channel: ChildChannel) {
    this.namespace = namespace;
    this.#options = options;
    this.storagePath = storagePath;
    this.#ownsStorage = ownsStorage;
    this.passcode = options.passcode ?? 20202021;
    this.discriminator = options.discriminator ?? 3840;
    this.#port = options.port ?? 5540;
    this.#channel = channel;
  }

  static async start(namespace: NetworkNamespace, options: MatterJsDeviceOptions = {}): Promise<MatterJsDevice> {
    const ownsStorage = options.storagePath === undefined;
    const storagePath = options.storagePath ?? mkdtempSync(join(tmpdir(), "mxs-matterjs-device-"));
    const device = new MatterJsDevice(namespace, options, storagePath, ownsStorage, await MatterJsDevice.#spawn(namespace, options, storagePath));
    try {
      await device.#boot();
    } catch (error) {
      await device.stop();
      throw error;
    }
    return device;
  }

  static #spawn(namespace: NetworkNamespace, options: MatterJsDeviceOptions, storagePath: string): Promise<ChildChannel> {
    return spawnMatterJsChild(namespace, "device-main", {
      storagePath,
      networkInterface: options.networkInterface ?? "lo",
      label: options.label ?? "matter.js device",
    });
  }

  async #boot(): Promise<void> {
    await this.#channel.request(
      "start",
      {
        port: this.#port,
        passcode: this.passcode,
        discriminator: this.discriminator,
        vendorId: TEST_VENDOR_ID,
        productId: TEST_PRODUCT_ID,
        credentials: this.#options.credentials ?? sharedTestCredentials(),
      },
      60_000,
    );
  }

  get port(): number {
    return this.#port;
  }

  /** IPv4 address the device answers on inside the namespace. */
  get address(): string {
    return "127.0.0.1";
  }

  get running(): boolean {
    return this.#channel.running;
  }

  get log(): string {
    return this.#channel.log;
  }

  state(): Promise<DeviceState> {
    return this.#channel.request<DeviceState>("state");
  }

  /** Changes the light locally, as a button on the device would. */
  setOnOff(value: boolean): Promise<{ onOff: boolean }> {
    return this.#channel.request("setOnOff", { value });
  }

  /** Waits for the device to report a fabric table that satisfies `matches`. */
  async waitForFabrics(matches: (fabrics: DeviceFabric[]) => boolean, timeoutMs = 15_000): Promise<DeviceFabric[]> {
    const current = await this.state();
    if (matches(current.fabrics)) return current.fabrics;
    // Only changes after that state count: an older event may have matched once and be stale now.
    const event = await this.#channel.waitForEvent(
      (event) => event.event === "fabrics" && (event.version as number) > current.fabricsVersion && matches(event.fabrics as DeviceFabric[]),
      timeoutMs,
      "fabric change",
    );
    return event.fabrics as DeviceFabric[];
  }

  /**
   * Stops the process (gracefully, or by SIGKILL as a power cut would) and starts it again on
   * `port` with the same storage, so that its fabrics survive and only its address changes.
   */
  async restart(options: { port?: number; kill?: boolean } = {}): Promise<void> {
    await this.#halt(options.kill === true);
    this.#port = options.port ?? this.#port;
    this.#channel = await MatterJsDevice.#spawn(this.namespace, this.#options, this.storagePath);
    await this.#boot();
  }

  async #halt(kill: boolean): Promise<void> {
    await this.#channel.terminate(kill ? "SIGKILL" : undefined, 10_000);
  }

  async stop(): Promise<void> {
    await this.#halt(false);
    if (this.#ownsStorage) rmSync(this.storagePath, { recursive: true, force: true });
  }
}
