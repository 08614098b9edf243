// BLE commissioning advertisement (Matter Core spec 5.4.2.5.6): the 8 bytes of service data under
// the Matter service UUID 0xFFF6, and the advertiser that shows them (with C3's additional data)
// only while the commissioning window is open.
//   byte 0     opcode: 0x00 commissionable
//   bytes 1-2  little-endian: discriminator in bits 0-11, advertisement version in bits 12-15
//   bytes 3-4  vendor id, little-endian
//   bytes 5-6  product id, little-endian
//   byte 7     bit 0: additional data (C3) present
import type { BlePeripheral } from "../platform";
import { additionalDataPayload } from "./rotating-id";

export const MATTER_BLE_SERVICE_UUID16 = 0xfff6;
export const BLE_SERVICE_DATA_LENGTH = 8;
export const BLE_OPCODE_COMMISSIONABLE = 0x00;
export const BLE_ADVERTISEMENT_VERSION = 0;
const ADDITIONAL_DATA_FLAG = 0x01;

export interface BleAdvertisementInfo {
  /** 12 bits. */
  discriminator: number;
  vendorId: number;
  productId: number;
  /** Whether C3 carries additional commissioning data (the rotating device id). */
  additionalData: boolean;
}

export interface DecodedBleAdvertisement extends BleAdvertisementInfo {
  opcode: number;
  version: number;
}

function checkUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${what} ${value} is outside 0..${max}`);
}

export function encodeBleServiceData(info: BleAdvertisementInfo): Uint8Array {
  checkUint(info.discriminator, 0xfff, "discriminator");
  checkUint(info.vendorId, 0xffff, "vendor id");
  checkUint(info.productId, 0xffff, "product id");
  const discriminatorAndVersion = info.discriminator | (BLE_ADVERTISEMENT_VERSION << 12);
  return Uint8Array.of(
    BLE_OPCODE_COMMISSIONABLE,
    discriminatorAndVersion & 0xff,
    discriminatorAndVersion >> 8,
    info.vendorId & 0xff,
    info.vendorId >> 8,
    info.productId & 0xff,
    info.productId >> 8,
    info.additionalData ? ADDITIONAL_DATA_FLAG : 0,
  );
}

export function decodeBleServiceData(data: Uint8Array): DecodedBleAdvertisement {
  if (data.length !== BLE_SERVICE_DATA_LENGTH) throw new RangeError(`BLE service data of ${data.length} bytes`);
  const word = data[1]! | (data[2]! << 8);
  return {
    opcode: data[0]!,
    discriminator: word & 0xfff,
    version: word >> 12,
    vendorId: data[3]! | (data[4]! << 8),
    productId: data[5]! | (data[6]! << 8),
    additionalData: (data[7]! & ADDITIONAL_DATA_FLAG) !== 0,
  };
}

export interface BleCommissionableInfo {
  discriminator: number;
  vendorId: number;
  productId: number;
  /** The window's rotating device id; C3 carries it when present. */
  rotatingId?: Uint8Array;
}

/** Advertises over the platform's BLE peripheral while the commissioning window is open. */
export class BleCommissionableAdvertiser {
  private active = false;

  constructor(private readonly ble: BlePeripheral) {}

  get advertising(): boolean {
    return this.active;
  }

  start(info: BleCommissionableInfo): void {
    const serviceData = encodeBleServiceData({
      discriminator: info.discriminator,
      vendorId: info.vendorId,
      productId: info.productId,
      additionalData: info.rotatingId !== undefined,
    });
    this.ble.setAdditionalData(info.rotatingId ? additionalDataPayload(info.rotatingId) : undefined);
    this.ble.advertise(serviceData);
    this.active = true;
  }

  stop(): void {
    if (!this.active) return;
    this.ble.advertise(undefined);
    this.ble.setAdditionalData(undefined);
    this.active = false;
  }
}
