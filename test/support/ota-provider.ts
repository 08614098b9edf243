// A test OTA provider written from the spec (Core 11.20.6), on the firmware's own secure channel
// and Interaction Model server: the OTA Software Update Provider cluster (QueryImage,
// ApplyUpdateRequest, NotifyUpdateApplied) and a BDX sender for its ImageURI. Its schemas are
// written here from the spec's tables, independently of src/ota/provider-client.ts. Behaviours
// let a test make it busy, stall, stop mid-transfer, refuse to resume or delay an apply.
import { NodePlatform } from "../../hosts/sim/platform/node";
import { AccessControl, type AccessControlEntry } from "../../src/interaction/access-control";
import { AuthMode, Privilege, Status } from "../../src/interaction/constants";
import { StatusError } from "../../src/interaction/errors";
import { ClusterServer, DataModel, command, defineCluster, type CommandDefinition, type InvokeContext } from "../../src/interaction/model";
import { bool, enum8, field, list, octets, string, struct, uint16, uint32 } from "../../src/interaction/schema";
import { InteractionServer } from "../../src/interaction/server";
import { BDX_PROTOCOL_ID, BdxOpcode, BdxStatus, bdxStatusReport, decodeCounterMessage, decodeTransferInit, encodeBlock, encodeReceiveAccept } from "../../src/ota/bdx";
import { createSecureChannelStack, encodeStatusReport, SecureChannelOpcode, type SecureChannelStack } from "../../src/securechannel";
import { SECURE_CHANNEL_PROTOCOL_ID, type Exchange, type ReceivedMessage } from "../../src/transport/exchange";
import type { FabricAuthority, NodeCredentials } from "./credentials";

const PROVIDER_CLUSTER = 0x0029;

const ProviderCluster = defineCluster({
  id: PROVIDER_CLUSTER,
  name: "OtaSoftwareUpdateProvider",
  revision: 1,
  commands: [
    command(
      0x00,
      "queryImage",
      struct(
        field(0, "vendorId", uint16),
        field(1, "productId", uint16),
        field(2, "softwareVersion", uint32),
        field(3, "protocolsSupported", list(enum8, 8)),
        field(4, "hardwareVersion", uint16, { optional: true }),
        field(5, "location", string(2, 2), { optional: true }),
        field(6, "requestorCanConsent", bool, { optional: true }),
        field(7, "metadataForProvider", octets(512), { optional: true }),
      ),
      {
        response: {
          id: 0x01,
          schema: struct(
            field(0, "status", enum8),
            field(1, "delayedActionTime", uint32, { optional: true }),
            field(2, "imageUri", string(256), { optional: true }),
            field(3, "softwareVersion", uint32, { optional: true }),
            field(4, "softwareVersionString", string(64), { optional: true }),
            field(5, "updateToken", octets(32), { optional: true }),
            field(6, "userConsentNeeded", bool, { optional: true }),
          ),
        },
      },
    ),
    command(0x02, "applyUpdateRequest", struct(field(0, "updateToken", octets(32, 8)), field(1, "newVersion", uint32)), {
      response: { id: 0x03, schema: struct(field(0, "action", enum8), field(1, "delayedActionTime", uint32)) },
    }),
    command(0x04, "notifyUpdateApplied", struct(field(0, "updateToken", octets(32, 8)), field(1, "softwareVersion", uint32))),
  ],
});

export interface ProviderImage {
  file: Uint8Array;
  version: number;
  versionString: string;
  vendorId: number;
  productId: number;
}

export interface ProviderBehaviour {
  /** QueryImage answers Busy this many times first (DelayedActionTime 1 s). */
  busyAnswers?: number;
  /** Stop answering BlockQueries after serving this many bytes (a provider that goes away). */
  stallAfterBytes?: number;
  /** End the transfer with a StatusReport after this many bytes. */
  failAfterBytes?: number;
  /** Answer a ReceiveInit with a start offset by StartOffsetNotSupported. */
  refuseStartOffset?: boolean;
  /** ApplyUpdateResponse actions, in order (then Proceed). */
  applyActions?: number[];
  /** Hold every ApplyUpdateRequest unanswered (the requestor is killed meanwhile). */
  holdApply?: boolean;
  /** Milliseconds to wait before each Block (slows a transfer down for kill tests). */
  blockDelayMs?: number;
}

export interface TransferRecord {
  startOffset: number;
  bytes: number;
  completed: boolean;
}

class ProviderServer extends ClusterServer {
  image: ProviderImage | undefined;
  behaviour: ProviderBehaviour = {};
  readonly queries: Record<string, unknown>[] = [];
  readonly applies: { updateToken: Uint8Array; newVersion: number }[] = [];
  readonly notified: { updateToken: Uint8Array; softwareVersion: number; fabricIndex: number }[] = [];
  readonly tokens: Uint8Array[] = [];
  private busyLeft = 0;

  constructor(private readonly nodeId: bigint) {
    super(ProviderCluster);
  }

  setBehaviour(behaviour: ProviderBehaviour): void {
    this.behaviour = behaviour;
    this.busyLeft = behaviour.busyAnswers ?? 0;
  }

  override async invoke(definition: CommandDefinition, request: unknown, _context: InvokeContext): Promise<unknown> {
    const fields = request as Record<string, unknown>;
    if (definition.id === 0x00) {
      this.queries.push(fields);
      if (!(fields.protocolsSupported as number[]).includes(0)) return { status: 3 };
      if (this.busyLeft > 0) {
        this.busyLeft--;
        return { status: 1, delayedActionTime: 1 };
      }
      const image = this.image;
      if (!image || image.vendorId !== fields.vendorId || image.productId !== fields.productId || image.version <= (fields.softwareVersion as number)) return { status: 2 };
      const token = new Uint8Array(16).map((_, i) => (this.tokens.length * 16 + i) & 0xff);
      this.tokens.push(token);
      return {
        status: 0,
        imageUri: `bdx://${this.nodeId.toString(16).toUpperCase().padStart(16, "0")}/image-${image.version}.ota`,
        softwareVersion: image.version,
        softwareVersionString: image.versionString,
        updateToken: token,
      };
    }
    if (definition.id === 0x02) {
      this.applies.push(fields as { updateToken: Uint8Array; newVersion: number });
      if (this.behaviour.holdApply) return new Promise(() => {});
      const action = this.behaviour.applyActions?.shift() ?? 0;
      return { action, delayedActionTime: action === 1 ? 1 : 0 };
    }
    if (definition.id === 0x04) {
      this.notified.push({ ...(fields as { updateToken: Uint8Array; softwareVersion: number }), fabricIndex: _context.fabricIndex });
      return undefined;
    }
    throw new StatusError(Status.UnsupportedCommand);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class TestOtaProvider {
  readonly transfers: TransferRecord[] = [];
  private readonly server: ProviderServer;

  private constructor(
    readonly platform: NodePlatform,
    readonly stack: SecureChannelStack,
    readonly nodeId: bigint,
    private readonly model: DataModel,
  ) {
    this.server = model.endpoint(0)!.cluster(PROVIDER_CLUSTER) as ProviderServer;
  }

  /** Starts a provider on 127.0.0.1 (free port), on `authority`'s fabric, accepting `requestors` (node ids). */
  static async start(authority: FabricAuthority, credentials: NodeCredentials, requestors: bigint[]): Promise<TestOtaProvider> {
    const platform = new NodePlatform({ logLevel: "error" });
    const stack = createSecureChannelStack(platform, { port: 0, families: [4] });
    await platform.network.ready();
    stack.installFabric({
      rcac: authority.rcac,
      ...(credentials.icac ? { icac: credentials.icac } : {}),
      noc: credentials.noc,
      operationalPrivateKey: credentials.key.privateKey,
      ipkEpochKey: authority.ipkEpochKey,
    });
    const model = new DataModel({ clock: platform.clock, random: stack.random });
    model.addEndpoint({ id: 0, deviceTypes: [{ type: 0x0014, revision: 1 }], clusters: [new ProviderServer(credentials.nodeId)] });
    // Requestors may Operate the provider cluster (spec: QueryImage and the others need Operate).
    const entry: AccessControlEntry = { fabricIndex: 1, privilege: Privilege.Operate, authMode: AuthMode.Case, subjects: requestors, targets: null };
    new InteractionServer({
      exchanges: stack.exchanges,
      model,
      accessControl: new AccessControl({ entries: { entriesOf: (fabric) => (fabric === 1 ? [entry] : []) }, deviceTypesOn: () => [0x0014] }),
      random: stack.random,
    });
    model.start();
    const provider = new TestOtaProvider(platform, stack, credentials.nodeId, model);
    stack.exchanges.registerProtocol(BDX_PROTOCOL_ID, (exchange, first) => provider.serveBdx(exchange, first));
    return provider;
  }

  get port(): number {
    return this.stack.udp!.port(4)!;
  }

  get queries() {
    return this.server.queries;
  }
  get applies() {
    return this.server.applies;
  }
  get notified() {
    return this.server.notified;
  }
  get tokens() {
    return this.server.tokens;
  }

  offer(image: ProviderImage | undefined): void {
    this.server.image = image;
  }

  behave(behaviour: ProviderBehaviour): void {
    this.server.setBehaviour(behaviour);
  }

  close(): void {
    this.model.stop();
    this.stack.close();
    this.platform.close();
  }

  /** The sender of a receiver-driven synchronous transfer (spec 11.22.6). */
  private async serveBdx(exchange: Exchange, first: ReceivedMessage): Promise<void> {
    const image = this.server.image;
    const behaviour = this.server.behaviour;
    const fail = (status: number) => {
      exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.statusReport, encodeStatusReport(bdxStatusReport(status)));
      exchange.close();
    };
    if (first.opcode !== BdxOpcode.receiveInit || first.session.kind !== "case") return fail(BdxStatus.unexpectedMessage);
    const init = decodeTransferInit(first.payload);
    const designator = new TextDecoder().decode(init.fileDesignator);
    if (!image || designator !== `image-${image.version}.ota`) return fail(BdxStatus.fileDesignatorUnknown);
    if (!init.modes.receiverDrive) return fail(BdxStatus.transferMethodNotSupported);
    const startOffset = init.startOffset ?? 0;
    if (startOffset > 0 && behaviour.refuseStartOffset) return fail(BdxStatus.startOffsetNotSupported);
    if (startOffset > image.file.length) return fail(BdxStatus.lengthTooShort);
    const record: TransferRecord = { startOffset, bytes: 0, completed: false };
    this.transfers.push(record);
    const blockSize = Math.min(init.maxBlockSize, 1024);
    exchange.send(BDX_PROTOCOL_ID, BdxOpcode.receiveAccept, encodeReceiveAccept({
      version: 0,
      modes: { senderDrive: false, receiverDrive: true, asynchronous: false },
      maxBlockSize: blockSize,
      length: image.file.length - startOffset,
    }));
    let offset = startOffset;
    try {
      for (;;) {
        const message = await exchange.nextMessage(120_000);
        if (message.protocolId !== BDX_PROTOCOL_ID) return exchange.close(); // the receiver's StatusReport
        const counter = decodeCounterMessage(message.payload);
        if (message.opcode === BdxOpcode.blockAckEof) {
          record.completed = true;
          return exchange.close();
        }
        if (message.opcode !== BdxOpcode.blockQuery) return fail(BdxStatus.unexpectedMessage);
        if (behaviour.stallAfterBytes !== undefined && record.bytes >= behaviour.stallAfterBytes) return; // silence
        if (behaviour.failAfterBytes !== undefined && record.bytes >= behaviour.failAfterBytes) return fail(BdxStatus.transferFailedUnknownError);
        if (behaviour.blockDelayMs) await sleep(behaviour.blockDelayMs);
        const data = image.file.subarray(offset, offset + blockSize);
        offset += data.length;
        record.bytes += data.length;
        exchange.send(BDX_PROTOCOL_ID, data.length < blockSize ? BdxOpcode.blockEof : BdxOpcode.block, encodeBlock({ blockCounter: counter, data }));
      }
    } catch {
      exchange.close();
    }
  }
}
