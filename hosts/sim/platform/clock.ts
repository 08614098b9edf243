// Monotonic clock and one-shot timers over Node's event loop.
import type { Clock, TimerHandle } from "../../../src/platform";

export class NodeClock implements Clock {
  private readonly origin = performance.now();

  /** Milliseconds since this clock was created; performance.now() never goes backwards. */
  now(): number {
    return performance.now() - this.origin;
  }

  setTimer(ms: number, callback: () => void): TimerHandle {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`timer delay must be a finite number >= 0, got ${ms}`);
    return setTimeout(callback, ms);
  }

  clearTimer(handle: TimerHandle): void {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  }
}
