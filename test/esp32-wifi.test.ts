// The ESP32 Wi-Fi station (hosts/esp32/wifi-station.ts) over a fake of the SDK's `wifi` module
// that reports what modules/network/wifi/esp32/xs6wifi.c reports: scan items then null;
// "connect", "gotIP"; "disconnect" with -1 for a rejected passphrase (0 otherwise) and retries.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Esp32WiFiStation, type WiFiPort, type WiFiScanItem } from "../hosts/esp32/wifi-station";
import type { WiFiConnectOutcome, WiFiScanResult } from "../src/clusters/network-commissioning";

class FakeWiFi implements WiFiPort {
  readonly joins: { ssid: string; passphrase: string; closed: boolean }[] = [];
  disconnects = 0;
  private listener?: (message: string, reason?: number) => void;
  constructor(private readonly accessPoints: WiFiScanItem[]) {}
  scan(onItem: (item: WiFiScanItem | null) => void): void {
    for (const item of this.accessPoints) onItem(item);
    onItem(null);
  }
  connect(ssid: string, passphrase: string, onEvent: (message: string, reason?: number) => void): { close(): void } {
    const join = { ssid, passphrase, closed: false };
    this.joins.push(join);
    this.listener = onEvent;
    return { close: () => { join.closed = true; this.listener = undefined; } };
  }
  disconnect(): void {
    this.disconnects++;
  }
  emit(message: string, reason?: number): void {
    this.listener?.(message, reason);
  }
}

const bytes = (text: string) => new TextEncoder().encode(text);
const bssid = (last: number) => Uint8Array.of(0x24, 0x0a, 0xc4, 0, 0, last).buffer;

test("a scan reports every access point, or only the one asked for, with Matter's security bits", () => {
  const wifi = new FakeWiFi([
    { ssid: "home", authentication: "wpa2_psk", rssi: -40, channel: 6, bssid: bssid(1) },
    { ssid: "café", authentication: "wpa_wpa2_psk", rssi: -70, channel: 11, bssid: bssid(2) },
    { ssid: "open", authentication: "none", rssi: -80, channel: 1, bssid: bssid(3) },
  ]);
  const station = new Esp32WiFiStation(wifi);
  let all: WiFiScanResult[] | Error | undefined;
  station.scan(undefined, (results) => (all = results));
  assert.ok(Array.isArray(all));
  assert.deepEqual(all.map((result) => [new TextDecoder().decode(result.ssid), result.security, result.channel, result.band, result.rssi, result.bssid[5]]), [
    ["home", 0x08, 6, 0, -40, 1],
    ["café", 0x0c, 11, 0, -70, 2],
    ["open", 0x01, 1, 0, -80, 3],
  ]);
  let one: WiFiScanResult[] | Error | undefined;
  station.scan(bytes("café"), (results) => (one = results));
  assert.ok(Array.isArray(one));
  assert.deepEqual(one.map((result) => result.channel), [11], "the SSID is compared as UTF-8 bytes");
  assert.deepEqual([...station.bands], [0], "2.4 GHz only");
});

test("a connection ends at gotIP, or at once when the passphrase is rejected; other disconnects are retried by the SDK", () => {
  const wifi = new FakeWiFi([]);
  const station = new Esp32WiFiStation(wifi);
  const outcomes: WiFiConnectOutcome[] = [];
  station.connect(bytes("home"), bytes("correct horse"), (outcome) => outcomes.push(outcome));
  assert.deepEqual(wifi.joins.map(({ ssid, passphrase }) => [ssid, passphrase]), [["home", "correct horse"]]);
  wifi.emit("disconnect", 0);
  wifi.emit("connect");
  assert.deepEqual(outcomes, [], "a transient disconnect and the association are not the end");
  wifi.emit("gotIP");
  wifi.emit("gotIP");
  assert.deepEqual(outcomes, [{ status: "connected" }], "reported once");

  const rejected: WiFiConnectOutcome[] = [];
  station.connect(bytes("home"), bytes("wrong"), (outcome) => rejected.push(outcome));
  assert.equal(wifi.joins[0]!.closed, true, "a new attempt stops listening to the previous one");
  wifi.emit("disconnect", -1);
  assert.deepEqual(rejected, [{ status: "auth-failure", errorValue: -1 }]);
});

test("SSIDs and passphrases the SDK cannot carry (not UTF-8, or with NUL) never reach the radio", () => {
  const wifi = new FakeWiFi([]);
  const station = new Esp32WiFiStation(wifi);
  for (const [ssid, passphrase] of [[Uint8Array.of(0xff, 0xfe), bytes("secret12")], [bytes("home"), Uint8Array.of(0x61, 0, 0x62)]] as const) {
    const outcomes: WiFiConnectOutcome[] = [];
    station.connect(ssid, passphrase, (outcome) => outcomes.push(outcome));
    assert.deepEqual(outcomes, [{ status: "network-not-found" }]);
  }
  assert.equal(wifi.joins.length, 0);
});

test("disconnect stops the attempt and leaves the network", () => {
  const wifi = new FakeWiFi([]);
  const station = new Esp32WiFiStation(wifi);
  const outcomes: WiFiConnectOutcome[] = [];
  station.connect(bytes("home"), bytes("correct horse"), (outcome) => outcomes.push(outcome));
  station.disconnect();
  wifi.emit("gotIP");
  assert.equal(wifi.disconnects, 1);
  assert.equal(wifi.joins[0]!.closed, true);
  assert.deepEqual(outcomes, [], "a late event of a stopped attempt is not reported");
});
