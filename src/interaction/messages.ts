// Interaction Model messages and information blocks (Matter Core spec 1.4, 10.6): strict TLV
// decoders and canonical encoders for both directions (the device decodes requests and encodes
// reports; tests and tools do the opposite).
//
// Decoders follow connectedhomeip's parsers: paths (AttributePathIB, EventPathIB, ClusterPathIB,
// CommandPathIB) are TLV lists, every other IB and message is a structure, lists of IBs are
// arrays, context tags the spec does not define are ignored (newer peers add fields), and any
// other deviation — wrong container, wrong type, value out of range, missing required field,
// duplicate tag — is an ImMessageError, which the server answers with INVALID_ACTION.
import { CodecError, concatBytes } from "../codec/bytes";
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

function optionalRanged(fields: TlvStruct, tag: number, max: number, what: string): number | undefined {
  return ranged(fields.optionalUint(tag), max, what);
}

function requiredRanged(fields: TlvStruct, tag: number, max: number, what: string): number {
  return ranged(fields.uint(tag), max, what)!;
}

/** Sets `key` when `value` is present: an absent optional field stays absent, not undefined. */
function put<T, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
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
  put(path, "enableTagCompression", f.optionalBool(0));
  put(path, "node", optionalNode(f, 1));
  put(path, "endpoint", optionalRanged(f, 2, U16_MAX, "endpoint"));
  put(path, "cluster", optionalRanged(f, 3, U32_MAX, "cluster"));
  put(path, "attribute", optionalRanged(f, 4, U32_MAX, "attribute"));
  if (f.has(5)) path.listIndex = f.isNull(5) ? null : (ranged(f.uint(5), U16_MAX, "list index") as number);
  put(path, "wildcardPathFlags", optionalRanged(f, 6, U32_MAX, "wildcard path flags"));
  return path;
}

export function decodeEventPath(el: TlvElement): EventPath {
  const f = container(el, "list", "EventPathIB");
  const path: EventPath = {};
  put(path, "node", optionalNode(f, 0));
  put(path, "endpoint", optionalRanged(f, 1, U16_MAX, "endpoint"));
  put(path, "cluster", optionalRanged(f, 2, U32_MAX, "cluster"));
  put(path, "event", optionalRanged(f, 3, U32_MAX, "event"));
  put(path, "isUrgent", f.optionalBool(4));
  return path;
}

export function decodeEventFilter(el: TlvElement): EventFilter {
  const f = container(el, "structure", "EventFilterIB");
  const filter: EventFilter = { eventMin: f.uint64(1) };
  put(filter, "node", optionalNode(f, 0));
  return filter;
}

export function decodeClusterPath(el: TlvElement): ClusterPath {
  const f = container(el, "list", "ClusterPathIB");
  const path: ClusterPath = { endpoint: requiredRanged(f, 1, U16_MAX, "endpoint"), cluster: requiredRanged(f, 2, U32_MAX, "cluster") };
  put(path, "node", optionalNode(f, 0));
  return path;
}

export function decodeDataVersionFilter(el: TlvElement): DataVersionFilter {
  const f = container(el, "structure", "DataVersionFilterIB");
  return { path: decodeClusterPath(required(f, 0)), dataVersion: requiredRanged(f, 1, U32_MAX, "data version") };
}

export function decodeCommandPath(el: TlvElement): CommandPath {
  const f = container(el, "list", "CommandPathIB");
  const path: CommandPath = { cluster: requiredRanged(f, 1, U32_MAX, "cluster"), command: requiredRanged(f, 2, U32_MAX, "command") };
  put(path, "endpoint", optionalRanged(f, 0, U16_MAX, "endpoint"));
  return path;
}

export function decodeStatusIB(el: TlvElement): StatusIB {
  const f = container(el, "structure", "StatusIB");
  const status: StatusIB = { status: requiredRanged(f, 0, 0xff, "status") };
  put(status, "clusterStatus", optionalRanged(f, 1, 0xff, "cluster status"));
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
  put(data, "dataVersion", optionalRanged(f, 0, U32_MAX, "data version"));
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
  const data: EventData = { path: decodeEventPath(required(f, 0)), eventNumber: f.uint64(1), priority: requiredRanged(f, 2, 2, "priority") };
  put(data, "epochTimestamp", f.optionalUint64(3));
  put(data, "systemTimestamp", f.optionalUint64(4));
  put(data, "deltaEpochTimestamp", f.optionalUint64(5));
  put(data, "deltaSystemTimestamp", f.optionalUint64(6));
  put(data, "data", f.get(7));
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
  put(data, "fields", f.get(1));
  put(data, "commandRef", optionalRanged(f, 2, U16_MAX, "command ref"));
  return data;
}

export function decodeCommandStatus(el: TlvElement): CommandStatus {
  const f = container(el, "structure", "CommandStatusIB");
  const status: CommandStatus = { path: decodeCommandPath(required(f, 0)), status: decodeStatusIB(required(f, 1)) };
  put(status, "commandRef", optionalRanged(f, 2, U16_MAX, "command ref"));
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

/** The fields a ReadRequest and a SubscribeRequest share, at `tags` (attribute and event paths, event filters, data version filters). */
function readPaths<T extends ReadRequestMessage>(f: TlvStruct, request: T, [attributes, events, filters, versions]: number[]): T {
  put(request, "attributeRequests", list(f, attributes!, "AttributeRequests", decodeAttributePath));
  put(request, "eventRequests", list(f, events!, "EventRequests", decodeEventPath));
  put(request, "eventFilters", list(f, filters!, "EventFilters", decodeEventFilter));
  put(request, "dataVersionFilters", list(f, versions!, "DataVersionFilters", decodeDataVersionFilter));
  return request;
}

export function decodeReadRequest(bytes: Uint8Array): ReadRequestMessage {
  return decoding("ReadRequest", () => {
    const f = message(bytes, "ReadRequest");
    return readPaths(f, { isFabricFiltered: f.bool(3) }, [0, 1, 2, 4]);
  });
}

export function decodeSubscribeRequest(bytes: Uint8Array): SubscribeRequestMessage {
  return decoding("SubscribeRequest", () => {
    const f = message(bytes, "SubscribeRequest");
    const request: SubscribeRequestMessage = {
      keepSubscriptions: f.bool(0),
      minIntervalFloor: requiredRanged(f, 1, U16_MAX, "min interval floor"),
      maxIntervalCeiling: requiredRanged(f, 2, U16_MAX, "max interval ceiling"),
      isFabricFiltered: f.bool(7),
    };
    return readPaths(f, request, [3, 4, 5, 8]);
  });
}

export function decodeSubscribeResponse(bytes: Uint8Array): SubscribeResponseMessage {
  return decoding("SubscribeResponse", () => {
    const f = message(bytes, "SubscribeResponse");
    return { subscriptionId: requiredRanged(f, 0, U32_MAX, "subscription id"), maxInterval: requiredRanged(f, 2, U16_MAX, "max interval") };
  });
}

export function decodeReportData(bytes: Uint8Array): ReportDataMessage {
  return decoding("ReportData", () => {
    const f = message(bytes, "ReportData");
    const report: ReportDataMessage = {};
    put(report, "subscriptionId", optionalRanged(f, 0, U32_MAX, "subscription id"));
    put(report, "attributeReports", list(f, 1, "AttributeReports", decodeAttributeReport));
    put(report, "eventReports", list(f, 2, "EventReports", decodeEventReport));
    put(report, "moreChunkedMessages", f.optionalBool(3));
    put(report, "suppressResponse", f.optionalBool(4));
    return report;
  });
}

export function decodeWriteRequest(bytes: Uint8Array): WriteRequestMessage {
  return decoding("WriteRequest", () => {
    const f = message(bytes, "WriteRequest");
    const writes = items(f, 2, "WriteRequests");
    if (!writes) throw new ImMessageError("missing required field 2");
    const request: WriteRequestMessage = { timedRequest: f.bool(1), writeRequests: writes.map(decodeAttributeData) };
    put(request, "suppressResponse", f.optionalBool(0));
    put(request, "moreChunkedMessages", f.optionalBool(3));
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
    put(response, "moreChunkedMessages", f.optionalBool(2));
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
  writeOptionalBool(w, 0, path.enableTagCompression);
  writeOptionalUint(w, 1, path.node);
  writeOptionalUint(w, 2, path.endpoint);
  writeOptionalUint(w, 3, path.cluster);
  writeOptionalUint(w, 4, path.attribute);
  if (path.listIndex === null) w.null(5);
  else if (path.listIndex !== undefined) w.uint(5, path.listIndex);
  writeOptionalUint(w, 6, path.wildcardPathFlags);
  w.end();
}

export function writeEventPath(w: TlvWriter, tag: TlvTag, path: EventPath): void {
  w.startList(tag);
  writeOptionalUint(w, 0, path.node);
  writeOptionalUint(w, 1, path.endpoint);
  writeOptionalUint(w, 2, path.cluster);
  writeOptionalUint(w, 3, path.event);
  writeOptionalBool(w, 4, path.isUrgent);
  w.end();
}

export function writeCommandPath(w: TlvWriter, tag: TlvTag, path: CommandPath): void {
  w.startList(tag);
  writeOptionalUint(w, 0, path.endpoint);
  w.uint(1, path.cluster);
  w.uint(2, path.command);
  w.end();
}

export function writeStatusIB(w: TlvWriter, tag: TlvTag, status: StatusIB): void {
  w.startStructure(tag).uint(0, status.status);
  writeOptionalUint(w, 1, status.clusterStatus);
  w.end();
}

function writeDataVersionFilters(w: TlvWriter, tag: number, filters: DataVersionFilter[]): void {
  w.startArray(tag);
  for (const filter of filters) {
    w.startStructure(undefined).startList(0);
    writeOptionalUint(w, 0, filter.path.node);
    w.uint(1, filter.path.endpoint).uint(2, filter.path.cluster).end();
    w.uint(1, filter.dataVersion).end();
  }
  w.end();
}

function writeEventFilters(w: TlvWriter, tag: number, filters: EventFilter[]): void {
  w.startArray(tag);
  for (const filter of filters) {
    w.startStructure(undefined);
    writeOptionalUint(w, 0, filter.node);
    w.uint(1, filter.eventMin).end();
  }
  w.end();
}

/** AttributeDataIB; `data` is the value (a callback writes it under the tag it is given). */
export function writeAttributeData(w: TlvWriter, tag: TlvTag, item: { dataVersion?: number; path: AttributePath; data: ValueWriter }): void {
  w.startStructure(tag);
  writeOptionalUint(w, 0, item.dataVersion);
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
  writeOptionalUint(w, 2, item.commandRef);
  w.end();
}

export function writeCommandData(w: TlvWriter, tag: TlvTag, item: { path: CommandPath; fields?: ValueWriter; commandRef?: number }): void {
  w.startStructure(tag);
  writeCommandPath(w, 0, item.path);
  if (item.fields !== undefined) writeValue(w, 1, item.fields);
  writeOptionalUint(w, 2, item.commandRef);
  w.end();
}

function writeOptionalUint(w: TlvWriter, tag: number, value: number | bigint | undefined): void {
  if (value !== undefined) w.uint(tag, value);
}

function writeOptionalBool(w: TlvWriter, tag: number, value: boolean | undefined): void {
  if (value !== undefined) w.bool(tag, value);
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

/** The fields a ReadRequest and a SubscribeRequest share; `first` is the AttributeRequests tag, the rest follow it. */
function writeReadPaths(w: TlvWriter, request: ReadRequestMessage, first: number, fabricFilteredTag: number): Uint8Array {
  if (request.attributeRequests) {
    w.startArray(first);
    for (const path of request.attributeRequests) writeAttributePath(w, undefined, path);
    w.end();
  }
  if (request.eventRequests) {
    w.startArray(first + 1);
    for (const path of request.eventRequests) writeEventPath(w, undefined, path);
    w.end();
  }
  if (request.eventFilters) writeEventFilters(w, first + 2, request.eventFilters);
  w.bool(fabricFilteredTag, request.isFabricFiltered);
  if (request.dataVersionFilters) writeDataVersionFilters(w, fabricFilteredTag + 1, request.dataVersionFilters);
  return finishMessage(w);
}

export function encodeReadRequest(request: ReadRequestMessage): Uint8Array {
  return writeReadPaths(new TlvWriter().startStructure(undefined), request, 0, 3);
}

export function encodeSubscribeRequest(request: SubscribeRequestMessage): Uint8Array {
  const w = new TlvWriter().startStructure(undefined);
  w.bool(0, request.keepSubscriptions).uint(1, request.minIntervalFloor).uint(2, request.maxIntervalCeiling);
  return writeReadPaths(w, request, 3, 7);
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
  writeOptionalBool(w, 0, request.suppressResponse);
  w.bool(1, request.timedRequest).startArray(2);
  for (const item of request.writeRequests) writeAttributeData(w, undefined, item);
  w.end();
  writeOptionalBool(w, 3, request.moreChunkedMessages);
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

/** An anonymous structure item whose members `write` produces. */
function structureItem(write: (w: TlvWriter) => void): Uint8Array {
  return encodeItem((w) => {
    w.startStructure(undefined);
    write(w);
    w.end();
  });
}

/** The context-tagged members `write` produces, without an enclosing container. */
function members(write: (w: TlvWriter) => void): Uint8Array {
  const w = new TlvWriter().startStructure(undefined);
  write(w);
  const bytes = w.end().finish();
  return bytes.subarray(1, bytes.length - 1);
}

/** An anonymous structure of `parts` (encoded members), as a message. */
function messageOf(parts: Uint8Array[]): Uint8Array {
  return concatBytes(Uint8Array.of(CONTROL_ANONYMOUS_STRUCTURE), ...parts, Uint8Array.of(CONTROL_END));
}

/** A context-tagged array of encoded items. */
function arrayOf(tag: number, entries: readonly Uint8Array[]): Uint8Array {
  return concatBytes(Uint8Array.of(CONTROL_CONTEXT_ARRAY, tag), ...entries, Uint8Array.of(CONTROL_END));
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
  const out: Uint8Array[] = [];
  if (parts.subscriptionId !== undefined) out.push(members((w) => w.uint(0, parts.subscriptionId!)));
  if (parts.attributeReports) out.push(arrayOf(1, parts.attributeReports));
  if (parts.eventReports) out.push(arrayOf(2, parts.eventReports));
  out.push(
    members((w) => {
      if (parts.moreChunkedMessages) w.bool(3, true);
      if (parts.suppressResponse) w.bool(4, true);
      w.uint(REVISION_TAG, INTERACTION_MODEL_REVISION);
    }),
  );
  return messageOf(out);
}

/** Bytes an InvokeResponse takes beyond its items. */
export const INVOKE_RESPONSE_OVERHEAD = 1 + 2 + 3 + 2 + 3 + 1;

export function encodeInvokeResponse(parts: { invokeResponses: readonly Uint8Array[]; moreChunkedMessages?: boolean }): Uint8Array {
  return messageOf([
    members((w) => w.bool(0, false)),
    arrayOf(1, parts.invokeResponses),
    members((w) => {
      if (parts.moreChunkedMessages) w.bool(2, true);
      w.uint(REVISION_TAG, INTERACTION_MODEL_REVISION);
    }),
  ]);
}

/** An AttributeReportIB carrying a status. */
export function attributeStatusItem(path: AttributePath, status: StatusIB): Uint8Array {
  return structureItem((w) => writeAttributeStatus(w, 0, { path, status }));
}

/** An AttributeReportIB carrying data. */
export function attributeDataItem(dataVersion: number, path: AttributePath, data: ValueWriter): Uint8Array {
  return structureItem((w) => writeAttributeData(w, 1, { dataVersion, path, data }));
}

export function eventStatusItem(path: EventPath, status: StatusIB): Uint8Array {
  return structureItem((w) => {
    w.startStructure(0);
    writeEventPath(w, 0, path);
    writeStatusIB(w, 1, status);
    w.end();
  });
}

export function eventDataItem(item: { path: EventPath; eventNumber: bigint; priority: number; systemTimestamp: bigint; data: ValueWriter }): Uint8Array {
  return structureItem((w) => {
    w.startStructure(1);
    writeEventPath(w, 0, item.path);
    w.uint(1, item.eventNumber).uint(2, item.priority).uint(4, item.systemTimestamp);
    writeValue(w, 7, item.data);
    w.end();
  });
}

/** An InvokeResponseIB carrying a command response. */
export function commandResponseItem(path: CommandPath, fields: ValueWriter, commandRef?: number): Uint8Array {
  return structureItem((w) => writeCommandData(w, 0, { path, fields, commandRef }));
}

/** An InvokeResponseIB carrying a status. */
export function commandStatusItem(path: CommandPath, status: StatusIB, commandRef?: number): Uint8Array {
  return structureItem((w) => writeCommandStatus(w, 1, { path, status, commandRef }));
}
