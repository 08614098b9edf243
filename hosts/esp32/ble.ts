// Binds MatterBlePeripheral to Moddable's BLEServer and the GATT table in bleservices/matter.json.
import BLEServer from "bleserver";
import { uuid } from "btutils";
import type { Characteristic, Client } from "gatt";
import type { Clock } from "../../src/platform";
import { MatterBlePeripheral, type BleServerPort, type MatterCharacteristic } from "./ble-peripheral";

/** LE General Discoverable, BR/EDR not supported (Matter 5.4.2.5.1). */
const ADVERTISING_FLAGS = 0x06;

/** What bleserver passes to the notify callbacks (see notificationStateEvent in modBLEServer.c). */
interface NotifyState {
  name?: string;
  handle: number;
}

function characteristicName(name: string | undefined): MatterCharacteristic | undefined {
  return name === "C1" || name === "C2" || name === "C3" ? name : undefined;
}

class MatterGattServer extends BLEServer {
  readonly #peripheral: MatterBlePeripheral;
  #c2Handle: number | undefined;

  constructor(peripheral: MatterBlePeripheral) {
    super();
    this.#peripheral = peripheral;
  }

  override onReady(): void {
    const port: BleServerPort = {
      startAdvertising: (serviceData, interval) => {
        // The typings lack startAdvertising's `interval` option (bleserver.js reads it).
        (this as unknown as { startAdvertising(options: object): void }).startAdvertising({
          advertisingData: { flags: ADVERTISING_FLAGS, serviceDataUUID16: { uuid: uuid`FFF6`, data: Array.from(serviceData) } },
          interval,
        });
      },
      stopAdvertising: () => this.stopAdvertising(),
      indicate: (data) => {
        if (this.#c2Handle === undefined) throw new Error("C2 has no handle yet: the central has not subscribed");
        // notify: 0 asks bleserver for an indication; "Array" copies the bytes into an exact ArrayBuffer.
        const target = { handle: this.#c2Handle, notify: 0, type: "Array" };
        this.notifyValue(target as unknown as Characteristic, data);
      },
      disconnect: () => this.disconnect(),
    };
    this.#peripheral.attach(port);
  }

  override onConnected(device: Client): void {
    this.#peripheral.onConnected(device.connection);
  }

  override onDisconnected(device: Client): void {
    this.#peripheral.onDisconnected(device.connection);
  }

  onMTUExchanged(mtu: number): void {
    this.#peripheral.onMtuExchanged(mtu);
  }

  override onCharacteristicWritten(characteristic: Characteristic, value: Uint8Array): void {
    const name = characteristicName(characteristic.name);
    if (name) this.#peripheral.onWritten(name, value);
  }

  override onCharacteristicRead(characteristic: Characteristic): Uint8Array {
    const name = characteristicName(characteristic.name);
    return name ? this.#peripheral.onRead(name) : new Uint8Array(0);
  }

  override onCharacteristicNotifyEnabled(characteristic: Characteristic): void {
    const state = characteristic as unknown as NotifyState;
    const name = characteristicName(state.name);
    if (name === "C2") this.#c2Handle = state.handle;
    if (name) this.#peripheral.onSubscription(name, true);
  }

  onCharacteristicNotifyDisabled(characteristic: NotifyState): void {
    const name = characteristicName(characteristic.name);
    if (name) this.#peripheral.onSubscription(name, false);
  }
}

/** The Matter BLE peripheral; the server starts (and NimBLE with it) when this is called. */
export function createBlePeripheral(clock: Clock): MatterBlePeripheral {
  const peripheral = new MatterBlePeripheral({
    setTimer: (ms, callback) => clock.setTimer(ms, callback),
    clearTimer: (handle) => clock.clearTimer(handle as never),
  });
  new MatterGattServer(peripheral);
  return peripheral;
}
