// The client side of the OTA Software Update Provider cluster (0x0029, spec 11.20.6): the three
// commands a requestor sends, each as an Interaction Model InvokeRequest on a fresh exchange of a
// CASE session to the provider, and their responses decoded strictly against the spec's fields.
import { TlvWriter } from "../codec/tlv";
import { Opcode, Status, statusName } from "../interaction/constants";
import { StatusError } from "../interaction/errors";
import { decodeInvokeResponse, decodeStatusResponse, encodeInvokeRequest, type CommandPath } from "../interaction/messages";
import { bool, decodeValue, encodeValue, enum8, field, list, octets, string, struct, uint16, uint32, vendorId, type Schema } from "../interaction/schema";
import { INTERACTION_MODEL_PROTOCOL_ID, type ExchangeManager } from "../transport/exchange";
import type { SecureSession } from "../transport/session";

export const OTA_PROVIDER_CLUSTER_ID = 0x0029;

export const ProviderCommand = Object.freeze({
  QueryImage: 0x00,
  QueryImageResponse: 0x01,
  ApplyUpdateRequest: 0x02,
  ApplyUpdateResponse: 0x03,
  NotifyUpdateApplied: 0x04,
});

/** QueryImageResponse Status (StatusEnum). */
export const QueryStatus = Object.freeze({ UpdateAvailable: 0, Busy: 1, NotAvailable: 2, DownloadProtocolNotSupported: 3 });
/** ApplyUpdateResponse Action (ApplyUpdateActionEnum). */
export const ApplyAction = Object.freeze({ Proceed: 0, AwaitNextAction: 1, Discontinue: 2 });
/** DownloadProtocolEnum. */
export const DownloadProtocol = Object.freeze({ BdxSynchronous: 0, BdxAsynchronous: 1, Https: 2, VendorSpecific: 3 });

export const QueryImageRequest: Schema = struct(
  field(0, "vendorId", vendorId),
  field(1, "productId", uint16),
  field(2, "softwareVersion", uint32),
  field(3, "protocolsSupported", list(enum8, 8)),
  field(4, "hardwareVersion", uint16, { optional: true }),
  field(5, "location", string(2, 2), { optional: true }),
  field(6, "requestorCanConsent", bool, { optional: true }),
  field(7, "metadataForProvider", octets(512), { optional: true }),
);

export const QueryImageResponse: Schema = struct(
  field(0, "status", enum8),
  field(1, "delayedActionTime", uint32, { optional: true }),
  field(2, "imageUri", string(256), { optional: true }),
  field(3, "softwareVersion", uint32, { optional: true }),
  field(4, "softwareVersionString", string(64, 1), { optional: true }),
  field(5, "updateToken", octets(32, 8), { optional: true }),
  field(6, "userConsentNeeded", bool, { optional: true }),
  field(7, "metadataForRequestor", octets(512), { optional: true }),
);

export const ApplyUpdateRequestFields: Schema = struct(field(0, "updateToken", octets(32, 8)), field(1, "newVersion", uint32));
export const ApplyUpdateResponse: Schema = struct(field(0, "action", enum8), field(1, "delayedActionTime", uint32));
export const NotifyUpdateAppliedFields: Schema = struct(field(0, "updateToken", octets(32, 8)), field(1, "softwareVersion", uint32));

export interface QueryImageFields {
  vendorId: number;
  productId: number;
  softwareVersion: number;
  protocolsSupported: number[];
  hardwareVersion?: number;
  location?: string;
  requestorCanConsent?: boolean;
  metadataForProvider?: Uint8Array;
}

export interface QueryImageAnswer {
  status: number;
  delayedActionTime?: number;
  imageUri?: string;
  softwareVersion?: number;
  softwareVersionString?: string;
  updateToken?: Uint8Array;
  userConsentNeeded?: boolean;
  metadataForRequestor?: Uint8Array;
}

export interface ApplyUpdateAnswer {
  action: number;
  delayedActionTime: number;
}

/** Where the provider cluster is: its node (reached over `session`) and endpoint. */
export interface ProviderTarget {
  exchanges: ExchangeManager;
  session: SecureSession;
  endpoint: number;
  /** How long the provider may take to answer a command. */
  timeoutMs: number;
}

/** A provider's answer that is not the response the command calls for. */
export class ProviderResponseError extends Error {
  override name = "ProviderResponseError";
}

/**
 * Invokes `command` on the provider and returns the decoded response fields (undefined for a
 * command answered with a status). A failure status becomes a StatusError.
 */
async function invoke(target: ProviderTarget, command: number, request: Schema, fields: unknown, response?: { id: number; schema: Schema }): Promise<unknown> {
  const path: CommandPath = { endpoint: target.endpoint, cluster: OTA_PROVIDER_CLUSTER_ID, command };
  const payload = encodeInvokeRequest({
    suppressResponse: false,
    timedRequest: false,
    invokeRequests: [{ path, fields: (w: TlvWriter, tag) => encodeValue(w, tag, request, fields) }],
  });
  const exchange = target.exchanges.initiate(target.session);
  try {
    exchange.send(INTERACTION_MODEL_PROTOCOL_ID, Opcode.InvokeRequest, payload);
    const reply = await exchange.nextMessage(exchange.responseTimeoutMs(target.timeoutMs));
    if (reply.protocolId !== INTERACTION_MODEL_PROTOCOL_ID) throw new ProviderResponseError(`protocol ${reply.protocolId} answered an invoke`);
    if (reply.opcode === Opcode.StatusResponse) {
      const { status } = decodeStatusResponse(reply.payload);
      throw new StatusError(status, `the provider answered with ${statusName(status)}`);
    }
    if (reply.opcode !== Opcode.InvokeResponse) throw new ProviderResponseError(`IM opcode ${reply.opcode} answered an invoke`);
    const { invokeResponses } = decodeInvokeResponse(reply.payload);
    if (invokeResponses.length !== 1) throw new ProviderResponseError(`${invokeResponses.length} responses to one command`);
    const answer = invokeResponses[0]!;
    if (answer.status) {
      const { status, clusterStatus } = answer.status.status;
      if (status === Status.Success && !response) return undefined;
      throw new StatusError(status, `the provider answered ${statusName(status)}${clusterStatus !== undefined ? ` (cluster status ${clusterStatus})` : ""}`, clusterStatus);
    }
    const data = answer.command!;
    if (!response || data.path.cluster !== OTA_PROVIDER_CLUSTER_ID || data.path.command !== response.id) {
      throw new ProviderResponseError(`response command ${data.path.command} of cluster ${data.path.cluster}`);
    }
    if (!data.fields) throw new ProviderResponseError("response without fields");
    return decodeValue(data.fields, response.schema, undefined, "response");
  } finally {
    exchange.close();
  }
}

export async function queryImage(target: ProviderTarget, fields: QueryImageFields): Promise<QueryImageAnswer> {
  const answer = (await invoke(target, ProviderCommand.QueryImage, QueryImageRequest, fields, { id: ProviderCommand.QueryImageResponse, schema: QueryImageResponse })) as QueryImageAnswer;
  if (answer.status === QueryStatus.UpdateAvailable) {
    // Spec conformance: these fields come with an available update.
    for (const name of ["imageUri", "softwareVersion", "softwareVersionString", "updateToken"] as const) {
      if (answer[name] === undefined) throw new ProviderResponseError(`UpdateAvailable without ${name}`);
    }
  }
  return answer;
}

export async function applyUpdateRequest(target: ProviderTarget, updateToken: Uint8Array, newVersion: number): Promise<ApplyUpdateAnswer> {
  return (await invoke(target, ProviderCommand.ApplyUpdateRequest, ApplyUpdateRequestFields, { updateToken, newVersion }, { id: ProviderCommand.ApplyUpdateResponse, schema: ApplyUpdateResponse })) as ApplyUpdateAnswer;
}

export async function notifyUpdateApplied(target: ProviderTarget, updateToken: Uint8Array, softwareVersion: number): Promise<void> {
  await invoke(target, ProviderCommand.NotifyUpdateApplied, NotifyUpdateAppliedFields, { updateToken, softwareVersion });
}

/** A BDX ImageURI (spec 11.20.3.2): `bdx://` + the sender's node id as 16 hex digits + `/` + the file designator. */
export function parseBdxImageUri(uri: string): { nodeId: bigint; fileDesignator: string } {
  const match = /^bdx:\/\/([0-9A-Fa-f]{16})\/(.+)$/.exec(uri);
  if (!match) throw new ProviderResponseError(`ImageURI ${JSON.stringify(uri.slice(0, 80))} is not bdx://<16 hex digits>/<file designator>`);
  return { nodeId: BigInt(`0x${match[1]}`), fileDesignator: match[2]! };
}
