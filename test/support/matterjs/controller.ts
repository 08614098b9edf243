// The test's handle on a matter.js controller (controller-main.ts) running inside a network
// namespace, and on the peers it commissions:
//
//   const controller = await MatterJsController.start(namespace, { ...sharedTestTrust(), interface: "lo" });
//   const peer = await controller.commission({ address: "127.0.0.1", port: 5540, passcode: 20202021 });
//   //   or   await controller.commission({ discriminator: 3840, passcode: 20202021 });
//   await peer.read(0, "BasicInformation", ["vendorId", "productId"]);
//   await peer.invoke(1, "OnOff", "toggle");
//   const subscription = await peer.subscribe(1, "OnOff", ["onOff"]);  await subscription.nextReport();
//   await peer.reconnect();                                 // after the device restarted: new CASE session
//   const window = await peer.openCommissioningWindow();   // a second controller joins with window.passcode
//   await peer.removeFabric();  (await peer.probeSession()).answered   // false once the device ended it
//
// Both run in processes of their own inside the namespace (spawn.ts). MXS_MATTERJS_LOG=1 shows
// their logs; MXS_MATTERJS_LOG_LEVEL=debug makes matter.js say more.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildChannel } from "./channel";
import type { AttestationTrust } from "./credentials";
import type { NetworkNamespace } from "./netns";
import { spawnMatterJsChild } from "./spawn";

export interface MatterJsControllerOptions extends AttestationTrust {
  /** The only interface its mDNS uses; "lo" in a namespace of the harness. */
  interface?: string;
  /** Fabric label it gives the devices it commissions. */
  label?: string;
  /** Also serve as an OTA Provider (matter.js's, endpoint 1): see otaStore and MatterJsPeer.otaForceUpdate. */
  otaProvider?: boolean;
}

export type CommissionTarget = (
  | { address: string; port: number; passcode: number; timeoutMs?: number }
  | { discriminator: number; passcode: number; timeoutMs?: number }
) & {
  /** Let matter.js subscribe to everything on the node, as its OTA provider requires. */
  subscribe?: boolean;
};

export interface SessionInfo {
  id: number;
  peerSessionId: number;
  pase: boolean;
  fabricIndex?: number;
  peerNodeId: bigint;
  /** "ip:port" the session talks to. */
  address?: string;
}

export interface SessionHistory {
  open: SessionInfo[];
  /** CASE sessions that ended; closedByPeer when the node sent CloseSession. */
  closed: (SessionInfo & { closedByPeer: boolean })[];
}

export interface AttributeReport {
  endpoint: number;
  cluster: string;
  attribute: string;
  value: unknown;
}

export interface CommissioningWindow {
  passcode: number;
  discriminator: number;
  manualPairingCode: string;
}

export class MatterJsController {
  readonly #channel: ChildChannel;
  readonly #storagePath: string;

  private constructor(channel: ChildChannel, storagePath: string) {
    this.#channel = channel;
    this.#storagePath = storagePath;
  }

  static async start(namespace: NetworkNamespace, options: MatterJsControllerOptions): Promise<MatterJsController> {
    const storagePath = mkdtempSync(join(tmpdir(), "mxs-matterjs-controller-"));
    const label = options.label ?? "matter-xs harness";
    const channel = await spawnMatterJsChild(namespace, "controller-main", { storagePath, networkInterface: options.interface ?? "lo", label });
    const controller = new MatterJsController(channel, storagePath);
    try {
      await channel.request("start", { label, paaCerts: options.paaCerts, cdSigningCerts: options.cdSigningCerts, otaProvider: options.otaProvider === true }, 60_000);
    } catch (error) {
      await controller.stop();
      throw error;
    }
    return controller;
  }

  /**
   * Full commissioning: PASE, attestation against the trust store, CSR, AddNOC, then CASE over
   * the operational address found with DNS-SD. Rejects with a ChildRequestError whose
   * `wire.check` names the attestation check when attestation is refused.
   */
  async commission(target: CommissionTarget): Promise<MatterJsPeer> {
    const timeoutMs = target.timeoutMs ?? 60_000;
    const result = await this.#channel.request<CommissionResult>("commission", { ...target, timeoutMs }, timeoutMs + 15_000);
    return new MatterJsPeer(this.#channel, result);
  }

  /** Every secure session the controller holds (PASE and CASE, all peers), and the CASE sessions that ended. */
  sessions(): Promise<SessionHistory> {
    return this.#channel.request<SessionHistory>("sessions");
  }

  get log(): string {
    return this.#channel.log;
  }

  /** Stores an OTA file as a local image its provider may offer (matter.js reads and checks its header). */
  otaStore(path: string): Promise<{ vendorId: number; productId: number; softwareVersion: number; softwareVersionString: string }> {
    return this.#channel.request("otaStore", { path }, 60_000);
  }

  /** The first event (past or future) that `matches`: ota-query-image, ota-notify-update-applied, ... */
  waitForEvent(matches: (event: { event: string; [field: string]: unknown }) => boolean, timeoutMs: number, what?: string) {
    return this.#channel.waitForEvent(matches, timeoutMs, what);
  }

  /** Shuts the controller down cleanly, or with `kill` at once (SIGKILL: nothing pending is awaited). */
  async stop(options: { kill?: boolean } = {}): Promise<void> {
    await this.#channel.terminate(options.kill ? "SIGKILL" : undefined, 10_000);
    rmSync(this.#storagePath, { recursive: true, force: true });
  }
}

interface CommissionResult {
  peer: string;
  nodeId: bigint;
  fabricIndex: number;
  durationMs: number;
  attestationFindings: { type: string; level: string }[];
}

export class MatterJsPeer {
  readonly #channel: ChildChannel;
  /** The controller's name for the node. */
  readonly id: string;
  readonly nodeId: bigint;
  /** The controller's local index of the fabric the node joined. */
  readonly fabricIndex: number;
  /** Wall time of commission(), measured inside the controller process. */
  readonly commissioningMs: number;
  /** Attestation findings the policy accepted (only the ones it allows can appear). */
  readonly attestationFindings: { type: string; level: string }[];

  constructor(channel: ChildChannel, result: CommissionResult) {
    this.#channel = channel;
    this.id = result.peer;
    this.nodeId = result.nodeId;
    this.fabricIndex = result.fabricIndex;
    this.commissioningMs = result.durationMs;
    this.attestationFindings = result.attestationFindings;
  }

  /** Reads attributes by their matter.js names; values and per-attribute error statuses. */
  read(endpoint: number, cluster: string, attributes: string[], timeoutMs = 60_000): Promise<{ values: Record<string, unknown>; statuses: Record<string, number> }> {
    return this.#channel.request("read", { peer: this.id, endpoint, cluster, attributes }, timeoutMs);
  }

  /** Invokes a command (timed when the cluster requires it); the response fields, if any. */
  invoke(endpoint: number, cluster: string, command: string, fields?: Record<string, unknown>, timeoutMs = 60_000): Promise<{ status: number; response?: unknown }> {
    return this.#channel.request("invoke", { peer: this.id, endpoint, cluster, command, fields }, timeoutMs);
  }

  async subscribe(endpoint: number, cluster: string, attributes: string[], intervals: { minIntervalSeconds?: number; maxIntervalSeconds?: number } = {}): Promise<PeerSubscription> {
    const result = await this.#channel.request<{ subscription: number; subscriptionId: number; maxInterval: number }>(
      "subscribe",
      { peer: this.id, endpoint, cluster, attributes, minIntervalSeconds: intervals.minIntervalSeconds ?? 0, maxIntervalSeconds: intervals.maxIntervalSeconds ?? 10 },
      60_000,
    );
    return new PeerSubscription(this.#channel, result.subscription, result.subscriptionId, result.maxInterval);
  }

  /** The CASE sessions the controller holds with this node, and those that ended. */
  sessions(): Promise<SessionHistory> {
    return this.#channel.request<SessionHistory>("sessions", { peer: this.id });
  }

  /**
   * Drops the controller's sessions with the node, as a controller does when it knows the node
   * restarted, and opens a new CASE session; the node's address comes from its operational
   * DNS-SD record (_matter._tcp), so a node that came back on another port is found there.
   */
  reconnect(timeoutSeconds = 30): Promise<SessionInfo> {
    return this.#channel.request<SessionInfo>("reconnect", { peer: this.id, timeoutSeconds }, (timeoutSeconds + 15) * 1000);
  }

  /**
   * Opens an enhanced commissioning window (OpenCommissioningWindow with a fresh passcode's
   * verifier, random salt, 1000 iterations) and returns what another controller needs to join.
   */
  openCommissioningWindow(options: { timeoutSeconds?: number; discriminator?: number } = {}): Promise<CommissioningWindow> {
    return this.#channel.request("openCommissioningWindow", { peer: this.id, ...options }, 60_000);
  }

  /** matter.js's SoftwareUpdateManager.forceUpdate: consent for the version, then AnnounceOTAProvider to the node. */
  otaForceUpdate(vendorId: number, productId: number, softwareVersion: number): Promise<void> {
    return this.#channel.request("otaForceUpdate", { peer: this.id, vendorId, productId, softwareVersion }, 60_000);
  }

  /** RemoveFabric for `fabricIndex` (by default the fabric this controller reaches the node through). */
  removeFabric(fabricIndex?: number): Promise<{ statusCode: number; fabricIndex?: number }> {
    return this.#channel.request("removeFabric", { peer: this.id, fabricIndex }, 60_000);
  }

  /**
   * Whether the node still answers on the controller's current CASE session within
   * `timeoutSeconds` (an empty Read, two retransmissions; no new session is opened). A session
   * that gets no answer is closed.
   */
  probeSession(timeoutSeconds = 8): Promise<{ session: SessionInfo | null; answered: boolean }> {
    return this.#channel.request("probe", { peer: this.id, timeoutSeconds }, (timeoutSeconds + 15) * 1000);
  }
}

export class PeerSubscription {
  readonly #channel: ChildChannel;
  readonly #handle: number;
  /** The subscription id the device granted. */
  readonly subscriptionId: number;
  readonly maxIntervalSeconds: number;

  constructor(channel: ChildChannel, handle: number, subscriptionId: number, maxIntervalSeconds: number) {
    this.#channel = channel;
    this.#handle = handle;
    this.subscriptionId = subscriptionId;
    this.maxIntervalSeconds = maxIntervalSeconds;
  }

  /** The next attribute report of this subscription (reports already received count). */
  async nextReport(matches: (report: AttributeReport) => boolean = () => true, timeoutMs = 15_000): Promise<AttributeReport> {
    const event = await this.#channel.waitForEvent(
      (event) => event.event === "report" && event.subscription === this.#handle && matches(event as unknown as AttributeReport),
      timeoutMs,
      "attribute report",
    );
    const { endpoint, cluster, attribute, value } = event as unknown as AttributeReport;
    return { endpoint, cluster, attribute, value };
  }

  async close(): Promise<void> {
    await this.#channel.request("unsubscribe", { subscription: this.#handle });
  }
}
