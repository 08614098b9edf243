// DNS message codec for multicast DNS (RFC 1035 wire format, RFC 6762 bits): header, questions,
// answer/authority/additional records; name compression on decode (pointers must point backwards,
// so they cannot loop) and on encode; A, AAAA, PTR, SRV, TXT and NSEC records, anything else kept
// as raw bytes. The decoder is strict and bounded: every length is checked against the packet, and
// a malformed packet is a DnsError, never a partial result.
//
// Names are strings of labels joined by "."; a "." or "\" inside a label is escaped with "\".
import { toHex, utf8Decode, utf8Encode, utf8InvalidOffset } from "../codec/bytes";

export class DnsError extends Error {
  override name = "DnsError";
}

export const DnsType = { A: 1, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, NSEC: 47, ANY: 255 } as const;
export const DNS_CLASS_IN = 1;
export const DNS_CLASS_ANY = 255;
/** Top bit of a question's class: the querier asks for a unicast reply (QU, RFC 6762 5.4). */
export const QU_BIT = 0x8000;
/** Top bit of a record's class: the record replaces cached ones of its name and type (RFC 6762 10.2). */
export const CACHE_FLUSH_BIT = 0x8000;

/** The largest mDNS message (RFC 6762 17); anything longer is refused before decoding. */
export const MAX_DNS_MESSAGE_SIZE = 9000;
const MAX_NAME_WIRE_LENGTH = 255;
const MAX_LABEL_LENGTH = 63;
/** A name may follow at most this many pointers (each must also point backwards). */
const MAX_POINTERS_PER_NAME = 32;
const HEADER_LENGTH = 12;
/** The smallest record: a root name (1), type, class, TTL and rdlength (10). */
const MIN_RECORD_LENGTH = 11;
/** The smallest question: a root name (1), type and class (4). */
const MIN_QUESTION_LENGTH = 5;

export interface DnsQuestion {
  name: string;
  type: number;
  /** Class without the QU bit. */
  class: number;
  unicastResponse: boolean;
}

export type DnsRecordData =
  | { kind: "A"; address: string }
  | { kind: "AAAA"; address: string }
  | { kind: "PTR"; target: string }
  | { kind: "SRV"; priority: number; weight: number; port: number; target: string }
  | { kind: "TXT"; entries: Uint8Array[] }
  | { kind: "NSEC"; nextName: string; types: number[] }
  | { kind: "raw"; bytes: Uint8Array };

export interface DnsRecord {
  name: string;
  type: number;
  /** Class without the cache-flush bit. */
  class: number;
  cacheFlush: boolean;
  /** Seconds; 0 is a goodbye. */
  ttl: number;
  data: DnsRecordData;
}

export interface DnsMessage {
  id: number;
  /** QR bit: a response rather than a query. */
  isResponse: boolean;
  opcode: number;
  authoritative: boolean;
  truncated: boolean;
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

const TYPE_OF_KIND: Record<Exclude<DnsRecordData["kind"], "raw">, number> = {
  A: DnsType.A,
  AAAA: DnsType.AAAA,
  PTR: DnsType.PTR,
  SRV: DnsType.SRV,
  TXT: DnsType.TXT,
  NSEC: DnsType.NSEC,
};

// ---------------------------------------------------------------------------------------------
// Names

/** Splits a name into unescaped labels; "" and "." are the root, a trailing "." is allowed. */
export function nameLabels(name: string): string[] {
  if (name === ".") return [];
  const labels: string[] = [];
  let current = "";
  let escaped = false;
  for (const char of name) {
    if (escaped) {
      current += char;
      escaped = false;
    } else if (char === "\\") {
      escaped = true;
    } else if (char === ".") {
      if (current.length === 0) throw new DnsError(`empty label in name "${name}"`);
      labels.push(current);
      current = "";
    } else {
      current += char;
    }
  }
  if (escaped) throw new DnsError(`name "${name}" ends in an escape`);
  // A trailing "." (fully qualified form) adds nothing.
  if (current.length > 0) labels.push(current);
  return labels;
}

function escapeLabel(label: string): string {
  return label.replace(/[\\.]/g, (char) => "\\" + char);
}

export function joinLabels(labels: string[]): string {
  return labels.map(escapeLabel).join(".");
}

/** DNS compares names case-insensitively in ASCII only (RFC 6762 16). */
export function nameKey(name: string): string {
  return name.replace(/[A-Z]/g, (char) => String.fromCharCode(char.charCodeAt(0) + 32));
}

export function sameName(a: string, b: string): boolean {
  return nameKey(a) === nameKey(b);
}

// ---------------------------------------------------------------------------------------------
// Addresses

function parseIpv4(address: string): Uint8Array {
  const parts = address.split(".");
  if (parts.length !== 4 || parts.some((part) => !/^\d{1,3}$/.test(part) || Number(part) > 255)) throw new DnsError(`not an IPv4 address: ${address}`);
  return Uint8Array.from(parts, Number);
}

function formatIpv4(bytes: Uint8Array): string {
  return Array.from(bytes).join(".");
}

/** Parses an IPv6 address (with "::", an embedded IPv4 tail, and a "%zone" that is ignored). */
export function parseIpv6(address: string): Uint8Array {
  const text = address.split("%")[0]!;
  const fail = (): never => {
    throw new DnsError(`not an IPv6 address: ${address}`);
  };
  const halves = text.split("::");
  if (halves.length > 2) fail();
  const groupsOf = (part: string): number[] => {
    if (part === "") return [];
    const groups: number[] = [];
    const pieces = part.split(":");
    pieces.forEach((piece, index) => {
      if (index === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        return;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) fail();
      groups.push(parseInt(piece, 16));
    });
    return groups;
  };
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  let groups: number[];
  if (halves.length === 2) {
    if (head.length + tail.length > 7) fail();
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) fail();
  const out = new Uint8Array(16);
  groups.forEach((group, i) => {
    out[i * 2] = group >> 8;
    out[i * 2 + 1] = group & 0xff;
  });
  return out;
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as "::". */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

// ---------------------------------------------------------------------------------------------
// TXT helpers

/** TXT strings from "key=value" text (DNS-SD, RFC 6763 6). */
export function txtEntries(pairs: Record<string, string | number>): Uint8Array[] {
  return Object.entries(pairs).map(([key, value]) => utf8Encode(`${key}=${value}`));
}

/** The key/value pairs of TXT strings; keys compare case-insensitively, the first wins (RFC 6763 6.4). */
export function txtPairs(entries: Uint8Array[]): Map<string, string> {
  const pairs = new Map<string, string>();
  for (const entry of entries) {
    if (utf8InvalidOffset(entry) >= 0) continue;
    const text = utf8Decode(entry);
    const equals = text.indexOf("=");
    const key = nameKey(equals < 0 ? text : text.slice(0, equals));
    if (key.length === 0 || pairs.has(key)) continue;
    pairs.set(key, equals < 0 ? "" : text.slice(equals + 1));
  }
  return pairs;
}

// ---------------------------------------------------------------------------------------------
// Decoding

class DnsReader {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  /** Claims `count` bytes; returns where they start. */
  private skip(count: number): number {
    const at = this.offset;
    if (at + count > this.bytes.length) throw new DnsError(`runs past the end at ${at}`);
    this.offset += count;
    return at;
  }

  take(count: number): Uint8Array {
    const at = this.skip(count);
    return this.bytes.slice(at, at + count);
  }

  u8(): number {
    return this.bytes[this.skip(1)]!;
  }

  u16(): number {
    const at = this.skip(2);
    return (this.bytes[at]! << 8) | this.bytes[at + 1]!;
  }

  u32(): number {
    return this.u16() * 0x10000 + this.u16();
  }

  /** A possibly compressed name; `limit` bounds where its first labels may extend (rdata end). */
  name(what: string, limit = this.bytes.length): string {
    const labels: string[] = [];
    let position = this.offset;
    let wireLength = 1;
    let pointers = 0;
    // Where reading continues after the name once a pointer was followed. Every pointer must
    // point strictly before itself, so a chain of them cannot loop.
    let resume = -1;
    for (;;) {
      const bound = resume < 0 ? limit : this.bytes.length;
      if (position >= bound) throw new DnsError(`${what}: name runs past its end`);
      const length = this.bytes[position]!;
      if (length === 0) {
        position += 1;
        break;
      }
      const kind = length & 0xc0;
      if (kind === 0xc0) {
        if (position + 1 >= bound) throw new DnsError(`${what}: truncated pointer`);
        const target = ((length & 0x3f) << 8) | this.bytes[position + 1]!;
        if (target >= position || target < HEADER_LENGTH) throw new DnsError(`${what}: pointer to ${target} not backwards`);
        if (++pointers > MAX_POINTERS_PER_NAME) throw new DnsError(`${what}: too many pointers`);
        if (resume < 0) resume = position + 2;
        position = target;
        continue;
      }
      if (kind !== 0) throw new DnsError(`${what}: label type ${kind}`);
      const end = position + 1 + length;
      if (end > bound) throw new DnsError(`${what}: label runs past its end`);
      wireLength += 1 + length;
      if (wireLength > MAX_NAME_WIRE_LENGTH) throw new DnsError(`${what}: name longer than ${MAX_NAME_WIRE_LENGTH} bytes`);
      const label = this.bytes.subarray(position + 1, end);
      if (utf8InvalidOffset(label) >= 0) throw new DnsError(`${what}: label is not UTF-8`);
      labels.push(utf8Decode(label));
      position = end;
    }
    this.offset = resume >= 0 ? resume : position;
    return joinLabels(labels);
  }

  question(): DnsQuestion {
    const name = this.name("question name");
    const type = this.u16();
    const rawClass = this.u16();
    return { name, type, class: rawClass & 0x7fff, unicastResponse: (rawClass & QU_BIT) !== 0 };
  }

  record(): DnsRecord {
    const name = this.name("record name");
    const type = this.u16();
    const rawClass = this.u16();
    const ttl = this.u32();
    const length = this.u16();
    if (this.offset + length > this.bytes.length) throw new DnsError(`record data of ${name} runs past the end`);
    const start = this.offset;
    const end = start + length;
    const data = this.recordData(type, end, name);
    if (this.offset !== end) throw new DnsError(`record ${name}: ${end - this.offset} unexplained bytes`);
    return { name, type, class: rawClass & 0x7fff, cacheFlush: (rawClass & CACHE_FLUSH_BIT) !== 0, ttl, data };
  }

  private recordData(type: number, end: number, owner: string): DnsRecordData {
    const length = end - this.offset;
    switch (type) {
      case DnsType.A:
        if (length !== 4) throw new DnsError(`A record of ${owner} has ${length} bytes`);
        return { kind: "A", address: formatIpv4(this.take(4)) };
      case DnsType.AAAA:
        if (length !== 16) throw new DnsError(`AAAA record of ${owner} has ${length} bytes`);
        return { kind: "AAAA", address: formatIpv6(this.take(16)) };
      case DnsType.PTR:
        return { kind: "PTR", target: this.name("PTR target", end) };
      case DnsType.SRV: {
        const priority = this.u16();
        const weight = this.u16();
        const port = this.u16();
        if (this.offset > end) throw new DnsError(`SRV record of ${owner} is too short`);
        return { kind: "SRV", priority, weight, port, target: this.name("SRV target", end) };
      }
      case DnsType.TXT: {
        const entries: Uint8Array[] = [];
        while (this.offset < end) {
          const size = this.u8();
          if (this.offset + size > end) throw new DnsError(`TXT string of ${owner} runs past its record`);
          entries.push(this.take(size));
        }
        // RFC 6763 6.1: an empty TXT record is one empty string.
        return { kind: "TXT", entries: entries.filter((entry) => entry.length > 0) };
      }
      case DnsType.NSEC: {
        const nextName = this.name("NSEC next name", end);
        const types: number[] = [];
        let lastWindow = -1;
        while (this.offset < end) {
          const window = this.u8();
          const size = this.u8();
          if (window <= lastWindow) throw new DnsError(`NSEC of ${owner}: windows not increasing`);
          if (size < 1 || size > 32 || this.offset + size > end) throw new DnsError(`NSEC of ${owner}: bad length ${size}`);
          lastWindow = window;
          const bitmap = this.take(size);
          bitmap.forEach((byte, index) => {
            for (let bit = 0; bit < 8; bit++) if (byte & (0x80 >> bit)) types.push(window * 256 + index * 8 + bit);
          });
        }
        return { kind: "NSEC", nextName, types };
      }
      default:
        return { kind: "raw", bytes: this.take(length) };
    }
  }
}

/** Decodes a whole DNS message; throws DnsError on anything malformed or trailing. */
export function decodeDnsMessage(bytes: Uint8Array): DnsMessage {
  if (bytes.length > MAX_DNS_MESSAGE_SIZE) throw new DnsError(`message of ${bytes.length} bytes exceeds ${MAX_DNS_MESSAGE_SIZE}`);
  if (bytes.length < HEADER_LENGTH) throw new DnsError(`message of ${bytes.length} bytes shorter than a header`);
  const reader = new DnsReader(bytes);
  const id = reader.u16();
  const flags = reader.u16();
  const counts = [reader.u16(), reader.u16(), reader.u16(), reader.u16()] as const;
  const [questionCount, answerCount, authorityCount, additionalCount] = counts;
  // Counts that cannot fit the packet are refused before anything is allocated for them.
  const room = bytes.length - HEADER_LENGTH;
  if (questionCount * MIN_QUESTION_LENGTH + (answerCount + authorityCount + additionalCount) * MIN_RECORD_LENGTH > room) {
    throw new DnsError(`counts ${counts.join("/")} cannot fit`);
  }
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < questionCount; i++) questions.push(reader.question());
  const section = (count: number): DnsRecord[] => {
    const records: DnsRecord[] = [];
    for (let i = 0; i < count; i++) records.push(reader.record());
    return records;
  };
  const answers = section(answerCount);
  const authorities = section(authorityCount);
  const additionals = section(additionalCount);
  if (reader.offset !== bytes.length) throw new DnsError(`${bytes.length - reader.offset} bytes follow the last record`);
  return {
    id,
    isResponse: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    rcode: flags & 0xf,
    questions,
    answers,
    authorities,
    additionals,
  };
}

// ---------------------------------------------------------------------------------------------
// Encoding

class DnsWriter {
  private buffer = new Uint8Array(512);
  length = 0;
  /** Lower-cased name suffix to the offset where it was written (pointers reach 0x3fff at most). */
  private readonly suffixes = new Map<string, number>();

  private reserve(count: number): number {
    const at = this.length;
    if (at + count > this.buffer.length) {
      const grown = new Uint8Array(Math.max(this.buffer.length * 2, at + count));
      grown.set(this.buffer.subarray(0, at));
      this.buffer = grown;
    }
    this.length += count;
    return at;
  }

  // `reserve` may replace the buffer: take the offset first, then index the current buffer.
  u8(value: number): void {
    const at = this.reserve(1);
    this.buffer[at] = value;
  }

  u16(value: number): void {
    this.setU16(this.reserve(2), value);
  }

  u32(value: number): void {
    this.u16(value >>> 16);
    this.u16(value & 0xffff);
  }

  bytes(data: Uint8Array): void {
    const at = this.reserve(data.length);
    this.buffer.set(data, at);
  }

  setU16(at: number, value: number): void {
    this.buffer[at] = value >> 8;
    this.buffer[at + 1] = value & 0xff;
  }

  name(name: string, compress: boolean): void {
    const labels = nameLabels(name);
    const encoded = labels.map((label) => utf8Encode(label));
    let wireLength = 1;
    for (const label of encoded) {
      if (label.length === 0 || label.length > MAX_LABEL_LENGTH) throw new DnsError(`label of ${label.length} bytes in "${name}"`);
      wireLength += 1 + label.length;
    }
    if (wireLength > MAX_NAME_WIRE_LENGTH) throw new DnsError(`name "${name}" is longer than ${MAX_NAME_WIRE_LENGTH} bytes`);
    for (let i = 0; i < labels.length; i++) {
      const suffix = nameKey(joinLabels(labels.slice(i)));
      const known = this.suffixes.get(suffix);
      if (compress && known !== undefined) {
        this.u16(0xc000 | known);
        return;
      }
      if (this.length <= 0x3fff && !this.suffixes.has(suffix)) this.suffixes.set(suffix, this.length);
      this.u8(encoded[i]!.length);
      this.bytes(encoded[i]!);
    }
    this.u8(0);
  }

  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

function recordType(record: DnsRecord): number {
  if (record.data.kind !== "raw" && TYPE_OF_KIND[record.data.kind] !== record.type) {
    throw new DnsError(`record ${record.name}: type ${record.type} with ${record.data.kind} data`);
  }
  return record.type;
}

function writeRecord(writer: DnsWriter, record: DnsRecord): void {
  writer.name(record.name, true);
  writer.u16(recordType(record));
  writer.u16((record.class & 0x7fff) | (record.cacheFlush ? CACHE_FLUSH_BIT : 0));
  if (!Number.isInteger(record.ttl) || record.ttl < 0 || record.ttl > 0x7fffffff) throw new DnsError(`record ${record.name}: bad TTL ${record.ttl}`);
  writer.u32(record.ttl);
  const lengthAt = writer.length;
  writer.u16(0);
  const start = writer.length;
  const data = record.data;
  switch (data.kind) {
    case "A":
      writer.bytes(parseIpv4(data.address));
      break;
    case "AAAA":
      writer.bytes(parseIpv6(data.address));
      break;
    case "PTR":
      writer.name(data.target, true);
      break;
    case "SRV":
      for (const value of [data.priority, data.weight, data.port]) {
        if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new DnsError(`record ${record.name}: SRV field ${value}`);
        writer.u16(value);
      }
      writer.name(data.target, true);
      break;
    case "TXT":
      if (data.entries.length === 0) writer.u8(0);
      for (const entry of data.entries) {
        if (entry.length > 255) throw new DnsError(`record ${record.name}: TXT string of ${entry.length} bytes`);
        writer.u8(entry.length);
        writer.bytes(entry);
      }
      break;
    case "NSEC": {
      // RFC 3845 forbids compressing the next name; several mDNS stacks read it uncompressed only.
      writer.name(data.nextName, false);
      const windows = new Map<number, Uint8Array>();
      for (const type of data.types) {
        if (!Number.isInteger(type) || type < 0 || type > 0xffff) throw new DnsError(`record ${record.name}: NSEC type ${type}`);
        const window = type >> 8;
        const bitmap = windows.get(window) ?? new Uint8Array(32);
        bitmap[(type & 0xff) >> 3]! |= 0x80 >> (type & 7);
        windows.set(window, bitmap);
      }
      for (const window of [...windows.keys()].sort((a, b) => a - b)) {
        const bitmap = windows.get(window)!;
        let size = 32;
        while (size > 1 && bitmap[size - 1] === 0) size--;
        writer.u8(window);
        writer.u8(size);
        writer.bytes(bitmap.subarray(0, size));
      }
      break;
    }
    case "raw":
      writer.bytes(data.bytes);
      break;
  }
  const length = writer.length - start;
  if (length > 0xffff) throw new DnsError(`record ${record.name}: data of ${length} bytes`);
  writer.setU16(lengthAt, length);
}

export interface DnsMessageInput {
  id?: number;
  isResponse: boolean;
  opcode?: number;
  authoritative?: boolean;
  truncated?: boolean;
  rcode?: number;
  questions?: DnsQuestion[];
  answers?: DnsRecord[];
  authorities?: DnsRecord[];
  additionals?: DnsRecord[];
}

export function encodeDnsMessage(message: DnsMessageInput): Uint8Array {
  const questions = message.questions ?? [];
  const answers = message.answers ?? [];
  const authorities = message.authorities ?? [];
  const additionals = message.additionals ?? [];
  for (const count of [questions.length, answers.length, authorities.length, additionals.length]) {
    if (count > 0xffff) throw new DnsError(`section of ${count} entries`);
  }
  const writer = new DnsWriter();
  writer.u16(message.id ?? 0);
  const opcode = message.opcode ?? 0;
  const rcode = message.rcode ?? 0;
  writer.u16(
    (message.isResponse ? 0x8000 : 0) |
      ((opcode & 0xf) << 11) |
      ((message.authoritative ?? message.isResponse) ? 0x0400 : 0) |
      (message.truncated ? 0x0200 : 0) |
      (rcode & 0xf),
  );
  writer.u16(questions.length);
  writer.u16(answers.length);
  writer.u16(authorities.length);
  writer.u16(additionals.length);
  for (const question of questions) {
    writer.name(question.name, true);
    writer.u16(question.type);
    writer.u16((question.class & 0x7fff) | (question.unicastResponse ? QU_BIT : 0));
  }
  for (const record of [...answers, ...authorities, ...additionals]) writeRecord(writer, record);
  return writer.finish();
}

/** The record's data as bytes for comparisons (names lower-cased, never compressed). */
export function recordDataKey(record: DnsRecord): string {
  const data = record.data;
  switch (data.kind) {
    case "A":
    case "AAAA":
      return `${data.kind}:${data.kind === "A" ? data.address : formatIpv6(parseIpv6(data.address))}`;
    case "PTR":
      return `PTR:${nameKey(data.target)}`;
    case "SRV":
      return `SRV:${data.priority}:${data.weight}:${data.port}:${nameKey(data.target)}`;
    case "TXT":
      return `TXT:${data.entries.map(toHex).join(",")}`;
    case "NSEC":
      return `NSEC:${nameKey(data.nextName)}:${[...data.types].sort((a, b) => a - b).join(",")}`;
    case "raw":
      return `raw:${toHex(data.bytes)}`;
  }
}

/** Identifies a record by name, type, class and data (not TTL or cache-flush). */
export function recordKey(record: DnsRecord): string {
  return `${nameKey(record.name)}|${record.type}|${record.class}|${recordDataKey(record)}`;
}

/**
 * The rdata in canonical wire form (names uncompressed and lower-cased): what RFC 6762 8.2 compares
 * byte by byte to break a tie between simultaneous probes.
 */
export function canonicalRecordData(record: DnsRecord): Uint8Array {
  const lowered: DnsRecord = { ...record, name: ".", data: lowerNames(record.data) };
  // Alone under a root owner name, nothing in the rdata can be compressed.
  const bytes = encodeDnsMessage({ isResponse: true, answers: [lowered] });
  // Header (12) + root name (1) + type, class, TTL (8) + rdlength (2).
  return bytes.slice(HEADER_LENGTH + 1 + 8 + 2);
}

function lowerNames(data: DnsRecordData): DnsRecordData {
  switch (data.kind) {
    case "PTR":
      return { kind: "PTR", target: nameKey(data.target) };
    case "SRV":
      return { ...data, target: nameKey(data.target) };
    case "NSEC":
      return { ...data, nextName: nameKey(data.nextName) };
    default:
      return data;
  }
}
