// The Interaction Model server (Matter Core spec chapter 8) on the transport's exchanges:
// Read, Subscribe, Write, Invoke and Timed interactions, chunked ReportData / WriteRequest /
// InvokeResponse, and access control on every path.
//
//   const server = new InteractionServer({ exchanges, model, accessControl, random, isCommissioning });
//
// It registers for protocol 0x0001; each exchange a peer opens runs as its own async task, so
// a malformed or stalled interaction (answered with INVALID_ACTION, or timed out) never holds up
// another. Interactions are served on secure sessions only.
//
// Limits (chosen for an ESP32 and documented in Basic Information's CapabilityMinima):
// - ReportData, WriteResponse and InvokeResponse payloads up to 1024 bytes (a message is at most
//   1280 bytes with headers and MIC); larger reports are chunked.
// - 4 commands per InvokeRequest (MaxPathsPerInvoke), 16 attribute and 8 event paths per read
//   or subscribe, 3 subscriptions per fabric, 15 in all (see subscriptions.ts).
// - A peer has 2 s (plus MRP's worst-case delivery) to answer each chunk.
import type { Random } from "../crypto";
import type { LogLevel } from "../platform";
import { INTERACTION_MODEL_PROTOCOL_ID, type Exchange, type ExchangeManager, type ReceivedMessage } from "../transport/exchange";
import type { SecureSession } from "../transport/session";
import { AuthMode, Opcode, Privilege, Status, statusName, freeze } from "./constants";
import { AccessControl, type SubjectDescriptor } from "./access-control";
import { StatusError } from "./errors";
import {
  INVOKE_RESPONSE_OVERHEAD,
  ImMessageError,
  commandResponseItem,
  commandStatusItem,
  decodeInvokeRequest,
  decodeReadRequest,
  decodeStatusResponse,
  decodeSubscribeRequest,
  decodeTimedRequest,
  decodeWriteRequest,
  encodeInvokeResponse,
  encodeStatusResponse,
  encodeSubscribeResponse,
  encodeWriteResponse,
  type AttributeData,
  type AttributePath,
  type AttributeStatus,
  type CommandData,
  type CommandPath,
  type EventPath,
  type InvokeRequestMessage,
  type ReadRequestMessage,
  type StatusIB,
  type SubscribeRequestMessage,
  type WriteRequestMessage,
} from "./messages";
import { findAttribute, findCommand, type DataModel, type InvokeContext, type WriteContext } from "./model";
import { ReportPacker, attributeReportItems, checkReadPaths, eventMinFrom, eventReportItems, locateCluster, type ReadScope, type ReportItem } from "./reports";
import { SchemaError, decodeValue, encodeValue, visibleEntry } from "./schema";
import { SubscriptionManager } from "./subscriptions";

export interface InteractionLimits {
  /** Largest IM payload sent (bytes). */
  maxPayloadSize: number;
  maxPathsPerInvoke: number;
  maxAttributePaths: number;
  maxEventPaths: number;
  maxSubscriptionsPerFabric: number;
  maxSubscriptions: number;
  /** How long the peer may take to process a message of ours before answering. */
  processingTimeMs: number;
}

export const DEFAULT_INTERACTION_LIMITS: Readonly<InteractionLimits> = freeze({
  maxPayloadSize: 1024,
  maxPathsPerInvoke: 4,
  maxAttributePaths: 16,
  maxEventPaths: 8,
  maxSubscriptionsPerFabric: 3,
  maxSubscriptions: 15,
  processingTimeMs: 2000,
});

/** MaxPathsPerInvoke, for Basic Information and the session parameters. */
export const MAX_PATHS_PER_INVOKE = DEFAULT_INTERACTION_LIMITS.maxPathsPerInvoke;
export const SUBSCRIPTIONS_PER_FABRIC = DEFAULT_INTERACTION_LIMITS.maxSubscriptionsPerFabric;

export interface InteractionServerOptions {
  exchanges: ExchangeManager;
  model: DataModel;
  accessControl: AccessControl;
  /** Subscription ids. */
  random: Random;
  /**
   * Who a session speaks for; the default derives it from the session and isCommissioning. A
   * device overrides it to give a PASE session the fabric its AddNOC created, so that the
   * commissioner can write that fabric's fabric-scoped data before CommissioningComplete.
   */
  describeSubject?: (session: SecureSession) => SubjectDescriptor;
  /**
   * For the default describeSubject: whether a PASE session is commissioning the node now. It
   * must hold from the session's start (ArmFailSafe itself needs Administer) until
   * CommissioningComplete or the fail-safe's expiry, and never for any other PASE session.
   */
  isCommissioning?: (session: SecureSession) => boolean;
  limits?: Partial<InteractionLimits>;
  log?: (level: LogLevel, message: string) => void;
}

/** The subject descriptor of a secure session (spec 6.6.2.1). */
export function subjectOfSession(session: SecureSession, isCommissioning: boolean): SubjectDescriptor {
  if (session.kind === "pase") return { authMode: AuthMode.Pase, subject: 0n, cats: [], fabricIndex: session.fabricIndex, isCommissioning };
  return { authMode: AuthMode.Case, subject: session.peerNodeId, cats: session.caseAuthenticatedTags, fabricIndex: session.fabricIndex, isCommissioning: false };
}

/** What one exchange knows about its peer. */
interface Peer {
  exchange: Exchange;
  session: SecureSession;
  subject: SubjectDescriptor;
}

const SUBSCRIPTION_ID_ATTEMPTS = 16;

function send(exchange: Exchange, opcode: number, payload: Uint8Array): void {
  exchange.send(INTERACTION_MODEL_PROTOCOL_ID, opcode, payload);
}

function statusIB(status: number, clusterStatus?: number): StatusIB {
  return clusterStatus === undefined ? { status } : { status, clusterStatus };
}

/**
 * The status a write or an invoke answers for `error` (a write's schema errors are all
 * CONSTRAINT_ERROR), or undefined when the error carries none.
 */
function statusOfError(error: unknown, schemaStatus?: number): StatusIB | undefined {
  if (error instanceof StatusError) return statusIB(error.status, error.clusterStatus);
  if (error instanceof SchemaError) return statusIB(schemaStatus ?? (error.kind === "constraint" ? Status.ConstraintError : Status.InvalidCommand));
  return undefined;
}

function unexpected(message: ReceivedMessage, expected: string): ImMessageError {
  return new ImMessageError(`got opcode 0x${message.opcode.toString(16)}, expected ${expected}`);
}

function timedMismatch(timed: boolean): StatusError {
  return new StatusError(Status.TimedRequestMismatch, timed ? "TimedRequest flag missing" : "TimedRequest flag without a TimedRequest");
}

export class InteractionServer {
  declare readonly limits: InteractionLimits;
  declare readonly subscriptions: SubscriptionManager;
  private declare readonly exchanges: ExchangeManager;
  private declare readonly model: DataModel;
  private declare readonly access: AccessControl;
  private declare readonly random: Random;
  private declare readonly describeSubject: (session: SecureSession) => SubjectDescriptor;
  private declare readonly log: (level: LogLevel, message: string) => void;
  private readonly running = new Set<Promise<void>>();

  constructor(options: InteractionServerOptions) {
    const exchanges = (this.exchanges = options.exchanges);
    const model = (this.model = options.model);
    const access = (this.access = options.accessControl);
    this.random = options.random;
    const limits = (this.limits = { ...DEFAULT_INTERACTION_LIMITS, ...options.limits });
    const log = (this.log = options.log ?? (() => {}));
    const isCommissioning = options.isCommissioning ?? (() => false);
    this.describeSubject = options.describeSubject ?? ((session) => subjectOfSession(session, isCommissioning(session)));
    this.subscriptions = new SubscriptionManager({
      exchanges,
      sessions: exchanges.sessions,
      model,
      access,
      maxPayloadSize: limits.maxPayloadSize,
      processingTimeMs: limits.processingTimeMs,
      maxPerFabric: limits.maxSubscriptionsPerFabric,
      maxTotal: limits.maxSubscriptions,
      log,
    });
    exchanges.registerProtocol(INTERACTION_MODEL_PROTOCOL_ID, (exchange, message) => this.accept(exchange, message));
  }

  /** Interactions still being served (tests wait for them). */
  get activeInteractions(): number {
    return this.running.size;
  }

  close(): void {
    this.exchanges.unregisterProtocol(INTERACTION_MODEL_PROTOCOL_ID);
    this.subscriptions.close();
  }

  private accept(exchange: Exchange, message: ReceivedMessage): void {
    const session = exchange.session;
    if (session.kind === "unsecured") {
      this.log("warn", "IM message on an unsecured session dropped");
      exchange.abort();
      return;
    }
    const peer: Peer = { exchange, session, subject: this.describeSubject(session) };
    const task = this.serve(peer, message).finally(() => this.running.delete(task));
    this.running.add(task);
  }

  /** Serves one exchange to its end; every failure ends in a StatusResponse or a silent close. */
  private async serve(peer: Peer, message: ReceivedMessage): Promise<void> {
    const { exchange } = peer;
    const { opcode, payload } = message;
    try {
      if (opcode === Opcode.ReadRequest) await this.read(peer, decodeReadRequest(payload));
      else if (opcode === Opcode.SubscribeRequest) await this.subscribe(peer, decodeSubscribeRequest(payload));
      else if (opcode === Opcode.TimedRequest) await this.timed(peer, decodeTimedRequest(payload).timeoutMs);
      else await this.action(peer, message, false);
    } catch (error) {
      const status = error instanceof StatusError ? error.status : error instanceof ImMessageError ? Status.InvalidAction : undefined;
      if (status !== undefined) {
        this.log("info", `refused with ${statusName(status)}: ${(error as Error).message}`);
        this.sendStatus(exchange, status);
        exchange.close();
      } else {
        this.log("info", `interaction ended: ${(error as Error).message}`);
        exchange.abort();
      }
    }
  }

  private sendStatus(exchange: Exchange, status: number): void {
    try {
      if (exchange.isOpen) send(exchange, Opcode.StatusResponse, encodeStatusResponse(status));
    } catch (error) {
      this.log("debug", `status response not sent: ${(error as Error).message}`);
    }
  }

  /** The peer's next message on `exchange`, waiting `extraMs` beyond its processing time. */
  private nextMessage(exchange: Exchange, extraMs = 0): Promise<ReceivedMessage> {
    return exchange.nextMessage(extraMs + exchange.responseTimeoutMs(this.limits.processingTimeMs));
  }

  /** Waits for the peer's StatusResponse to a chunk; anything but SUCCESS ends the interaction. */
  private async awaitStatus(exchange: Exchange): Promise<void> {
    const reply = await this.nextMessage(exchange);
    if (reply.opcode !== Opcode.StatusResponse) throw unexpected(reply, "a StatusResponse");
    const { status } = decodeStatusResponse(reply.payload);
    if (status !== Status.Success) throw new PeerStatusError(status);
  }

  /** A write or an invoke (`message`), alone or after a TimedRequest; anything else is refused. */
  private action(peer: Peer, message: ReceivedMessage, timed: boolean): Promise<void> {
    const { opcode, payload } = message;
    if (opcode === Opcode.WriteRequest) return this.write(peer, decodeWriteRequest(payload), timed);
    if (opcode === Opcode.InvokeRequest) return this.invoke(peer, decodeInvokeRequest(payload), timed);
    throw unexpected(message, "an interaction's first message");
  }

  private scope(peer: Peer, fabricFiltered: boolean): ReadScope {
    return { model: this.model, access: this.access, subject: peer.subject, fabricFiltered, log: (message) => this.log("warn", message) };
  }

  // -------------------------------------------------------------------------------------------
  // Read

  /** The paths of a read or a subscription, checked against the spec's rules and this node's limits. */
  private readPaths(request: ReadRequestMessage): [AttributePath[], EventPath[]] {
    const attributePaths = request.attributeRequests ?? [];
    const eventPaths = request.eventRequests ?? [];
    const { maxAttributePaths, maxEventPaths } = this.limits;
    checkReadPaths(attributePaths, eventPaths);
    if (attributePaths.length > maxAttributePaths || eventPaths.length > maxEventPaths) {
      throw new StatusError(Status.PathsExhausted, `too many paths: ${attributePaths.length} attribute, ${eventPaths.length} event`);
    }
    return [attributePaths, eventPaths];
  }

  /** The report messages of a read or a subscription's priming. */
  private reports(peer: Peer, request: ReadRequestMessage, [attributePaths, eventPaths]: [AttributePath[], EventPath[]], options: { subscriptionId?: number; suppressResponseOnLast?: boolean }): ReportPacker {
    const scope = this.scope(peer, request.isFabricFiltered);
    const eventMin = eventMinFrom(request.eventFilters);
    const filters = request.dataVersionFilters;
    const items = (function* (): Generator<ReportItem> {
      yield* attributeReportItems(scope, attributePaths, filters ? { dataVersionFilters: filters } : {});
      yield* eventReportItems(scope, eventPaths, eventMin, true);
    })();
    return new ReportPacker(items, this.limits.maxPayloadSize, options, () => this.log("warn", "a value too large for a report was left out"));
  }

  private async read(peer: Peer, request: ReadRequestMessage): Promise<void> {
    const packer = this.reports(peer, request, this.readPaths(request), { suppressResponseOnLast: true });
    await this.sendReports(peer.exchange, packer, false);
    peer.exchange.close();
  }

  /**
   * Sends every message of `packer`; chunks (and, for subscriptions, every message) wait for the
   * peer's StatusResponse. Returns the number of the last event reported.
   */
  private async sendReports(exchange: Exchange, packer: ReportPacker, acknowledgeLast: boolean): Promise<bigint | undefined> {
    let lastEvent: bigint | undefined;
    for (;;) {
      const message = packer.next();
      send(exchange, Opcode.ReportData, message.payload);
      if (message.more || acknowledgeLast) await this.awaitStatus(exchange);
      if (message.lastEventNumber !== undefined) lastEvent = message.lastEventNumber;
      if (!message.more) return lastEvent;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Subscribe

  private async subscribe(peer: Peer, request: SubscribeRequestMessage): Promise<void> {
    const { exchange, subject } = peer;
    const { subscriptions, model } = this;
    if (!request.attributeRequests?.length && !request.eventRequests?.length) throw new ImMessageError("a subscription needs attribute or event paths");
    if (request.minIntervalFloor > request.maxIntervalCeiling) throw new ImMessageError("MinIntervalFloor is above MaxIntervalCeiling");
    const paths = this.readPaths(request);
    const [attributePaths, eventPaths] = paths;
    if (!request.keepSubscriptions) subscriptions.endSubscriberSubscriptions(subject);
    if (!subscriptions.makeRoom(subject)) throw new StatusError(Status.ResourceExhausted, "no room for another subscription");

    // The publisher may choose any max interval from the floor up to max(60 minutes, ceiling)
    // (spec 8.5.1.1); it takes the ceiling, but never less than a second.
    const maxInterval = Math.max(request.maxIntervalCeiling, 1);
    const eventMin = eventMinFrom(request.eventFilters);
    const subscription = subscriptions.add({
      id: this.newSubscriptionId(),
      session: peer.session,
      subject,
      attributePaths,
      eventPaths,
      fabricFiltered: request.isFabricFiltered,
      eventMin: eventMin > model.events.next ? eventMin : model.events.next,
      minIntervalSeconds: request.minIntervalFloor,
      maxIntervalSeconds: maxInterval,
    });
    const subscriptionId = subscription.id;
    subscription.exchange = exchange;
    try {
      const lastEvent = await this.sendReports(exchange, this.reports(peer, request, paths, { subscriptionId }), true);
      if (subscription.ended) throw new Error("the subscription ended while priming");
      if (lastEvent !== undefined && lastEvent >= subscription.eventMin) subscription.eventMin = lastEvent + 1n;
      send(exchange, Opcode.SubscribeResponse, encodeSubscribeResponse({ subscriptionId, maxInterval }));
      subscription.exchange = undefined;
      exchange.close();
      subscriptions.activate(subscription);
    } catch (error) {
      subscription.exchange = undefined;
      subscriptions.end(subscription, `priming failed: ${(error as Error).message}`);
      throw error;
    }
  }

  private newSubscriptionId(): number {
    for (let attempt = 0; attempt < SUBSCRIPTION_ID_ATTEMPTS; attempt++) {
      const bytes = this.random.bytes(4);
      const id = (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
      if (!this.subscriptions.find(id)) return id;
    }
    throw new StatusError(Status.ResourceExhausted, "no free subscription id");
  }

  // -------------------------------------------------------------------------------------------
  // Timed

  private async timed(peer: Peer, timeoutMs: number): Promise<void> {
    const { exchange } = peer;
    const clock = this.model.clock;
    const deadline = clock.now() + timeoutMs;
    send(exchange, Opcode.StatusResponse, encodeStatusResponse(Status.Success));
    // Wait past the deadline so that a late action still gets its TIMEOUT answer.
    const action = await this.nextMessage(exchange, timeoutMs);
    const { opcode } = action;
    if (opcode !== Opcode.WriteRequest && opcode !== Opcode.InvokeRequest) throw unexpected(action, "a write or an invoke");
    if (clock.now() > deadline) throw new StatusError(Status.Timeout, "action after the TimedRequest's timeout");
    await this.action(peer, action, true);
  }

  // -------------------------------------------------------------------------------------------
  // Write

  private async write(peer: Peer, first: WriteRequestMessage, timed: boolean): Promise<void> {
    const { exchange, subject } = peer;
    let request = first;
    const suppressedChunk = () => new ImMessageError("a chunked write cannot suppress its responses");
    if (request.timedRequest !== timed) throw timedMismatch(timed);
    if (request.moreChunkedMessages && request.suppressResponse) throw suppressedChunk();
    if (request.moreChunkedMessages && timed) throw new ImMessageError("a timed write cannot be chunked");
    const context: WriteContext = { subject, fabricIndex: subject.fabricIndex, session: peer.session, timed };
    for (;;) {
      const writeResponses = request.writeRequests.map((data) => this.writeOne(peer, data, context));
      if (!request.suppressResponse) send(exchange, Opcode.WriteResponse, encodeWriteResponse({ writeResponses }));
      if (!request.moreChunkedMessages) break;
      const next = await this.nextMessage(exchange);
      if (next.opcode !== Opcode.WriteRequest) throw unexpected(next, "a WriteRequest chunk");
      request = decodeWriteRequest(next.payload);
      if (request.timedRequest !== timed) throw timedMismatch(timed);
      if (request.suppressResponse) throw suppressedChunk();
    }
    exchange.close();
  }

  private writeOne({ subject }: Peer, data: AttributeData, context: WriteContext): AttributeStatus {
    const { endpoint, cluster: clusterId, attribute: attributeId, listIndex } = data.path;
    if (endpoint === undefined || clusterId === undefined || attributeId === undefined) throw new ImMessageError("a unicast write needs a concrete path");
    if (typeof listIndex === "number") throw new ImMessageError("list entries cannot be written by index");
    const append = listIndex === null;
    const { access, model } = this;
    const { fabricIndex } = context;
    const path: AttributePath = { endpoint, cluster: clusterId, attribute: attributeId };
    if (append) path.listIndex = null;
    const status = (code: number | StatusIB): AttributeStatus => ({ path, status: typeof code === "number" ? { status: code } : code });
    const target = { endpoint, cluster: clusterId };
    const cluster = locateCluster(model, access, subject, endpoint, clusterId);
    if (typeof cluster === "number") return status(cluster);
    const attribute = findAttribute(cluster.definition, attributeId);
    if (!attribute) return status(Status.UnsupportedAttribute);
    const { writePrivilege, fabricScoped, schema, name } = attribute;
    if (writePrivilege === undefined) return status(Status.UnsupportedWrite);
    if (!access.allows(subject, target, writePrivilege)) return status(Status.UnsupportedAccess);
    if (attribute.timed && !context.timed) return status(Status.NeedsTimedInteraction);
    if (fabricScoped && fabricIndex === 0) return status(Status.UnsupportedAccess);
    if (data.dataVersion !== undefined && data.dataVersion !== cluster.dataVersion) return status(Status.DataVersionMismatch);
    const fabric = fabricScoped ? fabricIndex : undefined;
    let decoded = false;
    try {
      let value: unknown;
      if (append) {
        if (schema.kind !== "list") throw new ImMessageError("only list attributes take appends");
        const entry = decodeValue(data.data, schema.item, fabric, name);
        const view = { fabricIndex, fabricFiltered: true };
        const current = cluster.readValue(attribute, { ...view, subject });
        if (!Array.isArray(current)) throw new Error(`${name} is not a list`);
        value = [...(fabricScoped ? current.filter((e) => visibleEntry(schema.item, e, view)) : current), entry];
        if (schema.maxLength !== undefined && (value as unknown[]).length > schema.maxLength) return status(Status.ResourceExhausted);
      } else {
        value = decodeValue(data.data, schema, fabric, name);
      }
      decoded = true;
      cluster.writeAttribute(attribute, value, context);
    } catch (error) {
      const answer = statusOfError(error, Status.ConstraintError);
      if (answer) return status(answer);
      // Any other decoding failure ends the interaction; any other write failure is this node's FAILURE.
      if (!decoded) throw error;
      this.log("error", `writing ${cluster.definition.name}.${name} failed: ${(error as Error).message}`);
      return status(Status.Failure);
    }
    return status(Status.Success);
  }

  // -------------------------------------------------------------------------------------------
  // Invoke

  private async invoke(peer: Peer, request: InvokeRequestMessage, timed: boolean): Promise<void> {
    const { exchange } = peer;
    const { invokeRequests: commands, suppressResponse } = request;
    const { length } = commands;
    if (request.timedRequest !== timed) throw timedMismatch(timed);
    if (length === 0) throw new ImMessageError("an invoke needs at least one command");
    if (length > this.limits.maxPathsPerInvoke) throw new ImMessageError(`${length} commands exceed MaxPathsPerInvoke`);
    const batch = length > 1;
    const paths = new Set<string>();
    const refs = new Set<number>();
    for (const command of commands) {
      const { endpoint, cluster, command: id } = command.path;
      if (endpoint === undefined) throw new ImMessageError("a unicast invoke needs a concrete endpoint");
      if (batch) {
        // Spec 8.8.2 (since 1.3): every command of a batch carries a distinct CommandRef and a distinct path.
        if (command.commandRef === undefined) throw new ImMessageError("a batched command needs a CommandRef");
        if (refs.has(command.commandRef)) throw new ImMessageError(`CommandRef ${command.commandRef} repeats`);
        refs.add(command.commandRef);
        const key = `${endpoint}/${cluster}/${id}`;
        if (paths.has(key)) throw new ImMessageError(`command path ${key} repeats`);
        paths.add(key);
      }
    }

    const afterResponse: (() => void)[] = [];
    const budget = this.limits.maxPayloadSize;
    let pending: Uint8Array[] = [];
    let size = INVOKE_RESPONSE_OVERHEAD;
    for (const command of commands) {
      let item = await this.invokeOne(peer, command, timed, afterResponse);
      if (suppressResponse) continue;
      if (size + item.length > budget && pending.length > 0) {
        // Spec 8.8.3.3: a response too large for one message goes in chunks, each acknowledged.
        send(exchange, Opcode.InvokeResponse, encodeInvokeResponse({ invokeResponses: pending, moreChunkedMessages: true }));
        await this.awaitStatus(exchange);
        pending = [];
        size = INVOKE_RESPONSE_OVERHEAD;
      }
      if (size + item.length > budget) {
        this.log("error", "a command response too large: FAILURE instead");
        item = commandStatusItem(command.path as CommandPath, { status: Status.Failure }, command.commandRef);
      }
      pending.push(item);
      size += item.length;
    }
    if (!suppressResponse) send(exchange, Opcode.InvokeResponse, encodeInvokeResponse({ invokeResponses: pending }));
    exchange.close();
    if (afterResponse.length > 0) {
      await this.acknowledged(exchange);
      for (const callback of afterResponse) {
        try {
          callback();
        } catch (error) {
          this.log("error", `after-response action failed: ${(error as Error).message}`);
        }
      }
    }
  }

  /** Resolves once the exchange's last message is acknowledged or given up (bounded by MRP). */
  private acknowledged(exchange: Exchange): Promise<void> {
    return new Promise((resolve) => exchange.onClosed(resolve));
  }

  private async invokeOne({ subject, session }: Peer, data: CommandData, timed: boolean, afterResponse: (() => void)[]): Promise<Uint8Array> {
    const { endpoint, cluster: clusterId, command: commandId } = data.path as Required<CommandPath>;
    const { access, model } = this;
    const { fabricIndex } = subject;
    const path = { endpoint, cluster: clusterId, command: commandId };
    const ref = data.commandRef;
    const status = (code: number | StatusIB): Uint8Array => commandStatusItem(path, typeof code === "number" ? { status: code } : code, ref);
    const target = { endpoint, cluster: clusterId };
    const cluster = locateCluster(model, access, subject, endpoint, clusterId, Privilege.Operate);
    if (typeof cluster === "number") return status(cluster);
    const command = findCommand(cluster.definition, commandId);
    if (!command) return status(Status.UnsupportedCommand);
    const { request, fabricScoped, name, response } = command;
    if (!access.allows(subject, target, command.privilege)) return status(Status.UnsupportedAccess);
    if (fabricScoped && fabricIndex === 0) return status(Status.UnsupportedAccess);
    if (command.timed && !timed) return status(Status.NeedsTimedInteraction);
    const failed = (what: string, error: unknown) => {
      this.log("error", `${cluster.definition.name}.${name} ${what}: ${(error as Error).message}`);
      return status(Status.Failure);
    };

    let fields: unknown;
    try {
      if (data.fields === undefined) {
        if (request.kind === "struct" && request.fields.some((f) => !f.optional)) return status(Status.InvalidCommand);
        fields = request.kind === "struct" || request.kind === "empty" ? {} : undefined;
      } else {
        fields = decodeValue(data.fields, request, fabricScoped ? fabricIndex : undefined, name);
      }
    } catch (error) {
      if (error instanceof SchemaError) return status(statusOfError(error)!);
      throw error;
    }

    const context: InvokeContext = { subject, session, fabricIndex, timed, endpoint, afterResponse: (callback) => afterResponse.push(callback) };
    if (ref !== undefined) context.commandRef = ref;
    let result: unknown;
    try {
      result = await cluster.invoke(command, fields, context);
    } catch (error) {
      const answer = statusOfError(error);
      return answer ? status(answer) : failed("failed", error);
    }
    if (!response || result === undefined) return status(Status.Success);
    try {
      return commandResponseItem({ ...path, command: response.id }, (w, tag) => encodeValue(w, tag, response.schema, result, undefined, `${name} response`), ref);
    } catch (error) {
      return failed("response not encoded", error);
    }
  }
}

/** The peer ended a chunked interaction with a status other than SUCCESS. */
class PeerStatusError extends Error {
  override name = "PeerStatusError";
  constructor(readonly status: number) {
    super(`the peer answered with ${statusName(status)}`);
  }
}
