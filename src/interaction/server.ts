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
import { AuthMode, Opcode, Privilege, Status, statusName } from "./constants";
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
  type InvokeRequestMessage,
  type ReadRequestMessage,
  type SubscribeRequestMessage,
  type WriteRequestMessage,
} from "./messages";
import { findAttribute, findCommand, type DataModel, type InvokeContext, type WriteContext } from "./model";
import { ReportPacker, attributeReportItems, checkReadPaths, eventMinFrom, eventReportItems, type ReadScope, type ReportItem } from "./reports";
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

export const DEFAULT_INTERACTION_LIMITS: Readonly<InteractionLimits> = Object.freeze({
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

export class InteractionServer {
  readonly limits: InteractionLimits;
  readonly subscriptions: SubscriptionManager;
  private readonly exchanges: ExchangeManager;
  private readonly model: DataModel;
  private readonly access: AccessControl;
  private readonly random: Random;
  private readonly describeSubject: (session: SecureSession) => SubjectDescriptor;
  private readonly log: (level: LogLevel, message: string) => void;
  private readonly running = new Set<Promise<void>>();

  constructor(options: InteractionServerOptions) {
    this.exchanges = options.exchanges;
    this.model = options.model;
    this.access = options.accessControl;
    this.random = options.random;
    this.limits = { ...DEFAULT_INTERACTION_LIMITS, ...options.limits };
    this.log = options.log ?? (() => {});
    const isCommissioning = options.isCommissioning ?? (() => false);
    this.describeSubject = options.describeSubject ?? ((session) => subjectOfSession(session, isCommissioning(session)));
    this.subscriptions = new SubscriptionManager({
      exchanges: this.exchanges,
      sessions: this.exchanges.sessions,
      model: this.model,
      access: this.access,
      maxPayloadSize: this.limits.maxPayloadSize,
      processingTimeMs: this.limits.processingTimeMs,
      maxPerFabric: this.limits.maxSubscriptionsPerFabric,
      maxTotal: this.limits.maxSubscriptions,
      log: this.log,
    });
    this.exchanges.registerProtocol(INTERACTION_MODEL_PROTOCOL_ID, (exchange, message) => this.accept(exchange, message));
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
      this.log("warn", "interaction model message on an unsecured session dropped");
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
    try {
      switch (message.opcode) {
        case Opcode.ReadRequest:
          await this.read(peer, decodeReadRequest(message.payload));
          break;
        case Opcode.SubscribeRequest:
          await this.subscribe(peer, decodeSubscribeRequest(message.payload));
          break;
        case Opcode.WriteRequest:
          await this.write(peer, decodeWriteRequest(message.payload), false);
          break;
        case Opcode.InvokeRequest:
          await this.invoke(peer, decodeInvokeRequest(message.payload), false);
          break;
        case Opcode.TimedRequest:
          await this.timed(peer, decodeTimedRequest(message.payload).timeoutMs);
          break;
        default:
          throw new ImMessageError(`opcode 0x${message.opcode.toString(16)} does not start an interaction`);
      }
    } catch (error) {
      const status = error instanceof StatusError ? error.status : error instanceof ImMessageError ? Status.InvalidAction : undefined;
      if (status !== undefined) {
        this.log("info", `interaction refused with ${statusName(status)}: ${(error as Error).message}`);
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
      if (exchange.isOpen) exchange.send(INTERACTION_MODEL_PROTOCOL_ID, Opcode.StatusResponse, encodeStatusResponse(status));
    } catch (error) {
      this.log("debug", `status response not sent: ${(error as Error).message}`);
    }
  }

  /** Waits for the peer's StatusResponse to a chunk; anything but SUCCESS ends the interaction. */
  private async awaitStatus(exchange: Exchange): Promise<void> {
    const reply = await exchange.nextMessage(exchange.responseTimeoutMs(this.limits.processingTimeMs));
    if (reply.opcode !== Opcode.StatusResponse) throw new ImMessageError(`expected a StatusResponse, got opcode 0x${reply.opcode.toString(16)}`);
    const { status } = decodeStatusResponse(reply.payload);
    if (status !== Status.Success) throw new PeerStatusError(status);
  }

  private scope(peer: Peer, fabricFiltered: boolean): ReadScope {
    return { model: this.model, access: this.access, subject: peer.subject, fabricFiltered, log: (message) => this.log("warn", message) };
  }

  // -------------------------------------------------------------------------------------------
  // Read

  private checkPathCounts(attributePaths: number, eventPaths: number): void {
    if (attributePaths > this.limits.maxAttributePaths || eventPaths > this.limits.maxEventPaths) {
      throw new StatusError(Status.PathsExhausted, `${attributePaths} attribute and ${eventPaths} event paths exceed ${this.limits.maxAttributePaths} and ${this.limits.maxEventPaths}`);
    }
  }

  private async read(peer: Peer, request: ReadRequestMessage): Promise<void> {
    const attributePaths = request.attributeRequests ?? [];
    const eventPaths = request.eventRequests ?? [];
    checkReadPaths(attributePaths, eventPaths);
    this.checkPathCounts(attributePaths.length, eventPaths.length);
    const scope = this.scope(peer, request.isFabricFiltered);
    const eventMin = eventMinFrom(request.eventFilters);
    const filters = request.dataVersionFilters;
    const items = (function* (): Generator<ReportItem> {
      yield* attributeReportItems(scope, attributePaths, filters ? { dataVersionFilters: filters } : {});
      yield* eventReportItems(scope, eventPaths, eventMin, true);
    })();
    const packer = new ReportPacker(items, this.limits.maxPayloadSize, { suppressResponseOnLast: true }, () => this.log("warn", "a value too large for a report was left out"));
    await this.sendReports(peer.exchange, packer, false);
    peer.exchange.close();
  }

  /** Sends every message of `packer`; chunks (and, for subscriptions, every message) wait for the peer's StatusResponse. */
  private async sendReports(exchange: Exchange, packer: ReportPacker, acknowledgeLast: boolean): Promise<void> {
    for (;;) {
      const message = packer.next();
      exchange.send(INTERACTION_MODEL_PROTOCOL_ID, Opcode.ReportData, message.payload);
      if (message.more || acknowledgeLast) await this.awaitStatus(exchange);
      if (!message.more) return;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Subscribe

  private async subscribe(peer: Peer, request: SubscribeRequestMessage): Promise<void> {
    const attributePaths = request.attributeRequests ?? [];
    const eventPaths = request.eventRequests ?? [];
    if (attributePaths.length === 0 && eventPaths.length === 0) throw new ImMessageError("a subscription needs attribute or event paths");
    if (request.minIntervalFloor > request.maxIntervalCeiling) throw new ImMessageError("MinIntervalFloor is above MaxIntervalCeiling");
    checkReadPaths(attributePaths, eventPaths);
    this.checkPathCounts(attributePaths.length, eventPaths.length);
    if (!request.keepSubscriptions) this.subscriptions.endSubscriberSubscriptions(peer.subject);
    if (!this.subscriptions.makeRoom(peer.subject)) throw new StatusError(Status.ResourceExhausted, "no room for another subscription");

    // The publisher may choose any max interval from the floor up to max(60 minutes, ceiling)
    // (spec 8.5.1.1); it takes the ceiling, but never less than a second.
    const maxInterval = Math.max(request.maxIntervalCeiling, 1);
    const eventMin = eventMinFrom(request.eventFilters);
    const subscription = this.subscriptions.add({
      id: this.newSubscriptionId(),
      session: peer.session,
      subject: peer.subject,
      attributePaths,
      eventPaths,
      fabricFiltered: request.isFabricFiltered,
      eventMin: eventMin > this.model.events.next ? eventMin : this.model.events.next,
      minIntervalSeconds: request.minIntervalFloor,
      maxIntervalSeconds: maxInterval,
    });
    subscription.exchange = peer.exchange;
    try {
      const scope = this.scope(peer, request.isFabricFiltered);
      const filters = request.dataVersionFilters;
      let lastEvent: bigint | undefined;
      const items = (function* (): Generator<ReportItem> {
        yield* attributeReportItems(scope, attributePaths, filters ? { dataVersionFilters: filters } : {});
        yield* eventReportItems(scope, eventPaths, eventMin, true);
      })();
      const packer = new ReportPacker(items, this.limits.maxPayloadSize, { subscriptionId: subscription.id }, () => this.log("warn", "a value too large for a report was left out"));
      for (;;) {
        const message = packer.next();
        peer.exchange.send(INTERACTION_MODEL_PROTOCOL_ID, Opcode.ReportData, message.payload);
        await this.awaitStatus(peer.exchange);
        if (message.lastEventNumber !== undefined) lastEvent = message.lastEventNumber;
        if (!message.more) break;
      }
      if (subscription.ended) throw new Error("the subscription ended while priming");
      if (lastEvent !== undefined && lastEvent >= subscription.eventMin) subscription.eventMin = lastEvent + 1n;
      peer.exchange.send(INTERACTION_MODEL_PROTOCOL_ID, Opcode.SubscribeResponse, encodeSubscribeResponse({ subscriptionId: subscription.id, maxInterval }));
      subscription.exchange = undefined;
      peer.exchange.close();
      this.subscriptions.activate(subscription);
    } catch (error) {
      subscription.exchange = undefined;
      this.subscriptions.end(subscription, `priming failed: ${(error as Error).message}`);
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
    const deadline = this.model.clock.now() + timeoutMs;
    exchange.send(INTERACTION_MODEL_PROTOCOL_ID, Opcode.StatusResponse, encodeStatusResponse(Status.Success));
    // Wait past the deadline so that a late action still gets its TIMEOUT answer.
    const action = await exchange.nextMessage(timeoutMs + exchange.responseTimeoutMs(this.limits.processingTimeMs));
    if (action.opcode !== Opcode.WriteRequest && action.opcode !== Opcode.InvokeRequest) throw new ImMessageError(`a TimedRequest must be followed by a write or an invoke, not opcode 0x${action.opcode.toString(16)}`);
    if (this.model.clock.now() > deadline) throw new StatusError(Status.Timeout, "the action came after the timed request's timeout");
    if (action.opcode === Opcode.WriteRequest) await this.write(peer, decodeWriteRequest(action.payload), true);
    else await this.invoke(peer, decodeInvokeRequest(action.payload), true);
  }

  // -------------------------------------------------------------------------------------------
  // Write

  private async write(peer: Peer, first: WriteRequestMessage, timed: boolean): Promise<void> {
    const { exchange } = peer;
    let request = first;
    if (request.timedRequest !== timed) throw new StatusError(Status.TimedRequestMismatch, timed ? "TimedRequest flag missing after a TimedRequest" : "TimedRequest flag without a TimedRequest");
    if (request.moreChunkedMessages && request.suppressResponse) throw new ImMessageError("a chunked write cannot suppress its responses");
    if (timed && request.moreChunkedMessages) throw new ImMessageError("a timed write cannot be chunked");
    const context: WriteContext = { subject: peer.subject, fabricIndex: peer.subject.fabricIndex, session: peer.session, timed };
    for (;;) {
      const statuses: AttributeStatus[] = [];
      for (const data of request.writeRequests) statuses.push(this.writeOne(peer, data, context));
      if (!request.suppressResponse) exchange.send(INTERACTION_MODEL_PROTOCOL_ID, Opcode.WriteResponse, encodeWriteResponse({ writeResponses: statuses }));
      if (!request.moreChunkedMessages) break;
      const next = await exchange.nextMessage(exchange.responseTimeoutMs(this.limits.processingTimeMs));
      if (next.opcode !== Opcode.WriteRequest) throw new ImMessageError(`expected the next WriteRequest chunk, got opcode 0x${next.opcode.toString(16)}`);
      request = decodeWriteRequest(next.payload);
      if (request.timedRequest !== timed) throw new StatusError(Status.TimedRequestMismatch, "TimedRequest flag changed between chunks");
      if (request.suppressResponse) throw new ImMessageError("a chunked write cannot suppress its responses");
    }
    exchange.close();
  }

  private writeOne(peer: Peer, data: AttributeData, context: WriteContext): AttributeStatus {
    const path = data.path;
    if (path.endpoint === undefined || path.cluster === undefined || path.attribute === undefined) throw new ImMessageError("a unicast write needs a concrete path");
    if (typeof path.listIndex === "number") throw new ImMessageError("list entries cannot be written by index");
    const append = path.listIndex === null;
    const reported: AttributePath = { endpoint: path.endpoint, cluster: path.cluster, attribute: path.attribute };
    if (append) reported.listIndex = null;
    const status = (code: number, clusterStatus?: number): AttributeStatus => ({ path: reported, status: clusterStatus === undefined ? { status: code } : { status: code, clusterStatus } });
    const target = { endpoint: path.endpoint, cluster: path.cluster };
    if (!this.access.allows(peer.subject, target, Privilege.View)) return status(Status.UnsupportedAccess);
    const cluster = this.model.cluster(path.endpoint, path.cluster);
    if (!this.model.endpoint(path.endpoint)) return status(Status.UnsupportedEndpoint);
    if (!cluster) return status(Status.UnsupportedCluster);
    const attribute = findAttribute(cluster.definition, path.attribute);
    if (!attribute) return status(Status.UnsupportedAttribute);
    if (attribute.writePrivilege === undefined) return status(Status.UnsupportedWrite);
    if (!this.access.allows(peer.subject, target, attribute.writePrivilege)) return status(Status.UnsupportedAccess);
    if (attribute.timed && !context.timed) return status(Status.NeedsTimedInteraction);
    if (attribute.fabricScoped && context.fabricIndex === 0) return status(Status.UnsupportedAccess);
    if (data.dataVersion !== undefined && data.dataVersion !== cluster.dataVersion) return status(Status.DataVersionMismatch);
    const schema = attribute.schema;
    const fabric = attribute.fabricScoped ? context.fabricIndex : undefined;
    let value: unknown;
    try {
      if (append) {
        if (schema.kind !== "list") throw new ImMessageError("only list attributes take appends");
        const entry = decodeValue(data.data, schema.item, fabric, attribute.name);
        const view = { fabricIndex: context.fabricIndex, fabricFiltered: true };
        const current = cluster.readValue(attribute, { ...view, subject: peer.subject });
        if (!Array.isArray(current)) throw new Error(`${attribute.name} is not a list`);
        const mine = attribute.fabricScoped ? current.filter((e) => visibleEntry(schema.item, e, view)) : current;
        value = [...mine, entry];
        if (schema.maxLength !== undefined && (value as unknown[]).length > schema.maxLength) return status(Status.ResourceExhausted);
      } else {
        value = decodeValue(data.data, schema, fabric, attribute.name);
      }
    } catch (error) {
      if (error instanceof SchemaError) return status(Status.ConstraintError);
      if (error instanceof StatusError) return status(error.status, error.clusterStatus);
      throw error;
    }
    try {
      cluster.writeAttribute(attribute, value, context);
    } catch (error) {
      if (error instanceof StatusError) return status(error.status, error.clusterStatus);
      if (error instanceof SchemaError) return status(Status.ConstraintError);
      this.log("error", `writing ${cluster.definition.name}.${attribute.name} failed: ${(error as Error).message}`);
      return status(Status.Failure);
    }
    return status(Status.Success);
  }

  // -------------------------------------------------------------------------------------------
  // Invoke

  private async invoke(peer: Peer, request: InvokeRequestMessage, timed: boolean): Promise<void> {
    const { exchange } = peer;
    if (request.timedRequest !== timed) throw new StatusError(Status.TimedRequestMismatch, timed ? "TimedRequest flag missing after a TimedRequest" : "TimedRequest flag without a TimedRequest");
    const commands = request.invokeRequests;
    if (commands.length === 0) throw new ImMessageError("an invoke needs at least one command");
    if (commands.length > this.limits.maxPathsPerInvoke) throw new ImMessageError(`${commands.length} commands exceed MaxPathsPerInvoke (${this.limits.maxPathsPerInvoke})`);
    const batch = commands.length > 1;
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
      const item = await this.invokeOne(peer, command, timed, afterResponse);
      if (request.suppressResponse) continue;
      if (size + item.length > budget && pending.length > 0) {
        // Spec 8.8.3.3: a response too large for one message goes in chunks, each acknowledged.
        exchange.send(INTERACTION_MODEL_PROTOCOL_ID, Opcode.InvokeResponse, encodeInvokeResponse({ invokeResponses: pending, moreChunkedMessages: true }));
        await this.awaitStatus(exchange);
        pending = [];
        size = INVOKE_RESPONSE_OVERHEAD;
      }
      if (size + item.length > budget) {
        this.log("error", "a command response larger than a message was replaced by FAILURE");
        pending.push(commandStatusItem(command.path as CommandPath, { status: Status.Failure }, command.commandRef));
        size += pending[pending.length - 1]!.length;
        continue;
      }
      pending.push(item);
      size += item.length;
    }
    if (!request.suppressResponse) exchange.send(INTERACTION_MODEL_PROTOCOL_ID, Opcode.InvokeResponse, encodeInvokeResponse({ invokeResponses: pending }));
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

  private async invokeOne(peer: Peer, data: CommandData, timed: boolean, afterResponse: (() => void)[]): Promise<Uint8Array> {
    const path = { endpoint: data.path.endpoint!, cluster: data.path.cluster, command: data.path.command };
    const ref = data.commandRef;
    const status = (code: number, clusterStatus?: number): Uint8Array => commandStatusItem(path, clusterStatus === undefined ? { status: code } : { status: code, clusterStatus }, ref);
    const target = { endpoint: path.endpoint, cluster: path.cluster };
    if (!this.access.allows(peer.subject, target, Privilege.Operate)) return status(Status.UnsupportedAccess);
    if (!this.model.endpoint(path.endpoint)) return status(Status.UnsupportedEndpoint);
    const cluster = this.model.cluster(path.endpoint, path.cluster);
    if (!cluster) return status(Status.UnsupportedCluster);
    const command = findCommand(cluster.definition, path.command);
    if (!command) return status(Status.UnsupportedCommand);
    if (!this.access.allows(peer.subject, target, command.privilege)) return status(Status.UnsupportedAccess);
    if (command.fabricScoped && peer.subject.fabricIndex === 0) return status(Status.UnsupportedAccess);
    if (command.timed && !timed) return status(Status.NeedsTimedInteraction);

    let fields: unknown;
    try {
      if (data.fields === undefined) {
        if (command.request.kind === "struct" && command.request.fields.some((f) => !f.optional)) return status(Status.InvalidCommand);
        fields = command.request.kind === "struct" || command.request.kind === "empty" ? {} : undefined;
      } else {
        fields = decodeValue(data.fields, command.request, command.fabricScoped ? peer.subject.fabricIndex : undefined, command.name);
      }
    } catch (error) {
      if (error instanceof SchemaError) return status(error.kind === "constraint" ? Status.ConstraintError : Status.InvalidCommand);
      throw error;
    }

    const context: InvokeContext = {
      subject: peer.subject,
      session: peer.session,
      fabricIndex: peer.subject.fabricIndex,
      timed,
      endpoint: path.endpoint,
      afterResponse: (callback) => afterResponse.push(callback),
    };
    if (ref !== undefined) context.commandRef = ref;
    let result: unknown;
    try {
      result = await cluster.invoke(command, fields, context);
    } catch (error) {
      if (error instanceof StatusError) return status(error.status, error.clusterStatus);
      if (error instanceof SchemaError) return status(error.kind === "constraint" ? Status.ConstraintError : Status.InvalidCommand);
      this.log("error", `${cluster.definition.name}.${command.name} failed: ${(error as Error).message}`);
      return status(Status.Failure);
    }
    if (!command.response || result === undefined) return status(Status.Success);
    const response = command.response;
    try {
      return commandResponseItem({ ...path, command: response.id }, (w, tag) => encodeValue(w, tag, response.schema, result, undefined, `${command.name} response`), ref);
    } catch (error) {
      this.log("error", `${cluster.definition.name}.${command.name} response could not be encoded: ${(error as Error).message}`);
      return status(Status.Failure);
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
