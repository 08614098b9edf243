// Finds a Matter node's operational address with DNS-SD (Matter Core spec 4.3.2, RFC 6762/6763):
// the instance `<compressed fabric id>-<node id>._matter._tcp.local` gives, through its SRV
// record, a host and port, and the host's A/AAAA records give the addresses. The device needs
// this to open CASE to a node it has no session with (an OTA provider).
//
// It is a one-shot querier over an `MdnsQuerier` — the responder's own port-5353 sockets, since
// hosts such as Moddable's cannot bind the mDNS port twice. Queries repeat 1 s, 2 s, 4 s ... apart
// (RFC 6762 5.2) until the answer is complete or the time is up; the first asks for a unicast
// reply (QU, RFC 6762 5.4). Answers and additional records are both used, so a responder that
// sends SRV and addresses together resolves in one round trip; otherwise the host's addresses are
// asked for once the SRV is known. Goodbyes (TTL 0) withdraw what they name. Nothing is cached
// between calls: a device resolves a node rarely, and a stale address costs a failed handshake.
import type { AddressFamily, Clock, LogLevel, TimerHandle, UdpEndpoint } from "../platform";
import { DNS_CLASS_IN, DnsType, encodeDnsMessage, sameName, txtPairs, type DnsMessage, type DnsQuestion, type DnsRecord } from "./dns";
import { OPERATIONAL_SERVICE, operationalLabel } from "./mdns";

/** The query side of an mDNS socket set (MdnsResponder provides it). */
export interface MdnsQuerier {
  /** Multicasts `packet` (an encoded query) on every address family served. */
  sendQuery(packet: Uint8Array): void;
  /** Calls `listener` with every mDNS response received; returns what removes it. */
  onResponse(listener: (message: DnsMessage, from: UdpEndpoint) => void): () => void;
}

export interface ResolvedAddress {
  address: string;
  port: number;
  family: AddressFamily;
  /** For link-local IPv6: the interface the answer came in on. */
  interfaceName?: string;
}

export interface ResolvedNode {
  /** The full instance name that was resolved. */
  instance: string;
  /** The SRV target. */
  host: string;
  port: number;
  /** Usable addresses, best first: routable IPv6, IPv4, then link-local IPv6. */
  addresses: ResolvedAddress[];
  /** The instance's TXT pairs, keys case-folded (sii, sai, sat, t), when a TXT record arrived. */
  txt: Map<string, string>;
}

export interface ResolveOptions {
  /** Give up after this long. Default 5 s. */
  timeoutMs?: number;
  /** Only addresses of these families (the ones the caller can send on); both by default. */
  families?: AddressFamily[];
}

export class ResolveError extends Error {
  override name = "ResolveError";
}

const DEFAULT_TIMEOUT_MS = 5000;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;
/** Enough for every address a host announces on one link; the rest are ignored. */
const MAX_ADDRESSES = 8;

/** The operational instance name of a node (spec 4.3.2.2): upper-case hex, 16 digits each. */
export function operationalInstanceName(compressedFabricId: bigint, nodeId: bigint): string {
  return `${operationalLabel(compressedFabricId, nodeId)}.${OPERATIONAL_SERVICE}`;
}

function addressRank(address: ResolvedAddress): number {
  if (address.family === 4) return 1;
  return /^fe[89ab]/i.test(address.address) ? 2 : 0;
}

/** One resolution in progress. */
class Resolution {
  private srv: { host: string; port: number } | undefined;
  private readonly addresses = new Map<string, ResolvedAddress>();
  private txt = new Map<string, string>();
  private timer: TimerHandle | undefined;
  private deadline: TimerHandle | undefined;
  private stopListening: (() => void) | undefined;
  private retryMs = FIRST_RETRY_MS;
  private queries = 0;
  private done = false;

  constructor(
    private readonly querier: MdnsQuerier,
    private readonly clock: Clock,
    private readonly instance: string,
    private readonly families: readonly AddressFamily[],
    private readonly resolve: (node: ResolvedNode) => void,
    private readonly reject: (error: Error) => void,
    private readonly onEnd: () => void,
  ) {}

  start(timeoutMs: number): void {
    this.stopListening = this.querier.onResponse((message, from) => this.receive(message, from));
    this.deadline = this.clock.setTimer(timeoutMs, () => {
      const what = this.srv ? `${this.instance} is ${this.srv.host}, but no usable address of it arrived` : `no SRV record of ${this.instance} arrived`;
      this.finish(new ResolveError(`DNS-SD: ${what} within ${timeoutMs} ms (${this.queries} queries)`));
    });
    this.query();
  }

  cancel(reason: string): void {
    this.finish(new ResolveError(`DNS-SD: resolving ${this.instance} stopped: ${reason}`));
  }

  private query(): void {
    if (this.done) return;
    // RFC 6762 5.4: the first query of a resolution may ask for a unicast answer.
    const unicastResponse = this.queries === 0;
    const srv = this.srv;
    const types: number[] = srv
      ? [...(this.families.includes(6) ? [DnsType.AAAA] : []), ...(this.families.includes(4) ? [DnsType.A] : [])]
      : [DnsType.SRV, DnsType.TXT];
    const questions: DnsQuestion[] = types.map((type) => ({ name: srv ? srv.host : this.instance, type, class: DNS_CLASS_IN, unicastResponse }));
    this.queries++;
    try {
      this.querier.sendQuery(encodeDnsMessage({ isResponse: false, questions }));
    } catch (error) {
      this.finish(new ResolveError(`DNS-SD: cannot send a query for ${this.instance}: ${(error as Error).message}`));
      return;
    }
    this.timer = this.clock.setTimer(this.retryMs, () => {
      this.timer = undefined;
      this.query();
    });
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }

  private receive(message: DnsMessage, from: UdpEndpoint): void {
    if (this.done || !message.isResponse) return;
    const records = [...message.answers, ...message.additionals];
    const hadSrv = this.srv !== undefined;
    for (const record of records) {
      if (!sameName(record.name, this.instance)) continue;
      if (record.data.kind === "SRV") {
        if (record.ttl === 0) {
          if (this.srv && sameName(this.srv.host, record.data.target) && this.srv.port === record.data.port) this.srv = undefined;
        } else if (!this.srv || !sameName(this.srv.host, record.data.target) || this.srv.port !== record.data.port) {
          this.srv = { host: record.data.target, port: record.data.port };
          this.addresses.clear();
        }
      } else if (record.data.kind === "TXT" && record.ttl > 0) {
        this.txt = txtPairs(record.data.entries);
      }
    }
    const srv = this.srv;
    if (!srv) return;
    for (const record of records) this.takeAddress(record, srv.host, from);
    if (this.addresses.size > 0) {
      const addresses = [...this.addresses.values()].sort((a, b) => addressRank(a) - addressRank(b)).map((address) => ({ ...address, port: srv.port }));
      this.finish({ instance: this.instance, host: srv.host, port: srv.port, addresses, txt: this.txt });
      return;
    }
    // The SRV came without addresses: ask for them now rather than at the next retry.
    if (!hadSrv) {
      if (this.timer !== undefined) this.clock.clearTimer(this.timer);
      this.timer = undefined;
      this.retryMs = FIRST_RETRY_MS;
      this.query();
    }
  }

  private takeAddress(record: DnsRecord, host: string, from: UdpEndpoint): void {
    if (!sameName(record.name, host)) return;
    if (record.data.kind !== "A" && record.data.kind !== "AAAA") return;
    const family: AddressFamily = record.data.kind === "A" ? 4 : 6;
    if (!this.families.includes(family)) return;
    const address = record.data.address;
    if (record.ttl === 0) {
      this.addresses.delete(address);
      return;
    }
    if (this.addresses.has(address) || this.addresses.size >= MAX_ADDRESSES) return;
    const entry: ResolvedAddress = { address, port: 0, family };
    // A link-local address means nothing without its interface: the one the answer arrived on.
    if (family === 6 && /^fe[89ab]/i.test(address)) {
      if (from.interfaceName === undefined) return;
      entry.interfaceName = from.interfaceName;
    }
    this.addresses.set(address, entry);
  }

  private finish(outcome: ResolvedNode | Error): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    if (this.deadline !== undefined) this.clock.clearTimer(this.deadline);
    this.timer = this.deadline = undefined;
    this.stopListening?.();
    this.onEnd();
    if (outcome instanceof Error) this.reject(outcome);
    else this.resolve(outcome);
  }
}

export interface OperationalResolverOptions {
  querier: MdnsQuerier;
  clock: Clock;
  log?: (level: LogLevel, message: string) => void;
}

/** Resolves operational instances; several resolutions may run at once. */
export class OperationalResolver {
  private readonly querier: MdnsQuerier;
  private readonly clock: Clock;
  private readonly log: (level: LogLevel, message: string) => void;
  private readonly running = new Set<Resolution>();
  private closed = false;

  constructor(options: OperationalResolverOptions) {
    this.querier = options.querier;
    this.clock = options.clock;
    this.log = options.log ?? (() => {});
  }

  /** The node's SRV target, port and addresses; ResolveError when nothing complete arrives in time. */
  resolve(compressedFabricId: bigint, nodeId: bigint, options: ResolveOptions = {}): Promise<ResolvedNode> {
    const instance = operationalInstanceName(compressedFabricId, nodeId);
    if (this.closed) return Promise.reject(new ResolveError(`DNS-SD: the resolver is closed (${instance})`));
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) return Promise.reject(new RangeError(`resolve timeout ${timeoutMs} ms`));
    const families = options.families ?? [6, 4];
    return new Promise<ResolvedNode>((resolve, reject) => {
      const resolution: Resolution = new Resolution(
        this.querier,
        this.clock,
        instance,
        families,
        (node) => {
          this.log("debug", `DNS-SD: ${instance} is ${node.host} port ${node.port} (${node.addresses.map((a) => a.address).join(", ")})`);
          resolve(node);
        },
        reject,
        () => this.running.delete(resolution),
      );
      this.running.add(resolution);
      resolution.start(timeoutMs);
    });
  }

  /** Stops every resolution (they reject) and refuses new ones. */
  close(): void {
    this.closed = true;
    for (const resolution of [...this.running]) resolution.cancel("the resolver closed");
  }
}
