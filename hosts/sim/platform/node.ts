// The Platform (src/platform.ts) over Node, for the simulator and the tests. Each concern lives
// in its own module (clock, entropy, storage, flash, network) so that other hosts' pieces (BLE,
// boot control) can be added the same way.
import { join } from "node:path";
import type { LogLevel, Platform } from "../../../src/platform";
import { SimulatedBlePeripheral, type SimulatedBleOptions } from "./ble-link";
import { FileBootRecordStore, MemoryBootRecordStore, SimBootControl, type SimBootControlOptions } from "./boot";
import { NodeClock } from "./clock";
import { NodeEntropy } from "./entropy";
import { SimulatedFlash, type PartitionLayout } from "./flash";
import { NodeNetwork, type NodeNetworkOptions } from "./network";
import { DirectoryStore, MemoryStore, type StoreLimits } from "./storage";

export { NodeClock } from "./clock";
export { NodeEntropy } from "./entropy";
export { SimulatedFlash, FlashError, DEFAULT_FLASH_BLOCK_SIZE, type PartitionLayout } from "./flash";
export { NodeNetwork, NodeUdpSocket } from "./network";
export { DirectoryStore, MemoryStore } from "./storage";
export { SimulatedBlePeripheral, SimulatedBleCentral, BleFrame, type SimulatedBleOptions } from "./ble-link";
export { SimBootControl, FileBootRecordStore, MemoryBootRecordStore, type BootRecord, type BootRecordStore } from "./boot";

/** A small layout like an ESP32 4 MB map's data partitions. */
export const DEFAULT_PARTITIONS: PartitionLayout = {
  factory: 0x6000,
  ota_0: 0x180000,
  ota_1: 0x180000,
};

export interface NodePlatformOptions {
  /** Persistent state (key-value files under `storage/`, partitions under `flash/`); in memory when absent. */
  directory?: string;
  storageLimits?: StoreLimits;
  partitions?: PartitionLayout;
  network?: NodeNetworkOptions;
  /** A simulated BLE peripheral served on loopback TCP (ble-link.ts); no BLE when absent. */
  ble?: SimulatedBleOptions;
  /** Lowest level printed by the default log sink. */
  logLevel?: LogLevel;
  /** Replaces the default log sink (stderr). */
  log?: (level: LogLevel, message: string) => void;
  /**
   * A/B boot control over the ota_0/ota_1 partitions (boot record `boot.json` in `directory`, or
   * in memory); off by default.
   */
  boot?: boolean | Omit<SimBootControlOptions, "store">;
  /** What a firmware reboot does; by default it is logged and counted in `rebootRequests`. */
  onReboot?: () => void;
}

const LEVELS: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export class NodePlatform implements Platform {
  readonly clock = new NodeClock();
  readonly entropy = new NodeEntropy();
  readonly storage: DirectoryStore | MemoryStore;
  readonly flash: SimulatedFlash;
  readonly network: NodeNetwork;
  readonly ble: SimulatedBlePeripheral | undefined;
  readonly boot?: SimBootControl;
  rebootRequests = 0;

  constructor(private readonly options: NodePlatformOptions = {}) {
    this.storage = options.directory
      ? new DirectoryStore(join(options.directory, "storage"), options.storageLimits)
      : new MemoryStore(options.storageLimits);
    this.flash = new SimulatedFlash({
      layout: options.partitions ?? DEFAULT_PARTITIONS,
      ...(options.directory ? { directory: join(options.directory, "flash") } : {}),
    });
    this.network = new NodeNetwork({ onError: (message) => this.log("warn", message), ...options.network });
    this.ble = options.ble ? new SimulatedBlePeripheral({ onError: (message) => this.log("warn", message), ...options.ble }) : undefined;
    if (options.boot) {
      const store = options.directory ? new FileBootRecordStore(join(options.directory, "boot.json")) : new MemoryBootRecordStore();
      this.boot = new SimBootControl({ ...(options.boot === true ? {} : options.boot), store });
    }
  }

  log(level: LogLevel, message: string): void {
    if (this.options.log) {
      this.options.log(level, message);
      return;
    }
    if (LEVELS[level] < LEVELS[this.options.logLevel ?? "info"]) return;
    process.stderr.write(`[${level}] ${message}\n`);
  }

  reboot(): void {
    this.rebootRequests++;
    this.log("info", "reboot requested");
    this.options.onReboot?.();
  }

  /** Releases sockets and partition files. */
  close(): void {
    this.network.close();
    this.flash.close();
    this.ble?.close();
  }
}

export function createNodePlatform(options: NodePlatformOptions = {}): NodePlatform {
  return new NodePlatform(options);
}
