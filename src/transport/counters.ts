// Message counters (spec 4.6): what a node sends, and the receive windows that detect duplicates
// and replays.
import type { Random } from "../crypto";

export const MESSAGE_COUNTER_WINDOW_SIZE = 32;
const COUNTER_MODULUS = 2 ** 32;
const MAX_COUNTER = COUNTER_MODULUS - 1;
/** Spec 4.6.1.1: initial counters are random in [1, 2^28] (CHIP: random & 0x0FFFFFFF, plus one). */
const INITIAL_COUNTER_MASK = 0x0fffffff;

export class CounterExhaustedError extends Error {
  override name = "CounterExhaustedError";
}

function randomU32(random: Random): number {
  const bytes = random.bytes(4);
  return (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
}

/** A first counter value, uniformly random in [1, 2^28]. */
export function randomInitialCounter(random: Random): number {
  return (randomU32(random) & INITIAL_COUNTER_MASK) + 1;
}

/**
 * The outbound counter of one secure session. It never wraps: once 2^32 - 1 has been used the
 * session's keys may not protect another message (spec 4.6.1.1) and `next` throws.
 */
export class SessionCounter {
  private nextValue: number;

  constructor(initial: number) {
    if (!Number.isInteger(initial) || initial < 0 || initial > MAX_COUNTER) throw new RangeError(`initial counter ${initial}`);
    this.nextValue = initial;
  }

  get exhausted(): boolean {
    return this.nextValue > MAX_COUNTER;
  }

  /** The value the next message will carry (for tests and diagnostics). */
  peek(): number {
    return this.nextValue;
  }

  next(): number {
    if (this.nextValue > MAX_COUNTER) throw new CounterExhaustedError("message counter exhausted");
    return this.nextValue++;
  }
}

/** The global counters of unsecured (and, later, group) messages roll over (spec 4.6.1.2). */
export class RollingCounter {
  private nextValue: number;

  constructor(initial: number) {
    this.nextValue = initial >>> 0;
  }

  next(): number {
    const value = this.nextValue;
    this.nextValue = (this.nextValue + 1) % COUNTER_MODULUS;
    return value;
  }
}

export type CounterVerdict = "new" | "duplicate";

/**
 * Which counters a receiver accepts from one peer (spec 4.6.5): the highest counter seen plus a
 * bitmap of the 32 counters below it.
 *
 * - "secure-unicast": no rollover. Counters above the maximum are new; the maximum itself, a
 *   counter marked in the window, and every counter behind the window are duplicates. The window
 *   starts synchronised at 0 (peers start at >= 1).
 * - "unsecured": rollover allowed (a difference below 2^31 ahead is new). The first message is
 *   trusted, and a counter behind the window is taken as new (the peer rebooted) and resets it.
 * - "group": rollover allowed, first message trusted, counters behind the window are duplicates.
 *
 * `check` does not change state: the caller commits only once the message is authenticated.
 */
export class ReceptionWindow {
  private maxCounter = 0;
  private bitmap = 0; // bit i (0-based) set: maxCounter - (i + 1) was received
  private synchronized: boolean;

  constructor(readonly mode: "secure-unicast" | "unsecured" | "group") {
    this.synchronized = mode === "secure-unicast";
  }

  /** The highest counter accepted so far (for tests and diagnostics). */
  get maximum(): number | undefined {
    return this.synchronized ? this.maxCounter : undefined;
  }

  check(counter: number): CounterVerdict {
    if (!this.synchronized) return "new";
    const position = this.position(counter);
    if (position === "ahead") return "new";
    if (position === "behind") return this.mode === "unsecured" ? "new" : "duplicate";
    if (position === 0) return "duplicate";
    return (this.bitmap >>> (position - 1)) & 1 ? "duplicate" : "new";
  }

  /** Records an authenticated message whose counter `check` called new. */
  commit(counter: number): void {
    if (!this.synchronized) {
      this.synchronized = true;
      this.maxCounter = counter;
      this.bitmap = 0;
      return;
    }
    const position = this.position(counter);
    if (position === "ahead") {
      const shift = this.mode === "secure-unicast" ? counter - this.maxCounter : (counter - this.maxCounter + COUNTER_MODULUS) % COUNTER_MODULUS;
      // The old maximum becomes window bit shift-1; older bits move along with it.
      this.bitmap = shift > MESSAGE_COUNTER_WINDOW_SIZE ? 0 : shift === MESSAGE_COUNTER_WINDOW_SIZE ? 0x80000000 : ((this.bitmap << shift) | (1 << (shift - 1))) >>> 0;
      this.maxCounter = counter;
    } else if (position === "behind") {
      if (this.mode !== "unsecured") return;
      this.maxCounter = counter;
      this.bitmap = 0;
    } else if (position > 0) {
      this.bitmap = (this.bitmap | (1 << (position - 1))) >>> 0;
    }
  }

  /** "ahead" of the maximum, "behind" the window, or the distance below the maximum (0..32). */
  private position(counter: number): "ahead" | "behind" | number {
    if (this.mode === "secure-unicast") {
      if (counter > this.maxCounter) return "ahead";
      const below = this.maxCounter - counter;
      return below <= MESSAGE_COUNTER_WINDOW_SIZE ? below : "behind";
    }
    const ahead = (counter - this.maxCounter + COUNTER_MODULUS) % COUNTER_MODULUS;
    if (ahead !== 0 && ahead < 2 ** 31) return "ahead";
    const below = (this.maxCounter - counter + COUNTER_MODULUS) % COUNTER_MODULUS;
    return below <= MESSAGE_COUNTER_WINDOW_SIZE ? below : "behind";
  }
}
