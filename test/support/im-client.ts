// An Interaction Model client for the tests, over a session of the test peer: Read (with chunked
// reports and list appends reassembled), Write, Invoke and timed Write/Invoke. Messages are encoded
// and decoded with matter.js's IM schemas, command fields, responses and attribute values with the
// TLV schemas matter.js derives from its cluster model (TlvOfModel): an independent check that the
// device's encodings are the ones a controller expects.
import {
  Status as MatterStatus,
  TlvDataReport,
  TlvInvokeRequest,
  TlvInvokeResponse,
  TlvOfModel,
  TlvReadRequest,
  TlvStatusResponse,
  TlvTimedRequest,
  TlvWriteRequest,
  TlvWriteResponse,
} from "@matter/types";
import type { InboundMessage, SecureContext, TestExchange, TestPeer } from "./test-peer";

export const IM_PROTOCOL = 0x0001;
export const ImOpcode = {
  StatusResponse: 0x01,
  ReadRequest: 0x02,
  ReportData: 0x05,
  WriteRequest: 0x06,
  WriteResponse: 0x07,
  InvokeRequest: 0x08,
  InvokeResponse: 0x09,
  TimedRequest: 0x0a,
} as const;
const REVISION = 12;

/** A matter.js cluster type (e.g. GeneralCommissioning from @matter/types/clusters/general-commissioning). */
export interface ClusterModel {
  id: number;
  name: string;
  commands: Record<string, { id: number; schema: { responseModel?: unknown } }>;
  attributes: Record<string, { id: number }>;
}

export interface InvokeOutcome<T = any> {
  /** SUCCESS when the device answered with a response command. */
  status: number;
  clusterStatus?: number;
  response?: T;
}

export interface ReadOutcome<T = any> {
  status: number;
  value?: T;
}

// matter.js's branded ids are plain numbers at run time.
const id = <T>(value: number) => value as unknown as T;

/** Thrown when the device answers an interaction with a StatusResponse instead of its result. */
export class ImStatusError extends Error {
  constructor(readonly status: number) {
    super(`the device answered with status 0x${status.toString(16)}`);
  }
}

export class ImClient {
  constructor(
    readonly peer: TestPeer,
    readonly session: SecureContext,
    readonly timeoutMs = 10_000,
  ) {}

  /** Invokes a command; `timedMs` sends a TimedRequest first. The response is decoded with matter.js's schema. */
  async invoke<T = any>(endpoint: number, cluster: ClusterModel, command: string, fields?: unknown, options: { timedMs?: number; onResponse?: () => void } = {}): Promise<InvokeOutcome<T>> {
    const definition = cluster.commands[command];
    if (!definition) throw new Error(`${cluster.name} has no command ${command}`);
    const commandFields = TlvOfModel(definition as never).encodeTlv(fields);
    const payload = TlvInvokeRequest.encode({
      suppressResponse: false,
      timedRequest: options.timedMs !== undefined,
      invokeRequests: [{ commandPath: { endpointId: id(endpoint), clusterId: id(cluster.id), commandId: id(definition.id) }, commandFields }],
      interactionModelRevision: REVISION,
    });
    const reply = await this.send(ImOpcode.InvokeRequest, payload, options.timedMs, options.onResponse);
    if (reply.opcode === ImOpcode.StatusResponse) throw new ImStatusError(TlvStatusResponse.decode(reply.payload).status);
    if (reply.opcode !== ImOpcode.InvokeResponse) throw new Error(`expected an InvokeResponse, got opcode 0x${reply.opcode.toString(16)}`);
    const item = TlvInvokeResponse.decode(reply.payload).invokeResponses[0]!;
    if (item.status) {
      const status = item.status.status;
      return { status: status.status ?? MatterStatus.Success, ...(status.clusterStatus !== undefined ? { clusterStatus: status.clusterStatus } : {}) };
    }
    const data = item.command!;
    const responseModel = definition.schema.responseModel;
    if (!responseModel) throw new Error(`${cluster.name}.${command} has no response command`);
    return { status: MatterStatus.Success, response: TlvOfModel(responseModel as never).decodeTlv(data.commandFields!) as T };
  }

  /** Reads one attribute, reassembling chunked reports and list appends; decoded with matter.js's schema. */
  async read<T = any>(endpoint: number, cluster: ClusterModel, attribute: string, options: { fabricFiltered?: boolean } = {}): Promise<ReadOutcome<T>> {
    const definition = cluster.attributes[attribute];
    if (!definition) throw new Error(`${cluster.name} has no attribute ${attribute}`);
    const exchange = this.peer.exchange(this.session);
    try {
      exchange.send(
        IM_PROTOCOL,
        ImOpcode.ReadRequest,
        TlvReadRequest.encode({
          attributeRequests: [{ endpointId: id(endpoint), clusterId: id(cluster.id), attributeId: id(definition.id) }],
          isFabricFiltered: options.fabricFiltered ?? true,
          interactionModelRevision: REVISION,
        }),
      );
      let elements: any[] | undefined;
      let status: number | undefined;
      for (;;) {
        const message = await exchange.next(this.timeoutMs);
        if (message.opcode === ImOpcode.StatusResponse) throw new ImStatusError(TlvStatusResponse.decode(message.payload).status);
        if (message.opcode !== ImOpcode.ReportData) throw new Error(`expected ReportData, got opcode 0x${message.opcode.toString(16)}`);
        const report = TlvDataReport.decode(message.payload);
        for (const item of report.attributeReports ?? []) {
          if (item.attributeStatus) {
            status = item.attributeStatus.status.status;
            continue;
          }
          const data = item.attributeData!;
          const stream = [...(data.data as any[])];
          if (data.path.listIndex === null) {
            // An appended entry: its elements go before the list's end.
            stream[0] = { ...stream[0], tag: undefined };
            elements!.splice(elements!.length - 1, 0, ...stream);
          } else {
            stream[0] = { ...stream[0], tag: undefined };
            elements = stream;
          }
        }
        if (!report.moreChunkedMessages) break;
        exchange.send(IM_PROTOCOL, ImOpcode.StatusResponse, TlvStatusResponse.encode({ status: MatterStatus.Success, interactionModelRevision: REVISION }));
      }
      if (status !== undefined) return { status };
      if (!elements) throw new Error("the report carried neither data nor a status");
      return { status: MatterStatus.Success, value: TlvOfModel(definition as never).decodeTlv(elements as never) as T };
    } finally {
      exchange.close();
    }
  }

  /** Writes one attribute (a whole list for list attributes); returns its status. */
  async write(endpoint: number, cluster: ClusterModel, attribute: string, value: unknown, options: { timedMs?: number; dataVersion?: number } = {}): Promise<{ status: number; clusterStatus?: number }> {
    const definition = cluster.attributes[attribute];
    if (!definition) throw new Error(`${cluster.name} has no attribute ${attribute}`);
    const payload = TlvWriteRequest.encode({
      suppressResponse: false,
      timedRequest: options.timedMs !== undefined,
      writeRequests: [
        {
          path: { endpointId: id(endpoint), clusterId: id(cluster.id), attributeId: id(definition.id) },
          data: TlvOfModel(definition as never).encodeTlv(value),
          ...(options.dataVersion !== undefined ? { dataVersion: options.dataVersion } : {}),
        },
      ],
      moreChunkedMessages: false,
      interactionModelRevision: REVISION,
    });
    const reply = await this.send(ImOpcode.WriteRequest, payload, options.timedMs);
    if (reply.opcode === ImOpcode.StatusResponse) throw new ImStatusError(TlvStatusResponse.decode(reply.payload).status);
    if (reply.opcode !== ImOpcode.WriteResponse) throw new Error(`expected a WriteResponse, got opcode 0x${reply.opcode.toString(16)}`);
    const status = TlvWriteResponse.decode(reply.payload).writeResponses[0]!.status;
    return { status: status.status ?? MatterStatus.Success, ...(status.clusterStatus !== undefined ? { clusterStatus: status.clusterStatus } : {}) };
  }

  /** Sends any bytes as an IM message on a new exchange and returns the first answer. */
  raw(opcode: number, payload: Uint8Array): Promise<InboundMessage> {
    return this.peer.request(this.session, IM_PROTOCOL, opcode, payload, this.timeoutMs);
  }

  /**
   * `onResponse` runs when the answer arrives, before this side acknowledges it (the standalone
   * acknowledgement leaves 100 ms later unless something else carries it first).
   */
  private async send(opcode: number, payload: Uint8Array, timedMs: number | undefined, onResponse?: () => void): Promise<InboundMessage> {
    const exchange: TestExchange = this.peer.exchange(this.session);
    try {
      if (timedMs !== undefined) {
        exchange.send(IM_PROTOCOL, ImOpcode.TimedRequest, TlvTimedRequest.encode({ timeout: timedMs, interactionModelRevision: REVISION }));
        const ack = await exchange.next(this.timeoutMs);
        if (ack.opcode !== ImOpcode.StatusResponse) throw new Error(`expected a StatusResponse to the TimedRequest, got opcode 0x${ack.opcode.toString(16)}`);
        const status = TlvStatusResponse.decode(ack.payload).status;
        if (status !== MatterStatus.Success) throw new ImStatusError(status);
      }
      exchange.send(IM_PROTOCOL, opcode, payload);
      const reply = await exchange.next(this.timeoutMs);
      onResponse?.();
      return reply;
    } finally {
      exchange.close();
    }
  }
}
