// Interaction Model messages and information blocks (Matter Core spec 1.4, 10.6): strict TLV
// decoders and canonical encoders for both directions (the device decodes requests and encodes
// reports; tests and tools do the opposite).
//
// Decoders follow connectedhomeip's parsers: paths (AttributePathIB, EventPathIB, ClusterPathIB,
// CommandPathIB) are TLV lists, every other IB and message is a structure, lists of IBs are
// arrays, context tags the spec does not define are ignored (newer peers add fields), and any
// other deviation — wrong container, wrong type, value out of range, missing required field,
// duplicate tag — is an ImMessageError, which the server answers with INVALID_ACTION.
import { CodecError } from "../codec/bytes";
import { TlvStruct, TlvWriter, decodeTlv, type TlvElement, type TlvTag } from "../codec/tlv";
import { INTERACTION_MODEL_REVISION, REVISION_TAG } from "./constants";

export class ImMessageError extends Error {
  override name = "ImMessageError";
}

const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;

// ---------------------------------------------------------------------------------------------
// Information blocks

/** AttributePathIB; an absent endpoint, cluster or attribute is a wildcard. */
export interface AttributePath {
  enableTagCompression?: boolean;
  node?: bigint;
  endpoint?: number;
  cluster?: number;
  attribute?: number;
  /** null: append to the list (writes and chunked reports); a number is not supported by Matter 1.4. */
  listIndex?: number | null;
  wildcardPathFlags?: number;
}

export interface EventPath {
  node?: bigint;
  endpoint?: number;
  cluster?: number;
  event?: number;
  isUrgent?: boolean;
}

export interface EventFilter {
  node?: bigint;
  eventMin: bigint;
}

export interface ClusterPath {
  node?: bigint;
  endpoint: number;
  cluster: number;
}

export interface DataVersionFilter {
  path: ClusterPath;
  dataVersion: number;
}

export interface CommandPath {
  endpoint?: number;
  cluster: number;
  command: number;
}

export interface StatusIB {
  status: number;
  clusterStatus?: number;
}

/** AttributeDataIB as received: `data` is the decoded TLV element, tag included. */
export interface AttributeData {
  dataVersion?: number;
  path: AttributePath;
  data: TlvElement;
}

export interface AttributeStatus {
  path: AttributePath;
  status: StatusIB;
}

export interface AttributeReport {
  attributeStatus?: AttributeStatus;
  attributeData?: AttributeData;
}

export interface EventData {
  path: EventPath;
  eventNumber: bigint;
  priority: number;
  epochTimestamp?: bigint;
  systemTimestamp?: bigint;
  deltaEpochTimestamp?: bigint;
  deltaSystemTimestamp?: bigint;
  data?: TlvElement;
}

export interface EventStatus {
  path: EventPath;
  status: StatusIB;
}

export interface EventReport {
  eventStatus?: EventStatus;
  eventData?: EventData;
}

export interface CommandData {
  path: CommandPath;
  fields?: TlvElement;
  commandRef?: number;
}

export interface CommandStatus {
  path: CommandPath;
  status: StatusIB;
  commandRef?: number;
}

export interface InvokeResponseIB {
  command?: CommandData;
  status?: CommandStatus;
}

// ---------------------------------------------------------------------------------------------
// Messages

export interface StatusResponseMessage {
  status: number;
}

export interface ReadRequestMessage {
  attributeRequests?: AttributePath[];
  eventRequests?: EventPath[];
  eventFilters?: EventFilter[];
  isFabricFiltered: boolean;
  dataVersionFilters?: DataVersionFilter[];
}

export interface SubscribeRequestMessage {
  keepSubscriptions: boolean;
  minIntervalFloor: number;
  maxIntervalCeiling: number;
  attributeRequests?: AttributePath[];
  eventRequests?: EventPath[];
  eventFilters?: EventFilter[];
  isFabricFiltered: boolean;
  dataVersionFilters?: DataVersionFilter[];
}

export interface SubscribeResponseMessage {
  subscriptionId: number;
  maxInterval: number;
}

export interface ReportDataMessage {
  subscriptionId?: number;
  attributeReports?: AttributeReport[];
  eventReports?: EventReport[];
  moreChunkedMessages?: boolean;
  suppressResponse?: boolean;
}

export interface WriteRequestMessage {
  suppressResponse?: boolean;
  timedRequest: boolean;
  writeRequests: AttributeData[];
  moreChunkedMessages?: boolean;
}

export interface WriteResponseMessage {
  writeResponses: AttributeStatus[];
}

export interface InvokeRequestMessage {
  suppressResponse: boolean;
  timedRequest: boolean;
  invokeRequests: CommandData[];
}

export interface InvokeResponseMessage {
  suppressResponse: boolean;
  invokeResponses: InvokeResponseIB[];
  moreChunkedMessages?: boolean;
}

export interface TimedRequestMessage {
  timeoutMs: number;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Runs a decoder, turning every codec failure into an ImMessageError that names the message. */
function decoding<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof ImMessageError) throw new ImMessageError(`${what}: ${error.message}`);
    if (error instanceof CodecError) throw new ImMessageError(`${what}: ${error.message}`);
    throw error;
  }
}

function container(el: TlvElement, type: "structure" | "list", what: string): TlvStruct {
  if (el.type !== type) throw new ImMessageError(`${what} must be a TLV ${type}, got ${el.type}`);
  return new TlvStruct(el);
}

function message(bytes: Uint8Array, what: string): TlvStruct {
  const el = decodeTlv(bytes);
  if (el.tag !== undefined) throw new ImMessageError(`${what} must be an anonymous structure`);
  const fields = container(el, "structure", what);
  // Revision is informational (spec 10.6.1): check its type, accept any value.
  const revision = fields.optionalUint(REVISION_TAG);
  if (revision !== undefined && revision > 0xff) throw new ImMessageError(`InteractionModelRevision ${revision} is not a uint8`);
  return fields;
}

function ranged(value: number | undefined, max: number, what: string): number | undefined {
  if (value !== undefined && value > max) throw new ImMessageError(`${what} ${value} is out of range`);
  return value;
}

function items(fields: TlvStruct, tag: number, what: string): TlvElement[] | undefined {
  const field = fields.get(tag);
  if (!field) return undefined;
  if (field.type !== "array") throw new ImMessageError(`${what} must be a TLV array, got ${field.type}`);
  return field.value as TlvElement[];
}

function optionalNode(fields: TlvStruct, tag: number): bigint | undefined {
  const node = fields.optionalUint64(tag);
  if (node !== undefined && node > U64_MAX) throw new ImMessageError("node id out of range");
  return node;
}

export function decodeAttributePath(el: TlvElement): AttributePath {
  const f = container(el, "list", "AttributePathIB");
  const path: AttributePath = {};
  const compression = f.optionalBool(0);
  if (compression !== undefined) path.enableTagCompression = compression;
  const node = optionalNode(f, 1);
  if (node !== undefined) path.node = node;
  const endpoint = ranged(f.optionalUint(2), U16_MAX, "endpoint");
  if (endpoint !== undefined) path.endpoint = endpoint;
  const cluster = ranged(f.optionalUint(3), U32_MAX, "cluster");
  if (cluster !== undefined) path.cluster = cluster;
  const attribute = ranged(f.optionalUint(4), U32_MAX, "attribute");
  if (attribute !== undefined) path.attribute = attribute;
  if (f.has(5)) path.listIndex = f.isNull(5) ? null : (ranged(f.uint(5), U16_MAX, "list index") as number);
  const flags = ranged(f.optionalUint(6), U32_MAX, "wildcard path flags");
  if (flags !== undefined) path.wildcardPathFlags = flags;
  return path;
}

export function decodeEventPath(el: TlvElement): EventPath {
  const f = container(el, "list", "EventPathIB");
  const path: EventPath = {};
  const node = optionalNode(f, 0);
  if (node !== undefined) path.node = node;
  const endpoint = ranged(f.optionalUint(1), U16_MAX, "endpoint");
  if (endpoint !== undefined) path.endpoint = endpoint;
  const cluster = ranged(f.optionalUint(2), U32_MAX, "cluster");
  if (cluster !== undefined) path.cluster = cluster;
  const event = ranged(f.optionalUint(3), U32_MAX, "event");
  if (event !== undefined) path.event = event;
  const urgent = f.optionalBool(4);
  if (urgent !== undefined) path.isUrgent = urgent;
  return path;
}

export function decodeEventFilter(el: TlvElement): EventFilter {
  const f = container(el, "structure", "EventFilterIB");
  const filter: EventFilter = { eventMin: f.uint64(1) };
  const node = optionalNode(f, 0);
  if (node !== undefined) filter.node = node;
  return filter;
}

export function decodeClusterPath(el: TlvElement): ClusterPath {
  const f = container(el, "list", "ClusterPathIB");
  const path: ClusterPath = { endpoint: ranged(f.uint(1), U16_MAX, "endpoint")!, cluster: ranged(f.uint(2), U32_MAX, "cluster")! };
  const node = optionalNode(f, 0);
  if (node !== undefined) path.node = node;
  return path;
}

export function decodeDataVersionFilter(el: TlvElement): DataVersionFilter {
  const f = container(el, "structure", "DataVersionFilterIB");
  return { path: decodeClusterPath(required(f, 0)), dataVersion: ranged(f.uint(1), U32_MAX, "data version")! };
}

export function decodeCommandPath(el: TlvElement): CommandPath {
  const f = container(el, "list", "CommandPathIB");
  const path: CommandPath = { cluster: ranged(f.uint(1), U32_MAX, "cluster")!, command: ranged(f.uint(2), U32_MAX, "command")! };
  const endpoint = ranged(f.optionalUint(0), U16_MAX, "endpoint");
  if (endpoint !== undefined) path.endpoint = endpoint;
  return path;
}

export function decodeStatusIB(el: TlvElement): StatusIB {
  const f = container(el, "structure", "StatusIB");
  const status: StatusIB = { status: ranged(f.uint(0), 0xff, "status")! };
  const clusterStatus = ranged(f.optionalUint(1), 0xff, "cluster status");
  if (clusterStatus !== undefined) status.clusterStatus = clusterStatus;
  return status;
}

function required(f: TlvStruct, tag: number): TlvElement {
  const el = f.get(tag);
  if (!el) throw new ImMessageError(`missing required field ${tag}`);
  return el;
}

export function decodeAttributeData(el: TlvElement): AttributeData {
  const f = container(el, "structure", "AttributeDataIB");
  const data: AttributeData = { path: decodeAttributePath(required(f, 1)), data: required(f, 2) };
  const version = ranged(f.optionalUint(0), U32_MAX, "data version");
  if (version !== undefined) data.dataVersion = version;
  return data;
}

export function decodeAttributeStatus(el: TlvElement): AttributeStatus {
  const f = container(el, "structure", "AttributeStatusIB");
  return { path: decodeAttributePath(required(f, 0)), status: decodeStatusIB(required(f, 1)) };
}

export function decodeAttributeReport(el: TlvElement): AttributeReport {
  const f = container(el, "structure", "AttributeReportIB");
  const report: AttributeReport = {};
  if (f.has(0)) report.attributeStatus = decodeAttributeStatus(required(f, 0));
  if (f.has(1)) report.attributeData = decodeAttributeData(required(f, 1));
  if ((report.attributeStatus === undefined) === (report.attributeData === undefined)) throw new ImMessageError("AttributeReportIB needs exactly one of status and data");
  return report;
}

export function decodeEventData(el: TlvElement): EventData {
  const f = container(el, "structure", "EventDataIB");
  const data: EventData = { path: decodeEventPath(required(f, 0)), eventNumber: f.uint64(1), priority: ranged(f.uint(2), 2, "priority")! };
  const epoch = f.optionalUint64(3);
  if (epoch !== undefined) data.epochTimestamp = epoch;
  const system = f.optionalUint64(4);
  if (system !== undefined) data.systemTimestamp = system;
  const deltaEpoch = f.optionalUint64(5);
  if (deltaEpoch !== undefined) data.deltaEpochTimestamp = deltaEpoch;
  const deltaSystem = f.optionalUint64(6);
  if (deltaSystem !== undefined) data.deltaSystemTimestamp = deltaSystem;
  const payload = f.get(7);
  if (payload) data.data = payload;
  return data;
}

export function decodeEventReport(el: TlvElement): EventReport {
  const f = container(el, "structure", "EventReportIB");
  const report: EventReport = {};
  if (f.has(0)) {
    const status = container(required(f, 0), "structure", "EventStatusIB");
    report.eventStatus = { path: decodeEventPath(required(status, 0)), status: decodeStatusIB(required(status, 1)) };
  }
  if (f.has(1)) report.eventData = decodeEventData(required(f, 1));
  if ((report.eventStatus === undefined) === (report.eventData === undefined)) throw new ImMessageError("EventReportIB needs exactly one of status and data");
  return report;
}

export function decodeCommandData(el: TlvElement): CommandData {
  const f = container(el, "structure", "CommandDataIB");
  const data: CommandData = { path: decodeCommandPath(required(f, 0)) };
  const fields = f.get(1);
  if (fields) data.fields = fields;
  const ref = ranged(f.optionalUint(2), U16_MAX, "command ref");
  if (ref !== undefined) data.commandRef = ref;
  return data;
}

export function decodeCommandStatus(el: TlvElement): CommandStatus {
  const f = container(el, "structure", "CommandStatusIB");
  const status: CommandStatus = { path: decodeCommandPath(required(f, 0)), status: decodeStatusIB(required(f, 1)) };
  const ref = ranged(f.optionalUint(2), U16_MAX, "command ref");
  if (ref !== undefined) status.commandRef = ref;
  return status;
}

export function decodeInvokeResponseIB(el: TlvElement): InvokeResponseIB {
  const f = container(el, "structure", "InvokeResponseIB");
  const response: InvokeResponseIB = {};
  if (f.has(0)) response.command = decodeCommandData(required(f, 0));
  if (f.has(1)) response.status = decodeCommandStatus(required(f, 1));
  if ((response.command === undefined) === (response.status === undefined)) throw new ImMessageError("InvokeResponseIB needs exactly one of command and status");
  return response;
}

function list<T>(fields: TlvStruct, tag: number, what: string, decode: (el: TlvElement) => T): T[] | undefined {
  return items(fields, tag, what)?.map(decode);
}

export function decodeStatusResponse(bytes: Uint8Array): StatusResponseMessage {
  return decoding("StatusResponse", () => ({ status: ranged(message(bytes, "StatusResponse").uint(0), 0xff, "status")! }));
}

export function decodeReadRequest(bytes: Uint8Array): ReadRequestMessage {
  return decoding("ReadRequest", () => {
    const f = message(bytes, "ReadRequest");
    const request: ReadRequestMessage = { isFabricFiltered: f.bool(3) };
    const attributes = list(f, 0, "AttributeRequests", decodeAttributePath);
    if (attributes) request.attributeRequests = attributes;
    const events = list(f, 1, "EventRequests", decodeEventPath);
    if (events) request.eventRequests = events;
    const filters = list(f, 2, "EventFilters", decodeEventFilter);
    if (filters) request.eventFilters = filters;
    const versions = list(f, 4, "DataVersionFilters", decodeDataVersionFilter);
    if (versions) request.dataVersionFilters = versions;
    return request;
  });
}

export function decodeSubscribeRequest(bytes: Uint8Array): SubscribeRequestMessage {
  return decoding("SubscribeRequest", () => {
    const f = message(bytes, "SubscribeRequest");
    const request: SubscribeRequestMessage = {
      keepSubscriptions: f.bool(0),
      minIntervalFloor: ranged(f.uint(1), U16_MAX, "min interval floor")!,
      maxIntervalCeiling: ranged(f.uint(2), U16_MAX, "max interval ceiling")!,
      isFabricFiltered: f.bool(7),
    };
    const attributes = list(f, 3, "AttributeRequests", decodeAttributePath);
    if (attributes) request.attributeRequests = attributes;
    const events = list(f, 4, "EventRequests", decodeEventPath);
    if (events) request.eventRequests = events;
    const filters = list(f, 5, "EventFilters", decodeEventFilter);
    if (filters) request.eventFilters = filters;
    const versions = list(f, 8, "DataVersionFilters", decodeDataVersionFilter);
    if (versions) request.dataVersionFilters = versions;
    return request;
  });
}

export function decodeSubscribeResponse(bytes: Uint8Array): SubscribeResponseMessage {
  return decoding("SubscribeResponse", () => {
    const f = message(bytes, "SubscribeResponse");
    return { subscriptionId: ranged(f.uint(0), U32_MAX, "subscription id")!, maxInterval: ranged(f.uint(2), U16_MAX, "max interval")! };
  });
}

export function decodeReportData(bytes: Uint8Array): ReportDataMessage {
  return decoding("ReportData", () => {
    const f = message(bytes, "ReportData");
    const report: ReportDataMessage = {};
    const id = ranged(f.optionalUint(0), U32_MAX, "subscription id");
    if (id !== undefined) report.subscriptionId = id;
    const attributes = list(f, 1, "AttributeReports", decodeAttributeReport);
    if (attributes) report.attributeReports = attributes;
    const events = list(f, 2, "EventReports", decodeEventReport);
    if (events) report.eventReports = events;
    const more = f.optionalBool(3);
    if (more !== undefined) report.moreChunkedMessages = more;
    const suppress = f.optionalBool(4);
    if (suppress !== undefined) report.suppressResponse = suppress;
    return report;
  });
}

export function decodeWriteRequest(bytes: Uint8Array): WriteRequestMessage {
  return decoding("WriteRequest", () => {
    const f = message(bytes, "WriteRequest");
    const writes = items(f, 2, "WriteRequests");
    if (!writes) throw new ImMessageError("missing required field 2");
    const request: WriteRequestMessage = { timedRequest: f.bool(1), writeRequests: writes.map(decodeAttributeData) };
    const suppress = f.optionalBool(0);
    if (suppress !== undefined) request.suppressResponse = suppress;
    const more = f.optionalBool(3);
    if (more !== undefined) request.moreChunkedMessages = more;
    return request;
  });
}

export function decodeWriteResponse(bytes: Uint8Array): WriteResponseMessage {
  return decoding("WriteResponse", () => {
    const f = message(bytes, "WriteResponse");
    return { writeResponses: list(f, 0, "WriteResponses", decodeAttributeStatus) ?? [] };
  });
}

export function decodeInvokeRequest(bytes: Uint8Array): InvokeRequestMessage {
  return decoding("InvokeRequest", () => {
    const f = message(bytes, "InvokeRequest");
    const invokes = items(f, 2, "InvokeRequests");
    if (!invokes) throw new ImMessageError("missing required field 2");
    return { suppressResponse: f.bool(0), timedRequest: f.bool(1), invokeRequests: invokes.map(decodeCommandData) };
  });
}

export function decodeInvokeResponse(bytes: Uint8Array): InvokeResponseMessage {
  return decoding("InvokeResponse", () => {
    const f = message(bytes, "InvokeResponse");
    const responses = items(f, 1, "InvokeResponses");
    if (!responses) throw new ImMessageError("missing required field 1");
    const response: InvokeResponseMessage = { suppressResponse: f.bool(0), invokeResponses: responses.map(decodeInvokeResponseIB) };
    const more = f.optionalBool(2);
    if (more !== undefined) response.moreChunkedMessages = more;
    return response;
  });
}

export function decodeTimedRequest(bytes: Uint8Array): TimedRequestMessage {
  return decoding("TimedRequest", () => ({ timeoutMs: ranged(message(bytes, "TimedRequest").uint(0), U16_MAX, "timeout")! }));
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Writes a value in place of an element: a decoded element (re-tagged) or a callback. */
export type ValueWriter = TlvElement | ((writer: TlvWriter, tag: TlvTag) => void);

export function writeValue(w: TlvWriter, tag: TlvTag, value: ValueWriter): void {
  if (typeof value === "function") value(w, tag);
  else w.element({ ...value, tag });
}

export function writeAttributePath(w: TlvWriter, tag: TlvTag, path: AttributePath): void {
  w.startList(tag);
  if (path.enableTagCompression !== undefined) w.bool(0, path.enableTagCompression);
  if (path.node !== undefined) w.uint(1, path.node);
  if (path.endpoint !== undefined) w.uint(2, path.endpoint);
  if (path.cluster !== undefined) w.uint(3, path.cluster);
  if (path.attribute !== undefined) w.uint(4, path.attribute);
  if (path.listIndex === null) w.null(5);
  else if (path.listIndex !== undefined) w.uint(5, path.listIndex);
  if (path.wildcardPathFlags !== undefined) w.uint(6, path.wildcardPathFlags);
  w.end();
}

export function writeEventPath(w: TlvWriter, tag: TlvTag, path: EventPath): void {
  w.startList(tag);
  if (path.node !== undefined) w.uint(0, path.node);
  if (path.endpoint !== undefined) w.uint(1, path.endpoint);
  if (path.cluster !== undefined) w.uint(2, path.cluster);
  if (path.event !== undefined) w.uint(3, path.event);
  if (path.isUrgent !== undefined) w.bool(4, path.isUrgent);
  w.end();
}

export function writeCommandPath(w: TlvWriter, tag: TlvTag, path: CommandPath): void {
  w.startList(tag);
  if (path.endpoint !== undefined) w.uint(0, path.endpoint);
  w.uint(1, path.cluster);
  w.uint(2, path.command);
  w.end();
}

export function writeStatusIB(w: TlvWriter, tag: TlvTag, status: StatusIB): void {
  w.startStructure(tag).uint(0, status.status);
  if (status.clusterStatus !== undefined) w.uint(1, status.clusterStatus);
  w.end();
}

function writeDataVersionFilters(w: TlvWriter, tag: number, filters: DataVersionFilter[]): void {
  w.startArray(tag);
  for (const filter of filters) {
    w.startStructure(undefined).startList(0);
    if (filter.path.node !== undefined) w.uint(0, filter.path.node);
    w.uint(1, filter.path.endpoint).uint(2, filter.path.cluster).end();
    w.uint(1, filter.dataVersion).end();
  }
  w.end();
}

function writeEventFilters(w: TlvWriter, tag: number, filters: EventFilter[]): void {
  w.startArray(tag);
  for (const filter of filters) {
    w.startStructure(undefined);
    if (filter.node !== undefined) w.uint(0, filter.node);
    w.uint(1, filter.eventMin).end();
  }
  w.end();
}

/** AttributeDataIB; `data` is the value (a callback writes it under the tag it is given). */
export function writeAttributeData(w: TlvWriter, tag: TlvTag, item: { dataVersion?: number; path: AttributePath; data: ValueWriter }): void {
  w.startStructure(tag);
  if (item.dataVersion !== undefined) w.uint(0, item.dataVersion);
  writeAttributePath(w, 1, item.path);
  writeValue(w, 2, item.data);
  w.end();
}

export function writeAttributeStatus(w: TlvWriter, tag: TlvTag, item: AttributeStatus): void {
  w.startStructure(tag);
  writeAttributePath(w, 0, item.path);
  writeStatusIB(w, 1, item.status);
  w.end();
}

export function writeCommandStatus(w: TlvWriter, tag: TlvTag, item: CommandStatus): void {
  w.startStructure(tag);
  writeCommandPath(w, 0, item.path);
  writeStatusIB(w, 1, item.status);
  if (item.commandRef !== undefined) w.uint(2, item.commandRef);
  w.end();
}

export function writeCommandData(w: TlvWriter, tag: TlvTag, item: { path: CommandPath; fields?: ValueWriter; commandRef?: number }): void {
  w.startStructure(tag);
  writeCommandPath(w, 0, item.path);
  if (item.fields !== undefined) writeValue(w, 1, item.fields);
  if (item.commandRef !== undefined) w.uint(2, item.commandRef);
  w.end();
}

function finishMessage(w: TlvWriter): Uint8Array {
  return w.uint(REVISION_TAG, INTERACTION_MODEL_REVISION).end().finish();
}

export function encodeStatusResponse(status: number): Uint8Array {
  return finishMessage(new TlvWriter().startStructure(undefined).uint(0, status));
}

export function encodeTimedRequest(timeoutMs: number): Uint8Array {
  return finishMessage(new TlvWriter().startStructure(undefined).uint(0, timeoutMs));
}

export function encodeReadRequest(request: ReadRequestMessage): Uint8Array {
  const w = new TlvWriter().startStructure(undefined);
  if (request.attributeRequests) {
    w.startArray(0);
    for (const path of request.attributeRequests) writeAttributePath(w, undefined, path);
    w.end();
  }
  if (request.eventRequests) {
    w.startArray(1);
    for (const path of request.eventRequests) writeEventPath(w, undefined, path);
    w.end();
  }
  if (request.eventFilters) writeEventFilters(w, 2, request.eventFilters);
  w.bool(3, request.isFabricFiltered);
  if (request.dataVersionFilters) writeDataVersionFilters(w, 4, request.dataVersionFilters);
  return finishMessage(w);
}

export function encodeSubscribeRequest(request: SubscribeRequestMessage): Uint8Array {
  const w = new TlvWriter().startStructure(undefined);
  w.bool(0, request.keepSubscriptions).uint(1, request.minIntervalFloor).uint(2, request.maxIntervalCeiling);
  if (request.attributeRequests) {
    w.startArray(3);
    for (const path of request.attributeRequests) writeAttributePath(w, undefined, path);
    w.end();
  }
  if (request.eventRequests) {
    w.startArray(4);
    for (const path of request.eventRequests) writeEventPath(w, undefined, path);
    w.end();
  }
  if (request.eventFilters) writeEventFilters(w, 5, request.eventFilters);
  w.bool(7, request.isFabricFiltered);
  if (request.dataVersionFilters) writeDataVersionFilters(w, 8, request.dataVersionFilters);
  return finishMessage(w);
}

export function encodeSubscribeResponse(response: SubscribeResponseMessage): Uint8Array {
  return finishMessage(new TlvWriter().startStructure(undefined).uint(0, response.subscriptionId).uint(2, response.maxInterval));
}

export function encodeWriteRequest(request: {
  suppressResponse?: boolean;
  timedRequest: boolean;
  writeRequests: { dataVersion?: number; path: AttributePath; data: ValueWriter }[];
  moreChunkedMessages?: boolean;
}): Uint8Array {
  const w = new TlvWriter().startStructure(undefined);
  if (request.suppressResponse !== undefined) w.bool(0, request.suppressResponse);
  w.bool(1, request.timedRequest).startArray(2);
  for (const item of request.writeRequests) writeAttributeData(w, undefined, item);
  w.end();
  if (request.moreChunkedMessages !== undefined) w.bool(3, request.moreChunkedMessages);
  return finishMessage(w);
}

export function encodeWriteResponse(response: WriteResponseMessage): Uint8Array {
  const w = new TlvWriter().startStructure(undefined).startArray(0);
  for (const item of response.writeResponses) writeAttributeStatus(w, undefined, item);
  return finishMessage(w.end());
}

export function encodeInvokeRequest(request: {
  suppressResponse: boolean;
  timedRequest: boolean;
  invokeRequests: { path: CommandPath; fields?: ValueWriter; commandRef?: number }[];
}): Uint8Array {
  const w = new TlvWriter().startStructure(undefined).bool(0, request.suppressResponse).bool(1, request.timedRequest).startArray(2);
  for (const item of request.invokeRequests) writeCommandData(w, undefined, item);
  return finishMessage(w.end());
}

// ---------------------------------------------------------------------------------------------
// Messages assembled from pre-encoded items (reports and invoke responses are filled item by
// item up to a size budget). An item is the encoding of an anonymous structure, which is byte
// for byte what the same structure is as an array member.

const CONTROL_ANONYMOUS_STRUCTURE = 0x15;
const CONTROL_CONTEXT_ARRAY = 0x36;
const CONTROL_END = 0x18;

/** Encodes one anonymous-structure item (an IB inside an array). */
export function encodeItem(write: (w: TlvWriter) => void): Uint8Array {
  const w = new TlvWriter();
  write(w);
  return w.finish();
}

/** The context-tagged members `write` produces, without an enclosing container. */
function members(write: (w: TlvWriter) => void): Uint8Array {
  const w = new TlvWriter().startStructure(undefined);
  write(w);
  const bytes = w.end().finish();
  return bytes.subarray(1, bytes.length - 1);
}

class MessageBuffer {
  private readonly parts: Uint8Array[] = [];
  private size = 0;
  add(bytes: Uint8Array | number[]): void {
    const part = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    this.parts.push(part);
    this.size += part.length;
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let offset = 0;
    for (const part of this.parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}

function addArray(buffer: MessageBuffer, tag: number, entries: readonly Uint8Array[]): void {
  buffer.add([CONTROL_CONTEXT_ARRAY, tag]);
  for (const entry of entries) buffer.add(entry);
  buffer.add([CONTROL_END]);
}

export interface ReportDataParts {
  subscriptionId?: number;
  attributeReports?: readonly Uint8Array[];
  eventReports?: readonly Uint8Array[];
  moreChunkedMessages?: boolean;
  suppressResponse?: boolean;
}

/** Bytes a ReportData takes beyond its items (subscription id, containers, flags, revision). */
export const REPORT_DATA_OVERHEAD = 1 + 6 + 3 + 3 + 2 + 2 + 3 + 1;

export function encodeReportData(parts: ReportDataParts): Uint8Array {
  const buffer = new MessageBuffer();
  buffer.add([CONTROL_ANONYMOUS_STRUCTURE]);
  if (parts.subscriptionId !== undefined) buffer.add(members((w) => w.uint(0, parts.subscriptionId!)));
  if (parts.attributeReports) addArray(buffer, 1, parts.attributeReports);
  if (parts.eventReports) addArray(buffer, 2, parts.eventReports);
  buffer.add(
    members((w) => {
      if (parts.moreChunkedMessages) w.bool(3, true);
      if (parts.suppressResponse) w.bool(4, true);
      w.uint(REVISION_TAG, INTERACTION_MODEL_REVISION);
    }),
  );
  buffer.add([CONTROL_END]);
  return buffer.finish();
}

/** Bytes an InvokeResponse takes beyond its items. */
export const INVOKE_RESPONSE_OVERHEAD = 1 + 2 + 3 + 2 + 3 + 1;

export function encodeInvokeResponse(parts: { invokeResponses: readonly Uint8Array[]; moreChunkedMessages?: boolean }): Uint8Array {
  const buffer = new MessageBuffer();
  buffer.add([CONTROL_ANONYMOUS_STRUCTURE]);
  buffer.add(members((w) => w.bool(0, false)));
  addArray(buffer, 1, parts.invokeResponses);
  buffer.add(
    members((w) => {
      if (parts.moreChunkedMessages) w.bool(2, true);
      w.uint(REVISION_TAG, INTERACTION_MODEL_REVISION);
    }),
  );
  buffer.add([CONTROL_END]);
  return buffer.finish();
}

/** An AttributeReportIB carrying a status. */
export function attributeStatusItem(path: AttributePath, status: StatusIB): Uint8Array {
  return encodeItem((w) => {
    w.startStructure(undefined);
    writeAttributeStatus(w, 0, { path, status });
    w.end();
  });
}

/** An AttributeReportIB carrying data. */
export function attributeDataItem(dataVersion: number, path: AttributePath, data: ValueWriter): Uint8Array {
  return encodeItem((w) => {
    w.startStructure(undefined);
    writeAttributeData(w, 1, { dataVersion, path, data });
    w.end();
  });
}

export function eventStatusItem(path: EventPath, status: StatusIB): Uint8Array {
  return encodeItem((w) => {
    w.startStructure(undefined).startStructure(0);
    writeEventPath(w, 0, path);
    writeStatusIB(w, 1, status);
    w.end().end();
  });
}

export function eventDataItem(item: { path: EventPath; eventNumber: bigint; priority: number; systemTimestamp: bigint; data: ValueWriter }): Uint8Array {
  return encodeItem((w) => {
    w.startStructure(undefined).startStructure(1);
    writeEventPath(w, 0, item.path);
    w.uint(1, item.eventNumber).uint(2, item.priority).uint(4, item.systemTimestamp);
    writeValue(w, 7, item.data);
    w.end().end();
  });
}

/** An InvokeResponseIB carrying a command response. */
export function commandResponseItem(path: CommandPath, fields: ValueWriter, commandRef?: number): Uint8Array {
  return encodeItem((w) => {
    w.startStructure(undefined);
    writeCommandData(w, 0, commandRef === undefined ? { path, fields } : { path, fields, commandRef });
    w.end();
  });
}

/** An InvokeResponseIB carrying a status. */
export function commandStatusItem(path: CommandPath, status: StatusIB, commandRef?: number): Uint8Array {
  return encodeItem((w) => {
    w.startStructure(undefined);
    writeCommandStatus(w, 1, commandRef === undefined ? { path, status } : { path, status, commandRef });
    w.end();
  });
}
