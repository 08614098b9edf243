// The Matter BLE service (CHIPoBLE) as a BlePeripheral over Moddable's `bleserver`.
//
// What the SDK provides and what it does not, and how each gap is handled here:
// - The GATT table is static, generated at build time from bleservices/matter.json (service
//   0xFFF6; C1 write, C2 read+indicate, C3 read). C3 always exists; it reads as empty until
//   setAdditionalData gives it a value.
// - bleserver serves one central at a time (defines.ble.max_connections is 1); a second central
//   cannot connect while one is.
// - Indications: notifyValue(characteristic, value) sends a notification when characteristic.notify
//   is truthy and an indication when it is 0 (NimBLE: ble_gatts_notify_custom vs
//   ble_gatts_indicate_custom; Bluedroid: need_confirm = (notify == 0)). The object handed to
//   onCharacteristicNotifyEnabled has notify = 1 even when the central subscribed for indications
//   (NimBLE reports cur_notify || cur_indicate; Bluedroid the CCCD value), so passing it back would
//   notify. C2 is always sent with { handle, notify: 0 }.
// - Indication confirmations are not reported (NimBLE's BLE_GAP_EVENT_NOTIFY_TX and Bluedroid's
//   ESP_GATTS_CONF_EVT are dropped by the SDK), yet GATT allows one outstanding indication. So
//   `confirmed` is inferred: a C1 write from the central after an indication means the central's
//   stack has confirmed it (ATT PDUs from one client are processed in order, and the client stack
//   confirms on receipt, before its application writes again); otherwise the indication is taken
//   as confirmed after INDICATION_GRACE_MS, which covers a few connection intervals at the
//   intervals commissioners use. Indications asked for before `confirmed` are queued, never sent
//   back to back.
// - The ATT MTU arrives later than the connection (onMTUExchanged, when the central asks), but
//   BleEvents.connected carries it, so `connected` is reported once the MTU is known: at the MTU
//   exchange, or else at the central's first write or subscription with the default MTU of 23.

import type { BleConnection, BleEvents, BlePeripheral } from "../../src/platform";

/** Default ATT MTU when the central never exchanges MTUs. */
export const DEFAULT_ATT_MTU = 23;
/** How long an unconfirmed indication blocks the next one when the central does not write. */
export const INDICATION_GRACE_MS = 250;
/** Matter advertising: fast for the first 30 s (20-60 ms), then slow (150-1200 ms). */
export const FAST_ADVERTISING_MS = 30_000;
export const FAST_INTERVAL = Object.freeze({ min: 32, max: 96 } as const); // units of 0.625 ms
export const SLOW_INTERVAL = Object.freeze({ min: 240, max: 1920 } as const);

/** The part of Moddable's BLEServer this peripheral drives. */
export interface BleServerPort {
  startAdvertising(serviceData: Uint8Array, interval: { min: number; max: number }): void;
  stopAdvertising(): void;
  /** Sends `data` on C2 as an indication. */
  indicate(data: Uint8Array): void;
  disconnect(): void;
}

export interface BleTimers {
  setTimer(ms: number, callback: () => void): unknown;
  clearTimer(handle: unknown): void;
}

export type MatterCharacteristic = "C1" | "C2" | "C3";

const IGNORE: BleEvents = Object.freeze({
  connected() {},
  disconnected() {},
  received() {},
  subscribed() {},
  confirmed() {},
});

export class MatterBlePeripheral implements BlePeripheral {
  readonly #timers: BleTimers;
  #port: BleServerPort | undefined;
  #events: BleEvents = IGNORE;
  #serviceData: Uint8Array | undefined;
  #advertisingTimer: unknown;
  #additionalData: Uint8Array = new Uint8Array(0);
  #connection: BleConnection | undefined;
  #mtu = DEFAULT_ATT_MTU;
  #reported = false;
  #subscribed = false;
  #inFlight = false;
  #graceTimer: unknown;
  #queue: Uint8Array[] = [];

  constructor(timers: BleTimers) {
    this.#timers = timers;
  }

  // BlePeripheral

  setHandler(events: BleEvents): void {
    this.#events = events;
  }

  advertise(serviceData: Uint8Array | undefined): void {
    if (serviceData !== undefined && serviceData.length !== 8) throw new RangeError(`Matter BLE service data is 8 bytes, got ${serviceData.length}`);
    this.#serviceData = serviceData?.slice();
    this.#restartAdvertising();
  }

  setAdditionalData(data: Uint8Array | undefined): void {
    this.#additionalData = data ? data.slice() : new Uint8Array(0);
  }

  indicate(connection: BleConnection, data: Uint8Array): void {
    if (connection !== this.#connection) throw new Error(`BLE connection ${connection} is not open`);
    if (!this.#subscribed) throw new Error("the central has not subscribed to C2");
    this.#queue.push(data.slice());
    this.#sendNext();
  }

  disconnect(connection: BleConnection): void {
    if (connection === this.#connection) this.#port?.disconnect();
  }

  // Events from the BLE server

  /** The server is ready (onReady); advertising asked for before then starts now. */
  attach(port: BleServerPort): void {
    this.#port = port;
    this.#restartAdvertising();
  }

  onConnected(connection: BleConnection): void {
    this.#connection = connection;
    this.#mtu = DEFAULT_ATT_MTU;
    this.#reported = false;
    this.#subscribed = false;
    this.#clearAdvertisingTimer();
  }

  onMtuExchanged(mtu: number): void {
    if (this.#connection === undefined) return;
    this.#mtu = mtu;
    this.#reportConnected();
  }

  onWritten(characteristic: MatterCharacteristic, value: Uint8Array): void {
    if (this.#connection === undefined || characteristic !== "C1") return;
    this.#reportConnected();
    // The central wrote after our indication: its stack has already confirmed it.
    if (this.#inFlight) this.#confirm();
    this.#events.received(this.#connection, value);
  }

  onRead(characteristic: MatterCharacteristic): Uint8Array {
    return characteristic === "C3" ? this.#additionalData : new Uint8Array(0);
  }

  onSubscription(characteristic: MatterCharacteristic, subscribed: boolean): void {
    if (this.#connection === undefined || characteristic !== "C2") return;
    this.#reportConnected();
    this.#subscribed = subscribed;
    if (!subscribed) this.#dropIndications();
    this.#events.subscribed(this.#connection, subscribed);
  }

  onDisconnected(connection: BleConnection): void {
    if (connection !== this.#connection) return;
    this.#connection = undefined;
    this.#subscribed = false;
    this.#dropIndications();
    if (this.#reported) this.#events.disconnected(connection);
    this.#reported = false;
    // bleserver stops advertising on connect; resume if the firmware still wants to be found.
    this.#restartAdvertising();
  }

  #reportConnected(): void {
    if (this.#reported || this.#connection === undefined) return;
    this.#reported = true;
    this.#events.connected(this.#connection, this.#mtu);
  }

  #sendNext(): void {
    if (this.#inFlight || !this.#port || this.#connection === undefined) return;
    const next = this.#queue.shift();
    if (!next) return;
    this.#inFlight = true;
    this.#port.indicate(next);
    this.#graceTimer = this.#timers.setTimer(INDICATION_GRACE_MS, () => {
      this.#graceTimer = undefined;
      if (this.#inFlight) this.#confirm();
    });
  }

  #confirm(): void {
    this.#inFlight = false;
    if (this.#graceTimer !== undefined) this.#timers.clearTimer(this.#graceTimer);
    this.#graceTimer = undefined;
    const connection = this.#connection;
    if (connection !== undefined) this.#events.confirmed(connection);
    this.#sendNext();
  }

  #dropIndications(): void {
    this.#queue = [];
    this.#inFlight = false;
    if (this.#graceTimer !== undefined) this.#timers.clearTimer(this.#graceTimer);
    this.#graceTimer = undefined;
  }

  #clearAdvertisingTimer(): void {
    if (this.#advertisingTimer !== undefined) this.#timers.clearTimer(this.#advertisingTimer);
    this.#advertisingTimer = undefined;
  }

  #restartAdvertising(): void {
    this.#clearAdvertisingTimer();
    const port = this.#port;
    if (!port || this.#connection !== undefined) return;
    port.stopAdvertising();
    const serviceData = this.#serviceData;
    if (!serviceData) return;
    port.startAdvertising(serviceData, FAST_INTERVAL);
    this.#advertisingTimer = this.#timers.setTimer(FAST_ADVERTISING_MS, () => {
      this.#advertisingTimer = undefined;
      port.stopAdvertising();
      port.startAdvertising(serviceData, SLOW_INTERVAL);
    });
  }
}
