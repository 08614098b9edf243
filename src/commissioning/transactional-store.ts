// Multi-key atomic updates over the platform's KeyValueStore, whose only atomic operation is a
// single `set` or `delete`. A power cut at any point of a commit leaves either every old value or
// every new one.
//
// How (a write-ahead journal, as CHIP's and esp-idf's storage layers do for their multi-record
// updates):
//   1. the batch (every set and delete, in order) is encoded as one TLV array and written in
//      chunks under "jc/0", "jc/1", ... (each at most the store's value limit);
//   2. the header "jh" = { chunk count, total length, SHA-256 of the encoded batch } is written:
//      this single `set` is the commit point;
//   3. the batch is applied to its keys;
//   4. "jh" is deleted, then the chunks.
// At boot, recover() finds "jh" only if a commit was interrupted after its commit point: it
// replays the batch (every operation is idempotent) and removes the journal. Chunks without a
// header belong to a commit that never reached its commit point and are deleted unread.
//
// A batch of a single operation is atomic by itself and skips the journal. Reads inside a batch see
// the batch's own writes. Values are copied on the way in and out.
import { TlvStruct, TlvWriter, decodeTlv, type TlvElement } from "../codec/tlv";
import { bytesEqual, utf8Encode } from "../codec/bytes";
import { sha256 } from "../crypto";
import type { KeyValueStore, LogLevel } from "../platform";

export const JOURNAL_HEADER_KEY = "jh";
export const JOURNAL_CHUNK_PREFIX = "jc/";
/** Room a chunk's TLV wrapping takes (structure, index, byte-string header) below the value limit. */
const CHUNK_OVERHEAD = 24;
const MAX_JOURNAL_CHUNKS = 64;

export class StorageError extends Error {
  override name = "StorageError";
}

/** What recover() found. */
export type RecoveryOutcome = "clean" | "replayed" | "discarded";

type Operation = { key: string; value: Uint8Array } | { key: string; value: null };

export interface TransactionalStoreOptions {
  log?: (level: LogLevel, message: string) => void;
}

export class TransactionalStore implements KeyValueStore {
  declare readonly maxKeyLength: number;
  declare readonly maxValueLength: number;
  private declare readonly kv: KeyValueStore;
  private declare readonly log: (level: LogLevel, message: string) => void;
  /** The open batch: key → new value, or null for a deletion (insertion order is the apply order). */
  private declare batch: Map<string, Uint8Array | null> | undefined;

  constructor(kv: KeyValueStore, options: TransactionalStoreOptions = {}) {
    this.kv = kv;
    this.maxKeyLength = kv.maxKeyLength;
    this.maxValueLength = kv.maxValueLength;
    this.log = options.log ?? (() => {});
    if (this.maxValueLength <= CHUNK_OVERHEAD * 2) throw new StorageError(`value limit ${this.maxValueLength} too small for the journal`);
  }

  /**
   * Finishes a commit that a power cut interrupted after its commit point, or throws away one
   * that never got there. Call once at boot, before anything reads the store.
   */
  recover(): RecoveryOutcome {
    const header = this.kv.get(JOURNAL_HEADER_KEY);
    const chunkKeys = this.kv.keys(JOURNAL_CHUNK_PREFIX);
    if (!header) {
      for (const key of chunkKeys) this.kv.delete(key);
      if (chunkKeys.length > 0) this.log("info", `storage: dropped ${chunkKeys.length} chunk(s) of an unfinished commit`);
      return chunkKeys.length > 0 ? "discarded" : "clean";
    }
    let operations: Operation[];
    try {
      operations = this.readJournal(header);
    } catch (error) {
      // A header is written whole or not at all, and its chunks before it: this is corruption
      // that no replay can repair. The journal goes so that the next commit can run.
      this.log("error", `storage: dropped unreadable journal: ${(error as Error).message}`);
      this.removeJournal();
      return "discarded";
    }
    this.apply(operations);
    this.removeJournal();
    this.log("info", `storage: replayed ${operations.length} change(s)`);
    return "replayed";
  }

  get(key: string): Uint8Array | undefined {
    this.checkKey(key);
    if (this.batch?.has(key)) {
      const value = this.batch.get(key);
      return value ? value.slice() : undefined;
    }
    return this.kv.get(key);
  }

  set(key: string, value: Uint8Array): void {
    this.checkKey(key);
    if (!(value instanceof Uint8Array)) throw new StorageError(`value of "${key}" must be bytes`);
    if (value.length > this.maxValueLength) throw new StorageError(`"${key}": ${value.length} bytes > ${this.maxValueLength}`);
    if (this.batch) this.batch.set(key, value.slice());
    else this.kv.set(key, value);
  }

  delete(key: string): void {
    this.checkKey(key);
    if (this.batch) this.batch.set(key, null);
    else this.kv.delete(key);
  }

  keys(prefix: string): string[] {
    const keys = new Set(this.kv.keys(prefix).filter((key) => !isJournalKey(key)));
    if (this.batch) {
      for (const [key, value] of this.batch) {
        if (!key.startsWith(prefix)) continue;
        if (value === null) keys.delete(key);
        else keys.add(key);
      }
    }
    return [...keys].sort();
  }

  /**
   * Runs `work`, collecting its sets and deletes, then commits them as one. If `work` throws,
   * nothing is written. Nested calls join the outermost batch.
   */
  atomically<T>(work: () => T): T {
    if (this.batch) return work();
    const batch = new Map<string, Uint8Array | null>();
    this.batch = batch;
    let result: T;
    try {
      result = work();
    } finally {
      this.batch = undefined;
    }
    this.commit([...batch].map(([key, value]) => ({ key, value }) as Operation));
    return result;
  }

  /** Deletes every key except those `keep` accepts, atomically (factory reset). */
  eraseAll(keep: (key: string) => boolean = () => false): void {
    this.atomically(() => {
      for (const key of this.keys("")) if (!keep(key)) this.delete(key);
    });
  }

  private commit(operations: Operation[]): void {
    if (operations.length === 0) return;
    if (operations.length === 1) {
      this.apply(operations);
      return;
    }
    const encoded = encodeOperations(operations);
    const pieceLength = this.maxValueLength - CHUNK_OVERHEAD;
    const count = Math.ceil(encoded.length / pieceLength);
    if (count > MAX_JOURNAL_CHUNKS) throw new StorageError(`commit of ${encoded.length} bytes > ${MAX_JOURNAL_CHUNKS} chunks`);
    for (let index = 0; index < count; index++) {
      const piece = encoded.subarray(index * pieceLength, Math.min(encoded.length, (index + 1) * pieceLength));
      this.kv.set(chunkKey(index), new TlvWriter().startStructure(undefined).uint(0, index).bytes(1, piece).end().finish());
    }
    const header = new TlvWriter().startStructure(undefined).uint(0, count).uint(1, encoded.length).bytes(2, sha256(encoded)).end().finish();
    this.kv.set(JOURNAL_HEADER_KEY, header);
    // Committed. What follows is repeated by recover() if it is cut short.
    this.apply(operations);
    this.removeJournal();
  }

  private apply(operations: Operation[]): void {
    for (const operation of operations) {
      if (operation.value === null) this.kv.delete(operation.key);
      else this.kv.set(operation.key, operation.value);
    }
  }

  private removeJournal(): void {
    this.kv.delete(JOURNAL_HEADER_KEY);
    for (const key of this.kv.keys(JOURNAL_CHUNK_PREFIX)) this.kv.delete(key);
  }

  private readJournal(header: Uint8Array): Operation[] {
    const fields = TlvStruct.decode(header);
    const count = fields.uint(0);
    const length = fields.uint(1);
    const digest = fields.bytes(2, 32);
    if (count < 1 || count > MAX_JOURNAL_CHUNKS) throw new StorageError(`journal header names ${count} chunks`);
    const encoded = new Uint8Array(length);
    let offset = 0;
    for (let index = 0; index < count; index++) {
      const stored = this.kv.get(chunkKey(index));
      if (!stored) throw new StorageError(`journal chunk ${index} is missing`);
      const chunk = TlvStruct.decode(stored);
      if (chunk.uint(0) !== index) throw new StorageError(`journal chunk ${index} carries index ${chunk.uint(0)}`);
      const piece = chunk.bytes(1);
      if (offset + piece.length > length) throw new StorageError("journal chunks are longer than the header says");
      encoded.set(piece, offset);
      offset += piece.length;
    }
    if (offset !== length) throw new StorageError("journal chunks are shorter than the header says");
    if (!bytesEqual(sha256(encoded), digest)) throw new StorageError("journal digest does not match its chunks");
    return decodeOperations(encoded);
  }

  private checkKey(key: string): void {
    if (typeof key !== "string" || key.length === 0) throw new StorageError("storage key must be a non-empty string");
    if (key.length > this.maxKeyLength) throw new StorageError(`key "${key}" longer than ${this.maxKeyLength}`);
    if (isJournalKey(key)) throw new StorageError(`storage key "${key}" is reserved for the journal`);
  }
}

function isJournalKey(key: string): boolean {
  return key === JOURNAL_HEADER_KEY || key.startsWith(JOURNAL_CHUNK_PREFIX);
}

function chunkKey(index: number): string {
  return `${JOURNAL_CHUNK_PREFIX}${index}`;
}

/** [ {0: key, 1: value} | {0: key} (a deletion), ... ] */
function encodeOperations(operations: Operation[]): Uint8Array {
  const w = new TlvWriter().startArray(undefined);
  for (const operation of operations) {
    w.startStructure(undefined).utf8(0, operation.key);
    if (operation.value !== null) w.bytes(1, operation.value);
    w.end();
  }
  return w.end().finish();
}

function decodeOperations(encoded: Uint8Array): Operation[] {
  const root = decodeTlv(encoded, { maxDepth: 2, maxElements: 4096 });
  if (root.type !== "array") throw new StorageError("journal batch is not an array");
  return (root.value as TlvElement[]).map((element) => {
    const fields = new TlvStruct(element);
    const key = fields.utf8(0);
    if (key.length === 0 || utf8Encode(key).length !== key.length || isJournalKey(key)) throw new StorageError(`journal names an invalid key "${key}"`);
    const value = fields.optionalBytes(1);
    return value === undefined ? { key, value: null } : { key, value: value.slice() };
  });
}
