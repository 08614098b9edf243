// What goes into ReportData: request paths expanded over the data model (spec 8.9), access
// checked on every path, attribute values and events encoded as report items, and the packing of
// items into ReportData messages of a bounded size (spec 8.4.3.4, chunking).
//
// Items are generated lazily, one at a time, so a report of any size holds at most one message
// in memory. A list attribute too large for a message is sent as a replace-all item with an
// empty list followed by one append item (ListIndex null) per entry, across messages.
import { decodeTlv } from "../codec/tlv";
import type { AccessControl, SubjectDescriptor } from "./access-control";
import { Privilege, Status, isGlobalAttributeId, GlobalAttribute, type PrivilegeLevel } from "./constants";
import { StatusError } from "./errors";
import {
  REPORT_DATA_OVERHEAD,
  ImMessageError,
  attributeDataItem,
  attributeStatusItem,
  encodeReportData,
  eventDataItem,
  eventStatusItem,
  type AttributePath,
  type DataVersionFilter,
  type EventPath,
} from "./messages";
import { findAttribute, findEvent, type AttributeDefinition, type ClusterServer, type DataModel, type Endpoint } from "./model";
import { encodeValue, visibleEntry, type FabricView } from "./schema";

/** Wildcard path flags (AttributePathIB field 6, spec 8.9.2.2). */
export enum WildcardFlag {
  SkipRootNode = 1 << 0,
  SkipGlobalAttributes = 1 << 1,
  SkipAttributeList = 1 << 2,
  SkipCommandLists = 1 << 4,
  SkipCustomElements = 1 << 5,
  SkipFixedAttributes = 1 << 6,
  SkipChangesOmittedAttributes = 1 << 7,
  SkipDiagnosticsClusters = 1 << 8,
}

export interface ReportItem {
  kind: "attribute" | "event";
  bytes: Uint8Array;
  /** A list attribute's value as a replace-all item and one append item per entry. */
  split?: () => Iterable<Uint8Array>;
  /** Event items: the event's number. */
  eventNumber?: bigint;
}

/** Who reads, and what they may see. */
export interface ReadScope {
  model: DataModel;
  access: AccessControl;
  subject: SubjectDescriptor;
  fabricFiltered: boolean;
  log?: (message: string) => void;
}

export interface AttributeReportOptions {
  dataVersionFilters?: readonly DataVersionFilter[];
  /** Subscription reports: only attributes this says changed; path errors are not repeated. */
  changed?: (endpoint: number, cluster: number, attribute: number) => boolean;
}

/** Throws ImMessageError (INVALID_ACTION) for attribute paths a read or subscribe may not carry. */
export function checkReadPaths(attributePaths: readonly AttributePath[], eventPaths: readonly EventPath[]): void {
  for (const path of attributePaths) {
    if (path.cluster === undefined && path.attribute !== undefined && !isGlobalAttributeId(path.attribute)) {
      throw new ImMessageError("a wildcard cluster path may only name a global attribute");
    }
    if (path.listIndex !== undefined) throw new ImMessageError("reads do not take a list index");
  }
  for (const path of eventPaths) {
    if (path.cluster === undefined && path.event !== undefined) throw new ImMessageError("a wildcard cluster event path may not name an event");
  }
}

function isConcrete(path: AttributePath): boolean {
  return path.endpoint !== undefined && path.cluster !== undefined && path.attribute !== undefined;
}

function allowed(scope: ReadScope, endpoint: number, cluster: number, privilege: PrivilegeLevel): boolean {
  return scope.access.allows(scope.subject, { endpoint, cluster }, privilege);
}

/**
 * The cluster a concrete path names, or the status that refuses the path. Access to the cluster
 * is checked before its existence (spec 1.4), so that a subject without access learns nothing
 * about what the node has.
 */
export function locateCluster(model: DataModel, access: AccessControl, subject: SubjectDescriptor, endpointId: number, clusterId: number, privilege: PrivilegeLevel = Privilege.View): ClusterServer | Status {
  if (!access.allows(subject, { endpoint: endpointId, cluster: clusterId }, privilege)) return Status.UnsupportedAccess;
  const endpoint = model.endpoint(endpointId);
  if (!endpoint) return Status.UnsupportedEndpoint;
  return endpoint.cluster(clusterId) ?? Status.UnsupportedCluster;
}

function versionFiltered(filters: readonly DataVersionFilter[] | undefined, cluster: ClusterServer): boolean {
  if (!filters) return false;
  for (const filter of filters) {
    if (filter.path.endpoint === cluster.endpointId && filter.path.cluster === cluster.definition.id && filter.dataVersion === cluster.dataVersion) return true;
  }
  return false;
}

function skippedByFlags(flags: number, endpoint: Endpoint, cluster: ClusterServer, attribute: AttributeDefinition | undefined): boolean {
  if (flags === 0) return false;
  if (flags & WildcardFlag.SkipRootNode && endpoint.id === 0) return true;
  if (flags & WildcardFlag.SkipDiagnosticsClusters && cluster.definition.diagnostics) return true;
  if (flags & WildcardFlag.SkipCustomElements && cluster.definition.id >>> 16 !== 0) return true;
  if (!attribute) return false;
  const id = attribute.id;
  if (flags & WildcardFlag.SkipCustomElements && id >>> 16 !== 0) return true;
  if (flags & WildcardFlag.SkipGlobalAttributes && (id === GlobalAttribute.AttributeList || id === GlobalAttribute.AcceptedCommandList || id === GlobalAttribute.GeneratedCommandList)) return true;
  if (flags & WildcardFlag.SkipAttributeList && id === GlobalAttribute.AttributeList) return true;
  if (flags & WildcardFlag.SkipCommandLists && (id === GlobalAttribute.AcceptedCommandList || id === GlobalAttribute.GeneratedCommandList)) return true;
  if (flags & WildcardFlag.SkipFixedAttributes && attribute.fixed) return true;
  if (flags & WildcardFlag.SkipChangesOmittedAttributes && attribute.changesOmitted) return true;
  return false;
}

function statusItem(path: AttributePath, status: number, clusterStatus?: number): ReportItem {
  return { kind: "attribute", bytes: attributeStatusItem(path, clusterStatus === undefined ? { status } : { status, clusterStatus }) };
}

/** The report items for `paths`, in request order, each path expanded in endpoint, cluster, attribute order. */
export function* attributeReportItems(scope: ReadScope, paths: readonly AttributePath[], options: AttributeReportOptions = {}): Generator<ReportItem> {
  const priming = options.changed === undefined;
  for (const path of paths) {
    if (isConcrete(path)) {
      const item = concreteAttribute(scope, path, options);
      if (item && (priming || item.status === undefined)) yield item.item;
      continue;
    }
    const flags = path.wildcardPathFlags ?? 0;
    for (const endpoint of scope.model.endpoints) {
      if (path.endpoint !== undefined && endpoint.id !== path.endpoint) continue;
      if (flags & WildcardFlag.SkipRootNode && endpoint.id === 0) continue;
      for (const cluster of endpoint.clusters) {
        if (path.cluster !== undefined && cluster.definition.id !== path.cluster) continue;
        if (skippedByFlags(flags, endpoint, cluster, undefined)) continue;
        if (!allowed(scope, endpoint.id, cluster.definition.id, Privilege.View)) continue;
        if (versionFiltered(options.dataVersionFilters, cluster)) continue;
        for (const attribute of cluster.definition.attributes) {
          if (path.attribute !== undefined && attribute.id !== path.attribute) continue;
          if (skippedByFlags(flags, endpoint, cluster, attribute)) continue;
          if (options.changed && !options.changed(endpoint.id, cluster.definition.id, attribute.id)) continue;
          if (attribute.readPrivilege !== Privilege.View && !allowed(scope, endpoint.id, cluster.definition.id, attribute.readPrivilege)) continue;
          const concretePath = { endpoint: endpoint.id, cluster: cluster.definition.id, attribute: attribute.id };
          const item = valueItem(scope, cluster, attribute, concretePath);
          if (item.status === undefined) yield item.item;
        }
      }
    }
  }
}

function concreteAttribute(scope: ReadScope, path: AttributePath, options: AttributeReportOptions): { item: ReportItem; status?: number } | undefined {
  const endpointId = path.endpoint!;
  const clusterId = path.cluster!;
  const attributeId = path.attribute!;
  const reported: AttributePath = { endpoint: endpointId, cluster: clusterId, attribute: attributeId };
  const fail = (status: number) => ({ item: statusItem(reported, status), status });
  const cluster = locateCluster(scope.model, scope.access, scope.subject, endpointId, clusterId);
  if (typeof cluster === "number") return fail(cluster);
  const attribute = findAttribute(cluster.definition, attributeId);
  if (!attribute) return fail(Status.UnsupportedAttribute);
  if (attribute.readPrivilege !== Privilege.View && !allowed(scope, endpointId, clusterId, attribute.readPrivilege)) return fail(Status.UnsupportedAccess);
  if (versionFiltered(options.dataVersionFilters, cluster)) return undefined;
  if (options.changed && !options.changed(endpointId, clusterId, attributeId)) return undefined;
  return valueItem(scope, cluster, attribute, reported);
}

/** Reads one attribute and encodes it; a failure becomes a status item. */
function valueItem(scope: ReadScope, cluster: ClusterServer, attribute: AttributeDefinition, path: AttributePath): { item: ReportItem; status?: number } {
  const view: FabricView = { fabricIndex: scope.subject.fabricIndex, fabricFiltered: scope.fabricFiltered };
  let value: unknown;
  try {
    value = cluster.readValue(attribute, { ...view, subject: scope.subject });
  } catch (error) {
    if (error instanceof StatusError) return { item: statusItem(path, error.status, error.clusterStatus), status: error.status };
    scope.log?.(`reading ${cluster.definition.name}.${attribute.name} failed: ${(error as Error).message}`);
    return { item: statusItem(path, Status.Failure), status: Status.Failure };
  }
  const version = cluster.dataVersion;
  const schema = attribute.schema;
  const fabricView = attribute.fabricScoped ? view : undefined;
  let bytes: Uint8Array;
  try {
    bytes = attributeDataItem(version, path, (w, tag) => encodeValue(w, tag, schema, value, fabricView, `${cluster.definition.name}.${attribute.name}`));
  } catch (error) {
    scope.log?.(`encoding ${cluster.definition.name}.${attribute.name} failed: ${(error as Error).message}`);
    return { item: statusItem(path, Status.Failure), status: Status.Failure };
  }
  const item: ReportItem = { kind: "attribute", bytes };
  if (schema.kind === "list" && Array.isArray(value)) {
    const entries = value;
    const entrySchema = schema.item;
    item.split = function* () {
      yield attributeDataItem(version, path, (w, tag) => w.startArray(tag).end());
      const appendPath: AttributePath = { ...path, listIndex: null };
      for (const entry of entries) {
        if (fabricView && !visibleEntry(entrySchema, entry, fabricView)) continue;
        yield attributeDataItem(version, appendPath, (w, tag) => encodeValue(w, tag, entrySchema, entry, fabricView));
      }
    };
  }
  return { item };
}

/** The concrete event paths' errors, then every logged event from `eventMin` that a path selects. */
export function* eventReportItems(scope: ReadScope, paths: readonly EventPath[], eventMin: bigint, priming: boolean): Generator<ReportItem> {
  if (paths.length === 0) return;
  if (priming) {
    for (const path of paths) {
      if (path.endpoint === undefined || path.cluster === undefined || path.event === undefined) continue;
      const status = concreteEventStatus(scope, path.endpoint, path.cluster, path.event);
      if (status !== undefined) yield { kind: "event", bytes: eventStatusItem({ endpoint: path.endpoint, cluster: path.cluster, event: path.event }, { status }) };
    }
  }
  for (const record of scope.model.events.since(eventMin)) {
    if (record.fabricIndex !== 0 && record.fabricIndex !== scope.subject.fabricIndex) continue;
    if (!paths.some((path) => eventPathSelects(path, record))) continue;
    const cluster = scope.model.cluster(record.endpoint, record.cluster);
    const definition = cluster ? findEvent(cluster.definition, record.event) : undefined;
    const privilege = definition?.privilege ?? Privilege.View;
    if (!allowed(scope, record.endpoint, record.cluster, privilege)) continue;
    const data = decodeTlv(record.payload);
    yield {
      kind: "event",
      eventNumber: record.number,
      bytes: eventDataItem({
        path: { endpoint: record.endpoint, cluster: record.cluster, event: record.event },
        eventNumber: record.number,
        priority: record.priority,
        systemTimestamp: BigInt(record.systemTimestampMs),
        data,
      }),
    };
  }
}

function concreteEventStatus(scope: ReadScope, endpointId: number, clusterId: number, eventId: number): number | undefined {
  const cluster = locateCluster(scope.model, scope.access, scope.subject, endpointId, clusterId);
  if (typeof cluster === "number") return cluster;
  const definition = findEvent(cluster.definition, eventId);
  if (!definition) return Status.UnsupportedEvent;
  if (definition.privilege !== Privilege.View && !allowed(scope, endpointId, clusterId, definition.privilege)) return Status.UnsupportedAccess;
  return undefined;
}

/** The lowest event number a reader asks for (EventFilterIB: our node, or any node when absent). */
export function eventMinFrom(filters: readonly { node?: bigint; eventMin: bigint }[] | undefined): bigint {
  let min = 0n;
  for (const filter of filters ?? []) if (filter.eventMin > min) min = filter.eventMin;
  return min;
}

export interface ReportMessage {
  payload: Uint8Array;
  /** More messages follow (MoreChunkedMessages). */
  more: boolean;
  /** Highest event number in this message, if any. */
  lastEventNumber?: bigint;
}

/**
 * Packs items into ReportData payloads of at most `budget` bytes, one message at a time. An item
 * too large even for an empty message is split when it is a list; otherwise it is dropped and
 * reported through `onOversize` (a value larger than a message cannot be sent at all).
 */
export class ReportPacker {
  private declare lookahead: Uint8Array | undefined;
  private declare lookaheadItem: ReportItem | undefined;
  private declare splitting: Iterator<Uint8Array> | undefined;
  private done = false;

  constructor(
    private readonly items: Iterator<ReportItem>,
    private readonly budget: number,
    private readonly header: { subscriptionId?: number; suppressResponseOnLast?: boolean },
    private readonly onOversize: (item: ReportItem) => void = () => {},
  ) {}

  get finished(): boolean {
    return this.done;
  }

  /** The next message; call until `more` is false. */
  next(): ReportMessage {
    const attributes: Uint8Array[] = [];
    const events: Uint8Array[] = [];
    let size = REPORT_DATA_OVERHEAD;
    let lastEventNumber: bigint | undefined;
    for (;;) {
      const next = this.take();
      if (!next) {
        this.done = true;
        break;
      }
      const { bytes, item } = next;
      if (size + bytes.length <= this.budget) {
        (item.kind === "event" ? events : attributes).push(bytes);
        size += bytes.length;
        if (item.eventNumber !== undefined) lastEventNumber = item.eventNumber;
        continue;
      }
      if (attributes.length + events.length > 0) {
        this.putBack(bytes, item);
        break;
      }
      // Alone in a message and still too large.
      if (item.split && !this.splitting) {
        this.splitting = item.split()[Symbol.iterator]();
        continue;
      }
      this.onOversize(item);
    }
    const more = !this.done;
    const parts: Parameters<typeof encodeReportData>[0] = {};
    if (this.header.subscriptionId !== undefined) parts.subscriptionId = this.header.subscriptionId;
    if (attributes.length > 0) parts.attributeReports = attributes;
    if (events.length > 0) parts.eventReports = events;
    if (more) parts.moreChunkedMessages = true;
    else if (this.header.suppressResponseOnLast) parts.suppressResponse = true;
    const message: ReportMessage = { payload: encodeReportData(parts), more };
    if (lastEventNumber !== undefined) message.lastEventNumber = lastEventNumber;
    return message;
  }

  private take(): { bytes: Uint8Array; item: ReportItem } | undefined {
    if (this.lookahead && this.lookaheadItem) {
      const taken = { bytes: this.lookahead, item: this.lookaheadItem };
      this.lookahead = undefined;
      this.lookaheadItem = undefined;
      return taken;
    }
    if (this.splitting) {
      const part = this.splitting.next();
      if (!part.done) return { bytes: part.value, item: { kind: "attribute", bytes: part.value } };
      this.splitting = undefined;
    }
    const next = this.items.next();
    if (next.done) return undefined;
    return { bytes: next.value.bytes, item: next.value };
  }

  private putBack(bytes: Uint8Array, item: ReportItem): void {
    this.lookahead = bytes;
    this.lookaheadItem = item;
  }
}

/** True when an event path (possibly wildcard) selects a logged event. */
export function eventPathSelects(path: EventPath, record: { endpoint: number; cluster: number; event: number }): boolean {
  return pathSelects({ endpoint: path.endpoint, cluster: path.cluster, attribute: path.event }, record.endpoint, record.cluster, record.event);
}

/** True when an attribute path (possibly wildcard) selects the concrete attribute. */
export function pathSelects(path: AttributePath, endpoint: number, cluster: number, attribute: number): boolean {
  return (
    (path.endpoint === undefined || path.endpoint === endpoint) &&
    (path.cluster === undefined || path.cluster === cluster) &&
    (path.attribute === undefined || path.attribute === attribute)
  );
}
