// Clock over Moddable's `time` (Time.ticks) and `timer`.
import Time from "time";
import Timer from "timer";
import type { Clock, TimerHandle } from "../../src/platform";
import { TickExtender } from "./ticks";

/** Reads the tick counter often enough that its 49.7-day wrap is never missed. */
const KEEPALIVE_MS = 60 * 60 * 1000;

export class Esp32Clock implements Clock {
  readonly #ticks = new TickExtender(() => Time.ticks);

  constructor() {
    Timer.repeat(() => {
      this.#ticks.now();
    }, KEEPALIVE_MS);
  }

  now(): number {
    return this.#ticks.now();
  }

  setTimer(ms: number, callback: () => void): TimerHandle {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`timer delay ${ms} must be a finite, non-negative number`);
    return Timer.set(() => callback(), Math.ceil(ms));
  }

  clearTimer(handle: TimerHandle): void {
    Timer.clear(handle as Timer);
  }
}
