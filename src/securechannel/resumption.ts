// CASE resumption records (spec 4.14.2.2): what a node keeps of a finished CASE handshake so that
// the next one with the same peer can skip the certificates and signatures.
//
// The store is bounded (4 records by default: a record is ~80 bytes, and a device talks to a
// handful of controllers) and keeps one record per (fabric, peer node): a newer handshake with
// the same peer replaces the older record, so one peer cannot push everyone else out. When full,
// the least recently used record goes. Shared secrets are wiped whenever a record leaves.
import { bytesEqual } from "../codec/bytes";

export const DEFAULT_RESUMPTION_CACHE_SIZE = 4;

export interface ResumptionRecord {
  /** The id the next Sigma1 will present (16 bytes). */
  resumptionId: Uint8Array;
  /** The ECDH shared secret of the handshake that made the record (32 bytes). */
  sharedSecret: Uint8Array;
  fabricIndex: number;
  peerNodeId: bigint;
  caseAuthenticatedTags: readonly number[];
}

export class ResumptionStore {
  readonly capacity: number;
  /** Oldest use first. */
  private readonly records: ResumptionRecord[] = [];

  constructor(capacity: number = DEFAULT_RESUMPTION_CACHE_SIZE) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError("resumption cache size must be a non-negative integer");
    this.capacity = capacity;
  }

  get size(): number {
    return this.records.length;
  }

  findById(resumptionId: Uint8Array): ResumptionRecord | undefined {
    return this.records.find((record) => bytesEqual(record.resumptionId, resumptionId));
  }

  findByPeer(fabricIndex: number, peerNodeId: bigint): ResumptionRecord | undefined {
    return this.records.find((record) => record.fabricIndex === fabricIndex && record.peerNodeId === peerNodeId);
  }

  /** Stores copies of the record's buffers, replacing the peer's previous record. */
  save(record: ResumptionRecord): void {
    if (this.capacity === 0) return;
    const previous = this.findByPeer(record.fabricIndex, record.peerNodeId);
    if (previous) this.remove(previous);
    if (this.records.length >= this.capacity) this.remove(this.records[0]!);
    this.records.push({
      resumptionId: record.resumptionId.slice(),
      sharedSecret: record.sharedSecret.slice(),
      fabricIndex: record.fabricIndex,
      peerNodeId: record.peerNodeId,
      caseAuthenticatedTags: Object.freeze([...record.caseAuthenticatedTags]),
    });
  }

  /** Gives a used record a new id and moves it to the most recently used end. */
  renew(record: ResumptionRecord, resumptionId: Uint8Array): void {
    const index = this.records.indexOf(record);
    if (index < 0) return;
    this.records.splice(index, 1);
    record.resumptionId = resumptionId.slice();
    this.records.push(record);
  }

  remove(record: ResumptionRecord): void {
    const index = this.records.indexOf(record);
    if (index < 0) return;
    this.records.splice(index, 1);
    record.sharedSecret.fill(0);
    record.resumptionId.fill(0);
  }

  removeFabric(fabricIndex: number): void {
    for (const record of this.records.filter((candidate) => candidate.fabricIndex === fabricIndex)) this.remove(record);
  }

  clear(): void {
    for (const record of [...this.records]) this.remove(record);
  }
}
