// The firmware's KeyValueStore over ESP-IDF NVS, reached through Moddable's `preference` module.
//
// Layout. Every firmware key K is an NVS key K (at most 15 bytes, printable ASCII) in one of two
// NVS namespaces, the store's "A" and "B" domains (matter-xs uses "mxs.a" and "mxs.b"). Its value
// is an NVS blob: one generation byte, then the firmware's bytes. Normally K lives in exactly one
// domain; for a moment during `set` it lives in both, and then the copy whose generation is one
// ahead of the other's (mod 256) is the current one.
//
// Why two domains: the Platform contract says a `set` is atomic, and NVS itself is (a new entry is
// written before the old one is erased), but Moddable's Preference.set erases the key first and
// then writes it (working around an ESP-IDF type-change bug), so a power cut in between loses the
// key. Writing the new value under the other domain first, then deleting the old copy, keeps either
// the old or the new value through a power cut at any point.

/** The parts of Moddable's `preference` module this store uses. */
export interface PreferenceApi {
  set(domain: string, key: string, value: ArrayBuffer): void;
  get(domain: string, key: string): string | boolean | number | ArrayBuffer | undefined;
  delete(domain: string, key: string): void;
  keys(domain: string): string[];
}

/** NVS key and namespace names: at most 15 bytes (NVS_KEY_NAME_MAX_SIZE is 16 with the NUL). */
export const NVS_NAME_MAX = 15;
/** NVS strings and single-page blobs hold at most 4000 bytes; one goes to the generation byte. */
export const NVS_BLOB_MAX = 4000;

interface Located {
  domain: string;
  generation: number;
  value: Uint8Array;
}

function checkName(name: string, what: string): void {
  if (typeof name !== "string" || name.length === 0 || name.length > NVS_NAME_MAX || !/^[\x21-\x7e]+$/.test(name)) {
    throw new RangeError(`${what} ${JSON.stringify(name)} must be 1 to ${NVS_NAME_MAX} printable ASCII characters without spaces`);
  }
}

export class NvsKeyValueStore {
  readonly maxKeyLength = NVS_NAME_MAX;
  readonly maxValueLength = NVS_BLOB_MAX - 1;
  readonly #preference: PreferenceApi;
  readonly #domains: readonly [string, string];

  constructor(preference: PreferenceApi, domainA: string, domainB: string) {
    checkName(domainA, "NVS namespace");
    checkName(domainB, "NVS namespace");
    if (domainA === domainB) throw new RangeError("the two NVS namespaces must differ");
    this.#preference = preference;
    this.#domains = [domainA, domainB];
  }

  get(key: string): Uint8Array | undefined {
    checkName(key, "key");
    return this.#locate(key)?.value;
  }

  set(key: string, value: Uint8Array): void {
    checkName(key, "key");
    if (!(value instanceof Uint8Array)) throw new TypeError("value must be a Uint8Array");
    if (value.length > this.maxValueLength) throw new RangeError(`value of ${value.length} bytes exceeds ${this.maxValueLength}`);
    const current = this.#locate(key);
    const [domainA, domainB] = this.#domains;
    const target = current?.domain === domainA ? domainB : domainA;
    const stored = new Uint8Array(value.length + 1);
    stored[0] = current ? (current.generation + 1) & 0xff : 0;
    stored.set(value, 1);
    this.#preference.set(target, key, stored.buffer);
    if (current) this.#preference.delete(current.domain, key);
  }

  delete(key: string): void {
    checkName(key, "key");
    for (const domain of this.#domains) this.#preference.delete(domain, key);
  }

  keys(prefix: string): string[] {
    const found = new Set<string>();
    for (const domain of this.#domains) {
      for (const key of this.#preference.keys(domain)) if (key.startsWith(prefix)) found.add(key);
    }
    return [...found].sort();
  }

  #read(domain: string, key: string): Located | undefined {
    const raw = this.#preference.get(domain, key);
    // Anything but a non-empty blob was not written by this store: ignore it rather than misread it.
    if (!(raw instanceof ArrayBuffer) || raw.byteLength === 0) return undefined;
    const bytes = new Uint8Array(raw);
    return { domain, generation: bytes[0]!, value: bytes.slice(1) };
  }

  #locate(key: string): Located | undefined {
    const a = this.#read(this.#domains[0], key);
    const b = this.#read(this.#domains[1], key);
    if (!a || !b) return a ?? b;
    // Both present: a power cut hit `set` between its write and its delete. The newer copy wins,
    // and the stale one is removed so the next `set` starts from one copy again.
    const newer = ((b.generation - a.generation) & 0xff) === 1 ? b : a;
    this.#preference.delete(newer === a ? b.domain : a.domain, key);
    return newer;
  }
}
