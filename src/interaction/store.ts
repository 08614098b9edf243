// Persistence of attribute values. Each cluster instance keeps its persistent attributes in one
// record (a TLV array of {0: attribute id, 1: value}), written with a single store `set`, so a
// power cut leaves a cluster's old or new values, never a mix.
//
// The device decides where records go: KeyValueAttributeStore writes them straight to the
// platform's KeyValueStore (or anything shaped like it, e.g. a journal that commits several keys
// atomically at the end of a fail-safe); another implementation of AttributeStore may do more.
import type { KeyValueStore } from "../platform";
import type { EventNumberStore } from "./events";

export interface AttributeStore {
  /** The record of a cluster instance, or undefined if none was saved. */
  load(endpoint: number, cluster: number): Uint8Array | undefined;
  save(endpoint: number, cluster: number, record: Uint8Array): void;
  /** Forgets every record (factory reset). */
  clear(): void;
}

/** The part of the platform store that persistence uses. */
export type KeyValueTarget = Pick<KeyValueStore, "get" | "set" | "delete" | "keys">;

/**
 * Records under "a/<endpoint hex>/<cluster hex>": at most 15 characters, the NVS key limit
 * (endpoint ≤ 0xFFFF, cluster ≤ 0xFFFFFFFF).
 */
export class KeyValueAttributeStore implements AttributeStore {
  static readonly PREFIX = "a/";

  constructor(private readonly kv: KeyValueTarget) {}

  static key(endpoint: number, cluster: number): string {
    return `${KeyValueAttributeStore.PREFIX}${endpoint.toString(16)}/${cluster.toString(16)}`;
  }

  load(endpoint: number, cluster: number): Uint8Array | undefined {
    return this.kv.get(KeyValueAttributeStore.key(endpoint, cluster));
  }

  save(endpoint: number, cluster: number, record: Uint8Array): void {
    this.kv.set(KeyValueAttributeStore.key(endpoint, cluster), record);
  }

  clear(): void {
    for (const key of this.kv.keys(KeyValueAttributeStore.PREFIX)) this.kv.delete(key);
  }
}

/** The event-number epoch as an 8-byte little-endian value under one key ("evn" by default). */
export class KeyValueEventNumberStore implements EventNumberStore {
  constructor(
    private readonly kv: KeyValueTarget,
    private readonly key = "evn",
  ) {}

  load(): bigint | undefined {
    const bytes = this.kv.get(this.key);
    if (!bytes || bytes.length !== 8) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
    return (BigInt(view.getUint32(4, true)) << 32n) | BigInt(view.getUint32(0, true));
  }

  save(next: bigint): void {
    const bytes = new Uint8Array(8);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, Number(next & 0xffff_ffffn), true);
    view.setUint32(4, Number((next >> 32n) & 0xffff_ffffn), true);
    this.kv.set(this.key, bytes);
  }
}

/** An AttributeStore in memory (tests, and nodes that persist nothing). */
export class MemoryAttributeStore implements AttributeStore {
  private readonly records = new Map<string, Uint8Array>();

  load(endpoint: number, cluster: number): Uint8Array | undefined {
    return this.records.get(`${endpoint}/${cluster}`)?.slice();
  }

  save(endpoint: number, cluster: number, record: Uint8Array): void {
    this.records.set(`${endpoint}/${cluster}`, record.slice());
  }

  clear(): void {
    this.records.clear();
  }

  get size(): number {
    return this.records.size;
  }
}
