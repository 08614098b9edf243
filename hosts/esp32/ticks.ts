// Moddable's Time.ticks is FreeRTOS's tick count in milliseconds truncated to 32 bits: it wraps
// after 49.7 days, and XS hands it over as a signed 32-bit integer. Clock.now() must never go
// backwards, so the wrapping counter is extended here; `now()` has to be read at least once per
// wrap period, which the clock guarantees with a periodic timer.

/** Extends a wrapping 32-bit millisecond counter into a monotonic one. */
export class TickExtender {
  readonly #read: () => number;
  #lastRaw: number;
  #elapsed: number;

  constructor(read: () => number) {
    this.#read = read;
    this.#lastRaw = read() >>> 0;
    // Start from the counter itself, so now() keeps meaning "milliseconds since boot".
    this.#elapsed = this.#lastRaw;
  }

  now(): number {
    const raw = this.#read() >>> 0;
    this.#elapsed += (raw - this.#lastRaw) >>> 0;
    this.#lastRaw = raw;
    return this.#elapsed;
  }
}

/** Longest gap between two reads that the extension tolerates (one wrap, 2^32 ms). */
export const TICK_WRAP_MS = 0x1_0000_0000;
