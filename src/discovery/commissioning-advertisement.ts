// What the device shows while its commissioning window is open, over every way it can be found:
// the `_matterc._udp` DNS-SD service and the BLE advertisement with C3. Each window gets a new
// rotating device identifier (the lifetime counter advances when the window opens), so two windows
// of the same device cannot be linked; closing the window withdraws both (mDNS goodbyes, BLE off).
import type { BlePeripheral, KeyValueStore } from "../platform";
import { BleCommissionableAdvertiser } from "./ble-advertisement";
import type { CommissionableInfo, MdnsResponder } from "./mdns";
import { RotatingIdCounter, rotatingDeviceId, rotatingDeviceIdHex } from "./rotating-id";

export interface CommissioningAdvertisementOptions {
  /** DNS-SD on the network; absent before the device has one. */
  mdns?: MdnsResponder;
  /** BLE; absent on hosts without Bluetooth or once commissioned over the network. */
  ble?: BlePeripheral;
  /** Holds the rotating id's lifetime counter. */
  storage: KeyValueStore;
  /** The factory's rotating device id unique id (16 bytes or more); no RI without it. */
  rotatingIdUniqueId?: Uint8Array;
}

export type WindowInfo = Omit<CommissionableInfo, "rotatingId" | "commissioningMode"> & {
  /** 1 for the basic window (default), 2 for the enhanced one. */
  commissioningMode?: 1 | 2;
};

export class CommissioningAdvertisement {
  private readonly ble: BleCommissionableAdvertiser | undefined;
  private readonly counter: RotatingIdCounter;
  private open = false;

  constructor(private readonly options: CommissioningAdvertisementOptions) {
    this.ble = options.ble ? new BleCommissionableAdvertiser(options.ble) : undefined;
    this.counter = new RotatingIdCounter(options.storage);
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** The window opened: advertise everywhere, under a fresh rotating id. */
  openWindow(info: WindowInfo): void {
    const uniqueId = this.options.rotatingIdUniqueId;
    const rotatingId = uniqueId ? rotatingDeviceId(uniqueId, this.counter.advance()) : undefined;
    this.options.mdns?.advertiseCommissionable({
      ...info,
      commissioningMode: info.commissioningMode ?? 1,
      ...(rotatingId ? { rotatingId: rotatingDeviceIdHex(rotatingId) } : {}),
    });
    this.ble?.start({ discriminator: info.discriminator, vendorId: info.vendorId, productId: info.productId, ...(rotatingId ? { rotatingId } : {}) });
    this.open = true;
  }

  /** The window closed (timeout, commissioned, too many failures): withdraw everywhere. */
  closeWindow(): void {
    if (!this.open) return;
    this.options.mdns?.withdrawCommissionable();
    this.ble?.stop();
    this.open = false;
  }
}
