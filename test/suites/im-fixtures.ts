// Interaction Model test doubles for Node and XS: a device (data model + InteractionServer) and a
// controller on two transport stacks joined by an in-memory link, fixed-key sessions standing in
// for PASE and CASE, a minimal IM client, and a test cluster exercising what the standard
// clusters here do not (large and fabric-scoped lists, timed and asynchronous commands).
import { INTERACTION_MODEL_PROTOCOL_ID, type Exchange, type ReceivedMessage } from "../../src/transport/exchange";
import type { SecureSession } from "../../src/transport/session";
import { AuthMode, Opcode, Privilege, Status, type PrivilegeLevel } from "../../src/interaction/constants";
import { AccessControl, catSubject, type AccessControlEntry } from "../../src/interaction/access-control";
import { StatusError } from "../../src/interaction/errors";
import {
  decodeInvokeResponse,
  decodeReportData,
  decodeStatusResponse,
  decodeSubscribeResponse,
  decodeWriteResponse,
  encodeInvokeRequest,
  encodeReadRequest,
  encodeStatusResponse,
  encodeSubscribeRequest,
  encodeTimedRequest,
  encodeWriteRequest,
  type AttributeReport,
  type EventReport,
  type InvokeResponseMessage,
  type ReadRequestMessage,
  type ReportDataMessage,
  type SubscribeRequestMessage,
  type SubscribeResponseMessage,
  type ValueWriter,
  type WriteResponseMessage,
  type AttributePath,
  type CommandPath,
} from "../../src/interaction/messages";
import {
  ClusterServer,
  DataModel,
  attribute,
  command,
  defineCluster,
  type AttributeDefinition,
  type CommandDefinition,
  type InvokeContext,
  type WriteContext,
} from "../../src/interaction/model";
import { fabricIndexField, field, list, octets, string, struct, uint32, uint8, empty } from "../../src/interaction/schema";
import { InteractionServer, type InteractionLimits } from "../../src/interaction/server";
import { MemoryAttributeStore, type AttributeStore } from "../../src/interaction/store";
import { BasicInformationServer } from "../../src/clusters/basic-information";
import { DescriptorServer } from "../../src/clusters/descriptor";
import { GeneralDiagnosticsServer } from "../../src/clusters/general-diagnostics";
import { IdentifyServer } from "../../src/clusters/identify";
import { DeviceTypes } from "../../src/clusters/ids";
import { OnOffServer } from "../../src/clusters/on-off";
import { I2R_KEY, R2I_KEY, CHALLENGE, ManualClock, MemoryLink, SeededRandom, makeNode, memoryPeer, type TestNode } from "./transport-fixtures";

export const IM = INTERACTION_MODEL_PROTOCOL_ID;
export const TEST_CLUSTER_ID = 0xfff1fc00;
export const ADMIN_NODE_ID = 0x0000_0000_0000_0a01n;
export const DEVICE_NODE_ID = 0x0000_0000_0000_0b02n;

export const TestAttribute = Object.freeze({ BigList: 0x0000, FabricItems: 0x0001, TimedValue: 0x0002, AdminValue: 0x0003 });
export const TestCommand = Object.freeze({ Echo: 0x00, EchoResponse: 0x01, TimedNoop: 0x02, Slow: 0x03, Fail: 0x04, Big: 0x05, BigResponse: 0x06, Crash: 0x07 });

const FabricItem = struct(field(1, "label", string(32)), field(2, "secret", octets(16), { fabricSensitive: true }), fabricIndexField);

export const TestCluster = defineCluster({
  id: TEST_CLUSTER_ID,
  name: "Test",
  revision: 1,
  attributes: [
    attribute(TestAttribute.BigList, "bigList", list(octets(64), 40), { write: Privilege.Operate }),
    attribute(TestAttribute.FabricItems, "fabricItems", list(FabricItem, 8), { write: Privilege.Manage, fabricScoped: true }),
    attribute(TestAttribute.TimedValue, "timedValue", uint8, { write: Privilege.Operate, timed: true }),
    attribute(TestAttribute.AdminValue, "adminValue", uint32, { read: Privilege.Manage, write: Privilege.Administer, persistent: true }),
  ],
  commands: [
    command(TestCommand.Echo, "echo", struct(field(0, "value", uint32)), { response: { id: TestCommand.EchoResponse, schema: struct(field(0, "value", uint32)) } }),
    command(TestCommand.TimedNoop, "timedNoop", empty, { timed: true }),
    command(TestCommand.Slow, "slow", struct(field(0, "delayMs", uint32))),
    command(TestCommand.Fail, "fail", empty),
    command(TestCommand.Big, "big", struct(field(0, "size", uint32)), { response: { id: TestCommand.BigResponse, schema: struct(field(0, "data", octets(2000))) } }),
    command(TestCommand.Crash, "crash", empty, { privilege: Privilege.Administer }),
  ],
});

export interface FabricItemValue {
  label: string;
  secret: Uint8Array;
  fabricIndex: number;
}

export class TestClusterServer extends ClusterServer {
  bigList: Uint8Array[] = [];
  fabricItems: FabricItemValue[] = [];
  timedValue = 0;
  adminValue = 0;
  readonly invoked: { name: string; context: InvokeContext }[] = [];
  /** When after-response actions ran (Echo of 999 asks for one). */
  readonly afterResponseAt: number[] = [];

  constructor() {
    super(TestCluster);
  }

  override writeAttribute(attribute: AttributeDefinition, value: unknown, context: WriteContext): void {
    if (attribute.id === TestAttribute.FabricItems) {
      // Replaces the writer's fabric's entries, keeps every other fabric's.
      const others = this.fabricItems.filter((item) => item.fabricIndex !== context.fabricIndex);
      this.fabricItems = [...others, ...(value as FabricItemValue[])];
      this.attributeChangedPublic(attribute.id);
      return;
    }
    super.writeAttribute(attribute, value, context);
  }

  attributeChangedPublic(id: number): void {
    this.attributeChanged(id);
  }

  setBigList(entries: number, size = 64): void {
    this.bigList = Array.from({ length: entries }, (_, i) => new Uint8Array(size).fill(i & 0xff));
    this.attributeChanged(TestAttribute.BigList);
  }

  override async invoke(command: CommandDefinition, request: unknown, context: InvokeContext): Promise<unknown> {
    this.invoked.push({ name: command.name, context });
    switch (command.id) {
      case TestCommand.Echo: {
        const value = (request as { value: number }).value;
        if (value === 999) context.afterResponse(() => this.afterResponseAt.push(this.node.clock.now()));
        return { value };
      }
      case TestCommand.TimedNoop:
        return undefined;
      case TestCommand.Slow: {
        const delay = (request as { delayMs: number }).delayMs;
        await new Promise<void>((resolve) => this.node.clock.setTimer(delay, resolve));
        return undefined;
      }
      case TestCommand.Fail:
        throw StatusError.cluster(5, "test failure");
      case TestCommand.Big:
        return { data: new Uint8Array((request as { size: number }).size).fill(0xab) };
      case TestCommand.Crash:
        throw new Error("the handler crashed");
      default:
        return super.invoke(command, request, context);
    }
  }
}

/** Builds a fixed-key secure session pair between controller (initiator) and device. */
export function sessionPair(
  controller: TestNode,
  device: TestNode,
  options: { kind?: "pase" | "case"; fabricIndex?: number; peerNodeId?: bigint; cats?: number[]; ids: { controller: number; device: number } },
): { controller: SecureSession; device: SecureSession } {
  const kind = options.kind ?? "case";
  const peerNodeId = kind === "pase" ? 0n : (options.peerNodeId ?? ADMIN_NODE_ID);
  const fabricIndex = options.fabricIndex ?? (kind === "pase" ? 0 : 1);
  const common = { kind, i2rKey: I2R_KEY, r2iKey: R2I_KEY, attestationChallenge: CHALLENGE, fabricIndex };
  const onController = controller.sessions.createSecureSession({
    ...common,
    localSessionId: options.ids.controller,
    peerSessionId: options.ids.device,
    isInitiator: true,
    localNodeId: kind === "pase" ? 0n : peerNodeId,
    peerNodeId: kind === "pase" ? 0n : DEVICE_NODE_ID,
    peerAddress: memoryPeer(device.name),
  });
  const onDevice = device.sessions.createSecureSession({
    ...common,
    localSessionId: options.ids.device,
    peerSessionId: options.ids.controller,
    isInitiator: false,
    localNodeId: kind === "pase" ? 0n : DEVICE_NODE_ID,
    peerNodeId,
    peerAddress: memoryPeer(controller.name),
    ...(options.cats ? { caseAuthenticatedTags: options.cats } : {}),
  });
  return { controller: onController, device: onDevice };
}

export function adminEntry(fabricIndex = 1, subjects: bigint[] | null = [ADMIN_NODE_ID]): AccessControlEntry {
  return { fabricIndex, privilege: Privilege.Administer, authMode: AuthMode.Case, subjects, targets: null };
}

export function entry(fabricIndex: number, privilege: PrivilegeLevel, subjects: bigint[] | null, targets: AccessControlEntry["targets"] = null): AccessControlEntry {
  return { fabricIndex, privilege, authMode: AuthMode.Case, subjects, targets };
}

export { catSubject };

export interface WorldOptions {
  limits?: Partial<InteractionLimits>;
  store?: AttributeStore;
  log?: string[];
}

export interface World {
  clock: ManualClock;
  link: MemoryLink;
  device: TestNode;
  controller: TestNode;
  model: DataModel;
  server: InteractionServer;
  acl: AccessControlEntry[];
  commissioning: { value: boolean };
  onOff: OnOffServer;
  identify: IdentifyServer;
  basic: BasicInformationServer;
  diagnostics: GeneralDiagnosticsServer;
  test: TestClusterServer;
  store: AttributeStore;
  /** The admin's CASE session pair (fabric 1). */
  admin: { controller: SecureSession; device: SecureSession };
  client: ImClient;
  /** Another controller session on the same controller node. */
  connect(options: Parameters<typeof sessionPair>[2]): ImClient;
  /** Advances time until `promise` settles (at most `maxMs`). */
  run<T>(promise: Promise<T>, maxMs?: number): Promise<T>;
}

export function makeWorld(options: WorldOptions = {}): World {
  const clock = new ManualClock();
  const link = new MemoryLink(clock);
  const device = makeNode(link, "device", 7);
  const controller = makeNode(link, "controller", 8);
  const store = options.store ?? new MemoryAttributeStore();
  const log = options.log;
  const model = new DataModel({ clock, random: new SeededRandom(99), store, ...(log ? { log: (level, message) => log.push(`${level}: ${message}`) } : {}) });
  const basic = new BasicInformationServer({
    identity: { vendorId: 0xfff1, vendorName: "Test Vendor", productId: 0x8000, productName: "Test Light", hardwareVersion: 1, hardwareVersionString: "rev 1", serialNumber: "SN-0001" },
    softwareVersion: 3,
    softwareVersionString: "0.3.0",
    random: new SeededRandom(5),
  });
  const diagnostics = new GeneralDiagnosticsServer();
  const test = new TestClusterServer();
  const onOff = new OnOffServer();
  const identify = new IdentifyServer();
  model.addEndpoint({ id: 0, deviceTypes: [DeviceTypes.RootNode], clusters: [new DescriptorServer(), basic, diagnostics, test] });
  model.addEndpoint({ id: 1, deviceTypes: [DeviceTypes.OnOffLight], clusters: [new DescriptorServer(), identify, onOff] });
  model.start();
  const acl: AccessControlEntry[] = [adminEntry()];
  const accessControl = new AccessControl({
    entries: { entriesOf: (fabricIndex) => acl.filter((e) => e.fabricIndex === fabricIndex) },
    deviceTypesOn: (endpoint) => model.deviceTypesOn(endpoint),
  });
  const commissioning = { value: false };
  const server = new InteractionServer({
    exchanges: device.exchanges,
    model,
    accessControl,
    random: new SeededRandom(11),
    isCommissioning: () => commissioning.value,
    ...(options.limits ? { limits: options.limits } : {}),
    ...(log ? { log: (level, message) => log.push(`${level}: ${message}`) } : {}),
  });
  const admin = sessionPair(controller, device, { ids: { controller: 0x1111, device: 0x2222 } });
  const run = async <T>(promise: Promise<T>, maxMs = 60_000): Promise<T> => {
    let settled = false;
    let value: T | undefined;
    let failure: unknown;
    let failed = false;
    promise.then(
      (v) => {
        settled = true;
        value = v;
      },
      (e) => {
        settled = true;
        failed = true;
        failure = e;
      },
    );
    for (let elapsed = 0; elapsed < maxMs && !settled; elapsed += 5) await clock.advance(5);
    if (!settled) throw new Error(`the operation did not finish within ${maxMs} ms`);
    if (failed) throw failure;
    return value as T;
  };
  const world: World = {
    clock,
    link,
    device,
    controller,
    model,
    server,
    acl,
    commissioning,
    onOff,
    identify,
    basic,
    diagnostics,
    test,
    store,
    admin,
    client: new ImClient(controller, admin.controller),
    connect: (pairOptions) => new ImClient(controller, sessionPair(controller, device, pairOptions).controller),
    run,
  };
  return world;
}

/** Everything a device sent back in one interaction. */
export interface Interaction {
  reports: ReportDataMessage[];
  writeResponses: WriteResponseMessage[];
  invokeResponses: InvokeResponseMessage[];
  subscribeResponse?: SubscribeResponseMessage;
  /** A StatusResponse that ended the interaction. */
  status?: number;
  /** Opcodes received, in order. */
  opcodes: number[];
}

/** A received subscription report (on an exchange the device opened). */
export interface ReceivedReport {
  report: ReportDataMessage;
  at: number;
}

/** A minimal Interaction Model client over one session. */
export class ImClient {
  readonly received: ReceivedReport[] = [];
  /** What the client answers to subscription reports. */
  reportStatus: number = Status.Success;

  constructor(
    readonly node: TestNode,
    readonly session: SecureSession,
  ) {
    // Reports come on exchanges the device opens: route them to the client of their session.
    const holder = node as TestNode & { imClients?: ImClient[] };
    if (!holder.imClients) {
      const clients: ImClient[] = [];
      holder.imClients = clients;
      node.exchanges.registerProtocol(IM, (exchange, message) => {
        const client = clients.find((c) => c.session === exchange.session);
        if (client) void client.onUnsolicited(exchange, message);
        else exchange.close();
      });
    }
    holder.imClients.push(this);
  }

  async onUnsolicited(exchange: Exchange, first: ReceivedMessage): Promise<void> {
    let message = first;
    for (;;) {
      if (message.opcode !== Opcode.ReportData) return exchange.close();
      const report = decodeReportData(message.payload);
      this.received.push({ report, at: this.node.exchanges.clock.now() });
      if (report.suppressResponse) return exchange.close();
      exchange.send(IM, Opcode.StatusResponse, encodeStatusResponse(this.reportStatus));
      if (!report.moreChunkedMessages || this.reportStatus !== Status.Success) return exchange.close();
      try {
        message = await exchange.nextMessage(30_000);
      } catch {
        return exchange.close();
      }
    }
  }

  /** Sends `payload` (after a TimedRequest when `timedMs` is given) and collects the answers. */
  async interact(opcode: number, payload: Uint8Array, options: { timedMs?: number; delayActionMs?: number; chunks?: Uint8Array[]; noResponse?: boolean } = {}): Promise<Interaction> {
    const exchange = this.node.exchanges.initiate(this.session);
    const result: Interaction = { reports: [], writeResponses: [], invokeResponses: [], opcodes: [] };
    try {
      if (options.timedMs !== undefined) {
        exchange.send(IM, Opcode.TimedRequest, encodeTimedRequest(options.timedMs));
        const reply = await exchange.nextMessage(30_000);
        result.opcodes.push(reply.opcode);
        const status = decodeStatusResponse(reply.payload).status;
        if (status !== Status.Success) {
          result.status = status;
          return result;
        }
        if (options.delayActionMs) await new Promise<void>((resolve) => this.node.exchanges.clock.setTimer(options.delayActionMs!, resolve));
      }
      exchange.send(IM, opcode, payload);
      if (options.noResponse) {
        // Let the request (and its acknowledgement) go through; nothing comes back.
        await new Promise<void>((resolve) => this.node.exchanges.clock.setTimer(1000, resolve));
        return result;
      }
      const chunks = [...(options.chunks ?? [])];
      for (;;) {
        const message = await exchange.nextMessage(30_000);
        result.opcodes.push(message.opcode);
        if (message.opcode === Opcode.StatusResponse) {
          result.status = decodeStatusResponse(message.payload).status;
          break;
        }
        if (message.opcode === Opcode.ReportData) {
          const report = decodeReportData(message.payload);
          result.reports.push(report);
          if (report.suppressResponse) break;
          exchange.send(IM, Opcode.StatusResponse, encodeStatusResponse(Status.Success));
          continue;
        }
        if (message.opcode === Opcode.SubscribeResponse) {
          result.subscribeResponse = decodeSubscribeResponse(message.payload);
          break;
        }
        if (message.opcode === Opcode.WriteResponse) {
          result.writeResponses.push(decodeWriteResponse(message.payload));
          const next = chunks.shift();
          if (!next) break;
          exchange.send(IM, Opcode.WriteRequest, next);
          continue;
        }
        if (message.opcode === Opcode.InvokeResponse) {
          const response = decodeInvokeResponse(message.payload);
          result.invokeResponses.push(response);
          if (!response.moreChunkedMessages) break;
          exchange.send(IM, Opcode.StatusResponse, encodeStatusResponse(Status.Success));
          continue;
        }
        throw new Error(`unexpected opcode 0x${message.opcode.toString(16)}`);
      }
    } finally {
      exchange.close();
    }
    return result;
  }

  read(request: Partial<ReadRequestMessage> & { attributeRequests?: AttributePath[] }): Promise<Interaction> {
    return this.interact(Opcode.ReadRequest, encodeReadRequest({ isFabricFiltered: true, ...request }));
  }

  subscribe(request: Partial<SubscribeRequestMessage>): Promise<Interaction> {
    return this.interact(Opcode.SubscribeRequest, encodeSubscribeRequest({ keepSubscriptions: true, minIntervalFloor: 0, maxIntervalCeiling: 60, isFabricFiltered: true, ...request }));
  }

  write(writes: { path: AttributePath; data: ValueWriter; dataVersion?: number }[], options: { timedMs?: number; timedFlag?: boolean; delayActionMs?: number; suppressResponse?: boolean } = {}): Promise<Interaction> {
    const timedRequest = options.timedFlag ?? options.timedMs !== undefined;
    const payload = encodeWriteRequest({ timedRequest, writeRequests: writes, ...(options.suppressResponse !== undefined ? { suppressResponse: options.suppressResponse } : {}) });
    return this.interact(Opcode.WriteRequest, payload, { ...options, noResponse: options.suppressResponse === true });
  }

  invoke(commands: { path: CommandPath; fields?: ValueWriter; commandRef?: number }[], options: { timedMs?: number; timedFlag?: boolean; delayActionMs?: number; suppressResponse?: boolean } = {}): Promise<Interaction> {
    const timedRequest = options.timedFlag ?? options.timedMs !== undefined;
    const payload = encodeInvokeRequest({ suppressResponse: options.suppressResponse ?? false, timedRequest, invokeRequests: commands });
    return this.interact(Opcode.InvokeRequest, payload, { ...options, noResponse: options.suppressResponse === true });
  }
}

/** Every attribute report of an interaction, flattened. */
export function attributeReports(interaction: Interaction | ReportDataMessage[]): AttributeReport[] {
  const reports = Array.isArray(interaction) ? interaction : interaction.reports;
  return reports.flatMap((r) => r.attributeReports ?? []);
}

export function eventReports(interaction: Interaction): EventReport[] {
  return interaction.reports.flatMap((r) => r.eventReports ?? []);
}

/** The data report for a concrete attribute, or undefined. */
export function dataFor(reports: AttributeReport[], endpoint: number, cluster: number, attribute: number): AttributeReport["attributeData"] {
  return reports.find((r) => r.attributeData && r.attributeData.path.endpoint === endpoint && r.attributeData.path.cluster === cluster && r.attributeData.path.attribute === attribute)?.attributeData;
}

export function statusFor(reports: AttributeReport[], endpoint: number, cluster: number, attribute: number): number | undefined {
  return reports.find((r) => r.attributeStatus && r.attributeStatus.path.endpoint === endpoint && r.attributeStatus.path.cluster === cluster && r.attributeStatus.path.attribute === attribute)?.attributeStatus?.status.status;
}

/** Status of each invoke response, in order (command responses count as "response"). */
export function invokeOutcomes(interaction: Interaction): (number | "response")[] {
  return interaction.invokeResponses.flatMap((r) => r.invokeResponses.map((ib) => (ib.command ? ("response" as const) : ib.status!.status.status)));
}
