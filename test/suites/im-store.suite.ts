// Persistence of attribute records and event numbers through a key-value store shaped like the
// platform's (NVS: keys of at most 15 characters), on Node and XS.
import { suite, equal, ok, deepEqual } from "../portable/harness";
import { KeyValueAttributeStore, KeyValueEventNumberStore } from "../../src/interaction/store";
import { EVENT_NUMBER_EPOCH, EventLog, EventPriority } from "../../src/interaction/events";
import type { KeyValueStore } from "../../src/platform";

/** An in-memory store that enforces the NVS key length, as the ESP32 host does. */
class NvsLikeStore implements KeyValueStore {
  readonly maxKeyLength = 15;
  readonly maxValueLength = 4000;
  readonly values = new Map<string, Uint8Array>();
  writes = 0;
  get(key: string): Uint8Array | undefined {
    return this.values.get(key)?.slice();
  }
  set(key: string, value: Uint8Array): void {
    if (key.length > this.maxKeyLength) throw new Error(`key ${key} is too long`);
    if (value.length > this.maxValueLength) throw new Error("value too long");
    this.writes++;
    this.values.set(key, value.slice());
  }
  delete(key: string): void {
    this.values.delete(key);
  }
  keys(prefix: string): string[] {
    return [...this.values.keys()].filter((k) => k.startsWith(prefix));
  }
}

function record(endpoint: number, cluster: number) {
  return { endpoint, cluster, event: 0, priority: EventPriority.Info, systemTimestampMs: 0, fabricIndex: 0, payload: new Uint8Array([0x15, 0x18]) };
}

export default suite("interaction model persistence", (test) => {
  test("attribute records use keys within the NVS limit, even for the largest ids", () => {
    const kv = new NvsLikeStore();
    const store = new KeyValueAttributeStore(kv);
    store.save(0xfffe, 0xfff1fc00, new Uint8Array([1]));
    store.save(0, 0x28, new Uint8Array([2]));
    deepEqual([...kv.values.keys()].sort(), ["a/0/28", "a/fffe/fff1fc00"]);
    ok([...kv.values.keys()].every((k) => k.length <= 15));
    deepEqual([...store.load(0, 0x28)!], [2]);
    equal(store.load(1, 0x28), undefined);
    kv.set("evn", new Uint8Array(8));
    store.clear();
    deepEqual([...kv.values.keys()], ["evn"], "clear removes only attribute records");
  });

  test("event numbers never repeat across restarts, and the store is written once per epoch", () => {
    const kv = new NvsLikeStore();
    const first = new EventLog(new KeyValueEventNumberStore(kv), 4);
    const numbers = Array.from({ length: 10 }, () => first.append(record(0, 0x28)).number);
    deepEqual(numbers, [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]);
    equal(first.size, 4, "the log keeps its capacity");
    equal(kv.writes, 1, "one write reserved the first epoch");
    const second = new EventLog(new KeyValueEventNumberStore(kv), 4);
    equal(second.append(record(0, 0x28)).number, EVENT_NUMBER_EPOCH, "a restart resumes above everything the last run could have used");
    equal(new KeyValueEventNumberStore(kv).load(), 2n * EVENT_NUMBER_EPOCH);
    const crossing = new EventLog({ load: () => EVENT_NUMBER_EPOCH - 1n, save: () => {} }, 4);
    equal(crossing.append(record(0, 0x28)).number, EVENT_NUMBER_EPOCH - 1n);
    equal(crossing.append(record(0, 0x28)).number, EVENT_NUMBER_EPOCH);
  });

  test("a full log drops the oldest event of the lowest priority first", () => {
    const log = new EventLog(undefined, 3);
    log.append({ ...record(0, 1), priority: EventPriority.Critical });
    log.append({ ...record(0, 2), priority: EventPriority.Debug });
    log.append({ ...record(0, 3), priority: EventPriority.Info });
    log.append({ ...record(0, 4), priority: EventPriority.Info });
    deepEqual([...log.since(0n)].map((r) => r.cluster), [1, 3, 4]);
    log.append({ ...record(0, 5), priority: EventPriority.Critical });
    deepEqual([...log.since(0n)].map((r) => r.cluster), [1, 4, 5]);
    deepEqual([...log.since(4n)].map((r) => r.cluster), [5]);
  });
});
