// The data model (Matter Core spec chapter 7): a node of endpoints, each with cluster servers.
//
// A cluster is a constant definition (its attributes, commands and events as tables, made once
// at module level with defineCluster) plus a ClusterServer subclass holding the instance's
// state. Attribute values are produced on demand from that state, so a cluster costs one object
// and its fields, not an object per attribute:
//
//   const OnOff = defineCluster({ id: 0x0006, name: "OnOff", revision: 6,
//     attributes: [attribute(0x0000, "onOff", bool, { persistent: true })],
//     commands: [command(0x00, "off", empty), ...] });
//   class OnOffServer extends ClusterServer {
//     onOff = false;                       // read by name: attribute "onOff"
//     constructor() { super(OnOff); }
//     override invoke(command, request, context) { ... this.set("onOff", true); ... }
//   }
//   node.addEndpoint({ id: 1, deviceTypes: [{ type: 0x0100, revision: 3 }], clusters: [new OnOffServer()] });
//   node.start();                          // restores persisted values, then calls started()
//
// Reads default to the instance property named like the attribute; writes (after the engine has
// checked access and decoded the value against the attribute's schema) assign it. Override
// readAttribute/writeAttribute for computed or validated attributes, and invoke for commands.
// Every change goes through attributeChanged (set does it): it bumps the cluster's data version,
// persists the cluster's persistent attributes and tells subscriptions.
import { TlvWriter, decodeTlv, type TlvElement } from "../codec/tlv";
import type { Random } from "../crypto";
import type { Clock, LogLevel } from "../platform";
import type { SecureSession } from "../transport/session";
import type { SubjectDescriptor } from "./access-control";
import { GlobalAttribute, Privilege, Status, type PrivilegeLevel, freeze } from "./constants";
import { StatusError } from "./errors";
import { EventLog, type EventNumberStore, type EventRecord } from "./events";
import { encodeStandalone, encodeValue, decodeValue, list, uint16, uint32, type FabricView, type Schema } from "./schema";
import type { AttributeStore } from "./store";

// ---------------------------------------------------------------------------------------------
// Definitions

export interface AttributeDefinition {
  readonly id: number;
  /** The ClusterServer property holding the value (camelCase of the spec's name). */
  readonly name: string;
  readonly schema: Schema;
  readonly readPrivilege: PrivilegeLevel;
  /** Absent: read-only. */
  readonly writePrivilege: PrivilegeLevel | undefined;
  /** A list of fabric-scoped structures (its entries carry a FabricIndex field). */
  readonly fabricScoped: boolean;
  /** Writes need a timed interaction. */
  readonly timed: boolean;
  /** Kept across reboots in the attribute store. */
  readonly persistent: boolean;
  /** Quality F: never changes while the node runs (wildcard reads may skip it). */
  readonly fixed: boolean;
  /** Quality C: changes are not reported (wildcard reads may skip it). */
  readonly changesOmitted: boolean;
}

export interface AttributeOptions {
  read?: PrivilegeLevel;
  write?: PrivilegeLevel;
  fabricScoped?: boolean;
  timed?: boolean;
  persistent?: boolean;
  fixed?: boolean;
  changesOmitted?: boolean;
}

export function attribute(id: number, name: string, schema: Schema, options: AttributeOptions = {}): AttributeDefinition {
  return freeze({
    id,
    name,
    schema,
    readPrivilege: options.read ?? Privilege.View,
    writePrivilege: options.write,
    fabricScoped: options.fabricScoped ?? false,
    timed: options.timed ?? false,
    persistent: options.persistent ?? false,
    fixed: options.fixed ?? false,
    changesOmitted: options.changesOmitted ?? false,
  });
}

export interface CommandDefinition {
  readonly id: number;
  readonly name: string;
  /** The request's fields (a struct, or `empty`). */
  readonly request: Schema;
  /** The response command; absent when the command answers with a status. */
  readonly response: { readonly id: number; readonly schema: Schema } | undefined;
  readonly privilege: PrivilegeLevel;
  readonly timed: boolean;
  /** Needs an accessing fabric (quality F). */
  readonly fabricScoped: boolean;
}

export function command(
  id: number,
  name: string,
  request: Schema,
  options: { response?: { id: number; schema: Schema }; privilege?: PrivilegeLevel; timed?: boolean; fabricScoped?: boolean } = {},
): CommandDefinition {
  return freeze({
    id,
    name,
    request,
    response: options.response ? freeze({ ...options.response }) : undefined,
    privilege: options.privilege ?? Privilege.Operate,
    timed: options.timed ?? false,
    fabricScoped: options.fabricScoped ?? false,
  });
}

export interface EventDefinition {
  readonly id: number;
  readonly name: string;
  readonly schema: Schema;
  readonly priority: number;
  readonly privilege: PrivilegeLevel;
  /** Only readers of the event's fabric see it. */
  readonly fabricSensitive: boolean;
}

export function event(id: number, name: string, schema: Schema, priority: number, options: { privilege?: PrivilegeLevel; fabricSensitive?: boolean } = {}): EventDefinition {
  return freeze({ id, name, schema, priority, privilege: options.privilege ?? Privilege.View, fabricSensitive: options.fabricSensitive ?? false });
}

export interface ClusterDefinition {
  readonly id: number;
  readonly name: string;
  readonly revision: number;
  readonly featureMap: number;
  /** The cluster's attributes followed by the global ones. */
  readonly attributes: readonly AttributeDefinition[];
  readonly commands: readonly CommandDefinition[];
  readonly events: readonly EventDefinition[];
  /** Quality K: a diagnostics cluster (wildcard reads may skip it). */
  readonly diagnostics: boolean;
}

const idList = list(uint32);

/** The global attributes every cluster serves (spec 7.13); EventList is left out, as CHIP does by default. */
const GLOBAL_ATTRIBUTES: readonly AttributeDefinition[] = freeze([
  attribute(GlobalAttribute.GeneratedCommandList, "generatedCommandList", idList, { fixed: true }),
  attribute(GlobalAttribute.AcceptedCommandList, "acceptedCommandList", idList, { fixed: true }),
  attribute(GlobalAttribute.AttributeList, "attributeList", idList, { fixed: true }),
  attribute(GlobalAttribute.FeatureMap, "featureMap", uint32, { fixed: true }),
  attribute(GlobalAttribute.ClusterRevision, "clusterRevision", uint16, { fixed: true }),
]);

export function defineCluster(spec: {
  id: number;
  name: string;
  revision: number;
  featureMap?: number;
  attributes?: AttributeDefinition[];
  commands?: CommandDefinition[];
  events?: EventDefinition[];
  diagnostics?: boolean;
}): ClusterDefinition {
  const attributes = [...(spec.attributes ?? []), ...GLOBAL_ATTRIBUTES];
  const ids = new Set<number>();
  for (const a of attributes) {
    if (ids.has(a.id)) throw new Error(`${spec.name}: attribute 0x${a.id.toString(16)} defined twice`);
    ids.add(a.id);
  }
  return freeze({
    id: spec.id,
    name: spec.name,
    revision: spec.revision,
    featureMap: spec.featureMap ?? 0,
    attributes: freeze(attributes),
    commands: freeze([...(spec.commands ?? [])]),
    events: freeze([...(spec.events ?? [])]),
    diagnostics: spec.diagnostics ?? false,
  });
}

function byId<T extends { readonly id: number }>(items: readonly T[], id: number): T | undefined {
  return items.find((item) => item.id === id);
}

export function findAttribute(definition: ClusterDefinition, id: number): AttributeDefinition | undefined {
  return byId(definition.attributes, id);
}

export function findCommand(definition: ClusterDefinition, id: number): CommandDefinition | undefined {
  return byId(definition.commands, id);
}

export function findEvent(definition: ClusterDefinition, id: number): EventDefinition | undefined {
  return byId(definition.events, id);
}

// ---------------------------------------------------------------------------------------------
// Contexts handed to cluster code

/** Who reads, and how fabric-scoped lists are shown to them. */
export interface ReadContext extends FabricView {
  /** Undefined for reads by the device itself. */
  subject?: SubjectDescriptor;
}

export interface WriteContext {
  subject?: SubjectDescriptor;
  /** The accessing fabric (0: none); fabric-scoped list entries written carry it. */
  fabricIndex: number;
  session?: SecureSession;
  timed: boolean;
}

export interface InvokeContext {
  subject?: SubjectDescriptor;
  /** The session the command came on: fabric index, attestation challenge, kind ("pase"/"case"). */
  session?: SecureSession;
  /** The accessing fabric (0: none). */
  fabricIndex: number;
  timed: boolean;
  endpoint: number;
  commandRef?: number;
  /** Runs `callback` once the response has been sent (or dropped): closing sessions, rebooting. */
  afterResponse(callback: () => void): void;
}

/** A context for the device's own reads: everything, unfiltered. */
export const LOCAL_READ: ReadContext = freeze({ fabricIndex: 0, fabricFiltered: false });

// ---------------------------------------------------------------------------------------------
// Cluster servers

export abstract class ClusterServer {
  declare readonly definition: ClusterDefinition;
  /** Bumped on every change of any attribute (spec 7.10.3); starts random. */
  dataVersion = 0;
  private declare host: DataModel | undefined;
  private endpointNumber = -1;

  constructor(definition: ClusterDefinition) {
    this.definition = definition;
  }

  get endpointId(): number {
    return this.endpointNumber;
  }

  get isAttached(): boolean {
    return this.host !== undefined;
  }

  /** The node this cluster belongs to (throws before addEndpoint). */
  protected get node(): DataModel {
    if (!this.host) throw new Error(`${this.definition.name} not attached`);
    return this.host;
  }

  /** @internal called by DataModel.addEndpoint */
  attach(host: DataModel, endpoint: number, initialVersion: number): void {
    if (this.host) throw new Error(`${this.definition.name} already attached`);
    this.host = host;
    this.endpointNumber = endpoint;
    this.dataVersion = initialVersion >>> 0;
  }

  /** Called once after persisted values are restored: start timers, emit start-up events. */
  started(): void {}

  /** Called when the node shuts down: stop timers. */
  stopped(): void {}

  /** The current value of an attribute of this cluster (a JavaScript value matching its schema). */
  readAttribute(attribute: AttributeDefinition, _context: ReadContext): unknown {
    const value = (this as unknown as Record<string, unknown>)[attribute.name];
    if (value === undefined) throw new Error(`${this.definition.name} has no value for ${attribute.name}`);
    return value;
  }

  /**
   * Applies a write that passed access control and schema checks. The default assigns the
   * property and reports the change; throw StatusError to refuse (e.g. CONSTRAINT_ERROR).
   */
  writeAttribute(attribute: AttributeDefinition, value: unknown, _context: WriteContext): void {
    this.set(attribute.name, value);
  }

  /** Handles a command whose fields passed the schema; returns the response's fields, if it has one. */
  invoke(command: CommandDefinition, _request: unknown, _context: InvokeContext): unknown {
    throw new StatusError(Status.UnsupportedCommand, `${this.definition.name} does not implement ${command.name}`);
  }

  /** Takes a value from the attribute store at start-up; no change is reported. */
  restoreAttribute(attribute: AttributeDefinition, value: unknown): void {
    (this as unknown as Record<string, unknown>)[attribute.name] = value;
  }

  /** Reads any attribute, global ones included. */
  readValue(attribute: AttributeDefinition, context: ReadContext): unknown {
    const { revision, featureMap, attributes, commands } = this.definition;
    switch (attribute.id) {
      case GlobalAttribute.ClusterRevision:
        return revision;
      case GlobalAttribute.FeatureMap:
        return featureMap;
      case GlobalAttribute.AttributeList:
        return attributes.map((a) => a.id);
      case GlobalAttribute.AcceptedCommandList:
        return commands.map((c) => c.id);
      case GlobalAttribute.GeneratedCommandList: {
        const ids: number[] = [];
        for (const { response } of commands) if (response && !ids.includes(response.id)) ids.push(response.id);
        return ids;
      }
      default:
        return this.readAttribute(attribute, context);
    }
  }

  /** Sets the property of attribute `name` and reports the change if the value differs. */
  protected set(name: string, value: unknown): void {
    const target = this as unknown as Record<string, unknown>;
    if (valuesEqual(target[name], value)) return;
    target[name] = value;
    const { attributes, name: cluster } = this.definition;
    const attribute = attributes.find((a) => a.name === name);
    if (!attribute) throw new Error(`${cluster} has no attribute ${name}`);
    this.attributeChanged(attribute.id);
  }

  /** Reports a change of an attribute whose value is computed from state the cluster keeps. */
  protected attributeChanged(attributeId: number): void {
    this.dataVersion = (this.dataVersion + 1) >>> 0;
    this.host?.attributeChanged(this, attributeId);
  }

  /** Records an event of this cluster (fields per the event's schema). */
  protected emitEvent(eventId: number, data: unknown, fabricIndex = 0): EventRecord | undefined {
    return this.host?.emitEvent(this, eventId, data, fabricIndex);
  }
}

/** Deep equality for attribute values (numbers, bigints, strings, bytes, arrays, plain objects). */
export function valuesEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  const bytes = a instanceof Uint8Array;
  const list = Array.isArray(a);
  // Bytes equal bytes and lists equal lists, element by element; never one the other.
  if (bytes || list || b instanceof Uint8Array || Array.isArray(b)) {
    if (bytes !== b instanceof Uint8Array || list !== Array.isArray(b)) return false;
    const x = a as ArrayLike<unknown>;
    const y = b as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!valuesEqual(x[i], y[i])) return false;
    return true;
  }
  if (typeof a === "object" && typeof b === "object" && a !== null && b !== null) {
    const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
    const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (!valuesEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Endpoints and the node

export interface DeviceType {
  type: number;
  revision: number;
}

export interface EndpointSpec {
  id: number;
  deviceTypes: DeviceType[];
  clusters: ClusterServer[];
  /** The endpoint this one is a part of (composed devices); the root lists every endpoint. */
  parent?: number;
}

export class Endpoint {
  declare readonly id: number;
  declare readonly deviceTypes: readonly DeviceType[];
  declare readonly clusters: readonly ClusterServer[];
  declare readonly parent: number | undefined;

  constructor(spec: EndpointSpec) {
    if (!Number.isInteger(spec.id) || spec.id < 0 || spec.id > 0xfffe) throw new RangeError(`endpoint id ${spec.id} is outside 0..65534`);
    this.id = spec.id;
    this.deviceTypes = freeze(spec.deviceTypes.map((d) => freeze({ ...d })));
    this.clusters = freeze([...spec.clusters].sort((a, b) => a.definition.id - b.definition.id));
    this.parent = spec.parent;
    const ids = this.clusters.map((cluster) => cluster.definition.id);
    ids.forEach((id, i) => {
      if (id === ids[i - 1]) throw new Error(`endpoint ${spec.id}: cluster 0x${id.toString(16)} twice`);
    });
  }

  cluster(id: number): ClusterServer | undefined {
    return this.clusters.find((cluster) => cluster.definition.id === id);
  }
}

export type AttributeChangeListener = (endpoint: number, cluster: number, attribute: number) => void;
export type EventListener = (record: EventRecord) => void;

export interface DataModelOptions {
  clock: Clock;
  /** Seeds the initial data versions. */
  random: Random;
  store?: AttributeStore;
  eventNumbers?: EventNumberStore;
  eventCapacity?: number;
  log?: (level: LogLevel, message: string) => void;
}

/** The node: its endpoints, event log, persistence and change notifications. */
export class DataModel {
  declare readonly clock: Clock;
  declare readonly events: EventLog;
  declare readonly log: (level: LogLevel, message: string) => void;
  private declare readonly random: Random;
  private declare readonly store: AttributeStore | undefined;
  private readonly endpointList: Endpoint[] = [];
  private readonly attributeListeners: AttributeChangeListener[] = [];
  private readonly eventListeners: EventListener[] = [];
  private declare readonly bootMs: number;
  private running = false;

  constructor(options: DataModelOptions) {
    this.clock = options.clock;
    this.random = options.random;
    this.store = options.store;
    this.log = options.log ?? (() => {});
    this.events = new EventLog(options.eventNumbers, options.eventCapacity);
    this.bootMs = options.clock.now();
  }

  get endpoints(): readonly Endpoint[] {
    return this.endpointList;
  }

  /** Milliseconds since the node was made (the System Timestamp of events, UpTime). */
  uptimeMs(): number {
    // Whole milliseconds: event timestamps and TimeSnapshot carry them as integers (BigInt refuses
    // a fraction), and host clocks such as performance.now() have finer resolution.
    return Math.floor(this.clock.now() - this.bootMs);
  }

  addEndpoint(spec: EndpointSpec): Endpoint {
    if (this.endpoint(spec.id)) throw new Error(`endpoint ${spec.id} already exists`);
    const endpoint = new Endpoint(spec);
    for (const cluster of endpoint.clusters) {
      const seed = this.random.bytes(4);
      cluster.attach(this, endpoint.id, (seed[0]! | (seed[1]! << 8) | (seed[2]! << 16) | (seed[3]! << 24)) >>> 0);
    }
    this.endpointList.push(endpoint);
    this.endpointList.sort((a, b) => a.id - b.id);
    if (this.running) this.startEndpoint(endpoint);
    return endpoint;
  }

  endpoint(id: number): Endpoint | undefined {
    return byId(this.endpointList, id);
  }

  cluster(endpointId: number, clusterId: number): ClusterServer | undefined {
    return this.endpoint(endpointId)?.cluster(clusterId);
  }

  deviceTypesOn(endpointId: number): number[] {
    return this.endpoint(endpointId)?.deviceTypes.map((d) => d.type) ?? [];
  }

  /** The Descriptor's PartsList: every other endpoint for the root, else the endpoints under this one. */
  partsOf(endpointId: number): number[] {
    if (endpointId === 0) return this.endpointList.filter((e) => e.id !== 0).map((e) => e.id);
    const parts: number[] = [];
    const collect = (parent: number): void => {
      for (const e of this.endpointList) {
        if (e.parent === parent && !parts.includes(e.id)) {
          parts.push(e.id);
          collect(e.id);
        }
      }
    };
    collect(endpointId);
    return parts;
  }

  /** Restores persisted attributes, then lets every cluster start. Call once, after adding the endpoints. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const endpoint of this.endpointList) this.startEndpoint(endpoint);
  }

  /** Stops every cluster's timers. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const endpoint of this.endpointList) for (const cluster of endpoint.clusters) cluster.stopped();
  }

  onAttributeChanged(listener: AttributeChangeListener): () => void {
    this.attributeListeners.push(listener);
    return () => remove(this.attributeListeners, listener);
  }

  onEvent(listener: EventListener): () => void {
    this.eventListeners.push(listener);
    return () => remove(this.eventListeners, listener);
  }

  /** @internal from ClusterServer.attributeChanged */
  attributeChanged(cluster: ClusterServer, attributeId: number): void {
    if (findAttribute(cluster.definition, attributeId)?.persistent) this.persist(cluster);
    this.notify(this.attributeListeners, (listener) => listener(cluster.endpointId, cluster.definition.id, attributeId));
  }

  /** Calls every listener (a copy of the list: listeners may remove themselves); one that throws is logged. */
  private notify<T>(listeners: T[], call: (listener: T) => void): void {
    for (const listener of [...listeners]) {
      try {
        call(listener);
      } catch (error) {
        this.log("error", `listener failed: ${(error as Error).message}`);
      }
    }
  }

  /** @internal from ClusterServer.emitEvent */
  emitEvent(cluster: ClusterServer, eventId: number, data: unknown, fabricIndex: number): EventRecord {
    const definition = findEvent(cluster.definition, eventId);
    if (!definition) throw new Error(`${cluster.definition.name} has no event 0x${eventId.toString(16)}`);
    const record = this.events.append({
      endpoint: cluster.endpointId,
      cluster: cluster.definition.id,
      event: eventId,
      priority: definition.priority,
      systemTimestampMs: this.uptimeMs(),
      fabricIndex,
      payload: encodeStandalone(definition.schema, data),
    });
    this.notify(this.eventListeners, (listener) => listener(record));
    return record;
  }

  /** Writes the persistent attributes of `cluster` as one record. */
  persist(cluster: ClusterServer): void {
    const { store } = this;
    if (!store) return;
    const { name, id, attributes } = cluster.definition;
    const w = new TlvWriter().startArray(undefined);
    for (const attribute of attributes) {
      if (!attribute.persistent) continue;
      w.startStructure(undefined).uint(0, attribute.id);
      encodeValue(w, 1, attribute.schema, cluster.readValue(attribute, LOCAL_READ), undefined, `${name}.${attribute.name}`);
      w.end();
    }
    try {
      store.save(cluster.endpointId, id, w.end().finish());
    } catch (error) {
      this.log("error", `saving ${name} failed: ${(error as Error).message}`);
    }
  }

  private startEndpoint(endpoint: Endpoint): void {
    for (const cluster of endpoint.clusters) this.restore(cluster);
    for (const cluster of endpoint.clusters) {
      try {
        cluster.started();
      } catch (error) {
        this.log("error", `${cluster.definition.name}@${endpoint.id} failed to start: ${(error as Error).message}`);
      }
    }
  }

  private restore(cluster: ClusterServer): void {
    const { definition, endpointId } = cluster;
    const record = this.store?.load(endpointId, definition.id);
    if (!record) return;
    const ignoring = (what: string, error: unknown) => this.log("warn", `ignoring ${what} ${definition.name}@${endpointId}: ${(error as Error).message}`);
    let entries: TlvElement[];
    try {
      const decoded = decodeTlv(record);
      if (decoded.type !== "array") throw new Error("not an array");
      entries = decoded.value as TlvElement[];
    } catch (error) {
      return ignoring("the unreadable record of", error);
    }
    for (const entry of entries) {
      try {
        const fields = entry.value as TlvElement[];
        const idElement = fields.find((f) => f.tag === 0);
        const valueElement = fields.find((f) => f.tag === 1);
        if (entry.type !== "structure" || !idElement || !valueElement || typeof idElement.value !== "number") throw new Error("malformed entry");
        const attribute = findAttribute(definition, idElement.value);
        if (!attribute?.persistent) continue; // an attribute this firmware no longer keeps
        cluster.restoreAttribute(attribute, decodeValue(valueElement, attribute.schema));
      } catch (error) {
        ignoring("a stored value of", error);
      }
    }
  }
}

function remove<T>(items: T[], item: T): void {
  const index = items.indexOf(item);
  if (index >= 0) items.splice(index, 1);
}
