// The device's own mDNS / DNS-SD responder (RFC 6762, RFC 6763, Matter Core spec 4.3) over the
// platform's UDP: a socket per address family on port 5353 joined to 224.0.0.251 / ff02::fb on the
// configured interface.
//
// What it advertises:
// - commissionable node `_matterc._udp`: instance = 64 random bits per boot (upper-case hex),
//   subtypes _L<discriminator>, _S<short discriminator>, _V<vendor>, _T<device type>, _CM while the
//   window is open; TXT D, CM, VP, DT, DN (only when given), SII, SAI, SAT, T, RI, PH, PI;
// - operational node `_matter._tcp` per fabric: instance <compressed fabric id>-<node id>, subtype
//   _I<compressed fabric id>, TXT SII, SAI, SAT, T;
// - the host name (12 random hex digits unless configured) with A/AAAA for the interface's addresses.
//
// Behaviour: answers queries (QU → unicast, legacy unicast from ports other than 5353, subtype PTR
// queries, ANY, known-answer suppression, A/AAAA and SRV/TXT as additional records, NSEC for names
// we own without the asked type); probes new names three times 250 ms apart, breaks simultaneous
// probe ties (RFC 6762 8.2) and renames the commissionable instance and the host on conflict;
// announces three times (1 s, then 2 s apart); sends goodbyes (TTL 0) on withdraw and close;
// delays shared answers 20-120 ms and aggregates them; multicasts a record at most once a second.
// It is also the querier for the device's own lookups (resolver.ts): queries go out on its
// sockets and responses from port 5353 are handed to the listeners.
import { toHex } from "../codec/bytes";
import type { Random } from "../crypto";
import type { AddressFamily, Clock, LogLevel, Network, TimerHandle, UdpEndpoint, UdpSocket } from "../platform";
import {
  DNS_CLASS_ANY,
  DNS_CLASS_IN,
  DnsError,
  DnsType,
  canonicalRecordData,
  decodeDnsMessage,
  encodeDnsMessage,
  recordKey,
  sameName,
  txtEntries,
  type DnsMessage,
  type DnsQuestion,
  type DnsRecord,
} from "./dns";
import type { MdnsQuerier } from "./resolver";

export const MDNS_PORT = 5353;
export const MDNS_IPV4_GROUP = "224.0.0.251";
export const MDNS_IPV6_GROUP = "ff02::fb";

export const COMMISSIONABLE_SERVICE = "_matterc._udp.local";
export const OPERATIONAL_SERVICE = "_matter._tcp.local";
const SERVICE_ENUMERATION = "_services._dns-sd._udp.local";

/** RFC 6762 10: 120 s for records naming a host (SRV, A, AAAA), 75 minutes for the rest. */
export const HOST_RECORD_TTL = 120;
export const SERVICE_RECORD_TTL = 4500;
/** RFC 6762 6.7: legacy unicast answers carry no TTL above 10 s. */
const LEGACY_UNICAST_TTL = 10;

const PROBE_COUNT = 3;
const PROBE_INTERVAL_MS = 250;
/** Announcements after probing: at 0, 1 s and 3 s (RFC 6762 8.3: at least two, doubling). */
const ANNOUNCEMENT_COUNT = 3;
const FIRST_ANNOUNCEMENT_INTERVAL_MS = 1000;
/** RFC 6762 6: shared answers wait 20-120 ms so that answers of several responders aggregate. */
const SHARED_DELAY_MIN_MS = 20;
const SHARED_DELAY_SPREAD_MS = 100;
/** RFC 6762 7.2: queries with the TC bit wait 400-500 ms for their remaining known answers. */
const TRUNCATED_DELAY_MIN_MS = 400;
/** RFC 6762 6: a record is multicast at most once a second (probe defence: every 250 ms). */
const MULTICAST_RATE_LIMIT_MS = 1000;
const PROBE_DEFENCE_RATE_LIMIT_MS = 250;
/** RFC 6762 8.1: after 15 conflicts within 10 s, wait 5 s before probing again. */
const CONFLICT_BURST = 15;
const CONFLICT_WINDOW_MS = 10_000;
const CONFLICT_BACKOFF_MS = 5000;
/** Lost a simultaneous-probe tie: probe again after a second (RFC 6762 8.2). */
const TIE_BREAK_DEFER_MS = 1000;
/** How long the sockets stay open after the goodbyes of close(). */
const CLOSE_LINGER_MS = 100;
/** Outgoing packets stay below a typical Ethernet MTU so that IP never fragments them. */
const MAX_PACKET_SIZE = 1400;

/** MRP parameters advertised in TXT (spec 4.3.4); absent ones take the spec's defaults. */
export interface SessionIntervals {
  idleIntervalMs?: number;
  activeIntervalMs?: number;
  activeThresholdMs?: number;
}

export interface CommissionableInfo {
  /** 12-bit discriminator. */
  discriminator: number;
  vendorId: number;
  productId: number;
  /** CM: 0 not in commissioning mode, 1 basic, 2 enhanced window. */
  commissioningMode: 0 | 1 | 2;
  /** The UDP port Matter listens on. */
  port: number;
  deviceType?: number;
  /** DN: only when the manufacturer enables it (privacy). */
  deviceName?: string;
  /** PH bitmap (spec 5.4.2.2.1); 33 (power cycle + device manual) when absent. */
  pairingHint?: number;
  pairingInstruction?: string;
  /** RI in upper-case hex (rotating-id.ts). */
  rotatingId?: string;
  sessionIntervals?: SessionIntervals;
  /** T: supported TCP roles bitmap; 0 (UDP only) when absent. */
  tcp?: number;
}

export interface OperationalInfo {
  compressedFabricId: bigint;
  nodeId: bigint;
  port: number;
  sessionIntervals?: SessionIntervals;
  tcp?: number;
}

export interface MdnsResponderOptions {
  network: Network;
  clock: Clock;
  random: Random;
  /** Join the groups, send and take addresses on this interface only (the simulator's --interface). */
  interfaceName?: string;
  /** Address families to serve; both unless given (hosts without IPv6 UDP pass [4]). */
  families?: AddressFamily[];
  /** The host label (before ".local"); 12 random upper-case hex digits unless given. */
  hostName?: string;
  /** 5353 unless given (tests). */
  port?: number;
  log?: (level: LogLevel, message: string) => void;
}

type RegistrationState = "probing" | "announcing" | "live";

interface Registration {
  /** "commissionable" or the operational instance label. */
  id: string;
  instance: string;
  service: string;
  /** Subtype labels ("_L3840"). */
  subtypes: string[];
  port: number;
  txt: Uint8Array[];
  /** Operational names are dictated by the fabric: a conflict is logged, not renamed. */
  renameable: boolean;
  state: RegistrationState;
  step: number;
  timer: TimerHandle | undefined;
  /** Records multicast in announcements, for goodbyes when it goes away. */
  announced: DnsRecord[];
}

interface PendingMulticast {
  answers: Map<string, DnsRecord>;
  additionals: Map<string, DnsRecord>;
  timer: TimerHandle;
  deadline: number;
}

const DEFAULT_PAIRING_HINT = 33;

function hex16(value: bigint): string {
  if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw new RangeError(`${value} does not fit 64 bits`);
  return value.toString(16).toUpperCase().padStart(16, "0");
}

/** An operational instance label (spec 4.3.2.2): upper-case hex, 16 digits each. */
export function operationalLabel(compressedFabricId: bigint, nodeId: bigint): string {
  return `${hex16(compressedFabricId)}-${hex16(nodeId)}`;
}

function randomHex(random: Random, bytes: number): string {
  return toHex(random.bytes(bytes)).toUpperCase();
}

function checkUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${what} ${value} is outside 0..${max}`);
}

function sessionTxt(intervals: SessionIntervals | undefined, tcp: number | undefined): Record<string, number> {
  const idle = intervals?.idleIntervalMs ?? 500;
  const active = intervals?.activeIntervalMs ?? 300;
  const threshold = intervals?.activeThresholdMs ?? 4000;
  checkUint(idle, 3_600_000, "SII");
  checkUint(active, 3_600_000, "SAI");
  checkUint(threshold, 0xffff, "SAT");
  return { SII: idle, SAI: active, SAT: threshold, T: tcp ?? 0 };
}

function isUnique(record: DnsRecord): boolean {
  return record.type !== DnsType.PTR;
}

/** An IN-class record; those naming a host get its short TTL and, being unique, the cache-flush bit. */
function inRecord(name: string, type: number, data: DnsRecord["data"], unique = true, ttl = HOST_RECORD_TTL): DnsRecord {
  return { name, type, class: DNS_CLASS_IN, cacheFlush: unique, ttl, data };
}

/** When a record was last multicast is kept per address family. */
function multicastKey(family: AddressFamily, record: DnsRecord): string {
  return `${family}|${recordKey(record)}`;
}

function isAddress(record: DnsRecord): boolean {
  return record.type === DnsType.A || record.type === DnsType.AAAA;
}

export class MdnsResponder implements MdnsQuerier {
  private readonly network: Network;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly interfaceName: string | undefined;
  private readonly port: number;
  private readonly log: (level: LogLevel, message: string) => void;
  private readonly sockets = new Map<AddressFamily, UdpSocket>();
  private readonly registrations = new Map<string, Registration>();
  private readonly lastMulticast = new Map<string, number>();
  private readonly pending = new Map<AddressFamily, PendingMulticast>();
  private readonly conflictTimes: number[] = [];
  private readonly responseListeners = new Set<(message: DnsMessage, from: UdpEndpoint) => void>();
  private hostLabel: string;
  private commissionableLabel: string;
  /** Host records last announced, so that vanished addresses get a goodbye. */
  private announcedHostRecords: DnsRecord[] = [];
  private closed = false;

  constructor(options: MdnsResponderOptions) {
    this.network = options.network;
    this.clock = options.clock;
    this.random = options.random;
    this.interfaceName = options.interfaceName;
    this.port = options.port ?? MDNS_PORT;
    this.log = options.log ?? (() => {});
    this.hostLabel = options.hostName ?? randomHex(this.random, 6);
    this.commissionableLabel = randomHex(this.random, 8);
    for (const family of options.families ?? ([6, 4] as AddressFamily[])) {
      try {
        const socket = this.network.openUdp(
          {
            family,
            port: this.port,
            multicastGroups: [family === 6 ? MDNS_IPV6_GROUP : MDNS_IPV4_GROUP],
            reuseAddress: true,
            ...(this.interfaceName !== undefined ? { interfaceName: this.interfaceName } : {}),
          },
          (data, from) => this.receive(data, from, family),
        );
        this.sockets.set(family, socket);
      } catch (error) {
        this.log("warn", `mDNS: no IPv${family}: ${(error as Error).message}`);
      }
    }
    if (this.sockets.size === 0) throw new Error("mDNS: no address family");
  }

  /** The host name in use (it changes when a conflict forces a rename). */
  get hostName(): string {
    return `${this.hostLabel}.local`;
  }

  /** This boot's commissionable instance name (changes only on a conflict). */
  get commissionableInstance(): string {
    return `${this.commissionableLabel}.${COMMISSIONABLE_SERVICE}`;
  }

  /** Starts (or updates) the commissionable advertisement. */
  advertiseCommissionable(info: CommissionableInfo): void {
    checkUint(info.discriminator, 0xfff, "discriminator");
    checkUint(info.vendorId, 0xffff, "vendor id");
    checkUint(info.productId, 0xffff, "product id");
    checkUint(info.port, 0xffff, "port");
    if (![0, 1, 2].includes(info.commissioningMode)) throw new RangeError(`commissioning mode ${info.commissioningMode}`);
    const subtypes = [`_L${info.discriminator}`, `_S${info.discriminator >> 8}`, `_V${info.vendorId}`];
    if (info.deviceType !== undefined) {
      checkUint(info.deviceType, 0xffffffff, "device type");
      subtypes.push(`_T${info.deviceType}`);
    }
    if (info.commissioningMode !== 0) subtypes.push("_CM");
    const pairs: Record<string, string | number> = {
      D: info.discriminator,
      CM: info.commissioningMode,
      VP: `${info.vendorId}+${info.productId}`,
    };
    if (info.deviceType !== undefined) pairs.DT = info.deviceType;
    if (info.deviceName !== undefined) pairs.DN = info.deviceName;
    Object.assign(pairs, sessionTxt(info.sessionIntervals, info.tcp));
    if (info.rotatingId !== undefined) {
      if (!/^[0-9A-F]{2,100}$/.test(info.rotatingId)) throw new RangeError("RI must be upper-case hex");
      pairs.RI = info.rotatingId;
    }
    pairs.PH = info.pairingHint ?? DEFAULT_PAIRING_HINT;
    if (info.pairingInstruction !== undefined) pairs.PI = info.pairingInstruction;
    this.register({
      id: "commissionable",
      instance: this.commissionableLabel,
      service: COMMISSIONABLE_SERVICE,
      subtypes,
      port: info.port,
      txt: txtEntries(pairs),
      renameable: true,
    });
  }

  /** Stops the commissionable advertisement with goodbyes (window closed). */
  withdrawCommissionable(): void {
    this.unregister("commissionable");
  }

  /** Starts (or updates) the operational advertisement of one fabric. */
  advertiseOperational(info: OperationalInfo): void {
    checkUint(info.port, 0xffff, "port");
    const instance = operationalLabel(info.compressedFabricId, info.nodeId);
    this.register({
      id: instance,
      instance,
      service: OPERATIONAL_SERVICE,
      subtypes: [`_I${hex16(info.compressedFabricId)}`],
      port: info.port,
      txt: txtEntries(sessionTxt(info.sessionIntervals, info.tcp)),
      renameable: false,
    });
  }

  /** Stops one fabric's operational advertisement with goodbyes (fabric removed). */
  withdrawOperational(compressedFabricId: bigint, nodeId: bigint): void {
    this.unregister(operationalLabel(compressedFabricId, nodeId));
  }

  /** Announces the host's current addresses again, with goodbyes for those it no longer has. */
  refreshAddresses(): void {
    if (!this.hasAnnouncedRegistration()) return;
    const current = this.hostRecords();
    const currentKeys = new Set(current.map(recordKey));
    const gone = this.announcedHostRecords.filter((record) => !currentKeys.has(recordKey(record)));
    if (gone.length > 0) this.sendGoodbyes(gone);
    this.announcedHostRecords = current;
    this.multicastNow(current, []);
  }

  /** Multicasts a query (encoded by the caller) on every family served. */
  sendQuery(packet: Uint8Array): void {
    this.checkOpen();
    this.sendToGroups(packet);
  }

  /** Hands every response received from the mDNS port to `listener`; returns what removes it. */
  onResponse(listener: (message: DnsMessage, from: UdpEndpoint) => void): () => void {
    this.responseListeners.add(listener);
    return () => void this.responseListeners.delete(listener);
  }

  /** Goodbyes for everything announced, then the sockets close. */
  close(): void {
    if (this.closed) return;
    const goodbyes: DnsRecord[] = [];
    for (const registration of this.registrations.values()) {
      this.stopTimer(registration);
      goodbyes.push(...registration.announced);
    }
    if (goodbyes.length > 0) goodbyes.push(...this.announcedHostRecords);
    this.sendGoodbyes(this.withoutDuplicates(goodbyes));
    this.registrations.clear();
    this.responseListeners.clear();
    for (const pending of this.pending.values()) this.clock.clearTimer(pending.timer);
    this.pending.clear();
    this.closed = true;
    // Hosts may hand datagrams to the OS a moment after send() (Node resolves the address first):
    // the sockets close once the goodbyes are out.
    const sockets = [...this.sockets.values()];
    this.sockets.clear();
    this.clock.setTimer(CLOSE_LINGER_MS, () => {
      for (const socket of sockets) socket.close();
    });
  }

  private checkOpen(): void {
    if (this.closed) throw new Error("mDNS responder closed");
  }

  // -------------------------------------------------------------------------------------------
  // Registrations

  private register(spec: Omit<Registration, "state" | "step" | "timer" | "announced">): void {
    this.checkOpen();
    const existing = this.registrations.get(spec.id);
    if (existing && existing.instance === spec.instance && existing.state !== "probing") {
      // Same name, new data: goodbye for what disappeared, announce the rest again.
      existing.subtypes = spec.subtypes;
      existing.port = spec.port;
      existing.txt = spec.txt;
      const currentRecords = this.serviceRecords(existing);
      const current = new Set(currentRecords.map(recordKey));
      // A unique record with new data needs no goodbye: its cache-flush bit replaces the old one.
      const replaced = (record: DnsRecord) => isUnique(record) && currentRecords.some((next) => next.type === record.type && sameName(next.name, record.name));
      const gone = existing.announced.filter((record) => !current.has(recordKey(record)) && !replaced(record) && this.isSoleOwner(record, existing));
      if (gone.length > 0) this.sendGoodbyes(gone);
      this.startAnnouncing(existing);
      return;
    }
    if (existing) this.stopTimer(existing);
    const registration: Registration = { ...spec, state: "probing", step: 0, timer: undefined, announced: existing?.announced ?? [] };
    this.registrations.set(spec.id, registration);
    this.startProbing(registration, this.randomDelay(PROBE_INTERVAL_MS));
  }

  private unregister(id: string): void {
    const registration = this.registrations.get(id);
    if (!registration) return;
    this.stopTimer(registration);
    this.registrations.delete(id);
    const goodbyes = registration.announced.filter((record) => this.isSoleOwner(record, registration));
    if (!this.hasAnnouncedRegistration()) {
      goodbyes.push(...this.announcedHostRecords);
      this.announcedHostRecords = [];
    }
    this.sendGoodbyes(goodbyes);
  }

  /** False for a record another registration still announces (the service enumeration PTRs). */
  private isSoleOwner(record: DnsRecord, owner: Registration): boolean {
    const key = recordKey(record);
    for (const other of this.registrations.values()) {
      if (other === owner || other.state === "probing") continue;
      if (this.serviceRecords(other).some((candidate) => recordKey(candidate) === key)) return false;
    }
    return true;
  }

  private hasAnnouncedRegistration(): boolean {
    for (const registration of this.registrations.values()) if (registration.state !== "probing") return true;
    return false;
  }

  private stopTimer(registration: Registration): void {
    if (registration.timer !== undefined) this.clock.clearTimer(registration.timer);
    registration.timer = undefined;
  }

  private schedule(registration: Registration, delayMs: number, action: () => void): void {
    this.stopTimer(registration);
    registration.timer = this.clock.setTimer(Math.max(0, delayMs), () => {
      registration.timer = undefined;
      if (this.registrations.get(registration.id) === registration) action();
    });
  }

  private startProbing(registration: Registration, delayMs: number): void {
    registration.state = "probing";
    registration.step = 0;
    const now = this.clock.now();
    while (this.conflictTimes.length > 0 && now - this.conflictTimes[0]! > CONFLICT_WINDOW_MS) this.conflictTimes.shift();
    const backoff = this.conflictTimes.length >= CONFLICT_BURST ? CONFLICT_BACKOFF_MS : 0;
    this.schedule(registration, delayMs + backoff, () => this.probe(registration));
  }

  private probe(registration: Registration): void {
    if (registration.step >= PROBE_COUNT) {
      this.startAnnouncing(registration);
      return;
    }
    const first = registration.step === 0;
    const instanceName = this.instanceName(registration);
    const questions: DnsQuestion[] = [
      { name: instanceName, type: DnsType.ANY, class: DNS_CLASS_IN, unicastResponse: first },
      { name: this.hostName, type: DnsType.ANY, class: DNS_CLASS_IN, unicastResponse: first },
    ];
    const authorities = [...this.uniqueServiceRecords(registration), ...this.hostRecords()].map((record) => ({ ...record, cacheFlush: false }));
    this.sendToGroups(encodeDnsMessage({ isResponse: false, questions, authorities }));
    registration.step++;
    this.schedule(registration, PROBE_INTERVAL_MS, () => this.probe(registration));
  }

  private startAnnouncing(registration: Registration): void {
    registration.state = "announcing";
    registration.step = 0;
    this.announce(registration);
  }

  private announce(registration: Registration): void {
    const records = this.serviceRecords(registration);
    const host = this.hostRecords();
    registration.announced = records;
    this.announcedHostRecords = host;
    this.multicastNow([...records, ...host], []);
    registration.step++;
    if (registration.step >= ANNOUNCEMENT_COUNT) {
      registration.state = "live";
      return;
    }
    this.schedule(registration, FIRST_ANNOUNCEMENT_INTERVAL_MS * 2 ** (registration.step - 1), () => this.announce(registration));
  }

  // -------------------------------------------------------------------------------------------
  // Records

  private instanceName(registration: Registration): string {
    return `${registration.instance}.${registration.service}`;
  }

  private uniqueServiceRecords(registration: Registration): DnsRecord[] {
    const name = this.instanceName(registration);
    return [
      inRecord(name, DnsType.SRV, { kind: "SRV", priority: 0, weight: 0, port: registration.port, target: this.hostName }),
      inRecord(name, DnsType.TXT, { kind: "TXT", entries: registration.txt }, true, SERVICE_RECORD_TTL),
    ];
  }

  private serviceRecords(registration: Registration): DnsRecord[] {
    const instance = this.instanceName(registration);
    const ptr = (name: string, target: string) => inRecord(name, DnsType.PTR, { kind: "PTR", target }, false, SERVICE_RECORD_TTL);
    const records = [ptr(SERVICE_ENUMERATION, registration.service), ptr(registration.service, instance)];
    for (const subtype of registration.subtypes) {
      const subtypeName = `${subtype}._sub.${registration.service}`;
      records.push(ptr(SERVICE_ENUMERATION, subtypeName), ptr(subtypeName, instance));
    }
    return [...records, ...this.uniqueServiceRecords(registration)];
  }

  /** A and AAAA for the addresses of the interface(s) served. */
  private hostRecords(): DnsRecord[] {
    const records: DnsRecord[] = [];
    const seen = new Set<string>();
    for (const entry of this.network.interfaces()) {
      if (this.interfaceName !== undefined && entry.name !== this.interfaceName) continue;
      for (const { address, family } of entry.addresses) {
        if (!this.sockets.has(family)) continue;
        const plain = address.split("%")[0]!;
        if (seen.has(plain)) continue;
        seen.add(plain);
        const kind = family === 4 ? "A" : "AAAA";
        records.push(inRecord(this.hostName, DnsType[kind], { kind, address: plain }));
      }
    }
    return records;
  }

  /** Every record we answer for: registrations past probing, and the host once one of them is. */
  private answerableRecords(): DnsRecord[] {
    const records: DnsRecord[] = [];
    for (const registration of this.registrations.values()) if (registration.state !== "probing") records.push(...this.serviceRecords(registration));
    if (records.length > 0) records.push(...this.hostRecords());
    return this.withoutDuplicates(records);
  }

  private withoutDuplicates(records: DnsRecord[]): DnsRecord[] {
    const seen = new Set<string>();
    return records.filter((record) => {
      const key = recordKey(record);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }

  /** Names we claim as unique (instances and host), with the registration probing them if any. */
  private ownedNames(): { name: string; registration: Registration | undefined; probing: boolean }[] {
    const names: { name: string; registration: Registration | undefined; probing: boolean }[] = [];
    let hostProbing = false;
    for (const registration of this.registrations.values()) {
      names.push({ name: this.instanceName(registration), registration, probing: registration.state === "probing" });
      if (registration.state === "probing") hostProbing = true;
    }
    if (this.registrations.size > 0) names.push({ name: this.hostName, registration: undefined, probing: hostProbing && !this.hasAnnouncedRegistration() });
    return names;
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  private receive(data: Uint8Array, from: UdpEndpoint, family: AddressFamily): void {
    if (this.closed) return;
    let message: DnsMessage;
    try {
      message = decodeDnsMessage(data);
    } catch (error) {
      if (error instanceof DnsError) {
        this.log("debug", `mDNS: malformed from ${from.address}: ${error.message}`);
        return;
      }
      throw error;
    }
    if (message.opcode !== 0) return;
    try {
      if (message.isResponse) {
        this.checkResponseForConflicts(message);
        // RFC 6762 6: responses not sent from the mDNS port are not mDNS answers.
        if (from.port === this.port) for (const listener of [...this.responseListeners]) listener(message, from);
      } else {
        this.answer(message, from, family);
      }
    } catch (error) {
      this.log("error", `mDNS: from ${from.address}: ${(error as Error).message}`);
    }
  }

  private checkResponseForConflicts(message: DnsMessage): void {
    // Our own packets come back (multicast loopback), possibly after our data changed: whatever
    // we hold or have multicast and not yet said goodbye to is ours.
    const ours = new Set<string>();
    for (const registration of this.registrations.values()) for (const record of this.serviceRecords(registration)) ours.add(recordKey(record));
    for (const record of this.hostRecords()) ours.add(recordKey(record));
    for (const key of this.lastMulticast.keys()) ours.add(key.slice(key.indexOf("|") + 1));
    for (const owned of this.ownedNames()) {
      const theirs = [...message.answers, ...message.additionals].filter((record) => sameName(record.name, owned.name) && record.ttl > 0 && !ours.has(recordKey(record)));
      if (theirs.length === 0) continue;
      // While probing any record of the name is a conflict (RFC 6762 8.1); once announced, only a
      // unique record of one of our types with other data (RFC 6762 9).
      const conflicting = owned.probing
        ? theirs
        : theirs.filter((record) => record.type === DnsType.SRV || record.type === DnsType.TXT || isAddress(record));
      if (conflicting.length > 0) this.conflict(owned.name, owned.registration);
    }
  }

  private conflict(name: string, registration: Registration | undefined): void {
    this.conflictTimes.push(this.clock.now());
    if (registration === undefined) {
      const old = this.hostName;
      this.hostLabel = randomHex(this.random, 6);
      this.log("warn", `mDNS: host name ${old} is taken; now ${this.hostName}`);
      for (const each of this.registrations.values()) this.startProbing(each, 0);
      return;
    }
    if (!registration.renameable) {
      this.log("warn", `mDNS: ${name} claimed elsewhere; kept`);
      return;
    }
    const old = this.instanceName(registration);
    this.commissionableLabel = randomHex(this.random, 8);
    registration.instance = this.commissionableLabel;
    this.log("warn", `mDNS: instance ${old} is taken; now ${this.instanceName(registration)}`);
    this.startProbing(registration, 0);
  }

  /** RFC 6762 8.2: a probe for a name we are probing too; the lexicographically later data wins. */
  private breakProbeTies(message: DnsMessage): void {
    for (const owned of this.ownedNames()) {
      if (!owned.probing) continue;
      const theirs = message.authorities.filter((record) => sameName(record.name, owned.name));
      if (theirs.length === 0) continue;
      const ours = owned.registration ? this.uniqueServiceRecords(owned.registration) : this.hostRecords();
      if (compareRecordSets(ours, theirs) >= 0) continue;
      this.log("info", `mDNS: lost probe tie for ${owned.name}`);
      const targets = owned.registration ? [owned.registration] : [...this.registrations.values()];
      for (const registration of targets) if (registration.state === "probing") this.startProbing(registration, TIE_BREAK_DEFER_MS);
    }
  }

  private answer(message: DnsMessage, from: UdpEndpoint, family: AddressFamily): void {
    if (message.authorities.length > 0) this.breakProbeTies(message);
    const legacy = from.port !== this.port;
    const isProbe = message.authorities.length > 0;
    const records = this.answerableRecords();
    if (records.length === 0) return;
    const known = new Map<string, number>();
    for (const record of message.answers) known.set(recordKey(record), record.ttl);
    const suppressed = (record: DnsRecord) => {
      const ttl = known.get(recordKey(record));
      return ttl !== undefined && ttl >= record.ttl / 2;
    };

    const unicast = new Map<string, DnsRecord>();
    const multicast = new Map<string, DnsRecord>();
    const answeredQuestions: DnsQuestion[] = [];
    for (const question of message.questions) {
      if (question.class !== DNS_CLASS_IN && question.class !== DNS_CLASS_ANY) continue;
      let matched = records.filter((record) => sameName(record.name, question.name) && (question.type === DnsType.ANY || question.type === record.type));
      if (matched.length === 0) {
        const negative = this.negativeAnswer(question, records);
        if (negative) matched = [negative];
      }
      if (matched.length === 0) continue;
      answeredQuestions.push(question);
      for (const record of matched) {
        if (suppressed(record)) continue;
        const key = recordKey(record);
        if (legacy || question.unicastResponse) {
          unicast.set(key, record);
          // RFC 6762 5.4: also multicast when the record has not been multicast for a quarter TTL.
          const last = this.lastMulticast.get(multicastKey(family, record));
          if (!legacy && (last === undefined || this.clock.now() - last > (record.ttl * 1000) / 4)) multicast.set(key, record);
        } else {
          multicast.set(key, record);
        }
      }
    }

    const additionalsFor = (answers: DnsRecord[]) => this.additionalsFor(answers, records).filter((record) => !suppressed(record));
    if (unicast.size > 0) {
      const answers = [...unicast.values()];
      const additionals = additionalsFor(answers);
      if (legacy) {
        const cap = (record: DnsRecord) => ({ ...record, cacheFlush: false, ttl: Math.min(record.ttl, LEGACY_UNICAST_TTL) });
        this.sendPackets(answers.map(cap), additionals.map(cap), (packet) => this.sendTo(packet, from), { id: message.id, questions: answeredQuestions });
      } else {
        this.sendPackets(answers, additionals, (packet) => this.sendTo(packet, { ...from, port: this.port }));
      }
    }
    if (multicast.size > 0) {
      const answers = [...multicast.values()];
      const additionals = additionalsFor(answers);
      const allUnique = answers.every(isUnique);
      const delay = message.truncated
        ? TRUNCATED_DELAY_MIN_MS + this.randomDelay(SHARED_DELAY_SPREAD_MS)
        : allUnique
          ? 0
          : SHARED_DELAY_MIN_MS + this.randomDelay(SHARED_DELAY_SPREAD_MS);
      this.queueMulticast(family, answers, additionals, delay, isProbe ? PROBE_DEFENCE_RATE_LIMIT_MS : MULTICAST_RATE_LIMIT_MS);
    }
  }

  /** NSEC for a unique name we own that has no record of the asked type (RFC 6762 6.1). */
  private negativeAnswer(question: DnsQuestion, records: DnsRecord[]): DnsRecord | undefined {
    if (question.type === DnsType.ANY) return undefined;
    const ofName = records.filter((record) => sameName(record.name, question.name) && isUnique(record));
    if (ofName.length === 0) return undefined;
    const types = [...new Set(ofName.map((record) => record.type))];
    const name = ofName[0]!.name;
    return inRecord(name, DnsType.NSEC, { kind: "NSEC", nextName: name, types });
  }

  /** RFC 6763 12: PTR → SRV, TXT and addresses; SRV → addresses; A ↔ AAAA (RFC 6762 6.2). */
  private additionalsFor(answers: DnsRecord[], records: DnsRecord[]): DnsRecord[] {
    const answered = new Set(answers.map(recordKey));
    const additions = new Map<string, DnsRecord>();
    const add = (record: DnsRecord) => {
      const key = recordKey(record);
      if (!answered.has(key)) additions.set(key, record);
    };
    const addresses = records.filter(isAddress);
    for (const answer of answers) {
      if (answer.data.kind === "PTR") {
        const target = answer.data.target;
        const targetRecords = records.filter((record) => sameName(record.name, target) && (record.type === DnsType.SRV || record.type === DnsType.TXT));
        targetRecords.forEach(add);
        if (targetRecords.some((record) => record.type === DnsType.SRV)) addresses.forEach(add);
      } else if (answer.data.kind === "SRV" || isAddress(answer)) {
        addresses.forEach(add);
      }
    }
    return [...additions.values()];
  }

  private randomDelay(spread: number): number {
    return Math.floor((this.random.bytes(1)[0]! / 256) * spread);
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /** Joins answers into the family's pending multicast, sent at the earliest deadline asked for. */
  private queueMulticast(family: AddressFamily, answers: DnsRecord[], additionals: DnsRecord[], delayMs: number, rateLimitMs: number): void {
    const now = this.clock.now();
    const due = answers.filter((record) => {
      const last = this.lastMulticast.get(multicastKey(family, record));
      return last === undefined || now - last >= rateLimitMs;
    });
    if (due.length === 0) return;
    if (delayMs === 0) {
      // Unique answers go out at once, on their own (RFC 6762 6).
      this.sendPackets(due, additionals, (packet) => this.sendToGroup(family, packet));
      this.noteMulticast(family, due);
      return;
    }
    let pending = this.pending.get(family);
    const deadline = now + delayMs;
    if (!pending) {
      pending = { answers: new Map(), additionals: new Map(), timer: this.clock.setTimer(delayMs, () => this.flushMulticast(family)), deadline };
      this.pending.set(family, pending);
    } else if (deadline < pending.deadline) {
      this.clock.clearTimer(pending.timer);
      pending.timer = this.clock.setTimer(delayMs, () => this.flushMulticast(family));
      pending.deadline = deadline;
    }
    for (const record of due) pending.answers.set(recordKey(record), record);
    for (const record of additionals) pending.additionals.set(recordKey(record), record);
  }

  private flushMulticast(family: AddressFamily): void {
    const pending = this.pending.get(family);
    this.pending.delete(family);
    if (!pending || this.closed) return;
    const answers = [...pending.answers.values()];
    const additionals = [...pending.additionals.values()].filter((record) => !pending.answers.has(recordKey(record)));
    this.sendPackets(answers, additionals, (packet) => this.sendToGroup(family, packet));
    this.noteMulticast(family, answers);
  }

  /** An unsolicited response on every family at once (announcements, address updates). */
  private multicastNow(answers: DnsRecord[], additionals: DnsRecord[]): void {
    for (const family of this.sockets.keys()) {
      this.sendPackets(answers, additionals, (packet) => this.sendToGroup(family, packet));
      this.noteMulticast(family, answers);
    }
  }

  private sendGoodbyes(records: DnsRecord[]): void {
    if (records.length === 0 || this.closed) return;
    const goodbyes = records.map((record) => ({ ...record, ttl: 0 }));
    for (const family of this.sockets.keys()) {
      this.sendPackets(goodbyes, [], (packet) => this.sendToGroup(family, packet));
      for (const record of records) this.lastMulticast.delete(multicastKey(family, record));
    }
  }

  private noteMulticast(family: AddressFamily, records: DnsRecord[]): void {
    const now = this.clock.now();
    for (const record of records) this.lastMulticast.set(multicastKey(family, record), now);
    // Bounded: only records that still exist are remembered.
    if (this.lastMulticast.size > 512) this.lastMulticast.clear();
  }

  /**
   * Splits answers over as many responses as needed to stay under MAX_PACKET_SIZE; additional
   * records go where they fit and are dropped otherwise (they only save the querier a query).
   */
  private sendPackets(answers: DnsRecord[], additionals: DnsRecord[], send: (packet: Uint8Array) => void, legacy?: { id: number; questions: DnsQuestion[] }): void {
    const build = (packetAnswers: DnsRecord[], packetAdditionals: DnsRecord[]) =>
      encodeDnsMessage({ id: legacy?.id ?? 0, isResponse: true, questions: legacy?.questions ?? [], answers: packetAnswers, additionals: packetAdditionals });
    let index = 0;
    while (index < answers.length) {
      const packetAnswers: DnsRecord[] = [answers[index++]!];
      while (index < answers.length && build([...packetAnswers, answers[index]!], []).length <= MAX_PACKET_SIZE) packetAnswers.push(answers[index++]!);
      const packetAdditionals: DnsRecord[] = [];
      if (index >= answers.length) {
        for (const record of additionals) if (build(packetAnswers, [...packetAdditionals, record]).length <= MAX_PACKET_SIZE) packetAdditionals.push(record);
      }
      send(build(packetAnswers, packetAdditionals));
    }
  }

  private sendToGroups(packet: Uint8Array): void {
    for (const family of this.sockets.keys()) this.sendToGroup(family, packet);
  }

  private sendToGroup(family: AddressFamily, packet: Uint8Array): void {
    const endpoint: UdpEndpoint = { address: family === 6 ? MDNS_IPV6_GROUP : MDNS_IPV4_GROUP, port: this.port, family };
    if (this.interfaceName !== undefined) endpoint.interfaceName = this.interfaceName;
    this.sendTo(packet, endpoint);
  }

  private sendTo(packet: Uint8Array, to: UdpEndpoint): void {
    const socket = this.sockets.get(to.family);
    if (!socket) return;
    try {
      socket.send(packet, to);
    } catch (error) {
      this.log("warn", `mDNS: send to ${to.address} failed: ${(error as Error).message}`);
    }
  }
}

/** RFC 6762 8.2.1: sort each side's records, compare class, type, then rdata bytes, one by one. */
function compareRecordSets(ours: DnsRecord[], theirs: DnsRecord[]): number {
  const sorted = (records: DnsRecord[]) => records.map((record) => ({ record, data: canonicalRecordData(record) })).sort((a, b) => compareRecords(a, b));
  const a = sorted(ours);
  const b = sorted(theirs);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const difference = compareRecords(a[i]!, b[i]!);
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}

function compareRecords(a: { record: DnsRecord; data: Uint8Array }, b: { record: DnsRecord; data: Uint8Array }): number {
  if (a.record.class !== b.record.class) return a.record.class - b.record.class;
  if (a.record.type !== b.record.type) return a.record.type - b.record.type;
  for (let i = 0; i < Math.min(a.data.length, b.data.length); i++) if (a.data[i] !== b.data[i]) return a.data[i]! - b.data[i]!;
  return a.data.length - b.data.length;
}
