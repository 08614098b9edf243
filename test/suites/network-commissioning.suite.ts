// Network Commissioning's Wi-Fi variant over a scripted station (the host interface the Platform
// lacks so far), and the Ethernet variant: fail-safe required for changes, the NetworkConfig and
// ConnectNetwork status codes, scan results, deadlines, pending networks committed with the
// fail-safe or reverted (and the station sent back to the committed network) on its expiry.
import { suite, ok, equal, deepEqual, throws, rejects } from "../portable/harness";
import { ManualClock } from "./transport-fixtures";
import { utf8Encode } from "../../src/codec/bytes";
import { NetworkCommissioningServer, NetworkingStatus, NetworkCommissioningAttribute, NetworkCommissioningFeature, type WiFiConnectOutcome, type WiFiScanResult, type WiFiStation } from "../../src/clusters/network-commissioning";
import { FailSafeContext } from "../../src/commissioning/fail-safe";
import { TransactionalStore } from "../../src/commissioning/transactional-store";
import { StatusError } from "../../src/interaction/errors";
import { Status } from "../../src/interaction/constants";
import { DataModel, LOCAL_READ, findAttribute, findCommand, type InvokeContext } from "../../src/interaction/model";
import { MemoryAttributeStore } from "../../src/interaction/store";
import type { KeyValueStore } from "../../src/platform";
import { SeededRandom } from "./transport-fixtures";

class MapStore implements KeyValueStore {
  readonly maxKeyLength = 15;
  readonly maxValueLength = 4000;
  readonly entries = new Map<string, Uint8Array>();
  get = (key: string) => this.entries.get(key)?.slice();
  set = (key: string, value: Uint8Array) => void this.entries.set(key, value.slice());
  delete = (key: string) => void this.entries.delete(key);
  keys = (prefix: string) => [...this.entries.keys()].filter((key) => key.startsWith(prefix));
}

/** A station whose answers the test scripts; `hold` keeps a callback pending (a station that hangs). */
class ScriptedStation implements WiFiStation {
  readonly bands = [0, 2];
  scans: (Uint8Array | undefined)[] = [];
  connects: string[] = [];
  disconnects = 0;
  scanResults: WiFiScanResult[] = [];
  connectOutcome: WiFiConnectOutcome = { status: "connected" };
  hold = false;

  scan(ssid: Uint8Array | undefined, done: (results: WiFiScanResult[] | Error) => void): void {
    this.scans.push(ssid);
    if (!this.hold) done(ssid ? this.scanResults.filter((result) => text(result.ssid) === text(ssid)) : this.scanResults);
  }

  connect(ssid: Uint8Array, credentials: Uint8Array, done: (outcome: WiFiConnectOutcome) => void): void {
    this.connects.push(`${text(ssid)}/${text(credentials)}`);
    if (!this.hold) done(this.connectOutcome);
  }

  disconnect(): void {
    this.disconnects++;
  }
}

function text(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

function world(feature: "wifi" | "ethernet", station?: WiFiStation, kv = new MapStore()) {
  const clock = new ManualClock();
  const store = new TransactionalStore(kv);
  const failSafe = new FailSafeContext({ clock, store });
  const breadcrumbs: bigint[] = [];
  const server = new NetworkCommissioningServer({ feature, clock, store, failSafe, interfaceName: "en0", setBreadcrumb: (value) => breadcrumbs.push(value), ...(station ? { wifi: station } : {}) });
  server.load();
  failSafe.addParticipant(server);
  const model = new DataModel({ clock, random: new SeededRandom(1), store: new MemoryAttributeStore() });
  model.addEndpoint({ id: 0, deviceTypes: [{ type: 0x16, revision: 3 }], clusters: [server] });
  model.start();
  const context = (fabricIndex = 1): InvokeContext => ({ fabricIndex, timed: false, endpoint: 0, afterResponse: () => {} });
  const invoke = (name: string, request: unknown, fabricIndex = 1) => server.invoke(findCommand(server.definition, commandIds[name]!)!, request, context(fabricIndex)) as any;
  const read = (id: number) => server.readValue(findAttribute(server.definition, id)!, LOCAL_READ) as any;
  return { clock, kv, failSafe, server, invoke, read, breadcrumbs };
}

const commandIds: Record<string, number> = { scan: 0x00, add: 0x02, remove: 0x04, connect: 0x06, reorder: 0x08 };
const A = NetworkCommissioningAttribute;
const ssid = (name: string) => utf8Encode(name);

export default suite("network commissioning", (test) => {
  test("Ethernet: one network, the interface, connected; feature ET and no commands", () => {
    const { server, read } = world("ethernet");
    equal(server.definition.featureMap, NetworkCommissioningFeature.Ethernet);
    equal(server.definition.commands.length, 0);
    deepEqual(read(A.Networks), [{ networkId: ssid("en0"), connected: true }]);
    equal(read(A.MaxNetworks), 1);
    equal(read(A.LastNetworkingStatus), null);
    ok(!findAttribute(server.definition, A.ScanMaxTimeSeconds), "no Wi-Fi attributes");
  });

  test("Wi-Fi: changes need the fail-safe; add, update, bounds, credentials, remove, reorder", async () => {
    const station = new ScriptedStation();
    const { failSafe, invoke, read, breadcrumbs } = world("wifi", station);
    const refused = throws(() => invoke("add", { ssid: ssid("home"), credentials: utf8Encode("password1") }));
    ok(refused instanceof StatusError && refused.status === Status.FailsafeRequired);
    failSafe.arm(60, 1, undefined);
    throws(() => invoke("add", { ssid: ssid("home"), credentials: utf8Encode("password1") }, 2), /fail-safe/);
    deepEqual(invoke("add", { ssid: ssid("home"), credentials: utf8Encode("password1"), breadcrumb: 5n }), { networkingStatus: NetworkingStatus.Success, networkIndex: 0 });
    deepEqual(breadcrumbs, [5n]);
    equal(invoke("add", { ssid: ssid("other"), credentials: utf8Encode("password2") }).networkingStatus, NetworkingStatus.BoundsExceeded);
    equal(invoke("add", { ssid: ssid("home"), credentials: utf8Encode("seven77") }).networkingStatus, NetworkingStatus.OutOfRange, "7-character passphrase");
    equal(invoke("add", { ssid: new Uint8Array(0), credentials: new Uint8Array(0) }).networkingStatus, NetworkingStatus.OutOfRange, "empty SSID");
    deepEqual(invoke("add", { ssid: ssid("home"), credentials: utf8Encode("password3") }), { networkingStatus: NetworkingStatus.Success, networkIndex: 0 });
    deepEqual(read(A.Networks), [{ networkId: ssid("home"), connected: false }]);
    equal(invoke("reorder", { networkId: ssid("home"), networkIndex: 1 }).networkingStatus, NetworkingStatus.OutOfRange);
    equal(invoke("remove", { networkId: ssid("nope") }).networkingStatus, NetworkingStatus.NetworkIdNotFound);
    deepEqual(invoke("remove", { networkId: ssid("home") }), { networkingStatus: NetworkingStatus.Success, networkIndex: 0 });
    deepEqual(read(A.Networks), []);
    equal(station.connects.length, 0);
  });

  test("Wi-Fi: ConnectNetwork outcomes, the Last* attributes and the connect deadline", async () => {
    const station = new ScriptedStation();
    const { clock, failSafe, invoke, read } = world("wifi", station);
    failSafe.arm(120, 1, undefined);
    invoke("add", { ssid: ssid("home"), credentials: utf8Encode("password1") });
    deepEqual(await invoke("connect", { networkId: ssid("home"), breadcrumb: 9n }), { networkingStatus: NetworkingStatus.Success, errorValue: null });
    deepEqual(station.connects, ["home/password1"]);
    deepEqual(read(A.Networks), [{ networkId: ssid("home"), connected: true }]);
    equal(read(A.LastNetworkingStatus), NetworkingStatus.Success);
    deepEqual(read(A.LastNetworkId), ssid("home"));
    station.connectOutcome = { status: "auth-failure", errorValue: 15 };
    deepEqual(await invoke("connect", { networkId: ssid("home") }), { networkingStatus: NetworkingStatus.AuthFailure, errorValue: 15 });
    equal(read(A.LastConnectErrorValue), 15);
    equal((await invoke("connect", { networkId: ssid("gone") })).networkingStatus, NetworkingStatus.NetworkIdNotFound);
    station.hold = true;
    const pending = invoke("connect", { networkId: ssid("home") });
    await clock.advance(19_000);
    let settled = false;
    void pending.then(() => (settled = true));
    await clock.advance(0);
    ok(!settled, "still waiting within ConnectMaxTimeSeconds");
    await clock.advance(1_001);
    equal((await pending).networkingStatus, NetworkingStatus.OtherConnectionFailure, "the deadline answers for a hung station");
  });

  test("Wi-Fi: ScanNetworks sorts by signal, filters by SSID, and reports a missing station", async () => {
    const station = new ScriptedStation();
    station.scanResults = [
      { security: 8, ssid: ssid("weak"), bssid: new Uint8Array(6).fill(1), channel: 1, band: 0, rssi: -80 },
      { security: 16, ssid: ssid("strong"), bssid: new Uint8Array(6).fill(2), channel: 36, band: 2, rssi: -40 },
      { security: 1, ssid: ssid("broken"), bssid: new Uint8Array(5), channel: 6 },
    ];
    const { invoke } = world("wifi", station);
    const all = await invoke("scan", {});
    equal(all.networkingStatus, NetworkingStatus.Success);
    deepEqual(all.wiFiScanResults.map((result: { ssid: Uint8Array }) => text(result.ssid)), ["strong", "weak"], "sorted, the malformed BSSID left out");
    deepEqual(all.wiFiScanResults[0], { security: 16, ssid: ssid("strong"), bssid: new Uint8Array(6).fill(2), channel: 36, wiFiBand: 2, rssi: -40 });
    equal((await invoke("scan", { ssid: ssid("absent") })).networkingStatus, NetworkingStatus.NetworkNotFound);
    const without = world("wifi");
    equal((await without.invoke("scan", {})).networkingStatus, NetworkingStatus.UnknownError);
    await rejects(async () => without.invoke("add", { ssid: ssid("x"), credentials: new Uint8Array(0) }), /fail-safe/);
  });

  test("Wi-Fi: networks commit with the fail-safe, are reloaded and joined at boot; an expiry reverts and reconnects", async () => {
    const station = new ScriptedStation();
    const first = world("wifi", station);
    first.failSafe.arm(60, 1, undefined);
    first.invoke("add", { ssid: ssid("home"), credentials: utf8Encode("password1") });
    equal(first.kv.get("net"), undefined, "pending networks are not stored");
    first.failSafe.commit();
    ok(first.kv.get("net"), "committed");
    const second = world("wifi", station, first.kv);
    deepEqual(station.connects.slice(-1), ["home/password1"], "the committed network is joined at boot");
    deepEqual(second.read(A.Networks), [{ networkId: ssid("home"), connected: true }]);

    // Replace the network under a fail-safe, connect to it, and let the fail-safe expire.
    second.failSafe.arm(5, 1, undefined);
    second.invoke("remove", { networkId: ssid("home") });
    second.invoke("add", { ssid: ssid("cafe"), credentials: new Uint8Array(0) });
    await second.invoke("connect", { networkId: ssid("cafe") });
    await second.clock.advance(5_001);
    ok(!second.failSafe.armed);
    deepEqual(second.read(A.Networks), [{ networkId: ssid("home"), connected: true }]);
    deepEqual(station.connects.slice(-2), ["cafe/", "home/password1"], "back to the committed network");
  });
});
