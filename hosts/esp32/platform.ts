// The Platform for ESP32 over Moddable SDK modules: one small module per concern.
//   clock      Time.ticks + Timer                        (clock.ts)
//   entropy    Math.random = esp_random()                (entropy.ts)
//   storage    NVS via `preference`, namespaces mxs.a/b  (nvs-store.ts)
//   flash      `flash` partitions, OTA slots via `ota`   (flash.ts)
//   network    ECMA-419 UDP, IPv4 only                   (network.ts)
//   ble        `bleserver` + bleservices/matter.json     (ble.ts)
//   boot       otadata + bootloader rollback             (boot-control.ts)
//   wifi       `wifi` station for Network Commissioning  (wifi.ts, wifi-station.ts)
import Preference from "preference";
// Moddable's "system" module exports nothing: it installs the global System (restart, deepSleep).
import "system";
import type { WiFiStation } from "../../src/clusters/network-commissioning";
import type { LogLevel, Platform } from "../../src/platform";
import { createBlePeripheral } from "./ble";
import { Esp32Clock } from "./clock";
import { Esp32Entropy } from "./entropy";
import { createBootControl, Esp32FlashStore } from "./flash";
import { Esp32Network } from "./network";
import { NvsKeyValueStore } from "./nvs-store";
import { createWiFiStation } from "./wifi";

/** NVS namespaces: the firmware's store, and the host's own boot record. */
export const FIRMWARE_NAMESPACES = Object.freeze(["mxs.a", "mxs.b"] as const);
export const BOOT_NAMESPACES = Object.freeze(["mxs.boot.a", "mxs.boot.b"] as const);

export interface Esp32PlatformOptions {
  /** Start the BLE peripheral (NimBLE); off for builds without Bluetooth. */
  ble?: boolean;
}

/** The Platform plus the Wi-Fi station, which src/device hands to Network Commissioning. */
export type Esp32Platform = Platform & { wifi: WiFiStation };

export function createEsp32Platform(options: Esp32PlatformOptions = {}): Esp32Platform {
  const clock = new Esp32Clock();
  const entropy = new Esp32Entropy();
  const storage = new NvsKeyValueStore(Preference, ...FIRMWARE_NAMESPACES);
  const boot = createBootControl(new NvsKeyValueStore(Preference, ...BOOT_NAMESPACES));
  const platform: Esp32Platform = {
    clock,
    entropy,
    storage,
    flash: new Esp32FlashStore(boot),
    network: new Esp32Network(entropy),
    boot,
    log(level: LogLevel, message: string): void {
      trace(`[${level}] ${message}\n`);
    },
    reboot(): void {
      (globalThis as unknown as { System: { restart(): void } }).System.restart();
    },
    wifi: createWiFiStation(),
    ...(options.ble === false ? {} : { ble: createBlePeripheral(clock) }),
  };
  return platform;
}
