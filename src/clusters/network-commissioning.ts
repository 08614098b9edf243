// Network Commissioning cluster (0x0031, Core spec 11.9, revision 2) in one of two variants:
// - Ethernet (the simulator; a wired device): one network, the interface, always connected; no
//   commands;
// - Wi-Fi (ESP32): ScanNetworks, AddOrUpdateWiFiNetwork, RemoveNetwork, ConnectNetwork,
//   ReorderNetwork over a WiFiStation the host supplies. The Platform has no Wi-Fi yet: the device
//   takes the station from the host (see WiFiStation, the proposed optional `Platform.wifi`), and
//   without one every command answers UnknownError.
//
// Wi-Fi network changes need the fail-safe (FAILSAFE_REQUIRED otherwise, spec 11.9.7) and are
// pending until CommissioningComplete; the fail-safe's expiry reverts them and reconnects to the
// committed network. Storage: "net" = TLV { 0: [ { 0: SSID, 1: credentials } ] }; credentials are
// never readable over the interaction model. MaxNetworks is 1 (an ESP32 station keeps one).
import { TlvStruct, TlvWriter } from "../codec/tlv";
import { bytesEqual, utf8Encode } from "../codec/bytes";
import type { FailSafeContext, FailSafeParticipant } from "../commissioning/fail-safe";
import type { TransactionalStore } from "../commissioning/transactional-store";
import { Privilege, Status } from "../interaction/constants";
import { StatusError } from "../interaction/errors";
import { ClusterServer, attribute, command, defineCluster, type AttributeDefinition, type CommandDefinition, type InvokeContext, type ReadContext } from "../interaction/model";
import { bitmap8, bool, enum8, field, int32, int8, list, nullable, octets, string, struct, uint16, uint64, uint8 } from "../interaction/schema";
import type { Clock, LogLevel } from "../platform";
import { ClusterId } from "./ids";

export enum NetworkCommissioningFeature { WiFi = 1 << 0, Thread = 1 << 1, Ethernet = 1 << 2 }
export enum NetworkCommissioningAttribute {
  MaxNetworks = 0x00,
  Networks = 0x01,
  ScanMaxTimeSeconds = 0x02,
  ConnectMaxTimeSeconds = 0x03,
  InterfaceEnabled = 0x04,
  LastNetworkingStatus = 0x05,
  LastNetworkId = 0x06,
  LastConnectErrorValue = 0x07,
  SupportedWiFiBands = 0x08,
}
export enum NetworkCommissioningCommand {
  ScanNetworks = 0x00,
  ScanNetworksResponse = 0x01,
  AddOrUpdateWiFiNetwork = 0x02,
  RemoveNetwork = 0x04,
  NetworkConfigResponse = 0x05,
  ConnectNetwork = 0x06,
  ConnectNetworkResponse = 0x07,
  ReorderNetwork = 0x08,
}
/** NetworkCommissioningStatusEnum (spec 11.9.5.2). */
export enum NetworkingStatus {
  Success = 0,
  OutOfRange = 1,
  BoundsExceeded = 2,
  NetworkIdNotFound = 3,
  DuplicateNetworkId = 4,
  NetworkNotFound = 5,
  RegulatoryError = 6,
  AuthFailure = 7,
  UnsupportedSecurity = 8,
  OtherConnectionFailure = 9,
  Ipv6Failed = 10,
  IpBindFailed = 11,
  UnknownError = 12,
}
export enum WiFiBand { Band2G4 = 0, Band3G65 = 1, Band5G = 2, Band6G = 3, Band60G = 4, Band1G = 5 }

export const SCAN_MAX_TIME_SECONDS = 10;
export const CONNECT_MAX_TIME_SECONDS = 20;
const MAX_NETWORKS = 1;
const MAX_SCAN_RESULTS = 10;
const NETWORKS_KEY = "net";

/** One access point a scan found. */
export interface WiFiScanResult {
  /** WiFiSecurityBitmap: 1 unencrypted, 2 WEP, 4 WPA, 8 WPA2, 16 WPA3 (personal). */
  security: number;
  ssid: Uint8Array;
  bssid: Uint8Array;
  channel: number;
  band?: number;
  rssi?: number;
}

export type WiFiConnectOutcome =
  | { status: "connected" }
  | { status: "auth-failure" | "network-not-found" | "failed"; /** The station's own error code. */ errorValue?: number };

/**
 * A Wi-Fi station (ESP32: esp_wifi in STA mode), the optional `wifi` member proposed for the
 * Platform. Callbacks run once each.
 */
export interface WiFiStation {
  readonly bands: readonly number[];
  scan(ssid: Uint8Array | undefined, done: (results: WiFiScanResult[] | Error) => void): void;
  connect(ssid: Uint8Array, credentials: Uint8Array, done: (outcome: WiFiConnectOutcome) => void): void;
  disconnect(): void;
}

const administer = { privilege: Privilege.Administer };
const readAdminister = { read: Privilege.Administer };
const optional = { optional: true };
const networkIdSchema = octets(32, 1);
const networkIdField = field(0, "networkId", networkIdSchema);
const breadcrumbField = (tag: number) => field(tag, "breadcrumb", uint64, optional);
const networkingStatusField = field(0, "networkingStatus", enum8);
const debugTextField = field(1, "debugText", string(512), optional);
const NetworkInfoStruct = struct(networkIdField, field(1, "connected", bool));
const commonAttributes = () => [
  attribute(NetworkCommissioningAttribute.MaxNetworks, "maxNetworks", uint8, { ...readAdminister, fixed: true }),
  attribute(NetworkCommissioningAttribute.Networks, "networks", list(NetworkInfoStruct), readAdminister),
  attribute(NetworkCommissioningAttribute.InterfaceEnabled, "interfaceEnabled", bool, { write: Privilege.Administer, persistent: true }),
  attribute(NetworkCommissioningAttribute.LastNetworkingStatus, "lastNetworkingStatus", nullable(enum8), readAdminister),
  attribute(NetworkCommissioningAttribute.LastNetworkId, "lastNetworkId", nullable(networkIdSchema), readAdminister),
  attribute(NetworkCommissioningAttribute.LastConnectErrorValue, "lastConnectErrorValue", nullable(int32), readAdminister),
];
const networkConfig = {
  ...administer,
  response: { id: NetworkCommissioningCommand.NetworkConfigResponse, schema: struct(networkingStatusField, debugTextField, field(2, "networkIndex", uint8, optional)) },
};
const WiFiScanResultStruct = struct(
  field(0, "security", bitmap8),
  field(1, "ssid", octets(32)),
  field(2, "bssid", octets(6, 6)),
  field(3, "channel", uint16),
  field(4, "wiFiBand", enum8, optional),
  field(5, "rssi", int8, optional),
);

export const NetworkCommissioningEthernet = defineCluster({
  id: ClusterId.NetworkCommissioning,
  name: "NetworkCommissioning",
  revision: 2,
  featureMap: NetworkCommissioningFeature.Ethernet,
  attributes: commonAttributes(),
});

export const NetworkCommissioningWiFi = defineCluster({
  id: ClusterId.NetworkCommissioning,
  name: "NetworkCommissioning",
  revision: 2,
  featureMap: NetworkCommissioningFeature.WiFi,
  attributes: [
    ...commonAttributes(),
    attribute(NetworkCommissioningAttribute.ScanMaxTimeSeconds, "scanMaxTimeSeconds", uint8, { fixed: true }),
    attribute(NetworkCommissioningAttribute.ConnectMaxTimeSeconds, "connectMaxTimeSeconds", uint8, { fixed: true }),
    attribute(NetworkCommissioningAttribute.SupportedWiFiBands, "supportedWiFiBands", list(enum8), { fixed: true }),
  ],
  commands: [
    command(NetworkCommissioningCommand.ScanNetworks, "scanNetworks", struct(field(0, "ssid", nullable(networkIdSchema), optional), breadcrumbField(1)), {
      ...administer,
      response: { id: NetworkCommissioningCommand.ScanNetworksResponse, schema: struct(networkingStatusField, debugTextField, field(2, "wiFiScanResults", list(WiFiScanResultStruct), optional)) },
    }),
    command(NetworkCommissioningCommand.AddOrUpdateWiFiNetwork, "addOrUpdateWiFiNetwork", struct(field(0, "ssid", octets(32)), field(1, "credentials", octets(64)), breadcrumbField(2)), networkConfig),
    command(NetworkCommissioningCommand.RemoveNetwork, "removeNetwork", struct(networkIdField, breadcrumbField(1)), networkConfig),
    command(NetworkCommissioningCommand.ConnectNetwork, "connectNetwork", struct(networkIdField, breadcrumbField(1)), {
      ...administer,
      response: { id: NetworkCommissioningCommand.ConnectNetworkResponse, schema: struct(networkingStatusField, debugTextField, field(2, "errorValue", nullable(int32))) },
    }),
    command(NetworkCommissioningCommand.ReorderNetwork, "reorderNetwork", struct(networkIdField, field(1, "networkIndex", uint8), breadcrumbField(2)), networkConfig),
  ],
});

interface WiFiNetwork {
  ssid: Uint8Array;
  credentials: Uint8Array;
}

export interface NetworkCommissioningOptions {
  feature: "ethernet" | "wifi";
  /** Ethernet: the interface's name, the one network's id. */
  interfaceName?: string;
  /** Wi-Fi: the station (absent on hosts without one). */
  wifi?: WiFiStation;
  clock: Clock;
  store: TransactionalStore;
  failSafe: FailSafeContext;
  /** Sets General Commissioning's Breadcrumb (the commands' optional Breadcrumb field). */
  setBreadcrumb: (value: bigint) => void;
  log?: (level: LogLevel, message: string) => void;
}

export class NetworkCommissioningServer extends ClusterServer implements FailSafeParticipant {
  readonly maxNetworks = MAX_NETWORKS;
  readonly scanMaxTimeSeconds = SCAN_MAX_TIME_SECONDS;
  readonly connectMaxTimeSeconds = CONNECT_MAX_TIME_SECONDS;
  interfaceEnabled = true;
  lastNetworkingStatus: number | null = null;
  lastNetworkId: Uint8Array | null = null;
  lastConnectErrorValue: number | null = null;
  private declare readonly options: NetworkCommissioningOptions;
  private declare readonly log: (level: LogLevel, message: string) => void;
  private committed: WiFiNetwork[] = [];
  private declare pending: WiFiNetwork[] | undefined;
  private declare connectedSsid: Uint8Array | undefined;

  constructor(options: NetworkCommissioningOptions) {
    super(options.feature === "wifi" ? NetworkCommissioningWiFi : NetworkCommissioningEthernet);
    this.options = options;
    this.log = options.log ?? (() => {});
  }

  get supportedWiFiBands(): number[] {
    return [...(this.options.wifi?.bands ?? [WiFiBand.Band2G4])];
  }

  /** Wi-Fi: the committed networks, and a connection to the first (the device's boot network). */
  load(): void {
    if (this.options.feature !== "wifi") return;
    const record = this.options.store.get(NETWORKS_KEY);
    if (!record) return;
    try {
      this.committed = TlvStruct.decode(record, { maxDepth: 3 })
        .array(0)
        .map((element) => {
          const fields = new TlvStruct(element);
          return { ssid: fields.bytes(0, { max: 32 }).slice(), credentials: fields.bytes(1, { max: 64 }).slice() };
        });
    } catch (error) {
      this.log("error", `unreadable Wi-Fi record: ${(error as Error).message}`);
    }
    const boot = this.committed[0];
    if (boot) this.join(boot);
  }

  /** Joins a committed network in the background: at boot, and when a fail-safe reverts. */
  private join(network: { ssid: Uint8Array; credentials: Uint8Array }): void {
    const station = this.options.wifi;
    if (!station || (this.connectedSsid && bytesEqual(this.connectedSsid, network.ssid))) return;
    station.connect(network.ssid, network.credentials, (outcome) => {
      this.connectedSsid = outcome.status === "connected" ? network.ssid.slice() : undefined;
      this.log(outcome.status === "connected" ? "info" : "error", `Wi-Fi: joining "${printable(network.ssid)}": ${outcome.status}`);
      this.attributeChanged(NetworkCommissioningAttribute.Networks);
    });
  }

  override readAttribute(attribute: AttributeDefinition, context: ReadContext): unknown {
    if (attribute.id === NetworkCommissioningAttribute.Networks) {
      if (this.options.feature === "ethernet") return [{ networkId: ethernetNetworkId(this.options.interfaceName), connected: true }];
      return this.networks().map((network) => ({ networkId: network.ssid, connected: this.connectedSsid !== undefined && bytesEqual(this.connectedSsid, network.ssid) }));
    }
    return super.readAttribute(attribute, context);
  }

  override invoke(command: CommandDefinition, request: unknown, context: InvokeContext): unknown {
    if (this.options.feature !== "wifi") return super.invoke(command, request, context);
    switch (command.id) {
      case NetworkCommissioningCommand.ScanNetworks:
        return this.scan(request as { ssid?: Uint8Array | null; breadcrumb?: bigint });
      case NetworkCommissioningCommand.AddOrUpdateWiFiNetwork:
        return this.addOrUpdate(request as { ssid: Uint8Array; credentials: Uint8Array; breadcrumb?: bigint }, context);
      case NetworkCommissioningCommand.RemoveNetwork:
        return this.removeNetwork(request as { networkId: Uint8Array; breadcrumb?: bigint }, context);
      case NetworkCommissioningCommand.ConnectNetwork:
        return this.connect(request as { networkId: Uint8Array; breadcrumb?: bigint }, context);
      case NetworkCommissioningCommand.ReorderNetwork:
        return this.reorder(request as { networkId: Uint8Array; networkIndex: number; breadcrumb?: bigint }, context);
      default:
        return super.invoke(command, request, context);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Wi-Fi commands

  private networks(): WiFiNetwork[] {
    return this.pending ?? this.committed;
  }

  private indexOf(networkId: Uint8Array): number {
    return this.networks().findIndex((network) => bytesEqual(network.ssid, networkId));
  }

  private requireFailSafe(context: InvokeContext): void {
    const { failSafe } = this.options;
    if (!failSafe.armed || failSafe.fabricIndex !== context.fabricIndex) throw new StatusError(Status.FailsafeRequired, "fail-safe not armed by this fabric");
  }

  private change(networks: WiFiNetwork[]): void {
    this.pending = networks;
    this.attributeChanged(NetworkCommissioningAttribute.Networks);
  }

  private breadcrumb(value: bigint | undefined): void {
    if (value !== undefined) this.options.setBreadcrumb(value);
  }

  private async scan(request: { ssid?: Uint8Array | null; breadcrumb?: bigint }) {
    const station = this.options.wifi;
    if (!station) return { networkingStatus: NetworkingStatus.UnknownError, debugText: "this host has no Wi-Fi station" };
    const outcome = await this.withTimeout<WiFiScanResult[] | Error>(SCAN_MAX_TIME_SECONDS, (done) => station.scan(request.ssid ?? undefined, done), new Error("the scan took too long"));
    if (outcome instanceof Error) {
      this.setLast(NetworkingStatus.UnknownError, null, null);
      return { networkingStatus: NetworkingStatus.UnknownError, debugText: outcome.message.slice(0, 512) };
    }
    const results = outcome
      .filter((result) => result.ssid.length <= 32 && result.bssid.length === 6)
      .sort((a, b) => (b.rssi ?? -128) - (a.rssi ?? -128))
      .slice(0, MAX_SCAN_RESULTS)
      .map((result) => ({
        security: result.security,
        ssid: result.ssid,
        bssid: result.bssid,
        channel: result.channel,
        ...(result.band !== undefined ? { wiFiBand: result.band } : {}),
        ...(result.rssi !== undefined ? { rssi: Math.max(-128, Math.min(127, Math.round(result.rssi))) } : {}),
      }));
    const status = request.ssid && results.length === 0 ? NetworkingStatus.NetworkNotFound : NetworkingStatus.Success;
    this.setLast(status, null, null);
    if (status === NetworkingStatus.Success) this.breadcrumb(request.breadcrumb);
    return { networkingStatus: status, wiFiScanResults: results };
  }

  private addOrUpdate(request: { ssid: Uint8Array; credentials: Uint8Array; breadcrumb?: bigint }, context: InvokeContext) {
    this.requireFailSafe(context);
    const { ssid, credentials } = request;
    if (ssid.length < 1 || ssid.length > 32) return { networkingStatus: NetworkingStatus.OutOfRange, debugText: "an SSID is 1 to 32 bytes" };
    if (!validCredentials(credentials)) return { networkingStatus: NetworkingStatus.OutOfRange, debugText: "credentials must be empty, a WEP key, an 8-63 character passphrase or a 64-digit hex PSK" };
    const networks = this.networks().map((network) => ({ ...network }));
    const index = this.indexOf(ssid);
    const entry = { ssid: ssid.slice(), credentials: credentials.slice() };
    if (index >= 0) {
      networks[index] = entry;
    } else {
      if (networks.length >= MAX_NETWORKS) return { networkingStatus: NetworkingStatus.BoundsExceeded, debugText: `at most ${MAX_NETWORKS} network` };
      networks.push(entry);
    }
    this.change(networks);
    this.breadcrumb(request.breadcrumb);
    return { networkingStatus: NetworkingStatus.Success, networkIndex: index >= 0 ? index : networks.length - 1 };
  }

  private removeNetwork(request: { networkId: Uint8Array; breadcrumb?: bigint }, context: InvokeContext) {
    this.requireFailSafe(context);
    const index = this.indexOf(request.networkId);
    if (index < 0) return { networkingStatus: NetworkingStatus.NetworkIdNotFound };
    this.change(this.networks().filter((_, i) => i !== index));
    this.breadcrumb(request.breadcrumb);
    return { networkingStatus: NetworkingStatus.Success, networkIndex: index };
  }

  private reorder(request: { networkId: Uint8Array; networkIndex: number; breadcrumb?: bigint }, context: InvokeContext) {
    this.requireFailSafe(context);
    const networks = [...this.networks()];
    const index = this.indexOf(request.networkId);
    if (index < 0) return { networkingStatus: NetworkingStatus.NetworkIdNotFound };
    if (request.networkIndex >= networks.length) return { networkingStatus: NetworkingStatus.OutOfRange };
    const [moved] = networks.splice(index, 1);
    networks.splice(request.networkIndex, 0, moved!);
    this.change(networks);
    this.breadcrumb(request.breadcrumb);
    return { networkingStatus: NetworkingStatus.Success, networkIndex: request.networkIndex };
  }

  private async connect(request: { networkId: Uint8Array; breadcrumb?: bigint }, context: InvokeContext) {
    this.requireFailSafe(context);
    const network = this.networks().find((candidate) => bytesEqual(candidate.ssid, request.networkId));
    if (!network) {
      this.setLast(NetworkingStatus.NetworkIdNotFound, request.networkId, null);
      return { networkingStatus: NetworkingStatus.NetworkIdNotFound, errorValue: null };
    }
    const station = this.options.wifi;
    if (!station) return { networkingStatus: NetworkingStatus.UnknownError, debugText: "this host has no Wi-Fi station", errorValue: null };
    const outcome = await this.withTimeout<WiFiConnectOutcome>(CONNECT_MAX_TIME_SECONDS, (done) => station.connect(network.ssid, network.credentials, done), { status: "failed" });
    const connected = outcome.status === "connected";
    const status = connected
      ? NetworkingStatus.Success
      : outcome.status === "auth-failure"
        ? NetworkingStatus.AuthFailure
        : outcome.status === "network-not-found"
          ? NetworkingStatus.NetworkNotFound
          : NetworkingStatus.OtherConnectionFailure;
    const errorValue = connected ? null : (outcome.errorValue ?? null);
    this.connectedSsid = connected ? network.ssid.slice() : undefined;
    this.setLast(status, network.ssid, errorValue);
    this.attributeChanged(NetworkCommissioningAttribute.Networks);
    if (status === NetworkingStatus.Success) this.breadcrumb(request.breadcrumb);
    this.log("info", `Wi-Fi: connecting to "${printable(network.ssid)}" ${status === NetworkingStatus.Success ? "succeeded" : `failed (status ${status})`}`);
    return { networkingStatus: status, errorValue };
  }

  private setLast(status: number, networkId: Uint8Array | null, errorValue: number | null): void {
    this.set("lastNetworkingStatus", status);
    this.set("lastNetworkId", networkId === null ? null : networkId.slice());
    this.set("lastConnectErrorValue", errorValue);
  }

  /** Runs a station operation with a deadline, so that the command is answered in time. */
  private withTimeout<T>(seconds: number, start: (done: (value: T) => void) => void, onTimeout: T): Promise<T> {
    const { clock } = this.options;
    return new Promise<T>((resolve) => {
      let settled = false;
      // The timer's own expiry does not clear it (a fired timer is gone).
      const settle = (value: T, expired?: boolean) => {
        if (settled) return;
        settled = true;
        if (!expired) clock.clearTimer(timer);
        resolve(value);
      };
      const timer = clock.setTimer(seconds * 1000, () => settle(onTimeout, true));
      try {
        start((value) => settle(value));
      } catch (error) {
        settle(onTimeout instanceof Error ? (error as T) : onTimeout);
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // FailSafeParticipant

  stageCommit(): void {
    if (!this.pending) return;
    const w = new TlvWriter().startStructure(undefined).startArray(0);
    for (const network of this.pending) w.startStructure(undefined).bytes(0, network.ssid).bytes(1, network.credentials).end();
    this.options.store.set(NETWORKS_KEY, w.end().end().finish());
  }

  applyCommit(): void {
    if (!this.pending) return;
    this.committed = this.pending;
    this.pending = undefined;
  }

  revert(): void {
    if (!this.pending) return;
    this.pending = undefined;
    this.attributeChanged(NetworkCommissioningAttribute.Networks);
    const station = this.options.wifi;
    const original = this.committed[0];
    if (!station) return;
    // Back to the network the node was on before the fail-safe (spec 11.9.7: "revert").
    if (original) this.join(original);
    else if (this.connectedSsid) {
      station.disconnect();
      this.connectedSsid = undefined;
    }
  }
}

function ethernetNetworkId(interfaceName: string | undefined): Uint8Array {
  const bytes = utf8Encode(interfaceName && interfaceName.length > 0 ? interfaceName : "eth0");
  return bytes.subarray(0, 32);
}

/** Open (empty), WEP-40/104 (5 or 13 bytes), a WPA passphrase (8-63) or a raw PSK (64 hex digits). */
function validCredentials(credentials: Uint8Array): boolean {
  const length = credentials.length;
  if (length === 0 || length === 5 || length === 13) return true;
  if (length >= 8 && length <= 63) return true;
  if (length === 64) return credentials.every((byte) => (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66));
  return false;
}

function printable(ssid: Uint8Array): string {
  let text = "";
  for (const byte of ssid) text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : "?";
  return text;
}
