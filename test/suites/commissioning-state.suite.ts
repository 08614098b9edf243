// The commissioning state on its own, on Node and inside XS: the journaled store (atomic commits,
// recovery, a power cut at every write of random multi-key commits, journals spanning several
// chunks), the fail-safe context (arming rules, timers, the 900 s cumulative limit, one atomic
// commit for every participant), and the fabric table (AddNOC's refusals and their status codes,
// pending fabrics visible to CASE, commit, revert, reload from storage).
import { suite, ok, equal, deepEqual, throws, bytesEqual } from "../portable/harness";
import { ManualClock, SeededRandom } from "./transport-fixtures";
import { TlvWriter } from "../../src/codec/tlv";
import { utf8Encode } from "../../src/codec/bytes";
import { DnTag, KeyUsage, encodeMatterCertificate, issueMatterCertificate, type DnEntry } from "../../src/certs";
import { ecdsaVerify, publicKeyFromPrivate, sha256 } from "../../src/crypto";
import { FailSafeContext, MAX_CUMULATIVE_FAIL_SAFE_SECONDS, type FailSafeParticipant } from "../../src/commissioning/fail-safe";
import { OperationalCertError, OperationalCertStatus, OperationalFabricTable } from "../../src/commissioning/fabric-table";
import { JOURNAL_HEADER_KEY, StorageError, TransactionalStore } from "../../src/commissioning/transactional-store";
import type { KeyValueStore } from "../../src/platform";

/** An in-memory KeyValueStore with NVS-like limits that can lose power after N writes. */
class FlashStore implements KeyValueStore {
  readonly entries = new Map<string, Uint8Array>();
  writes = 0;
  cutAfter: number | undefined;

  constructor(
    readonly maxValueLength = 4000,
    readonly maxKeyLength = 15,
  ) {}

  get(key: string): Uint8Array | undefined {
    return this.entries.get(key)?.slice();
  }

  set(key: string, value: Uint8Array): void {
    if (key.length > this.maxKeyLength || value.length > this.maxValueLength) throw new Error(`store limits exceeded by ${key}`);
    this.write(() => this.entries.set(key, value.slice()));
  }

  delete(key: string): void {
    this.write(() => this.entries.delete(key));
  }

  keys(prefix: string): string[] {
    return [...this.entries.keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  snapshot(): FlashStore {
    const copy = new FlashStore(this.maxValueLength, this.maxKeyLength);
    for (const [key, value] of this.entries) copy.entries.set(key, value.slice());
    return copy;
  }

  dump(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const key of this.keys("")) out[key] = Array.from(this.entries.get(key)!, (b) => b.toString(16).padStart(2, "0")).join("");
    return out;
  }

  private write(apply: () => void): void {
    if (this.cutAfter !== undefined && this.writes >= this.cutAfter) throw new Error("power cut");
    apply();
    this.writes++;
  }
}

const bytes = (...values: number[]) => new Uint8Array(values);
const filled = (length: number, value: number) => new Uint8Array(length).fill(value);

// ---------------------------------------------------------------------------------------------
// A small fabric CA for the fabric table tests (no ICAC).

const key = (label: string) => sha256(utf8Encode(`matter-xs commissioning suite key ${label}`));
const JAN_2024 = 1704067200;
const JAN_2034 = 2019686400;

function rcacOf(rootKey: Uint8Array, fabricId: bigint): { rcac: Uint8Array; subject: DnEntry[] } {
  const subject: DnEntry[] = [
    { tag: DnTag.rcacId, value: 0xcacacaca00000001n },
    { tag: DnTag.fabricId, value: fabricId },
  ];
  const pub = publicKeyFromPrivate(rootKey);
  const certificate = issueMatterCertificate(
    { serialNumber: bytes(1), issuer: subject, subject, notBefore: JAN_2024, notAfter: JAN_2034, publicKey: pub, issuerPublicKey: pub, ca: true, keyUsage: KeyUsage.keyCertSign | KeyUsage.crlSign },
    rootKey,
  );
  return { rcac: encodeMatterCertificate(certificate), subject };
}

function nocFor(rootKey: Uint8Array, issuer: DnEntry[], fabricId: bigint, nodeId: bigint, publicKey: Uint8Array): Uint8Array {
  const certificate = issueMatterCertificate(
    {
      serialNumber: bytes(2),
      issuer,
      subject: [
        { tag: DnTag.nodeId, value: nodeId },
        { tag: DnTag.fabricId, value: fabricId },
      ],
      notBefore: JAN_2024,
      notAfter: JAN_2034,
      publicKey,
      issuerPublicKey: publicKeyFromPrivate(rootKey),
      ca: false,
      keyUsage: KeyUsage.digitalSignature,
      extendedKeyUsage: [1, 2],
    },
    rootKey,
  );
  return encodeMatterCertificate(certificate);
}

function statusOf(fn: () => unknown): number {
  const error = throws(fn);
  ok(error instanceof OperationalCertError, `an OperationalCertError, not ${error.name}: ${error.message}`);
  return (error as OperationalCertError).status;
}

export default suite("commissioning state", (test) => {
  test("atomically() commits several keys as one; reads see the open batch; a throw writes nothing", () => {
    const flash = new FlashStore();
    const store = new TransactionalStore(flash);
    store.set("a", bytes(1));
    store.atomically(() => {
      store.set("b", bytes(2));
      store.delete("a");
      equal(store.get("a"), undefined, "the batch's deletion is visible inside it");
      deepEqual(store.keys(""), ["b"]);
      equal(flash.get("b"), undefined, "nothing reaches the flash before the commit");
    });
    deepEqual(flash.keys(""), ["b"], "the journal is gone after the commit");
    throws(() =>
      store.atomically(() => {
        store.set("c", bytes(3));
        throw new Error("abandoned");
      }),
    );
    equal(flash.get("c"), undefined);
    throws(() => store.set(JOURNAL_HEADER_KEY, bytes(0)), /reserved/);
    throws(() => store.set("jc/0", bytes(0)), /reserved/);
    const long = throws(() => store.set("a-key-longer-than-15", bytes(0)), /longer than 15/);
    ok(long instanceof StorageError);
  });

  test("a single-key commit skips the journal; a multi-key one writes chunk, header, keys, then removes both", () => {
    const flash = new FlashStore();
    const store = new TransactionalStore(flash);
    store.atomically(() => store.set("one", bytes(1)));
    equal(flash.writes, 1);
    flash.writes = 0;
    store.atomically(() => {
      store.set("x", bytes(1));
      store.set("y", bytes(2));
    });
    equal(flash.writes, 6, "chunk + header + 2 keys + header deletion + chunk deletion");
  });

  test("a power cut at every write of random multi-key commits leaves the old or the new contents after recovery", () => {
    const random = new SeededRandom(0x5eed);
    let replayed = 0;
    let journaled = 0;
    for (let round = 0; round < 12; round++) {
      // A small value limit forces journals of several chunks.
      const base = new FlashStore(round % 2 === 0 ? 4000 : 160);
      const seedStore = new TransactionalStore(base);
      for (let i = 0; i < 6; i++) seedStore.set(`k${i}`, filled(20 + i, round));
      const before = base.dump();
      const changes: [string, Uint8Array | null][] = [];
      for (let i = 0; i < 2 + (random.bytes(1)[0]! % 6); i++) {
        const name = `k${random.bytes(1)[0]! % 9}`;
        changes.push([name, random.bytes(1)[0]! % 4 === 0 ? null : random.bytes(40 + (random.bytes(1)[0]! % 100))]);
      }
      const apply = (store: TransactionalStore) =>
        store.atomically(() => {
          for (const [name, value] of changes) {
            if (value) store.set(name, value);
            else store.delete(name);
          }
        });
      const dry = base.snapshot();
      apply(new TransactionalStore(dry));
      const after = dry.dump();
      const total = dry.writes;
      if (total > 3) journaled++;
      for (let cut = 0; cut <= total; cut++) {
        const flash = base.snapshot();
        flash.cutAfter = cut;
        try {
          apply(new TransactionalStore(flash));
        } catch {
          // the power went
        }
        flash.cutAfter = undefined;
        const boot = new TransactionalStore(flash);
        const outcome = boot.recover();
        if (outcome === "replayed") replayed++;
        const contents = JSON.stringify(flash.dump());
        ok(contents === JSON.stringify(before) || contents === JSON.stringify(after), `round ${round}, cut after ${cut}: neither old nor new`);
        equal(boot.recover(), "clean", "a second recovery finds nothing to do");
      }
    }
    ok(journaled > 6, `${journaled} of 12 commits went through the journal`);
    ok(replayed > 0, "some cuts fell between the commit point and the journal's removal");
  });

  test("recovery drops a journal whose digest does not match, and chunks without a header", () => {
    const flash = new FlashStore();
    flash.set("jc/0", bytes(0x15, 0x18));
    equal(new TransactionalStore(flash).recover(), "discarded");
    deepEqual(flash.keys(""), []);
    flash.set("jc/0", new TlvWriter().startStructure(undefined).uint(0, 0).bytes(1, bytes(0x16, 0x18)).end().finish());
    flash.set(JOURNAL_HEADER_KEY, new TlvWriter().startStructure(undefined).uint(0, 1).uint(1, 2).bytes(2, new Uint8Array(32)).end().finish());
    const logs: string[] = [];
    equal(new TransactionalStore(flash, { log: (_level, message) => logs.push(message) }).recover(), "discarded");
    ok(logs.some((line) => /unreadable/.test(line)));
    deepEqual(flash.keys(""), []);
  });

  test("eraseAll keeps only what it is told to keep, atomically", () => {
    const flash = new FlashStore();
    const store = new TransactionalStore(flash);
    for (const name of ["f/1", "acl/1", "rdi.counter", "a/1/6"]) store.set(name, bytes(1));
    store.eraseAll((name) => name === "rdi.counter");
    deepEqual(flash.keys(""), ["rdi.counter"]);
  });

  test("fail-safe: arming, re-arming by the same fabric only, expiry, ArmFailSafe(0), the cumulative limit", async () => {
    const clock = new ManualClock();
    const store = new TransactionalStore(new FlashStore());
    const failSafe = new FailSafeContext({ clock, store });
    const log: string[] = [];
    const participant: FailSafeParticipant = { stageCommit: () => log.push("stage"), applyCommit: () => log.push("apply"), revert: () => log.push("revert") };
    failSafe.addParticipant(participant);
    const expiries: string[] = [];
    failSafe.addListener({ expired: (expiry) => expiries.push(expiry.reason) });

    equal(failSafe.arm(0, 0, undefined), "not-armed");
    equal(failSafe.arm(60, 0, undefined), "armed");
    ok(failSafe.armed);
    equal(failSafe.arm(60, 3, undefined), "busy-with-other-admin");
    equal(failSafe.arm(30, 0, undefined), "armed", "re-armed by its own fabric");
    await clock.advance(29_000);
    ok(failSafe.armed, "the re-arm replaced the 60 s timer with 30 s");
    await clock.advance(1_001);
    ok(!failSafe.armed);
    deepEqual(expiries, ["timeout"]);
    deepEqual(log, ["revert"]);

    equal(failSafe.arm(100, 0, undefined), "armed");
    equal(failSafe.arm(0, 0, undefined), "disarmed");
    deepEqual(expiries, ["timeout", "disarmed"]);

    // Re-arming keeps pushing the deadline, but not past 900 s after the first arming.
    equal(failSafe.arm(300, 2, undefined), "armed");
    for (let i = 0; i < 3; i++) {
      await clock.advance(250_000);
      equal(failSafe.arm(300, 2, undefined), "armed");
    }
    await clock.advance(149_000);
    ok(failSafe.armed, "still armed just before 900 s");
    await clock.advance(1_001);
    ok(!failSafe.armed, "the cumulative limit ended it at 900 s, though the last re-arm asked for 300 s more");
    equal(expiries[expiries.length - 1], "cumulative-limit");
    equal(MAX_CUMULATIVE_FAIL_SAFE_SECONDS, 900);
  });

  test("fail-safe: commit stages every participant in one transaction, then applies; a failed commit keeps it armed", () => {
    const flash = new FlashStore();
    const store = new TransactionalStore(flash);
    const failSafe = new FailSafeContext({ clock: new ManualClock(), store });
    const applied: string[] = [];
    for (const name of ["p1", "p2"]) {
      failSafe.addParticipant({ stageCommit: () => store.set(name, utf8Encode(name)), applyCommit: () => applied.push(name), revert: () => applied.push(`revert ${name}`) });
    }
    failSafe.arm(60, 0, undefined);
    flash.cutAfter = flash.writes + 2; // chunk and header written; the keys are not
    throws(() => failSafe.commit());
    ok(failSafe.armed, "still armed after a failed commit");
    deepEqual(applied, [], "memory unchanged");
    flash.cutAfter = undefined;
    equal(new TransactionalStore(flash).recover(), "replayed", "the journal was complete: the commit is durable");
    deepEqual([flash.get("p1"), flash.get("p2")].map((value) => (value ? value.length : 0)), [2, 2]);
    failSafe.commit();
    deepEqual(applied, ["p1", "p2"]);
    ok(!failSafe.armed);
  });

  test("fabric table: AddNOC's refusals, a pending fabric CASE can use, commit, reload, revert", () => {
    const flash = new FlashStore();
    const store = new TransactionalStore(flash);
    const random = new SeededRandom(7);
    const table = new OperationalFabricTable({ store, random });
    table.load();
    const rootKey = key("root");
    const { rcac, subject } = rcacOf(rootKey, 0xfab1n);
    const epochKey = filled(16, 0x42);
    const add = (noc: Uint8Array) => table.addFabric({ noc, icac: undefined, ipkEpochKey: epochKey, vendorId: 0xfff1 });

    equal(statusOf(() => add(nocFor(rootKey, subject, 0xfab1n, 5n, publicKeyFromPrivate(key("x"))))), OperationalCertStatus.MissingCsr);
    const { publicKey } = table.createOperationalKey(false);
    equal(statusOf(() => add(nocFor(rootKey, subject, 0xfab1n, 5n, publicKey))), OperationalCertStatus.InvalidNoc, "no trusted root yet");
    throws(() => table.addTrustedRoot(nocFor(rootKey, subject, 0xfab1n, 5n, publicKey)), /RCAC/);
    table.addTrustedRoot(rcac);
    equal(statusOf(() => add(nocFor(rootKey, subject, 0xfab1n, 5n, publicKeyFromPrivate(key("y"))))), OperationalCertStatus.InvalidPublicKey);
    equal(statusOf(() => add(nocFor(key("stranger"), subject, 0xfab1n, 5n, publicKey))), OperationalCertStatus.InvalidNoc, "signed by another root");
    const fabric = add(nocFor(rootKey, subject, 0xfab1n, 5n, publicKey));
    equal(fabric.fabricIndex, 1);
    equal(table.committedCount, 0);
    deepEqual([...table.fabrics()].map((f) => f.fabricIndex), [1], "CASE sees the pending fabric");
    ok(ecdsaVerify(publicKey, utf8Encode("sigma"), fabric.sign(utf8Encode("sigma"))), "signs with the CSR's key");
    deepEqual(flash.keys("f/"), [], "nothing stored while pending");

    store.atomically(() => table.stageCommit());
    table.applyCommit();
    deepEqual(flash.keys("f/"), ["f/1", "f/next"]);
    const reloaded = new OperationalFabricTable({ store: new TransactionalStore(flash), random });
    reloaded.load();
    const loaded = reloaded.fabric(1)!;
    equal(loaded.nodeId, 5n);
    bytesEqual(loaded.ipk, fabric.ipk);
    ok(ecdsaVerify(publicKey, utf8Encode("again"), loaded.sign(utf8Encode("again"))), "the stored key signs for the NOC");

    // Same root and fabric id again: FabricConflict. Then a pending second fabric that is reverted.
    table.createOperationalKey(false);
    table.addTrustedRoot(rcac);
    const second = table.createOperationalKey(false).publicKey;
    equal(statusOf(() => add(nocFor(rootKey, subject, 0xfab1n, 6n, second))), OperationalCertStatus.FabricConflict);
    const otherRoot = rcacOf(key("root2"), 0xfab2n);
    table.addTrustedRoot(otherRoot.rcac);
    equal(add(nocFor(key("root2"), otherRoot.subject, 0xfab2n, 7n, second)).fabricIndex, 2);
    table.revert();
    deepEqual([...table.fabrics()].map((f) => f.fabricIndex), [1]);
    equal(statusOf(() => table.setLabel(9, "x")), OperationalCertStatus.InvalidFabricIndex);
    table.setLabel(1, "lounge");
    equal(new OperationalFabricTable({ store: new TransactionalStore(flash), random }).fabric(1), undefined, "a table reads storage only in load()");
    const relabelled = new OperationalFabricTable({ store: new TransactionalStore(flash), random });
    relabelled.load();
    equal(relabelled.fabric(1)!.label, "lounge", "a committed fabric's label is written at once");
  });

  test("fabric table: a corrupt record is skipped; the table is bounded", () => {
    const flash = new FlashStore();
    const store = new TransactionalStore(flash);
    store.set("f/3", bytes(0x15, 0x24, 0x00, 0x01, 0x18));
    const logs: string[] = [];
    const table = new OperationalFabricTable({ store, random: new SeededRandom(3), maxFabrics: 1, log: (_level, message) => logs.push(message) });
    table.load();
    equal(table.committedCount, 0);
    ok(logs.some((line) => /f\/3 is unusable/.test(line)));
    const rootKey = key("bounded");
    const { rcac, subject } = rcacOf(rootKey, 0xb0n);
    const device = key("bounded device");
    table.install({ rcac, noc: nocFor(rootKey, subject, 0xb0n, 9n, publicKeyFromPrivate(device)), operationalPrivateKey: device, ipkEpochKey: filled(16, 1), vendorId: 0xfff1 });
    table.createOperationalKey(false);
    table.addTrustedRoot(rcac);
    equal(statusOf(() => table.addFabric({ noc: nocFor(rootKey, subject, 0xb0n, 10n, publicKeyFromPrivate(device)), icac: undefined, ipkEpochKey: filled(16, 1), vendorId: 1 })), OperationalCertStatus.TableFull);
  });
});
