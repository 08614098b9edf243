// Network Commissioning's Wi-Fi station (WiFiStation) over the Moddable SDK's `wifi` module,
// through a small port so that the logic is tested on Node (test/esp32-wifi.test.ts).
//
// What the SDK gives and what that means here (modules/network/wifi/esp32/xs6wifi.c, SDK 8.2.3):
// - SSIDs and passphrases are strings copied byte for byte into esp_wifi's config, so Matter's
//   octet-string SSIDs must be valid UTF-8 (no NUL) to be joined; others are reported as
//   network-not-found without touching the radio.
// - A scan reports ssid, rssi, channel, bssid and an authentication name per access point, then
//   null; no band (the ESP32 radio is 2.4 GHz only).
// - A connection reports "connect", then "gotIP" once DHCP answers; "disconnect" carries -1 when
//   the access point rejected the passphrase and 0 otherwise, and the SDK retries on its own. So
//   only gotIP (connected) and -1 (auth-failure) end a connection attempt here; the cluster's own
//   ConnectMaxTimeSeconds ends the rest.
import { bytesEqual, utf8DecodeOrOffset, utf8Encode } from "../../src/codec/bytes";
import { WiFiBand, type WiFiConnectOutcome, type WiFiScanResult, type WiFiStation } from "../../src/clusters/network-commissioning";

export interface WiFiScanItem {
  ssid: string;
  authentication?: string;
  rssi: number;
  channel?: number;
  bssid: ArrayBuffer;
}

/** The slice of Moddable's WiFi class this station uses. */
export interface WiFiPort {
  scan(onItem: (item: WiFiScanItem | null) => void): void;
  /** Starts joining; events until `close` is called on what it returns. */
  connect(ssid: string, passphrase: string, onEvent: (message: string, reason?: number) => void): { close(): void };
  disconnect(): void;
}

/** WiFiSecurityBitmap (spec 11.9.5.1) per authentication name the SDK reports. */
const SECURITY_OF_AUTHENTICATION: Readonly<Record<string, number>> = Object.freeze({
  none: 0x01,
  wep: 0x02,
  wpa_psk: 0x04,
  wpa2_psk: 0x08,
  wpa_wpa2_psk: 0x04 | 0x08,
});

/** The SDK's disconnect reason for a rejected passphrase. */
const PASSPHRASE_REJECTED = -1;

/** The text the SDK can carry: valid UTF-8 without NUL (it copies into a C string). */
function utf8Text(bytes: Uint8Array): string | undefined {
  const text = bytes.includes(0) ? undefined : utf8DecodeOrOffset(bytes);
  return typeof text === "string" ? text : undefined;
}

export class Esp32WiFiStation implements WiFiStation {
  readonly bands = Object.freeze([WiFiBand.Band2G4]);
  private attempt?: { close(): void };

  constructor(private readonly port: WiFiPort) {}

  scan(ssid: Uint8Array | undefined, done: (results: WiFiScanResult[] | Error) => void): void {
    const results: WiFiScanResult[] = [];
    let finished = false;
    const finish = (outcome: WiFiScanResult[] | Error) => {
      if (finished) return;
      finished = true;
      done(outcome);
    };
    try {
      this.port.scan((item) => {
        if (item === null) return finish(results);
        const found = utf8Encode(item.ssid);
        if (ssid && !bytesEqual(found, ssid)) return;
        results.push({
          security: SECURITY_OF_AUTHENTICATION[item.authentication ?? ""] ?? 0,
          ssid: found,
          bssid: new Uint8Array(item.bssid.slice(0, 6)),
          channel: item.channel ?? 0,
          band: WiFiBand.Band2G4,
          rssi: item.rssi,
        });
      });
    } catch (error) {
      finish(error instanceof Error ? error : new Error(String(error)));
    }
  }

  connect(ssid: Uint8Array, credentials: Uint8Array, done: (outcome: WiFiConnectOutcome) => void): void {
    this.stopAttempt();
    const name = utf8Text(ssid);
    const passphrase = utf8Text(credentials);
    if (name === undefined || passphrase === undefined) {
      done({ status: "network-not-found" });
      return;
    }
    let finished = false;
    const finish = (outcome: WiFiConnectOutcome) => {
      if (finished) return;
      finished = true;
      done(outcome);
    };
    try {
      this.attempt = this.port.connect(name, passphrase, (message, reason) => {
        if (message === "gotIP") finish({ status: "connected" });
        else if (message === "disconnect" && reason === PASSPHRASE_REJECTED) finish({ status: "auth-failure", errorValue: reason });
      });
    } catch {
      finish({ status: "failed" });
    }
  }

  disconnect(): void {
    this.stopAttempt();
    this.port.disconnect();
  }

  private stopAttempt(): void {
    this.attempt?.close();
    this.attempt = undefined;
  }
}
