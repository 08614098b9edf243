// The one interface between the firmware and the hardware. Each host (hosts/esp32, hosts/sim)
// implements it; nothing under src/ reaches the outside world any other way.
//
// Everything is synchronous except where a callback says otherwise: the XS event loop on ESP32
// and the simulator both deliver network, BLE and timer events as callbacks on one thread.

/** A monotonic millisecond clock plus one-shot timers. */
export interface Clock {
  /** Milliseconds since an arbitrary origin; never goes backwards. */
  now(): number;
  /** Calls `callback` once after `ms` milliseconds. */
  setTimer(ms: number, callback: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** Opaque to the firmware; each host chooses its own representation. */
export type TimerHandle = object | number;

/** True random bytes from the hardware (ESP32 RNG, the OS on desktop). Seeds the DRBG only. */
export interface Entropy {
  fill(target: Uint8Array): void;
}

/**
 * Small persistent records (ESP32: NVS). A single `set` is atomic: after a power cut the key
 * holds either its old or its new value. Multi-key updates are made atomic by the firmware.
 */
export interface KeyValueStore {
  /** Longest key the store accepts (NVS: 15 characters). */
  readonly maxKeyLength: number;
  /** Largest value the store accepts (NVS blobs: 4000 bytes). */
  readonly maxValueLength: number;
  get(key: string): Uint8Array | undefined;
  set(key: string, value: Uint8Array): void;
  delete(key: string): void;
  /** Every key that starts with `prefix`. */
  keys(prefix: string): string[];
}

/** A raw flash partition (ESP32: an entry of the partition table; desktop: a file). */
export interface FlashPartition {
  readonly size: number;
  /** Erase granularity; `erase` offsets and lengths are multiples of it. */
  readonly blockSize: number;
  read(offset: number, length: number): Uint8Array;
  /** Writes to erased bytes only, as NOR flash does. */
  write(offset: number, data: Uint8Array): void;
  erase(offset: number, length: number): void;
}

export interface FlashStore {
  /** Opens a named partition ("factory", "ota_0", "ota_1"); undefined when the host has none. */
  open(name: string): FlashPartition | undefined;
}

export type AddressFamily = 4 | 6;

export interface UdpEndpoint {
  address: string;
  port: number;
  family: AddressFamily;
  /** Interface the datagram came in on, where the host knows it (needed for link-local). */
  interfaceName?: string;
}

export interface UdpOptions {
  family: AddressFamily;
  /** 0 picks a free port. */
  port: number;
  /** Multicast groups to join (mDNS), on `interfaceName` when given. */
  multicastGroups?: string[];
  interfaceName?: string;
  /** Share the port with other sockets (mDNS on 5353). */
  reuseAddress?: boolean;
}

export interface UdpSocket {
  readonly port: number;
  readonly family: AddressFamily;
  send(data: Uint8Array, to: UdpEndpoint): void;
  close(): void;
}

export interface NetworkInterfaceInfo {
  name: string;
  addresses: { address: string; family: AddressFamily }[];
}

export interface Network {
  openUdp(options: UdpOptions, onMessage: (data: Uint8Array, from: UdpEndpoint) => void): UdpSocket;
  /** The addresses the device can be reached on, for DNS-SD A/AAAA records. */
  interfaces(): NetworkInterfaceInfo[];
}

/** One BLE central connected to the Matter GATT service. */
export type BleConnection = number;

export interface BleEvents {
  connected(connection: BleConnection, mtu: number): void;
  disconnected(connection: BleConnection): void;
  /** A write to C1 (client to server). */
  received(connection: BleConnection, data: Uint8Array): void;
  /** The central subscribed to (or left) indications on C2. */
  subscribed(connection: BleConnection, subscribed: boolean): void;
  /** The central confirmed the last indication on C2. */
  confirmed(connection: BleConnection): void;
}

/** The Matter GATT service (UUID 0xFFF6) as a BLE peripheral. */
export interface BlePeripheral {
  /** Starts advertising with the 8-byte Matter service data, or stops when undefined. */
  advertise(serviceData: Uint8Array | undefined): void;
  /** Value of C3 (additional commissioning data); undefined removes it. */
  setAdditionalData(data: Uint8Array | undefined): void;
  /** Sends an indication on C2. */
  indicate(connection: BleConnection, data: Uint8Array): void;
  disconnect(connection: BleConnection): void;
  setHandler(events: BleEvents): void;
}

/** Which firmware image runs and which runs next (OTA A/B slots). */
export interface BootControl {
  /** Name of the partition the running image came from. */
  runningSlot(): string;
  /** The partition an update is written to. */
  updateSlot(): string;
  /** Boot `slot` next time, on trial: if the image does not confirm itself, the host reverts. */
  setNextBoot(slot: string): void;
  /** The running image started well: keep it. */
  confirmRunning(): void;
  /** True when this boot is the trial of a freshly applied image not yet confirmed. */
  pendingConfirmation(): boolean;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Platform {
  readonly clock: Clock;
  readonly entropy: Entropy;
  readonly storage: KeyValueStore;
  readonly flash: FlashStore;
  readonly network: Network;
  /** Absent on hosts without Bluetooth. */
  readonly ble?: BlePeripheral;
  readonly boot?: BootControl;
  log(level: LogLevel, message: string): void;
  /** Restarts the device; does not return on hardware. */
  reboot(): void;
}
