// The device: the one place that wires the layers together into a Matter On/Off Light, from a
// Platform and the factory partition. The simulator (hosts/sim) and the ESP32 host call it.
//
//   const device = startDevice(platform, { softwareVersion: 1, softwareVersionString: "1.0" });
//   device.status();                       // JSON: identity, fabrics, window, sessions, OnOff
//   device.openCommissioningWindow(300);   // the factory verifier, 5 minutes
//   device.factoryReset();                 // erase and start over, commissionable again
//   device.shutdown();
//
// What it builds (DeviceRuntime): the transactional store (journal recovered first), the fabric
// table, the fail-safe, the secure channel stack on UDP (and BTP when the platform has BLE), the
// data model with endpoint 0 (Descriptor, Basic Information, Access Control, General
// Commissioning, Network Commissioning, General Diagnostics, Operational Credentials,
// Administrator Commissioning, Group Key Management) and endpoint 1 (Descriptor, Identify,
// On/Off), the interaction model server, the DNS-SD responder (commissionable and one
// operational record per fabric) and the commissioning window; with the platform's boot control,
// the OTA Software Update Requestor on endpoint 0, which reaches providers over CASE sessions it
// reuses or opens itself (address from DNS-SD). A factory reset erases the store
// (the rotating device id's lifetime counter excepted: its values must never repeat) and builds
// a fresh runtime, as a reboot would.
//
// Everything mutable lives on instances; nothing here uses a Node API, so it runs unchanged in XS.
import { fromHex, toHex } from "./codec/bytes";
import { AccessControlServer } from "./clusters/access-control";
import { AdministratorCommissioningServer } from "./clusters/administrator-commissioning";
import { BasicInformation, BasicInformationAttribute, BasicInformationServer } from "./clusters/basic-information";
import { DescriptorServer } from "./clusters/descriptor";
import { GeneralCommissioningServer } from "./clusters/general-commissioning";
import { GeneralDiagnosticsServer, InterfaceType, interfacesFromPlatform } from "./clusters/general-diagnostics";
import { GroupKeyManagementServer } from "./clusters/group-key-management";
import { IdentifyServer, IdentifyType } from "./clusters/identify";
import { DeviceTypes } from "./clusters/ids";
import { NetworkCommissioningServer, type WiFiStation } from "./clusters/network-commissioning";
import { OnOffServer } from "./clusters/on-off";
import { OperationalCredentialsServer } from "./clusters/operational-credentials";
import { CommissioningWindowManager, MAX_COMMISSIONING_TIMEOUT_SECONDS, type CommissioningWindowOpening, type WindowCloseReason } from "./commissioning/commissioning-window";
import { FailSafeContext, type FailSafeExpiry } from "./commissioning/fail-safe";
import { OperationalFabricTable, type Fabric } from "./commissioning/fabric-table";
import { TransactionalStore } from "./commissioning/transactional-store";
import { CtrDrbg } from "./crypto";
import { CommissioningAdvertisement } from "./discovery/commissioning-advertisement";
import { MdnsResponder } from "./discovery/mdns";
import { OperationalResolver } from "./discovery/resolver";
import { CommissioningFlow, Rendezvous, encodeManualCode, encodeQrPayload } from "./discovery/onboarding";
import { ROTATING_ID_COUNTER_KEY } from "./discovery/rotating-id";
import { FactoryDataError, readFactoryData, type FactoryData } from "./factory";
import { AccessControl } from "./interaction/access-control";
import { AuthMode } from "./interaction/constants";
import { StatusError } from "./interaction/errors";
import { decodeTlv } from "./codec/tlv";
import { decodeValue } from "./interaction/schema";
import { OtaRequestor, OtaSoftwareUpdateRequestor, RequestorAttribute, RequestorEvent, type OtaRequestorOptions } from "./ota/requestor";
import { otaFaultName } from "./ota/errors";
import { DataModel, findAttribute, type ClusterServer, type CommandDefinition, type InvokeContext, type WriteContext, type AttributeDefinition } from "./interaction/model";
import { InteractionServer, MAX_PATHS_PER_INVOKE, subjectOfSession } from "./interaction/server";
import { KeyValueAttributeStore, KeyValueEventNumberStore } from "./interaction/store";
import { statusName } from "./interaction/constants";
import type { AddressFamily, LogLevel, Platform } from "./platform";
import { createSecureChannelStack, type EstablishedBy, type SecureChannelStack } from "./securechannel/stack";
import type { PaseVerifier } from "./securechannel/pase";
import { BtpTransport } from "./transport/btp";
import type { ExchangeManager, UnsolicitedHandler } from "./transport/exchange";
import type { SecureSession, Session } from "./transport/session";
import { describePeer } from "./transport/transport";
import { MATTER_UDP_PORT, udpPeer } from "./transport/udp";

export interface DeviceOptions {
  softwareVersion: number;
  softwareVersionString: string;
  /** UDP port, 5540 unless given (0 picks a free one, kept across factory resets). */
  port?: number;
  /** Address families to listen and advertise on; both unless given. */
  families?: AddressFamily[];
  /** The interface mDNS multicasts on (the simulator's --interface); all when absent. */
  mdnsInterface?: string;
  /** Network Commissioning's feature: Ethernet (the default; the simulator) or Wi-Fi (ESP32). */
  networkFeature?: "ethernet" | "wifi";
  /** OTA Requestor tuning (timeouts, the periodic query); the defaults suit a device in the field. */
  ota?: OtaTuning;
  log?: (level: LogLevel, message: string) => void;
  onEvent?: (event: DeviceEvent) => void;
}

export type OtaTuning = Partial<Pick<OtaRequestorOptions, "queryIntervalMs" | "announceDelayMs" | "commandTimeoutMs" | "transferTimeoutMs" | "maxBlockSize" | "maxProviderDelayMs">> & {
  /** How long a provider's operational address may take to resolve over DNS-SD. Default 10 s. */
  resolveTimeoutMs?: number;
};

/** What happened, for the simulator's console and for tests; every field is JSON. */
export type DeviceEvent =
  | { type: "commissioning-window-opened"; kind: "basic" | "enhanced"; discriminator: number; timeoutSeconds: number; adminFabricIndex: number | null }
  | { type: "commissioning-window-closed"; reason: WindowCloseReason }
  | { type: "session-established"; kind: "pase" | "case"; resumed: boolean; localSessionId: number; peerNodeId: string; fabricIndex: number; peer: string }
  | { type: "session-closed"; kind: "pase" | "case"; localSessionId: number; peerNodeId: string; fabricIndex: number; reason: string }
  | { type: "fail-safe-armed"; fabricIndex: number; expirySeconds: number }
  | { type: "fail-safe-expired"; reason: string; revertedFabricIndex: number | null }
  | { type: "commissioning-complete"; fabricIndex: number }
  | { type: "fabric-added"; fabricIndex: number; fabricId: string; nodeId: string; vendorId: number; pending: boolean }
  | { type: "fabric-removed"; fabricIndex: number }
  | { type: "command-invoked"; endpoint: number; cluster: string; command: string; fabricIndex: number; subject: string; outcome: string }
  | { type: "attribute-written"; endpoint: number; cluster: string; attribute: string; fabricIndex: number; subject: string; outcome: string }
  | { type: "on-off"; on: boolean }
  | { type: "factory-reset" }
  | { type: "ota-state"; previousState: number; newState: number; reason: number; targetSoftwareVersion: number | null }
  | { type: "ota-progress"; percent: number | null }
  | { type: "ota-download-error"; softwareVersion: number; bytesDownloaded: number; progressPercent: number | null; platformCode: number | null; fault: string }
  | { type: "ota-version-applied"; softwareVersion: number; productId: number };

export interface DeviceStatus {
  vendorId: number;
  productId: number;
  discriminator: number;
  serialNumber: string;
  softwareVersion: number;
  softwareVersionString: string;
  /** The UDP port Matter listens on. */
  port: number;
  commissioned: boolean;
  fabrics: { fabricIndex: number; fabricId: string; nodeId: string; vendorId: number; label: string }[];
  commissioningWindow: { open: boolean; kind: "basic" | "enhanced" | null; takingPase: boolean };
  failSafeArmed: boolean;
  secureSessions: { kind: "pase" | "case"; localSessionId: number; peerNodeId: string; fabricIndex: number; peer: string }[];
  onOff: boolean;
}

export interface Device {
  status(): DeviceStatus;
  /** A basic window with the factory verifier; 15 minutes unless given (at most). */
  openCommissioningWindow(timeoutS?: number): void;
  /** Erases fabrics, keys, ACLs, counters' state and attributes (not the factory partition), then starts commissionable. */
  factoryReset(): void;
  /** JSON console and test hooks; see DeviceRuntime.control. Errors come back as { error }. */
  control(request: unknown): unknown;
  /** Goodbyes over mDNS, sessions and sockets closed, timers stopped. */
  shutdown(): void;
}

const ROOT_ENDPOINT = 0;
const LIGHT_ENDPOINT = 1;

/** Reads the factory data, recovers storage and starts the node. FactoryDataError when the partition is missing or bad. */
export function startDevice(platform: Platform, options: DeviceOptions): Device {
  const log = options.log ?? ((level: LogLevel, message: string) => platform.log(level, message));
  const partition = platform.flash.open("factory");
  if (!partition) throw new FactoryDataError("partition", "this platform has no factory partition");
  const factory = readFactoryData(partition);
  const store = new TransactionalStore(platform.storage, { log });
  const recovery = store.recover();
  if (recovery !== "clean") log("info", `storage recovery: ${recovery}`);
  return new DeviceHandle(platform, { ...options, log }, factory, store);
}

/**
 * The ESP32 host's entry point: hosts/esp32/main.ts calls `start(platform, { softwareVersion,
 * softwareVersionString })` with the version mcconfig baked into the image (OTA needs it: an
 * updated image confirms itself only when it reports the version it was installed as). The
 * Wi-Fi feature; version 1 when none is given.
 */
export function start(platform: Platform, options: Partial<DeviceOptions> = {}): Device {
  return startDevice(platform, { softwareVersion: 1, softwareVersionString: "1.0", networkFeature: "wifi", ...options });
}

class DeviceHandle implements Device {
  private declare runtime: DeviceRuntime;
  private declare port: number;
  private stopped = false;

  constructor(
    private readonly platform: Platform,
    private readonly options: DeviceOptions & { log: (level: LogLevel, message: string) => void },
    private readonly factory: FactoryData,
    private readonly store: TransactionalStore,
  ) {
    this.port = options.port ?? MATTER_UDP_PORT;
    this.runtime = new DeviceRuntime(platform, { ...options, port: this.port }, factory, store);
  }

  status(): DeviceStatus {
    return this.runtime.status();
  }

  openCommissioningWindow(timeoutS: number = MAX_COMMISSIONING_TIMEOUT_SECONDS): void {
    this.runtime.openBasicWindow(timeoutS);
  }

  factoryReset(): void {
    if (this.stopped) throw new Error("the device is shut down");
    this.options.log("warn", "factory reset");
    // With port 0, keep the port the system picked, so that a factory reset does not move the node.
    if (this.port === 0) this.port = this.runtime.port;
    this.runtime.stop("factory-reset");
    let failure: unknown;
    try {
      this.store.eraseAll((key) => key === ROTATING_ID_COUNTER_KEY);
      this.options.onEvent?.({ type: "factory-reset" });
    } catch (error) {
      // The erase is one atomic commit: storage holds the old state, which the new runtime serves.
      failure = error;
      this.options.log("error", `factory reset failed: ${(error as Error).message}`);
    }
    this.runtime = new DeviceRuntime(this.platform, { ...this.options, port: this.port }, this.factory, this.store);
    if (failure !== undefined) throw failure;
  }

  control(request: unknown): unknown {
    try {
      const op = (request as { op?: unknown } | null)?.op;
      if (op === "factory-reset") {
        this.factoryReset();
        return { ok: true };
      }
      if (op === "shutdown") {
        this.shutdown();
        return { ok: true };
      }
      return this.runtime.control(request as Record<string, unknown>);
    } catch (error) {
      return { error: (error as Error).message };
    }
  }

  shutdown(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.runtime.stop("shutdown");
  }
}

/** One life of the node: from a boot (or a factory reset) to a shutdown (or the next reset). */
class DeviceRuntime {
  declare readonly stack: SecureChannelStack;
  private declare readonly log: (level: LogLevel, message: string) => void;
  private declare readonly emit: (event: DeviceEvent) => void;
  private declare readonly random: CtrDrbg;
  private declare readonly failSafe: FailSafeContext;
  private declare readonly fabrics: OperationalFabricTable;
  private declare readonly accessControl: AccessControlServer;
  private declare readonly basicInformation: BasicInformationServer;
  private declare readonly generalCommissioning: GeneralCommissioningServer;
  private declare readonly administratorCommissioning: AdministratorCommissioningServer;
  private declare readonly onOff: OnOffServer;
  private declare readonly model: DataModel;
  private declare readonly interaction: InteractionServer;
  private declare readonly window: CommissioningWindowManager;
  private declare readonly mdns: MdnsResponder | undefined;
  private declare readonly resolver: OperationalResolver | undefined;
  private declare readonly otaRequestor: OtaRequestor | undefined;
  /** Operational DNS-SD records advertised, by fabric index. */
  private readonly operational = new Map<number, { compressedFabricId: bigint; nodeId: bigint }>();
  /** PASE sessions admitted by the commissioning window (the commissioners' sessions). */
  private readonly commissioningSessions = new Set<SecureSession>();
  /** Sessions that end once a response in flight is acknowledged: no new interaction is served on them. */
  private readonly retiringSessions = new Set<SecureSession>();
  private readonly detach: (() => void)[] = [];
  private running = true;

  constructor(
    private readonly platform: Platform,
    private readonly options: DeviceOptions & { log: (level: LogLevel, message: string) => void; port: number },
    private readonly factory: FactoryData,
    private readonly store: TransactionalStore,
  ) {
    const log = (this.log = options.log);
    this.emit = (event) => {
      try {
        options.onEvent?.(event);
      } catch (error) {
        log("error", `event listener failed: ${(error as Error).message}`);
      }
    };
    const { clock, ble, network } = platform;
    const families = options.families ? { families: options.families } : {};
    const random = (this.random = new CtrDrbg(platform.entropy));
    const failSafe = (this.failSafe = new FailSafeContext({ clock, store, log }));
    const fabrics = (this.fabrics = new OperationalFabricTable({ store, random, log }));
    fabrics.load();
    const accessControl = (this.accessControl = new AccessControlServer({ store, failSafe, log }));
    accessControl.load();
    fabrics.registerScopedData(accessControl);

    // Transport and secure channel.
    const stack = (this.stack = createSecureChannelStack(platform, {
      port: options.port,
      ...families,
      transports: ble ? [new BtpTransport({ ble, clock, log })] : [],
      random,
      fabrics,
      sessionParameters: { maxPathsPerInvoke: MAX_PATHS_PER_INVOKE },
      log,
      onSessionEstablished: (session, by) => this.sessionEstablished(session, by),
      onCommissioningWindowClosed: (reason) => this.window.paseWindowClosed(reason),
    }));
    this.detach.push(stack.sessions.onRemoved((session, reason) => this.sessionRemoved(session, reason)));

    // Discovery. Without multicast (no interface, no permission) the node still works by address.
    let mdns: MdnsResponder | undefined;
    try {
      mdns = new MdnsResponder({
        network,
        clock,
        random,
        log,
        ...(options.mdnsInterface !== undefined ? { interfaceName: options.mdnsInterface } : {}),
        ...families,
      });
    } catch (error) {
      log("warn", `DNS-SD is not available: ${(error as Error).message}`);
    }
    this.mdns = mdns;
    this.resolver = mdns ? new OperationalResolver({ querier: mdns, clock, log }) : undefined;
    const advertisement = new CommissioningAdvertisement({
      ...(mdns ? { mdns } : {}),
      ...(ble ? { ble } : {}),
      storage: store,
      rotatingIdUniqueId: factory.rotatingDeviceIdUniqueId,
    });
    const window = (this.window = new CommissioningWindowManager({
      clock,
      pase: stack,
      advertiser: {
        openWindow: ({ discriminator, commissioningMode }) =>
          advertisement.openWindow({
            discriminator,
            commissioningMode,
            vendorId: factory.vendorId,
            productId: factory.productId,
            port: this.port,
            deviceType: DeviceTypes.OnOffLight.type,
            sessionIntervals: this.sessionIntervals(),
          }),
        closeWindow: () => advertisement.closeWindow(),
      },
      log,
      onOpened: (opening) => this.windowOpened(opening),
      onClosed: (reason) => this.emit({ type: "commissioning-window-closed", reason }),
      onChange: () => this.administratorCommissioning?.windowChanged(),
    }));

    // The data model.
    const model = (this.model = new DataModel({
      clock,
      random,
      store: new KeyValueAttributeStore(store),
      eventNumbers: new KeyValueEventNumberStore(store),
      log,
    }));
    const basicInformation = (this.basicInformation = new BasicInformationServer({
      identity: factory,
      softwareVersion: options.softwareVersion,
      softwareVersionString: options.softwareVersionString,
      random,
    }));
    const locationAttribute = findAttribute(BasicInformation, BasicInformationAttribute.Location)!;
    // The device's own writes: no subject, no accessing fabric.
    const ownWrite = { fabricIndex: 0, timed: false };
    const generalCommissioning = (this.generalCommissioning = new GeneralCommissioningServer({
      failSafe,
      store,
      commissioningWindowOpen: () => window.isOpen,
      setLocation: (countryCode) => basicInformation.writeAttribute(locationAttribute, countryCode, ownWrite),
      onCommissioningComplete: (fabricIndex) => this.commissioningComplete(fabricIndex),
      log,
    }));
    generalCommissioning.load();
    const feature = options.networkFeature ?? "ethernet";
    const wifi = (platform as Platform & { wifi?: WiFiStation }).wifi;
    const networkCommissioning = new NetworkCommissioningServer({
      feature,
      clock,
      store,
      failSafe,
      setBreadcrumb: (value) => generalCommissioning.writeAttribute(findAttribute(generalCommissioning.definition, 0)!, value, ownWrite),
      log,
      ...(feature === "ethernet" ? { interfaceName: options.mdnsInterface ?? network.interfaces()[0]?.name ?? "eth0" } : {}),
      ...(wifi ? { wifi } : {}),
    });
    networkCommissioning.load();
    const operationalCredentials = new OperationalCredentialsServer({
      fabrics,
      failSafe,
      attestation: factory.attestation,
      accessControl,
      log,
      onFabricAdded: (fabric) => this.emit(fabricAdded(fabric, true)),
      onFabricRemoving: (fabric) => basicInformation.leave(fabric.fabricIndex),
      onFabricRemoved: (fabric, context) => this.fabricRemoved(fabric, context),
    });
    this.administratorCommissioning = new AdministratorCommissioningServer({
      window,
      failSafe,
      basicWindow: () => ({ verifier: this.factoryVerifier(), discriminator: factory.discriminator }),
      vendorIdOf: (fabricIndex) => fabrics.fabric(fabricIndex)?.vendorId,
      endPaseSessions: () => this.endPaseSessions(),
    });
    this.onOff = new OnOffServer({
      onChange: (on) => {
        log("info", `light ${on ? "ON" : "off"}`);
        this.emit({ type: "on-off", on });
      },
    });
    const interfaceDetails = () => ({ type: feature === "wifi" ? InterfaceType.WiFi : InterfaceType.Ethernet });
    // Updates need somewhere to go: without the platform's A/B boot control there is no requestor.
    const requestor = (this.otaRequestor = platform.boot ? this.createOtaRequestor(platform.boot) : undefined);
    if (requestor) fabrics.registerScopedData({ stageFabricRemoval: (index) => requestor.removeFabric(index), applyFabricRemoval: () => {} });
    model.addEndpoint({
      id: ROOT_ENDPOINT,
      deviceTypes: [{ ...DeviceTypes.RootNode }],
      clusters: [
        new DescriptorServer(),
        basicInformation,
        accessControl,
        generalCommissioning,
        networkCommissioning,
        new GeneralDiagnosticsServer({ interfaces: () => interfacesFromPlatform(network.interfaces(), interfaceDetails) }),
        operationalCredentials,
        this.administratorCommissioning,
        new GroupKeyManagementServer(fabrics),
        ...(requestor ? [requestor] : []),
      ],
    });
    model.addEndpoint({
      id: LIGHT_ENDPOINT,
      deviceTypes: [{ ...DeviceTypes.OnOffLight }],
      clusters: [new DescriptorServer(), new IdentifyServer({ identifyType: IdentifyType.LightOutput }), this.onOff],
    });
    for (const endpoint of model.endpoints) for (const cluster of endpoint.clusters) this.instrument(cluster);
    if (requestor) this.reportOtaActivity(requestor);
    model.start();

    this.interaction = new InteractionServer({
      exchanges: this.retiringSessionFilter(stack.exchanges),
      model,
      accessControl: new AccessControl({ entries: accessControl, deviceTypesOn: (endpoint) => model.deviceTypesOn(endpoint) }),
      random,
      describeSubject: (session) => this.describeSubject(session),
      log,
    });

    // The fail-safe's participants commit together, in this order, and revert together.
    for (const participant of [fabrics, accessControl, generalCommissioning, networkCommissioning]) failSafe.addParticipant(participant);
    this.detach.push(
      failSafe.addListener({
        armed: (fabricIndex, expirySeconds) => this.emit({ type: "fail-safe-armed", fabricIndex, expirySeconds }),
        expired: (expiry) => this.failSafeExpired(expiry),
        committed: (_fabricIndex, created) => {
          const fabric = created !== undefined ? fabrics.fabric(created) : undefined;
          if (fabric) this.emit(fabricAdded(fabric, false));
        },
      }),
    );
    fabrics.onChanged(() => this.refreshOperationalAdvertisements());
    this.refreshOperationalAdvertisements();

    const committed = fabrics.committedCount;
    log("info", `${factory.vendorName} ${factory.productName} VID 0x${hex4(factory.vendorId)} PID 0x${hex4(factory.productId)} serial ${factory.serialNumber}, software ${options.softwareVersionString}, port ${this.port}, ${committed} fabric(s)`);
    if (committed === 0) this.openBasicWindow(MAX_COMMISSIONING_TIMEOUT_SECONDS);
  }

  get port(): number {
    const udp = this.stack.udp;
    return udp?.port(6) ?? udp?.port(4) ?? this.options.port;
  }

  // -------------------------------------------------------------------------------------------
  // Commissioning window

  private factoryVerifier(): PaseVerifier {
    const f = this.factory;
    return { w0: f.spake2pW0, L: f.spake2pL, salt: f.pbkdfSalt, iterations: f.pbkdfIterations };
  }

  openBasicWindow(timeoutSeconds: number): void {
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > MAX_COMMISSIONING_TIMEOUT_SECONDS) {
      throw new RangeError(`a commissioning window lasts 1..${MAX_COMMISSIONING_TIMEOUT_SECONDS} s, not ${timeoutSeconds}`);
    }
    this.window.open({ kind: "basic", verifier: this.factoryVerifier(), discriminator: this.factory.discriminator, timeoutSeconds });
  }

  private windowOpened(opening: CommissioningWindowOpening): void {
    this.emit({
      type: "commissioning-window-opened",
      kind: opening.kind,
      discriminator: opening.discriminator,
      timeoutSeconds: opening.timeoutSeconds,
      adminFabricIndex: opening.admin?.fabricIndex ?? null,
    });
  }

  private sessionIntervals() {
    const p = this.stack.localParameters;
    return { idleIntervalMs: p.idleIntervalMs, activeIntervalMs: p.activeIntervalMs, activeThresholdMs: p.activeThresholdMs };
  }

  // -------------------------------------------------------------------------------------------
  // OTA

  private createOtaRequestor(boot: NonNullable<Platform["boot"]>): OtaRequestor {
    const { platform, factory, options } = this;
    const { resolveTimeoutMs: _resolveTimeout, ...tuning } = options.ota ?? {};
    return new OtaRequestor({
      ...tuning,
      exchanges: this.stack.exchanges,
      connect: (fabricIndex, nodeId) => this.connectToNode(fabricIndex, nodeId),
      clock: platform.clock,
      storage: this.store,
      flash: platform.flash,
      boot,
      reboot: () => platform.reboot(),
      log: this.log,
      vendorId: factory.vendorId,
      productId: factory.productId,
      hardwareVersion: factory.hardwareVersion,
      signingKey: factory.firmwareSigningKey,
      softwareVersion: options.softwareVersion,
      location: () => this.basicInformation.location,
    });
  }

  /**
   * A CASE session to `nodeId` on fabric `fabricIndex`: one that already exists (the provider may
   * have opened it to announce itself; CHIP reuses such sessions too), else a new one to the
   * address its operational DNS-SD record gives, trying each address in turn.
   */
  private async connectToNode(fabricIndex: number, nodeId: bigint): Promise<SecureSession> {
    const { stack, resolver, log } = this;
    const existing = stack.sessions
      .secureSessions()
      .filter((session) => session.kind === "case" && session.fabricIndex === fabricIndex && session.peerNodeId === nodeId && !this.retiringSessions.has(session));
    const newest = existing[existing.length - 1];
    if (newest) return newest;
    const fabric = this.fabrics.fabric(fabricIndex);
    const node = nodeHex(nodeId);
    if (!fabric) throw new Error(`no fabric ${fabricIndex}`);
    if (!resolver) throw new Error(`no DNS-SD to locate node ${node}`);
    const udp = stack.udp;
    const families = ([6, 4] as AddressFamily[]).filter((family) => udp?.port(family) !== undefined);
    const { addresses } = await resolver.resolve(bigEndian(fabric.compressedFabricId), nodeId, { families, timeoutMs: this.options.ota?.resolveTimeoutMs ?? 10_000 });
    const peers = addresses.map((address) => udpPeer(address.address, address.port, address.interfaceName));
    log("info", `node ${node} (fabric ${fabricIndex}) found over DNS-SD: ${peers.map(describePeer).join(", ")}`);
    let failure: unknown;
    for (const peerAddress of peers) {
      const at = `node ${node} at ${describePeer(peerAddress)}`;
      try {
        const { session, resumed } = await stack.establishCase({ fabricIndex, peerNodeId: nodeId, peerAddress });
        log("info", `CASE session ${session.localSessionId} ${resumed ? "resumed" : "opened"} to ${at}`);
        return session;
      } catch (error) {
        failure = error;
        log("warn", `CASE to ${at} failed: ${(error as Error).message}`);
      }
    }
    throw failure ?? new Error(`node ${node} has no usable address`);
  }

  /** The requestor's events and progress, as DeviceEvents. */
  private reportOtaActivity(requestor: OtaRequestor): void {
    const { id, events } = OtaSoftwareUpdateRequestor;
    const emit = this.emit;
    this.detach.push(
      this.model.onEvent(({ cluster, event, payload }) => {
        const definition = cluster === id ? events.find((candidate) => candidate.id === event) : undefined;
        if (!definition) return;
        const fields = decodeValue(decodeTlv(payload), definition.schema) as Record<string, unknown>;
        const number = (value: unknown) => (value == null ? null : Number(value));
        const { softwareVersion } = fields;
        if (event === RequestorEvent.StateTransition) {
          emit({
            type: "ota-state",
            previousState: Number(fields.previousState),
            newState: Number(fields.newState),
            reason: Number(fields.reason),
            targetSoftwareVersion: number(fields.targetSoftwareVersion),
          });
        } else if (event === RequestorEvent.VersionApplied) {
          emit({ type: "ota-version-applied", softwareVersion: Number(softwareVersion), productId: Number(fields.productId) });
        } else if (event === RequestorEvent.DownloadError) {
          const platformCode = number(fields.platformCode);
          emit({
            type: "ota-download-error",
            softwareVersion: Number(softwareVersion),
            bytesDownloaded: Number(fields.bytesDownloaded),
            progressPercent: number(fields.progressPercent),
            platformCode,
            fault: platformCode === null ? "unknown" : otaFaultName(platformCode),
          });
        }
      }),
      this.model.onAttributeChanged((endpoint, cluster, attribute) => {
        if (endpoint === ROOT_ENDPOINT && cluster === id && attribute === RequestorAttribute.UpdateStateProgress) {
          emit({ type: "ota-progress", percent: requestor.updateStateProgress ?? null });
        }
      }),
    );
  }

  private otaStatus(): unknown {
    const requestor = this.otaRequestor;
    const boot = this.platform.boot;
    if (!requestor || !boot) return { available: false };
    return {
      available: true,
      softwareVersion: this.options.softwareVersion,
      updateState: requestor.updateState,
      updateStateProgress: requestor.updateStateProgress,
      defaultOtaProviders: requestor.defaultOtaProviders.map((entry) => ({ ...entry, providerNodeId: nodeHex(entry.providerNodeId) })),
      runningSlot: boot.runningSlot(),
      pendingConfirmation: boot.pendingConfirmation(),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Sessions and subjects

  private describeSubject(session: SecureSession) {
    if (session.kind !== "pase") return subjectOfSession(session, false);
    const commissioning = this.commissioningSessions.has(session) && !session.removed;
    const subject = subjectOfSession(session, commissioning);
    // After AddNOC over this session it speaks for the new fabric (spec 11.18.6.8, CHIP's
    // SecureSession::SetFabricIndex), so that it can write that fabric's ACL before completion.
    const fabricIndex = this.failSafe.armed && this.failSafe.armingSession === session ? (this.failSafe.newFabricIndex ?? 0) : 0;
    return { ...subject, fabricIndex };
  }

  private sessionEstablished(session: SecureSession, by: EstablishedBy): void {
    const { kind, localSessionId, fabricIndex } = session;
    const peer = describePeer(session.peerAddress);
    const peerNodeId = nodeHex(session.peerNodeId);
    const resumed = by === "case-resumption";
    if (kind === "pase") {
      this.commissioningSessions.add(session);
      this.window.paseSessionEstablished();
      this.log("info", `PASE session ${localSessionId} established with ${peer}: commissioning`);
    } else {
      this.log("info", `CASE session ${localSessionId} ${resumed ? "resumed" : "established"} with node ${peerNodeId} on fabric ${fabricIndex} (${peer})`);
    }
    this.emit({ type: "session-established", kind, resumed, localSessionId, peerNodeId, fabricIndex, peer });
  }

  private sessionRemoved(session: Session, reason: string): void {
    if (session.kind === "unsecured") return;
    const { kind, localSessionId } = session;
    const commissioning = this.commissioningSessions;
    this.retiringSessions.delete(session);
    this.log("info", `${kind.toUpperCase()} session ${localSessionId} closed (${reason})`);
    this.emit({ type: "session-closed", kind, localSessionId, peerNodeId: nodeHex(session.peerNodeId), fabricIndex: session.fabricIndex, reason });
    if (kind === "pase" && commissioning.delete(session) && this.running && commissioning.size === 0 && !this.failSafe.armed) this.window.paseSessionEnded();
  }

  /** Ends every PASE session (CommissioningComplete, RevokeCommissioning, fail-safe expiry). */
  private endPaseSessions(): void {
    const stack = this.stack;
    for (const session of stack.sessions.secureSessions()) if (session.kind === "pase") stack.closeSession(session);
  }

  /**
   * The interaction server's view of the exchanges, except that an exchange a peer opens on a
   * retiring session is dropped unanswered: between a RemoveFabric (or ArmFailSafe(0)) response
   * and its acknowledgement, when the session ends, nothing more is served on it (CHIP marks such
   * sessions for eviction).
   */
  private retiringSessionFilter(exchanges: ExchangeManager): ExchangeManager {
    const retiring = this.retiringSessions;
    return new Proxy(exchanges, {
      get(target, property) {
        if (property === "registerProtocol") {
          return (protocolId: number, handler: UnsolicitedHandler, vendorId?: number) =>
            target.registerProtocol(
              protocolId,
              (exchange, message) => {
                if (exchange.session.kind !== "unsecured" && retiring.has(exchange.session)) {
                  exchange.abort();
                  return undefined;
                }
                return handler(exchange, message);
              },
              vendorId,
            );
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** Marks sessions that are to end after the response in flight. */
  private retire(predicate: (session: SecureSession) => boolean): void {
    for (const session of this.stack.sessions.secureSessions()) if (predicate(session)) this.retiringSessions.add(session);
  }

  private endFabricSessions(fabricIndex: number): void {
    const { responderResumption, initiatorResumption, sessions } = this.stack;
    responderResumption.removeFabric(fabricIndex);
    initiatorResumption.removeFabric(fabricIndex);
    for (const session of sessions.secureSessions()) if (session.kind === "case" && session.fabricIndex === fabricIndex) sessions.remove(session.localSessionId);
  }

  // -------------------------------------------------------------------------------------------
  // Commissioning outcomes

  private commissioningComplete(fabricIndex: number): void {
    this.log("info", `commissioning complete: fabric ${fabricIndex} committed`);
    this.window.close("commissioned");
    this.commissioningSessions.clear();
    this.endPaseSessions();
    this.emit({ type: "commissioning-complete", fabricIndex });
  }

  private failSafeExpired({ reason, newFabricIndex, updatedFabricIndex, afterResponse }: FailSafeExpiry): void {
    this.log("warn", `fail-safe ${reason}: pending changes reverted${newFabricIndex !== undefined ? ` (fabric ${newFabricIndex} dropped)` : ""}`);
    this.emit({ type: "fail-safe-expired", reason, revertedFabricIndex: newFabricIndex ?? null });
    if (reason === "shutdown") return;
    const cleanUp = () => {
      if (!this.running) return;
      if (newFabricIndex !== undefined) this.endFabricSessions(newFabricIndex);
      if (updatedFabricIndex !== undefined) this.endFabricSessions(updatedFabricIndex);
      // The commissioner's PASE session ends with its fail-safe (spec 11.10.7.2, CHIP).
      this.endPaseSessions();
      if (this.window.isOpen && this.commissioningSessions.size === 0) this.window.paseSessionEnded();
    };
    if (afterResponse) {
      this.retire((session) => session.kind === "pase" || session.fabricIndex === newFabricIndex || session.fabricIndex === updatedFabricIndex);
      afterResponse(cleanUp);
    } else {
      cleanUp();
    }
  }

  private fabricRemoved({ fabricIndex }: Fabric, context: InvokeContext): void {
    this.window.fabricRemoved(fabricIndex);
    this.emit({ type: "fabric-removed", fabricIndex });
    // The response goes out over the removed fabric's session first (spec 11.18.6.12).
    this.retire((session) => session.kind === "case" && session.fabricIndex === fabricIndex);
    context.afterResponse(() => {
      this.endFabricSessions(fabricIndex);
      if (this.running && this.fabrics.committedCount === 0 && !this.window.isOpen) {
        this.log("info", "no fabric left: commissionable again");
        this.openBasicWindow(MAX_COMMISSIONING_TIMEOUT_SECONDS);
      }
    });
  }

  private refreshOperationalAdvertisements(): void {
    const { mdns, operational } = this;
    if (!mdns || !this.running) return;
    const wanted = new Map<number, { compressedFabricId: bigint; nodeId: bigint }>();
    for (const fabric of this.fabrics.fabrics()) wanted.set(fabric.fabricIndex, { compressedFabricId: bigEndian(fabric.compressedFabricId), nodeId: fabric.nodeId });
    for (const [index, record] of [...operational]) {
      const next = wanted.get(index);
      if (next && next.compressedFabricId === record.compressedFabricId && next.nodeId === record.nodeId) continue;
      mdns.withdrawOperational(record.compressedFabricId, record.nodeId);
      operational.delete(index);
    }
    for (const [index, record] of wanted) {
      if (operational.has(index)) continue;
      try {
        mdns.advertiseOperational({ ...record, port: this.port, sessionIntervals: this.sessionIntervals() });
        operational.set(index, record);
      } catch (error) {
        this.log("warn", `operational advertisement of fabric ${index} failed: ${(error as Error).message}`);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reporting what peers do

  /** Wraps a cluster's invoke and writeAttribute so that each command and write is logged and reported. */
  private instrument(cluster: ClusterServer): void {
    const name = cluster.definition.name;
    const invoke = cluster.invoke.bind(cluster);
    const write = cluster.writeAttribute.bind(cluster);
    // Logs and reports one command or write; `what` names it for the log.
    const report = (what: "invoke" | "write", member: string, endpoint: number, context: WriteContext, outcome: string) => {
      const subject = subjectText(context.subject);
      const fabricIndex = context.fabricIndex;
      this.log("info", `${what} ${name}.${member} on endpoint ${endpoint} by ${subject}: ${outcome}`);
      this.emit(
        what === "invoke"
          ? { type: "command-invoked", endpoint, cluster: name, command: member, fabricIndex, subject, outcome }
          : { type: "attribute-written", endpoint, cluster: name, attribute: member, fabricIndex, subject, outcome },
      );
    };
    // A command's outcome names its cluster-specific status when it has one.
    const failure = (error: unknown, command?: boolean) =>
      error instanceof StatusError ? statusName((command ? error.clusterStatus : undefined) ?? error.status) : `error: ${(error as Error).message}`;
    cluster.invoke = async (command: CommandDefinition, request: unknown, context: InvokeContext): Promise<unknown> => {
      try {
        const result = await invoke(command, request, context);
        report("invoke", command.name, context.endpoint, context, responseOutcome(result));
        return result;
      } catch (error) {
        report("invoke", command.name, context.endpoint, context, failure(error, true));
        throw error;
      }
    };
    cluster.writeAttribute = (attribute: AttributeDefinition, value: unknown, context: WriteContext): void => {
      // Writes the device makes itself (no subject) are not a peer's.
      if (!context.subject) return write(attribute, value, context);
      try {
        write(attribute, value, context);
        report("write", attribute.name, cluster.endpointId, context, "success");
      } catch (error) {
        report("write", attribute.name, cluster.endpointId, context, failure(error));
        throw error;
      }
    };
  }

  // -------------------------------------------------------------------------------------------
  // Status and control

  status(): DeviceStatus {
    const { factory, options, fabrics, window } = this;
    return {
      vendorId: factory.vendorId,
      productId: factory.productId,
      discriminator: factory.discriminator,
      serialNumber: factory.serialNumber,
      softwareVersion: options.softwareVersion,
      softwareVersionString: options.softwareVersionString,
      port: this.port,
      commissioned: fabrics.committedCount > 0,
      fabrics: fabrics.committedFabrics().map(({ fabricIndex, fabricId, nodeId, vendorId, label }) => ({ fabricIndex, fabricId: nodeHex(fabricId), nodeId: nodeHex(nodeId), vendorId, label })),
      commissioningWindow: { open: window.isOpen, kind: window.kind ?? null, takingPase: window.listening },
      failSafeArmed: this.failSafe.armed,
      secureSessions: this.stack.sessions.secureSessions().map(({ kind, localSessionId, peerNodeId, fabricIndex, peerAddress }) => ({
        kind,
        localSessionId,
        peerNodeId: nodeHex(peerNodeId),
        fabricIndex,
        peer: describePeer(peerAddress),
      })),
      onOff: this.onOff.onOff,
    };
  }

  /**
   * JSON operations:
   *   {op:"status"}
   *   {op:"open-commissioning-window", timeoutS?}   {op:"close-commissioning-window"}
   *   {op:"onboarding"}                             QR payload and manual code (when the factory data holds the passcode)
   *   {op:"commissioning-state"}                    committed fabrics (with certificates), their ACLs, RegulatoryConfig
   *   {op:"install-fabric", rcac, icac?, noc, operationalKey, ipkEpochKey (hex), caseAdminSubject (decimal or 0x hex), vendorId?, label?}
   *   {op:"remove-fabric", fabricIndex}             {op:"set-on-off", on}
   *   {op:"ota-status"}                             requestor state, running slot, trial
   *   {op:"ota-check"}                              query the providers now (the outcome arrives as ota-* events)
   */
  control(request: Record<string, unknown>): unknown {
    switch (request.op) {
      case "status":
        return this.status();
      case "open-commissioning-window":
        this.openBasicWindow(typeof request.timeoutS === "number" ? request.timeoutS : MAX_COMMISSIONING_TIMEOUT_SECONDS);
        return { ok: true };
      case "close-commissioning-window":
        this.window.close("closed");
        return { ok: true };
      case "onboarding":
        return this.onboarding();
      case "commissioning-state":
        return this.commissioningState();
      case "install-fabric":
        return this.installFabric(request);
      case "remove-fabric": {
        const index = Number(request.fabricIndex);
        const fabric = this.fabrics.fabric(index);
        if (!fabric) throw new Error(`no fabric ${index}`);
        this.basicInformation.leave(index);
        this.fabrics.remove(index);
        this.endFabricSessions(index);
        this.emit({ type: "fabric-removed", fabricIndex: index });
        return { ok: true };
      }
      case "set-on-off":
        if (request.on) this.onOff.on();
        else this.onOff.off();
        return { onOff: this.onOff.onOff };
      case "ota-status":
        return this.otaStatus();
      case "ota-check": {
        const requestor = this.otaRequestor;
        if (!requestor) throw new Error("no OTA requestor: the platform has no boot control");
        void requestor.checkForUpdate().then((outcome) => this.log("info", `OTA check: ${outcome}`));
        return { ok: true };
      }
      default:
        throw new Error(`unknown control operation ${JSON.stringify(request.op)}`);
    }
  }

  /** What the commissioning clusters keep, as JSON (bigints and bytes as hex). */
  private commissioningState(): unknown {
    const json = (value: unknown): unknown => {
      if (typeof value === "bigint") return `0x${value.toString(16)}`;
      if (value instanceof Uint8Array) return toHex(value);
      if (Array.isArray(value)) return value.map(json);
      if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, json(entry)]));
      return value;
    };
    const accessControl = this.accessControl;
    return {
      fabrics: this.fabrics.committedFabrics().map(({ fabricIndex, fabricId, nodeId, vendorId, label, rcac, icac, noc, ipk }) =>
        json({ fabricIndex, fabricId, nodeId, vendorId, label, rcac, icac: icac ?? null, noc, ipk }),
      ),
      acl: Object.fromEntries(accessControl.fabricsWithEntries().map((index) => [index, json(accessControl.aclOf(index))])),
      regulatoryConfig: this.generalCommissioning.regulatoryConfig,
      failSafeArmed: this.failSafe.armed,
    };
  }

  private onboarding(): unknown {
    const { passcode, discriminator, vendorId, productId } = this.factory;
    if (passcode === undefined) return { discriminator, passcode: null, qrCode: null, manualCode: null };
    const payload = {
      version: 0,
      vendorId,
      productId,
      commissioningFlow: CommissioningFlow.Standard,
      rendezvousInformation: Rendezvous.OnNetwork | (this.platform.ble ? Rendezvous.BLE : 0),
      discriminator,
      passcode,
    };
    return { discriminator, passcode, qrCode: encodeQrPayload(payload), manualCode: encodeManualCode(payload) };
  }

  private installFabric(request: Record<string, unknown>): unknown {
    const bytes = (name: string, optional = false): Uint8Array | undefined => {
      const value = request[name];
      if (value === undefined && optional) return undefined;
      if (typeof value !== "string" || !/^([0-9a-fA-F]{2})*$/.test(value)) throw new Error(`${name} must be hex`);
      return fromHex(value);
    };
    const subjectText = String(request.caseAdminSubject ?? "");
    if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(subjectText)) throw new Error("caseAdminSubject must be a decimal or 0x-hex node id");
    const subject = BigInt(subjectText);
    const icac = bytes("icac", true);
    const { accessControl, window } = this;
    const fabric = this.fabrics.install(
      {
        rcac: bytes("rcac")!,
        ...(icac ? { icac } : {}),
        noc: bytes("noc")!,
        operationalPrivateKey: bytes("operationalKey")!,
        ipkEpochKey: bytes("ipkEpochKey")!,
        vendorId: typeof request.vendorId === "number" ? request.vendorId : 0xfff1,
        ...(typeof request.label === "string" ? { label: request.label } : {}),
      },
      (staged) => accessControl.stageAdministrator(staged.fabricIndex, subject),
    );
    accessControl.adoptAdministrator(fabric.fabricIndex, subject);
    this.emit(fabricAdded(fabric, false));
    // A device given its fabric this way is commissioned: the boot window has no purpose left.
    if (window.isOpen && window.kind === "basic" && window.listening) window.close("commissioned");
    return { fabricIndex: fabric.fabricIndex };
  }

  stop(reason: "shutdown" | "factory-reset"): void {
    if (!this.running) return;
    this.log("info", reason === "shutdown" ? "shutting down" : "stopping for a factory reset");
    if (reason === "shutdown") this.basicInformation.shutDown();
    this.failSafe.expire("shutdown");
    this.failSafe.close();
    this.running = false;
    this.window.close(reason);
    for (const detach of this.detach) detach();
    this.interaction.close();
    this.model.stop();
    this.resolver?.close();
    this.mdns?.close();
    this.stack.close();
    this.fabrics.close();
    this.random.destroy();
  }
}

function fabricAdded({ fabricIndex, fabricId, nodeId, vendorId }: Fabric, pending: boolean): DeviceEvent {
  return { type: "fabric-added", fabricIndex, fabricId: nodeHex(fabricId), nodeId: nodeHex(nodeId), vendorId, pending };
}

function nodeHex(id: bigint): string {
  return `0x${id.toString(16).toUpperCase().padStart(16, "0")}`;
}

function hex4(value: number): string {
  return value.toString(16).toUpperCase().padStart(4, "0");
}

function bigEndian(bytes: Uint8Array): bigint {
  return BigInt(`0x${toHex(bytes) || "0"}`);
}

function subjectText(descriptor: InvokeContext["subject"]): string {
  if (!descriptor) return "the device";
  const { authMode, subject } = descriptor;
  if (authMode === AuthMode.Pase) return "the PASE commissioner";
  return `${authMode === AuthMode.Case ? `node ${nodeHex(subject)}` : `group ${subject & 0xffffn}`} (fabric ${descriptor.fabricIndex})`;
}

/** A short text for a command's outcome: its response's status-like field when it has one. */
function responseOutcome(result: unknown): string {
  if (result === undefined) return "success";
  const fields = result as Record<string, unknown>;
  for (const key of ["errorCode", "statusCode", "networkingStatus"]) {
    if (typeof fields[key] === "number") return fields[key] === 0 ? "success" : `${key} ${fields[key]}${typeof fields.debugText === "string" && fields.debugText ? ` (${fields.debugText})` : ""}`;
  }
  return "success";
}
