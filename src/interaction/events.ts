// The node's event log (Matter Core spec 7.14): a bounded buffer of recent events with
// node-wide, monotonically increasing event numbers that never repeat across reboots.
//
// Event numbers are reserved in epochs: the store holds the first number of the next epoch, so
// after a reboot numbering resumes above anything that might have been handed out (CHIP's
// event-number counter does the same with an epoch of 0x10000).
//
// Capacity: 32 events (about 40 bytes each plus payload). When full, the oldest event of the
// lowest priority present is dropped, so debug events never push out critical ones.

/** Where the next event-number epoch is kept (a key of the platform store in the device). */
export interface EventNumberStore {
  load(): bigint | undefined;
  save(next: bigint): void;
}

export enum EventPriority { Debug = 0, Info = 1, Critical = 2 }

export interface EventRecord {
  number: bigint;
  endpoint: number;
  cluster: number;
  event: number;
  priority: number;
  /** Milliseconds since boot (the System Timestamp). */
  systemTimestampMs: number;
  /** The fabric a fabric-sensitive event belongs to; 0 when every reader may see it. */
  fabricIndex: number;
  /** The event's fields, encoded as an anonymous TLV structure. */
  payload: Uint8Array;
}

export const DEFAULT_EVENT_CAPACITY = 32;
export const EVENT_NUMBER_EPOCH = 0x10000n;

export class EventLog {
  private readonly records: EventRecord[] = [];
  private declare nextNumber: bigint;
  private declare reservedUpTo: bigint;

  constructor(
    private readonly store: EventNumberStore | undefined,
    readonly capacity: number = DEFAULT_EVENT_CAPACITY,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("event log capacity must be at least 1");
    const start = store?.load() ?? 0n;
    this.nextNumber = start;
    this.reservedUpTo = start + EVENT_NUMBER_EPOCH;
    store?.save(this.reservedUpTo);
  }

  /** The number the next event will get. */
  get next(): bigint {
    return this.nextNumber;
  }

  get size(): number {
    return this.records.length;
  }

  append(record: Omit<EventRecord, "number">): EventRecord {
    if (this.nextNumber >= this.reservedUpTo) {
      this.reservedUpTo += EVENT_NUMBER_EPOCH;
      this.store?.save(this.reservedUpTo);
    }
    const stored: EventRecord = { ...record, number: this.nextNumber++ };
    if (this.records.length >= this.capacity) this.evict();
    this.records.push(stored);
    return stored;
  }

  /** Events numbered `eventMin` or above, oldest first. */
  *since(eventMin: bigint): Iterable<EventRecord> {
    for (const record of this.records) if (record.number >= eventMin) yield record;
  }

  clear(): void {
    this.records.length = 0;
  }

  private evict(): void {
    let lowest = Infinity;
    for (const record of this.records) lowest = Math.min(lowest, record.priority);
    const index = this.records.findIndex((record) => record.priority === lowest);
    this.records.splice(index, 1);
  }
}
