// Subscriptions (Matter Core spec 8.5): after the priming report, the server reports changed
// attributes and new events no sooner than the min interval after the previous report, and an
// empty report when the max interval passes without one. Each report goes out on a new exchange
// and must be answered by a StatusResponse SUCCESS; anything else ends the subscription, as does
// the removal of its session.
//
// Limits (CapabilityMinima.SubscriptionsPerFabric = 3): at most 3 subscriptions per fabric and
// 3 × 5 fabrics = 15 in all. A fabric at its limit that subscribes again loses its oldest
// subscription (as CHIP does), so a controller that re-subscribes after a restart never locks
// itself out; when the node-wide limit is reached by other fabrics, the request is refused with
// RESOURCE_EXHAUSTED. Each subscription keeps at most 32 changed attribute paths; beyond that it
// reports every attribute its paths select.
import { INTERACTION_MODEL_PROTOCOL_ID, type ExchangeManager, type Exchange } from "../transport/exchange";
import type { SecureSession, SessionManager } from "../transport/session";
import type { LogLevel, TimerHandle } from "../platform";
import type { AccessControl, SubjectDescriptor } from "./access-control";
import { Opcode, Status } from "./constants";
import { decodeStatusResponse, encodeReportData, type AttributePath, type EventPath } from "./messages";
import type { DataModel } from "./model";
import type { EventRecord } from "./events";
import { ReportPacker, attributeReportItems, eventPathSelects, eventReportItems, pathSelects, type ReadScope } from "./reports";

export const DEFAULT_MAX_SUBSCRIPTIONS_PER_FABRIC = 3;
export const DEFAULT_MAX_SUBSCRIPTIONS = 15;
const MAX_TRACKED_CHANGES = 32;

export interface SubscriptionParameters {
  id: number;
  session: SecureSession;
  subject: SubjectDescriptor;
  attributePaths: AttributePath[];
  eventPaths: EventPath[];
  fabricFiltered: boolean;
  eventMin: bigint;
  minIntervalSeconds: number;
  maxIntervalSeconds: number;
}

type SubscriptionState = "priming" | "idle" | "reporting" | "ended";

export class Subscription {
  declare readonly id: number;
  declare readonly session: SecureSession;
  declare readonly subject: SubjectDescriptor;
  declare readonly attributePaths: readonly AttributePath[];
  declare readonly eventPaths: readonly EventPath[];
  declare readonly fabricFiltered: boolean;
  declare readonly minIntervalMs: number;
  declare readonly maxIntervalMs: number;
  declare readonly createdMs: number;
  /** Next event number to report. */
  declare eventMin: bigint;
  state: SubscriptionState = "priming";
  /** Changed attributes not yet reported, as "endpoint/cluster/attribute". */
  changes = new Set<string>();
  /** More changes than tracked: the next report carries everything. */
  everythingChanged = false;
  eventsPending = false;
  urgentEventPending = false;
  declare lastReportMs: number;
  declare timer: TimerHandle | undefined;
  declare exchange: Exchange | undefined;

  constructor(parameters: SubscriptionParameters, now: number) {
    this.id = parameters.id;
    this.session = parameters.session;
    this.subject = parameters.subject;
    this.attributePaths = parameters.attributePaths;
    this.eventPaths = parameters.eventPaths;
    this.fabricFiltered = parameters.fabricFiltered;
    this.eventMin = parameters.eventMin;
    this.minIntervalMs = parameters.minIntervalSeconds * 1000;
    this.maxIntervalMs = parameters.maxIntervalSeconds * 1000;
    this.createdMs = now;
    this.lastReportMs = now;
  }

  get fabricIndex(): number {
    return this.subject.fabricIndex;
  }

  get ended(): boolean {
    return this.state === "ended";
  }

  get hasChanges(): boolean {
    return this.everythingChanged || this.changes.size > 0 || this.urgentEventPending;
  }
}

export interface SubscriptionManagerOptions {
  exchanges: ExchangeManager;
  sessions: SessionManager;
  model: DataModel;
  access: AccessControl;
  maxPayloadSize: number;
  processingTimeMs: number;
  maxPerFabric?: number;
  maxTotal?: number;
  log: (level: LogLevel, message: string) => void;
}

export class SubscriptionManager {
  declare readonly maxPerFabric: number;
  declare readonly maxTotal: number;
  private readonly list: Subscription[] = [];
  private readonly detach: (() => void)[] = [];

  constructor(private readonly options: SubscriptionManagerOptions) {
    this.maxPerFabric = options.maxPerFabric ?? DEFAULT_MAX_SUBSCRIPTIONS_PER_FABRIC;
    this.maxTotal = options.maxTotal ?? DEFAULT_MAX_SUBSCRIPTIONS;
    this.detach.push(options.model.onAttributeChanged((e, c, a) => this.attributeChanged(e, c, a)));
    this.detach.push(options.model.onEvent((record) => this.eventLogged(record)));
    this.detach.push(options.sessions.onRemoved((session) => this.sessionRemoved(session)));
  }

  get count(): number {
    return this.list.length;
  }

  get all(): readonly Subscription[] {
    return this.list;
  }

  find(id: number): Subscription | undefined {
    return this.list.find((s) => s.id === id);
  }

  /**
   * Makes room for a new subscription of `subject`: drops this fabric's oldest when the fabric
   * is at its limit; false when the node is full with other fabrics' subscriptions.
   */
  makeRoom(subject: SubjectDescriptor): boolean {
    const ofFabric = this.list.filter((s) => s.fabricIndex === subject.fabricIndex);
    if (ofFabric.length >= this.maxPerFabric) {
      const oldest = ofFabric.reduce((a, b) => (b.createdMs < a.createdMs ? b : a));
      this.end(oldest, "evicted by a newer subscription of its fabric");
    }
    return this.list.length < this.maxTotal;
  }

  /** Ends the subscriptions of the same subscriber (KeepSubscriptions false, spec 8.5.1). */
  endSubscriberSubscriptions(subject: SubjectDescriptor): void {
    for (const s of [...this.list]) {
      if (s.fabricIndex === subject.fabricIndex && s.subject.subject === subject.subject) this.end(s, "replaced (KeepSubscriptions false)");
    }
  }

  /** Registers a subscription being primed: changes from now on are tracked. */
  add(parameters: SubscriptionParameters): Subscription {
    const subscription = new Subscription(parameters, this.options.model.clock.now());
    this.list.push(subscription);
    return subscription;
  }

  /** Priming done and SubscribeResponse sent: reporting starts. */
  activate(subscription: Subscription): void {
    if (subscription.state !== "priming") return;
    subscription.state = "idle";
    subscription.lastReportMs = this.options.model.clock.now();
    this.schedule(subscription);
    this.note(subscription, `active: ${subscription.minIntervalMs / 1000}..${subscription.maxIntervalMs / 1000} s`);
  }

  private note(subscription: Subscription, text: string, level: LogLevel = "info"): void {
    this.options.log(level, `subscription 0x${subscription.id.toString(16)} ${text}`);
  }

  end(subscription: Subscription, reason: string): void {
    if (subscription.state === "ended") return;
    subscription.state = "ended";
    const index = this.list.indexOf(subscription);
    if (index >= 0) this.list.splice(index, 1);
    if (subscription.timer !== undefined) this.options.model.clock.clearTimer(subscription.timer);
    subscription.timer = undefined;
    subscription.exchange?.abort();
    subscription.exchange = undefined;
    this.note(subscription, `ended: ${reason}`);
  }

  close(): void {
    for (const s of [...this.list]) this.end(s, "shutdown");
    for (const detach of this.detach) detach();
    this.detach.length = 0;
  }

  private attributeChanged(endpoint: number, cluster: number, attribute: number): void {
    for (const s of this.list) {
      if (!s.attributePaths.some((p) => pathSelects(p, endpoint, cluster, attribute))) continue;
      if (!s.everythingChanged) {
        s.changes.add(`${endpoint}/${cluster}/${attribute}`);
        if (s.changes.size > MAX_TRACKED_CHANGES) {
          s.everythingChanged = true;
          s.changes.clear();
        }
      }
      this.schedule(s);
    }
  }

  private eventLogged(record: EventRecord): void {
    for (const s of this.list) {
      const matching = s.eventPaths.filter((path) => eventPathSelects(path, record));
      if (matching.length === 0) continue;
      s.eventsPending = true;
      // Urgent events are reported as soon as the min interval allows; others ride along with
      // the next report (spec 8.5.2.1).
      if (matching.some((p) => p.isUrgent)) {
        s.urgentEventPending = true;
        this.schedule(s);
      }
    }
  }

  private sessionRemoved(session: unknown): void {
    for (const s of [...this.list]) if (s.session === session) this.end(s, "its session ended");
  }

  /** One timer per subscription: the next report is due at min interval after the last if anything changed, else at max interval. */
  private schedule(s: Subscription): void {
    if (s.state !== "idle") return;
    const clock = this.options.model.clock;
    const due = s.hasChanges ? s.lastReportMs + s.minIntervalMs : s.lastReportMs + s.maxIntervalMs;
    if (s.timer !== undefined) clock.clearTimer(s.timer);
    s.timer = clock.setTimer(Math.max(0, due - clock.now()), () => {
      s.timer = undefined;
      void this.report(s);
    });
  }

  private async report(s: Subscription): Promise<void> {
    if (s.state !== "idle") return;
    const { model, access, log, maxPayloadSize, processingTimeMs } = this.options;
    const clock = model.clock;
    const keepAliveDue = clock.now() >= s.lastReportMs + s.maxIntervalMs;
    s.state = "reporting";
    const changes = s.changes;
    const everything = s.everythingChanged;
    s.changes = new Set();
    s.everythingChanged = false;
    s.urgentEventPending = false;
    const eventsPending = s.eventsPending;
    s.eventsPending = false;
    const scope: ReadScope = { model, access, subject: s.subject, fabricFiltered: s.fabricFiltered, log: (message) => log("warn", message) };
    const changed = everything ? () => true : (e: number, c: number, a: number) => changes.has(`${e}/${c}/${a}`);
    const hasAttributeWork = everything || changes.size > 0;
    const items = (function* () {
      if (hasAttributeWork) yield* attributeReportItems(scope, s.attributePaths, { changed });
      if (eventsPending || keepAliveDue) yield* eventReportItems(scope, s.eventPaths, s.eventMin, false);
    })()[Symbol.iterator]();
    const packer = new ReportPacker(items, maxPayloadSize, { subscriptionId: s.id }, () => this.note(s, "left out a value too large for a report", "warn"));
    let message = packer.next();
    if (!message.more && isEmptyReport(message.payload, s.id) && !keepAliveDue) {
      // Nothing the subscriber may see changed: no report, the max-interval timer stands.
      s.state = "idle";
      this.schedule(s);
      return;
    }
    let exchange: Exchange;
    try {
      exchange = this.options.exchanges.initiate(s.session);
    } catch (error) {
      this.end(s, `no exchange for a report: ${(error as Error).message}`);
      return;
    }
    s.exchange = exchange;
    try {
      for (;;) {
        exchange.send(INTERACTION_MODEL_PROTOCOL_ID, Opcode.ReportData, message.payload);
        const reply = await exchange.nextMessage(exchange.responseTimeoutMs(processingTimeMs));
        if (s.ended) return;
        if (reply.opcode !== Opcode.StatusResponse) throw new Error(`report answered with opcode 0x${reply.opcode.toString(16)}`);
        const status = decodeStatusResponse(reply.payload).status;
        if (status !== Status.Success) throw new Error(`report answered with status 0x${status.toString(16)}`);
        if (message.lastEventNumber !== undefined && message.lastEventNumber >= s.eventMin) s.eventMin = message.lastEventNumber + 1n;
        if (!message.more) break;
        message = packer.next();
      }
      exchange.close();
    } catch (error) {
      exchange.abort();
      s.exchange = undefined;
      this.end(s, `report failed: ${(error as Error).message}`);
      return;
    }
    s.exchange = undefined;
    if (s.ended) return;
    s.lastReportMs = clock.now();
    s.state = "idle";
    this.schedule(s);
  }
}

function isEmptyReport(payload: Uint8Array, subscriptionId: number): boolean {
  return payload.length === encodeReportData({ subscriptionId }).length;
}
