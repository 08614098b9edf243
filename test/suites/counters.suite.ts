// Message counters and the replay windows of spec 4.6.5, on Node and XS.
import { suite, equal, ok, throws } from "../portable/harness";
import { CounterExhaustedError, MESSAGE_COUNTER_WINDOW_SIZE, ReceptionWindow, RollingCounter, SessionCounter, randomInitialCounter } from "../../src/transport/counters";
import { SeededRandom } from "./transport-fixtures";

/** Checks and, when new, commits — what the receive path does for an authenticated message. */
function receive(window: ReceptionWindow, counter: number): "new" | "duplicate" {
  const verdict = window.check(counter);
  if (verdict === "new") window.commit(counter);
  return verdict;
}

export default suite("transport message counters", (test) => {
  test("initial counters are in [1, 2^28] and spread over the range", () => {
    const random = new SeededRandom(7);
    let low = Infinity;
    let high = 0;
    for (let i = 0; i < 2000; i++) {
      const value = randomInitialCounter(random);
      ok(value >= 1 && value <= 2 ** 28, `initial counter ${value}`);
      low = Math.min(low, value);
      high = Math.max(high, value);
    }
    ok(low < 2 ** 22 && high > 2 ** 28 - 2 ** 22, "uses the whole range");
    // The extremes: all-zero and all-one random words.
    equal(randomInitialCounter({ bytes: (n) => new Uint8Array(n) }), 1);
    equal(randomInitialCounter({ bytes: (n) => new Uint8Array(n).fill(0xff) }), 2 ** 28);
  });

  test("a session counter counts up and is exhausted after 2^32 - 1, never wrapping", () => {
    const counter = new SessionCounter(0xfffffffd);
    equal(counter.next(), 0xfffffffd);
    equal(counter.next(), 0xfffffffe);
    equal(counter.next(), 0xffffffff);
    ok(counter.exhausted);
    const error = throws(() => counter.next(), /exhausted/);
    ok(error instanceof CounterExhaustedError);
    throws(() => counter.next(), /exhausted/, "stays exhausted");
    const rolling = new RollingCounter(0xffffffff);
    equal(rolling.next(), 0xffffffff);
    equal(rolling.next(), 0);
    equal(rolling.next(), 1);
  });

  test("secure unicast: in order, out of order within the window, duplicates, too old", () => {
    const window = new ReceptionWindow("secure-unicast");
    equal(window.maximum, 0, "synchronised at 0");
    equal(receive(window, 0), "duplicate", "counter 0 is never valid after synchronisation");
    equal(receive(window, 100), "new");
    equal(receive(window, 101), "new");
    equal(receive(window, 101), "duplicate", "the maximum itself");
    equal(receive(window, 100), "duplicate");
    equal(receive(window, 105), "new");
    equal(receive(window, 103), "new", "out of order within the window");
    equal(receive(window, 102), "new");
    equal(receive(window, 103), "duplicate");
    equal(receive(window, 104), "new");
    equal(receive(window, 104), "duplicate");
    equal(window.maximum, 105);
    // The window reaches exactly 32 below the maximum.
    equal(receive(window, 200), "new");
    equal(receive(window, 200 - MESSAGE_COUNTER_WINDOW_SIZE), "new", "32 below is inside");
    equal(receive(window, 200 - MESSAGE_COUNTER_WINDOW_SIZE), "duplicate");
    equal(receive(window, 200 - MESSAGE_COUNTER_WINDOW_SIZE - 1), "duplicate", "33 below is behind the window");
    equal(receive(window, 105), "duplicate", "long behind");
    // Jumps of exactly 32 and of more keep the right bits.
    equal(receive(window, 232), "new");
    equal(receive(window, 200), "duplicate", "the old maximum moved to the window's far end");
    equal(receive(window, 201), "new");
    equal(receive(window, 300), "new");
    equal(receive(window, 232), "duplicate", "beyond the window after a big jump");
    equal(receive(window, 299), "new");
  });

  test("secure unicast: check does not commit; a rollover attempt is a duplicate", () => {
    const window = new ReceptionWindow("secure-unicast");
    equal(window.check(10), "new");
    equal(window.check(10), "new", "unchanged until committed");
    window.commit(10);
    equal(window.check(10), "duplicate");
    equal(receive(window, 0xffffffff), "new");
    equal(receive(window, 0), "duplicate", "no wrap to 0");
    equal(receive(window, 5), "duplicate", "no wrap to small counters");
    equal(receive(window, 0xfffffff0), "new", "still inside the window below the maximum");
  });

  test("every counter inside a window of 32 is accepted once, in any order", () => {
    const random = new SeededRandom(99);
    for (let round = 0; round < 20; round++) {
      const window = new ReceptionWindow("secure-unicast");
      const base = 1000 + round * 100;
      equal(receive(window, base + 32), "new");
      const order = Array.from({ length: 32 }, (_, i) => base + i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = random.bytes(1)[0]! % (i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (const counter of order) equal(receive(window, counter), "new", `${counter}`);
      for (const counter of order) equal(receive(window, counter), "duplicate", `${counter} again`);
      equal(receive(window, base - 1), "duplicate");
    }
  });

  test("unsecured: the first message is trusted, rollover is allowed, far behind means the peer rebooted", () => {
    const window = new ReceptionWindow("unsecured");
    equal(window.maximum, undefined);
    equal(receive(window, 0xfffffffe), "new", "first message");
    equal(receive(window, 0xfffffffe), "duplicate");
    equal(receive(window, 0xffffffff), "new");
    equal(receive(window, 0), "new", "rolls over");
    equal(receive(window, 1), "new");
    equal(receive(window, 0xffffffff), "duplicate", "before the rollover, inside the window");
    equal(receive(window, 0xfffffffd), "new", "inside the window across the rollover");
    equal(receive(window, 0x40000000), "new", "ahead by less than 2^31");
    equal(receive(window, 5), "new", "far behind: a rebooted peer, the window restarts there");
    equal(window.maximum, 5);
    equal(receive(window, 5), "duplicate");
    equal(receive(window, 4), "new");
  });

  test("group: rollover allowed, far behind is a duplicate", () => {
    const window = new ReceptionWindow("group");
    equal(receive(window, 0xfffffff0), "new");
    equal(receive(window, 3), "new", "rolls over");
    equal(receive(window, 0xfffffff0), "duplicate");
    equal(receive(window, 0xfffffff1), "new", "inside the window across the rollover");
    equal(receive(window, 0x80000010), "duplicate", "2^31 away counts as behind");
  });
});
