// A matter.js controller in a process of its own: a ServerNode without device endpoints, bound to
// an ephemeral UDP port, storage under MATTER_PATH_ROOT, mDNS only on MATTER_MDNS_NETWORKINTERFACE,
// an offline attestation trust store holding exactly the PAA and CD signing certificates the test
// gives it, and the strict attestation policy of attestation-policy.ts. Driven by
// test/support/matterjs/controller.ts over the line protocol of wire.ts; closing stdin stops it.
//
// Requests: start {label, paaCerts, cdSigningCerts}            -> {trusted}
//           commission {passcode, address?, port?, discriminator?, timeoutMs?} -> {peer, nodeId, ...}
//           read {peer, endpoint, cluster, attributes}       -> {values, statuses}
//           invoke {peer, endpoint, cluster, command, fields?} -> {status, response?}
//           subscribe {peer, endpoint, cluster, attributes, minIntervalSeconds, maxIntervalSeconds}
//                                                            -> {subscription, subscriptionId, maxInterval}
//           unsubscribe {subscription}
//           sessions {peer?}                                 -> {open, closed}
//           reconnect {peer}                                 -> the new CASE session
//           probe {peer, timeoutSeconds}                     -> {session, answered}
//           openCommissioningWindow {peer, timeoutSeconds, discriminator?} -> {passcode, discriminator, manualPairingCode}
//           removeFabric {peer, fabricIndex?}                -> {statusCode, fabricIndex}
//           otaStore {path}                                  -> {vendorId, productId, softwareVersion, ...}  (needs start {otaProvider: true})
//           otaForceUpdate {peer, vendorId, productId, softwareVersion}
//           otaQueue                                         -> SoftwareUpdateManager.queuedUpdates
// Events:   report {subscription, endpoint, cluster, attribute, value}
//           subscription-closed {subscription}
//           ota-query-image {nodeId, softwareVersion} / ota-query-response {nodeId, status, softwareVersion?, imageUri?}
//           ota-apply-update {nodeId, newVersion, action} / ota-notify-update-applied {nodeId, softwareVersion, updateToken}
//           ota-update-done {nodeId} / ota-update-failed {nodeId}
//
// With start {otaProvider: true} the node also has endpoint 1, an OTA Provider (matter.js's
// OtaSoftwareUpdateProviderServer with its SoftwareUpdateManager, local test images allowed),
// which reports every command it serves as an event.
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { Bytes, Crypto, Logger, Seconds, ServerNode } from "@matter/main";
import * as clusters from "@matter/main/clusters";
import { ControllerBehavior, SoftwareUpdateManager, type ClientNode } from "@matter/node";
import { OtaSoftwareUpdateProviderServer } from "@matter/node/behaviors/ota-software-update-provider";
import { OtaProviderEndpoint } from "@matter/node/endpoints/ota-provider";
import type { OtaSoftwareUpdateProvider } from "@matter/types/clusters/ota-software-update-provider";
import {
  DclCertificateService,
  DclOtaUpdateService,
  Invoke,
  PaseClient,
  PeerAddress,
  PeerSet,
  PeerShutdownError,
  PeerUnresponsiveError,
  Read,
  SessionManager,
  Subscribe,
  type ActiveSubscription,
  type AttestationFinding,
  type NodeSession,
  type Peer,
  type Specifier,
} from "@matter/protocol";
import { EndpointNumber, ManualPairingCodeCodec, Status, StatusResponseError } from "@matter/types";
import { strictAttestationPolicy } from "./attestation-policy";
import { ParentLink } from "./channel";
import { describeError } from "./errors";
import type { WireRequest } from "./wire";

Logger.format = "plain";
Logger.level = process.env.MXS_MATTERJS_LOG_LEVEL ?? "info";
// stdout and stderr are the log; replies travel on file descriptor 3.
Logger.destinations.default!.write = (text: string) => process.stderr.write(text + "\n");

/**
 * The trust store without a network: it answers from the certificates it was given and never
 * asks the DCL, GitHub or a CRL distribution point. It holds no revocation data, so revocation
 * is not checked.
 */
class OfflineDclCertificateService extends DclCertificateService {
  override async update(): Promise<boolean> {
    return true;
  }

  override async getOrFetchCertificate(subjectKeyId: Bytes | string, options?: DclCertificateService.GetCertificateOptions) {
    return this.getCertificate(subjectKeyId, options);
  }

  override async getOrFetchCdSigner(subjectKeyId: Bytes | string) {
    if (this.getCertificate(subjectKeyId)?.kind !== "CDSigner") return undefined;
    return super.getOrFetchCdSigner(subjectKeyId);
  }

  override async isRevoked(): Promise<boolean> {
    return false;
  }
}

/** A cluster by its matter.js name ("OnOff", "BasicInformation"). */
function clusterNamed(name: unknown): Specifier.ClusterLike {
  const cluster = (clusters as Record<string, unknown>)[String(name)] as Specifier.ClusterLike | undefined;
  if (!cluster || typeof cluster.id !== "number" || !cluster.attributes) throw new Error(`unknown cluster ${String(name)}`);
  return cluster;
}

function attributeName(cluster: Specifier.ClusterLike, id: number): string {
  for (const [name, attribute] of Object.entries(cluster.attributes ?? {})) if (attribute.id === id) return name;
  return `attribute 0x${id.toString(16)}`;
}

type SessionInfo = ReturnType<ControllerHost["describeSession"]>;

/** The peer node a provider command came from. */
function requestorOf(server: OtaSoftwareUpdateProviderServer): bigint | undefined {
  const session = (server.context as { session?: { peerNodeId?: bigint } }).session;
  return session?.peerNodeId;
}

/** matter.js's provider, telling the test about every command it serves. */
class ReportingOtaProviderServer extends OtaSoftwareUpdateProviderServer {
  override async queryImage(request: OtaSoftwareUpdateProvider.QueryImageRequest): Promise<OtaSoftwareUpdateProvider.QueryImageResponse> {
    const nodeId = requestorOf(this);
    link.emit({ event: "ota-query-image", nodeId, softwareVersion: request.softwareVersion });
    const response = await super.queryImage(request);
    link.emit({ event: "ota-query-response", nodeId, status: response.status, softwareVersion: response.softwareVersion, imageUri: response.imageUri });
    return response;
  }

  override async applyUpdateRequest(request: OtaSoftwareUpdateProvider.ApplyUpdateRequest): Promise<OtaSoftwareUpdateProvider.ApplyUpdateResponse> {
    const response = await super.applyUpdateRequest(request);
    link.emit({ event: "ota-apply-update", nodeId: requestorOf(this), newVersion: request.newVersion, action: response.action });
    return response;
  }

  override notifyUpdateApplied(request: OtaSoftwareUpdateProvider.NotifyUpdateAppliedRequest): void {
    link.emit({ event: "ota-notify-update-applied", nodeId: requestorOf(this), softwareVersion: request.softwareVersion, updateToken: request.updateToken });
    return super.notifyUpdateApplied(request);
  }
}

class ControllerHost {
  readonly #link: ParentLink;
  #node: ServerNode | undefined;
  readonly #subscriptions = new Map<number, ActiveSubscription>();
  #nextSubscription = 1;
  /** CASE sessions that ended, and whether the peer ended them with CloseSession. */
  readonly #closedSessions: (SessionInfo & { closedByPeer: boolean })[] = [];
  /** Where each session talks to; a closed session no longer has a channel to ask. */
  readonly #sessionAddresses = new WeakMap<NodeSession, string>();

  constructor(link: ParentLink) {
    this.#link = link;
  }

  get #running(): ServerNode {
    if (!this.#node) throw new Error("controller not started");
    return this.#node;
  }

  #client(id: unknown): ClientNode {
    const client = this.#running.peers.get(String(id));
    if (!client?.peerAddress) throw new Error(`no commissioned peer ${String(id)}`);
    return client;
  }

  #peer(client: ClientNode): Peer {
    return client.env.get(PeerSet).for(client.peerAddress!);
  }

  #addressOf(session: NodeSession): string | undefined {
    try {
      const address = (session as unknown as { channel: { networkAddress?: { ip: string; port: number } } }).channel.networkAddress;
      if (address) this.#sessionAddresses.set(session, `${address.ip}:${address.port}`);
    } catch {
      // closed: use what was recorded while it was open
    }
    return this.#sessionAddresses.get(session);
  }

  describeSession(session: NodeSession) {
    return {
      id: session.id,
      peerSessionId: session.peerSessionId,
      pase: session.isPase,
      fabricIndex: session.isPase ? undefined : session.peerAddress.fabricIndex,
      peerNodeId: session.peerNodeId,
      address: this.#addressOf(session),
    };
  }

  async start(request: WireRequest) {
    if (this.#node) throw new Error("already started");
    const otaProvider = request.otaProvider === true;
    const node = await ServerNode.create(ServerNode.RootEndpoint.with(ControllerBehavior), {
      id: "controller",
      ...(otaProvider ? { parts: [{ id: "ota-provider", number: 1, type: OtaProviderEndpoint.with(ReportingOtaProviderServer) }] } : {}),
      network: {
        // Port 0: never the 5540 a device may want, and several controllers may share the namespace.
        port: 0,
        // On a private loopback network an address that does not answer within two seconds is
        // dead (the device restarted elsewhere); matter.js would otherwise wait 45 s before trying
        // the next address and 10 s before believing a changed advertisement.
        timing: { delayBeforeNextAddress: Seconds(2), addressChangeStabilizationDelay: Seconds(1) },
      },
      controller: { adminFabricLabel: String(request.label) },
    });

    // Registers itself in the node's environment, where the commissioner looks for it.
    const store = new OfflineDclCertificateService(node.env, {
      updateInterval: null,
      fetchTestCertificates: false,
      fetchGithubCertificates: false,
      // The test PAAs are trusted because the test put them here; without this matter.js flags them.
      acceptTestCertificates: true,
    });
    await store.construction;
    for (const certificate of request.paaCerts as Uint8Array[]) await store.addCertificate(certificate, "PAA");
    for (const certificate of request.cdSigningCerts as Uint8Array[]) await store.addCertificate(certificate, "CDSigner");

    const sessions = node.env.get(SessionManager).sessions;
    sessions.added.on((session) => void this.#addressOf(session));
    sessions.deleted.on((session) => {
      if (!session.isPase) this.#closedSessions.push({ ...this.describeSession(session), closedByPeer: session.closedByPeer.value === true });
    });

    await node.start();
    this.#node = node;
    if (otaProvider) await this.#startOtaProvider(node);
    return { trusted: store.certificates.map((entry) => ({ kind: entry.kind, subjectKeyId: entry.subjectKeyId })) };
  }

  async commission(request: WireRequest) {
    const node = this.#running;
    const findings: AttestationFinding[] = [];
    const options = {
      passcode: Number(request.passcode),
      onAttestationFailure: strictAttestationPolicy(findings),
      // The tests decide what to read and subscribe: no wildcard read or subscription behind their
      // back, unless they ask for matter.js's own (its OTA provider updates only nodes it subscribes to).
      autoSubscribe: request.subscribe === true,
      autoStateInitialize: false,
      timeout: Seconds(Number(request.timeoutMs ?? 60_000) / 1000),
    };
    const startedAt = performance.now();
    let client: ClientNode;
    if (request.address !== undefined) {
      if (request.port === undefined) throw new Error("commissioning by address needs a port");
      client = await node.peers.forDescriptor({ addresses: [{ type: "udp", ip: String(request.address), port: Number(request.port) }] });
      await client.commission(options);
    } else if (request.discriminator !== undefined) {
      client = await node.peers.commission({ ...options, longDiscriminator: Number(request.discriminator) });
    } else {
      throw new Error("commission needs an address and port, or a discriminator");
    }
    const durationMs = performance.now() - startedAt;
    const address = client.peerAddress;
    if (!address) throw new Error("commissioned peer has no operational address");
    return {
      peer: client.id,
      nodeId: address.nodeId,
      fabricIndex: address.fabricIndex,
      durationMs,
      attestationFindings: findings.map(({ type, level }) => ({ type, level })),
    };
  }

  async read(request: WireRequest) {
    const client = this.#client(request.peer);
    const cluster = clusterNamed(request.cluster);
    const values: Record<string, unknown> = {};
    const statuses: Record<string, number> = {};
    const attributes = request.attributes as string[];
    const readRequest = Read(Read.Attribute({ endpoint: EndpointNumber(Number(request.endpoint)), cluster, attributes }));
    for await (const chunk of client.interaction.read(readRequest)) {
      for await (const report of chunk) {
        if (report.kind === "attr-value") values[attributeName(cluster, report.path.attributeId)] = report.value;
        else if (report.kind === "attr-status") statuses[attributeName(cluster, report.path.attributeId ?? 0)] = report.status;
      }
    }
    return { values, statuses };
  }

  async invoke(request: WireRequest) {
    const client = this.#client(request.peer);
    const cluster = clusterNamed(request.cluster);
    const command = String(request.command);
    const invokeRequest = Invoke({
      commands: [
        Invoke.ConcreteCommandRequest({
          endpoint: EndpointNumber(Number(request.endpoint)),
          cluster,
          command: command as never,
          fields: request.fields as never,
        }),
      ],
    });
    for await (const chunk of client.interaction.invoke(invokeRequest)) {
      for (const entry of chunk) {
        if (entry.kind === "cmd-status") {
          if (entry.status !== Status.Success) throw StatusResponseError.create(entry.status, `${command} failed`, entry.clusterStatus);
          return { status: entry.status };
        }
        if (entry.kind === "cmd-response") return { status: Status.Success, response: entry.data };
      }
    }
    throw new Error(`${command}: no response`);
  }

  async subscribe(request: WireRequest) {
    const client = this.#client(request.peer);
    const cluster = clusterNamed(request.cluster);
    const handle = this.#nextSubscription++;
    const subscribeRequest = Subscribe(
      {
        keepSubscriptions: true,
        minIntervalFloor: Seconds(Number(request.minIntervalSeconds ?? 0)),
        maxIntervalCeiling: Seconds(Number(request.maxIntervalSeconds ?? 10)),
      },
      Read.Attribute({ endpoint: EndpointNumber(Number(request.endpoint)), cluster, attributes: request.attributes as string[] }),
    );
    // The Subscribe builder does not carry callbacks over; they belong on the request itself.
    subscribeRequest.updated = async (data) => {
      for await (const chunk of data) {
        for await (const report of chunk) {
          if (report.kind !== "attr-value") continue;
          this.#link.emit({
            event: "report",
            subscription: handle,
            endpoint: report.path.endpointId,
            cluster: cluster.name,
            attribute: attributeName(cluster, report.path.attributeId),
            value: report.value,
          });
        }
      }
    };
    subscribeRequest.closed = () => this.#link.emit({ event: "subscription-closed", subscription: handle });
    const subscription = await client.interaction.subscribe(subscribeRequest);
    this.#subscriptions.set(handle, subscription);
    return { subscription: handle, subscriptionId: subscription.subscriptionId, maxInterval: subscription.maxInterval };
  }

  async unsubscribe(request: WireRequest) {
    const subscription = this.#subscriptions.get(Number(request.subscription));
    this.#subscriptions.delete(Number(request.subscription));
    await subscription?.close();
    return {};
  }

  /** An enhanced commissioning window: a fresh passcode's SPAKE2+ verifier, random salt, 1000 iterations. */
  async openCommissioningWindow(request: WireRequest) {
    const random = this.#running.env.get(Crypto);
    const passcode = PaseClient.generateRandomPasscode(random);
    const discriminator = request.discriminator === undefined ? PaseClient.generateRandomDiscriminator(random) : Number(request.discriminator);
    const salt = random.randomBytes(32);
    const iterations = 1000;
    const pakePasscodeVerifier = await PaseClient.generatePakePasscodeVerifier(random, passcode, { iterations, salt });
    await this.invoke({
      ...request,
      endpoint: 0,
      cluster: "AdministratorCommissioning",
      command: "openCommissioningWindow",
      fields: { commissioningTimeout: Number(request.timeoutSeconds ?? 180), pakePasscodeVerifier, discriminator, iterations, salt },
    });
    return { passcode, discriminator, manualPairingCode: ManualPairingCodeCodec.encode({ discriminator, passcode }) };
  }

  /** RemoveFabric; by default for the fabric this controller reaches the node through (its CurrentFabricIndex). */
  async removeFabric(request: WireRequest) {
    let fabricIndex = request.fabricIndex as number | undefined;
    if (fabricIndex === undefined) {
      const { values } = await this.read({ ...request, endpoint: 0, cluster: "OperationalCredentials", attributes: ["currentFabricIndex"] });
      fabricIndex = values.currentFabricIndex as number;
    }
    const { response } = await this.invoke({ ...request, endpoint: 0, cluster: "OperationalCredentials", command: "removeFabric", fields: { fabricIndex } });
    return response;
  }

  /**
   * Drops the controller's sessions with a node (as when it knows the node restarted) and reads
   * from it, which makes matter.js locate the node again through its operational DNS-SD record and
   * open a new CASE session. Returns that session.
   */
  async reconnect(request: WireRequest) {
    const client = this.#client(request.peer);
    const peer = this.#peer(client);
    await peer.disconnect(new PeerShutdownError("the device restarted"));
    await this.read({ ...request, endpoint: 0, cluster: "BasicInformation", attributes: ["vendorId"] });
    const session = peer.newestSession();
    if (!session) throw new Error("no session after reconnecting");
    return this.describeSession(session);
  }

  /**
   * Whether the node still answers on the controller's existing CASE session: matter.js's liveness
   * probe (an empty Read, two retransmissions) over that session only, never a new one, within
   * `timeoutSeconds` (matter.js itself waits about 35 s after the last retransmission). A session
   * that gets no answer is closed, as matter.js does with an unresponsive peer.
   */
  async probe(request: WireRequest) {
    const peer = this.#peer(this.#client(request.peer));
    const session = peer.newestSession();
    if (!session) return { session: null, answered: false };
    const described = this.describeSession(session);
    const deadline = AbortSignal.timeout(Number(request.timeoutSeconds ?? 8) * 1000);
    const answered = await peer.verifyReachability({ reason: "session-suspect", abort: deadline });
    if (!answered && !session.isClosing) await session.handlePeerLoss({ cause: new PeerUnresponsiveError() });
    return { session: described, answered };
  }

  get #otaProvider() {
    const endpoint = this.#running.parts.get("ota-provider");
    if (!endpoint) throw new Error("the controller was started without otaProvider");
    return endpoint;
  }

  async #startOtaProvider(node: ServerNode) {
    const endpoint = this.#otaProvider;
    await endpoint.act((agent) => {
      const manager = agent.get(SoftwareUpdateManager);
      // Local images are what the tests offer; nothing comes from the DCL inside a namespace.
      manager.state.allowTestOtaImages = true;
      manager.state.announceAsDefaultProvider = false;
      manager.events.updateDone.on((peer: PeerAddress) => this.#link.emit({ event: "ota-update-done", nodeId: peer.nodeId }));
      manager.events.updateFailed.on((peer: PeerAddress) => this.#link.emit({ event: "ota-update-failed", nodeId: peer.nodeId }));
    });
    await node.env.get(DclOtaUpdateService).construction;
  }

  /** Stores an OTA file (a path readable by this process) as a local image the provider may offer. */
  async otaStore(request: WireRequest) {
    this.#otaProvider;
    const path = String(request.path);
    const service = this.#running.env.get(DclOtaUpdateService);
    const stream = () => Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>;
    const info = await service.updateInfoFromStream(stream(), `file://${path}`);
    await service.store(stream(), info, "local");
    return { vendorId: info.vid, productId: info.pid, softwareVersion: info.softwareVersion, softwareVersionString: info.softwareVersionString };
  }

  /**
   * SoftwareUpdateManager.forceUpdate: consent for `softwareVersion`, then AnnounceOTAProvider to
   * the node. matter.js updates only nodes its own subscription keeps current, and that
   * subscription comes up a moment after commissioning or a reconnect: until then it is retried.
   */
  async otaForceUpdate(request: WireRequest) {
    const client = this.#client(request.peer);
    const address = PeerAddress(client.peerAddress!);
    const deadline = Date.now() + Number(request.timeoutMs ?? 30_000);
    for (;;) {
      try {
        await this.#otaProvider.act((agent) =>
          agent.get(SoftwareUpdateManager).forceUpdate(address, Number(request.vendorId) as never, Number(request.productId), Number(request.softwareVersion)),
        );
        return {};
      } catch (error) {
        if (!/not currently applicable/.test(String((error as Error)?.message)) || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  async otaQueue() {
    return this.#otaProvider.act((agent) => agent.get(SoftwareUpdateManager).queuedUpdates.map((entry) => ({ ...entry, peerAddress: entry.peerAddress.toString() })));
  }

  sessions(request: WireRequest) {
    const peer = request.peer === undefined ? undefined : this.#client(request.peer).peerAddress!;
    const open = [...this.#running.env.get(SessionManager).sessions]
      .filter((session) => !peer || (!session.isPase && session.peerAddress.nodeId === peer.nodeId && session.peerAddress.fabricIndex === peer.fabricIndex))
      .map((session) => this.describeSession(session));
    const closed = this.#closedSessions.filter((session) => !peer || (session.peerNodeId === peer.nodeId && session.fabricIndex === peer.fabricIndex));
    return { open, closed };
  }

  async stop() {
    for (const subscription of this.#subscriptions.values()) await Promise.resolve(subscription.close()).catch(() => undefined);
    this.#subscriptions.clear();
    const node = this.#node;
    this.#node = undefined;
    await node?.close();
  }
}

const link = new ParentLink();
const host = new ControllerHost(link);
process.once("SIGTERM", () => void host.stop().finally(() => process.exit(0)));
await link.serve(
  {
    start: (request) => host.start(request),
    commission: (request) => host.commission(request),
    read: (request) => host.read(request),
    invoke: (request) => host.invoke(request),
    subscribe: (request) => host.subscribe(request),
    unsubscribe: (request) => host.unsubscribe(request),
    sessions: (request) => host.sessions(request),
    reconnect: (request) => host.reconnect(request),
    probe: (request) => host.probe(request),
    openCommissioningWindow: (request) => host.openCommissioningWindow(request),
    removeFabric: (request) => host.removeFabric(request),
    otaStore: (request) => host.otaStore(request),
    otaForceUpdate: (request) => host.otaForceUpdate(request),
    otaQueue: () => host.otaQueue(),
  },
  describeError,
);
await host.stop();
await link.close();
process.exit(0);
