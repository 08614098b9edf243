// The Moddable `wifi` module as the WiFiPort of wifi-station.ts.
import WiFi from "wifi";
import { Esp32WiFiStation, type WiFiPort } from "./wifi-station";

const moddableWiFi: WiFiPort = Object.freeze({
  scan(onItem: Parameters<WiFiPort["scan"]>[0]): void {
    WiFi.scan({}, (item) => onItem(item));
  },
  connect(ssid: string, passphrase: string, onEvent: (message: string, reason?: number) => void): { close(): void } {
    const monitor = new WiFi({ ssid, password: passphrase }, onEvent as (message: string) => void);
    return { close: () => monitor.close() };
  },
  disconnect(): void {
    WiFi.disconnect();
  },
});

export function createWiFiStation(): Esp32WiFiStation {
  return new Esp32WiFiStation(moddableWiFi);
}
