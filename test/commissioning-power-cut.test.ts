// Power cuts at every write. The device runs on a key-value store that counts its writes (sets and
// deletes, the platform's atomic operations) and, armed with N, lets N of them through and then
// loses power: the (N+1)-th write throws and nothing after it reaches the store. The store as it
// was at that moment is what a fresh boot gets; the booted device must be in the old state or in
// the new one, never in between, for every N from 0 to the operation's last write:
//   - AddNOC through CommissioningComplete (the whole commissioning),
//   - RemoveFabric of one of two fabrics,
//   - ACL writes (and an Extension write),
//   - factory reset.
// A dry run counts the operation's writes first; the cut points between the journal's commit
// point and its removal are the ones where the boot replays the journal, and the test checks that
// some cuts land there.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "../hosts/sim/platform/storage";
import type { KeyValueStore } from "../src/platform";
import { startTestDevice, testIdentity, TEST_PASSCODE, type DeviceUnderTest, type TestIdentity } from "./support/commissioning-device";
import { AccessControlCluster, CommissioningFlow, OperationalCredentialsCluster } from "./support/commissioning-flow";
import { FabricAuthority } from "./support/credentials";
import type { ControllerIdentity } from "./support/commissioner";
import { ImClient } from "./support/im-client";
import { toHex } from "../src/codec/bytes";
import { TestPeer } from "./support/test-peer";

class PowerCut extends Error {
  override name = "PowerCut";
}

/** A store that loses power after a set number of writes; the entries at that moment are kept. */
class FaultyStore implements KeyValueStore {
  readonly maxKeyLength: number;
  readonly maxValueLength: number;
  writes = 0;
  private budget: number | undefined;
  private frozen: MemoryStore | undefined;

  constructor(readonly inner: MemoryStore) {
    this.maxKeyLength = inner.maxKeyLength;
    this.maxValueLength = inner.maxValueLength;
  }

  /** From now on, `writes` more writes succeed; undefined: no cut (counting only). */
  armAfter(writes: number | undefined): void {
    this.writes = 0;
    this.budget = writes;
  }

  get cut(): boolean {
    return this.frozen !== undefined;
  }

  /** What the flash held when the power went (or now, if it never did). */
  image(): MemoryStore {
    return copyOf(this.frozen ?? this.inner);
  }

  get(key: string): Uint8Array | undefined {
    return this.inner.get(key);
  }

  keys(prefix: string): string[] {
    return this.inner.keys(prefix);
  }

  set(key: string, value: Uint8Array): void {
    this.write(() => this.inner.set(key, value));
  }

  delete(key: string): void {
    this.write(() => this.inner.delete(key));
  }

  private write(apply: () => void): void {
    if (this.frozen) return; // the device is dead; what it still does never reaches the flash
    if (this.budget !== undefined && this.writes >= this.budget) {
      this.frozen = copyOf(this.inner);
      throw new PowerCut(`power cut before write ${this.writes + 1}`);
    }
    apply();
    this.writes++;
  }
}

function copyOf(store: MemoryStore): MemoryStore {
  const copy = new MemoryStore({ maxKeyLength: store.maxKeyLength, maxValueLength: store.maxValueLength });
  for (const key of store.keys("")) copy.set(key, store.get(key)!);
  return copy;
}

interface CommissioningState {
  fabrics: { fabricIndex: number; fabricId: string; nodeId: string; label: string; noc: string; ipk: string }[];
  acl: Record<string, unknown[]>;
  regulatoryConfig: number;
  failSafeArmed: boolean;
}

interface BootResult {
  state: CommissioningState;
  onOff: boolean;
  keys: string[];
  replayed: boolean;
}

/** Boots a fresh device from `image` and reads its state. */
async function boot(identity: TestIdentity, image: MemoryStore): Promise<BootResult & { dut: DeviceUnderTest }> {
  const dut = await startTestDevice({ identity, storage: image });
  const state = dut.device.control({ op: "commissioning-state" }) as CommissioningState;
  return { dut, state, onOff: dut.device.status().onOff, keys: image.keys(""), replayed: dut.logs.some((entry) => /storage recovery: replayed/.test(entry.message)) };
}

/** Storage must never hold a fabric without its ACL record or the reverse, nor a journal after boot. */
function checkStoreConsistency(keys: string[], where: string): void {
  const fabrics = keys.filter((key) => /^f\/\d+$/.test(key)).map((key) => key.slice(2));
  const acls = keys.filter((key) => key.startsWith("acl/")).map((key) => key.slice(4));
  assert.deepEqual(fabrics.sort(), acls.sort(), `${where}: fabric and ACL records disagree (${keys.join(", ")})`);
  assert.ok(!keys.some((key) => key === "jh" || key.startsWith("jc/")), `${where}: the journal survived the boot`);
}

interface Prepared {
  dut: DeviceUnderTest;
  operation: () => Promise<void>;
  close: () => void;
  /** Shows that a device booted into the new state works (CASE with the new credentials...). */
  verifyNew?: (booted: DeviceUnderTest) => Promise<void>;
}

interface Scenario {
  /** Brings a device on `store` to the state before the operation; returns what the operation needs. */
  prepare(store: FaultyStore): Promise<Prepared>;
  isOld(result: BootResult): boolean;
  isNew(result: BootResult): boolean;
}

/** Runs `scenario` once without a cut to count its writes, then once per cut point. */
async function sweep(name: string, scenario: Scenario): Promise<{ writes: number; old: number; new: number; replayed: number }> {
  const identity = testIdentity();
  const counts = { writes: 0, old: 0, new: 0, replayed: 0 };
  const run = async (cutAfter: number | undefined) => {
    const store = new FaultyStore(new MemoryStore());
    const prepared = await scenario.prepare(store);
    store.armAfter(cutAfter);
    try {
      await prepared.operation();
    } catch (error) {
      if (!store.cut) throw error;
    } finally {
      prepared.close();
    }
    if (cutAfter === undefined) return store.writes;
    const result = await boot(identity, store.image());
    try {
      const where = `${name}, power cut after ${cutAfter} write(s)`;
      checkStoreConsistency(result.keys, where);
      assert.equal(result.state.failSafeArmed, false, `${where}: a boot never finds the fail-safe armed`);
      const old = scenario.isOld(result);
      const fresh = scenario.isNew(result);
      assert.ok(old !== fresh, `${where}: the booted state is ${old ? "both old and new" : "neither old nor new"}: ${JSON.stringify(result.state)}`);
      if (old) counts.old++;
      else {
        counts.new++;
        await prepared.verifyNew?.(result.dut);
      }
      if (result.replayed) counts.replayed++;
      return 0;
    } finally {
      result.dut.stop();
    }
  };
  counts.writes = (await run(undefined))!;
  // The device makes each write in the same order every time, so cut points line up with the dry run.
  void identity;
  for (let cut = 0; cut <= counts.writes; cut++) await run(cut);
  return counts;
}

// Shared by the scenarios: devices each with the test identity, one commissioner peer per run.
const peers: TestPeer[] = [];
after(() => {
  for (const peer of peers) peer.close();
});

async function newPeer(): Promise<TestPeer> {
  const peer = await TestPeer.open();
  peers.push(peer);
  return peer;
}

const FABRIC = { fabricId: 0x0000_0000_0000_0f0fn, deviceNodeId: 0x0000_0000_0000_4444n, adminNodeId: 0x0000_0000_0000_0101n };

/** Installs fabrics directly (control op), each with its administrator's CASE identity. */
async function installFabrics(dut: DeviceUnderTest, count: number): Promise<{ authority: FabricAuthority; admin: ControllerIdentity; deviceNodeId: bigint }[]> {
  const installed = [];
  for (let i = 0; i < count; i++) {
    const authority = await FabricAuthority.create(0x100n + BigInt(i));
    const deviceNodeId = 0x5000n + BigInt(i);
    const device = await authority.issue(deviceNodeId);
    const adminNodeId = 0x9000n + BigInt(i);
    const answer = dut.device.control({
      op: "install-fabric",
      rcac: toHex(authority.rcac),
      icac: authority.icac ? toHex(authority.icac) : undefined,
      noc: toHex(device.noc),
      operationalKey: toHex(device.key.privateKey),
      ipkEpochKey: toHex(authority.ipkEpochKey),
      caseAdminSubject: `0x${adminNodeId.toString(16)}`,
      label: `fabric ${i + 1}`,
    }) as { fabricIndex?: number; error?: string };
    assert.equal(answer.error, undefined, answer.error);
    installed.push({ authority, admin: { authority, credentials: await authority.issue(adminNodeId), resumption: new Map() }, deviceNodeId });
  }
  return installed;
}

async function caseClient(dut: DeviceUnderTest, peer: TestPeer, fabric: { authority: FabricAuthority; admin: ControllerIdentity; deviceNodeId: bigint }): Promise<ImClient> {
  const flow = new CommissioningFlow(peer, dut.endpoint, { fabricId: fabric.authority.fabricId, deviceNodeId: fabric.deviceNodeId, adminNodeId: fabric.admin.credentials.nodeId });
  return flow.openCase(fabric.admin);
}

describe("power cuts at every write leave the old or the new state", { concurrency: false }, () => {
  it("AddNOC through CommissioningComplete", async () => {
    let expectedNoc = "";
    const counts = await sweep("commissioning", {
      async prepare(store) {
        const identity = testIdentity();
        const dut = await startTestDevice({ identity, storage: store });
        const peer = await newPeer();
        const flow = new CommissioningFlow(peer, dut.endpoint, FABRIC);
        await flow.openPase(TEST_PASSCODE);
        return {
          dut,
          operation: async () => {
            await flow.commission(identity.dacPublicKey, { regulatoryConfig: 1, countryCode: "NL" });
          },
          close: () => dut.stop(),
          async verifyNew(booted) {
            const after = new CommissioningFlow(await newPeer(), booted.endpoint, FABRIC);
            after.authority = flow.authority;
            after.controller = flow.controller;
            const client = await after.openCase();
            assert.equal((await client.read(0, OperationalCredentialsCluster, "currentFabricIndex")).value, 1, "CASE works with the stored operational key and IPK");
          },
        };
      },
      isOld: (result) => result.state.fabrics.length === 0 && Object.keys(result.state.acl).length === 0 && result.state.regulatoryConfig === 2,
      isNew(result) {
        const [fabric] = result.state.fabrics;
        if (result.state.fabrics.length !== 1 || !fabric) return false;
        expectedNoc ||= fabric.noc;
        return (
          fabric.fabricId === `0x${FABRIC.fabricId.toString(16)}` &&
          fabric.nodeId === `0x${FABRIC.deviceNodeId.toString(16)}` &&
          JSON.stringify(result.state.acl["1"]) === JSON.stringify([{ privilege: 5, authMode: 2, subjects: [`0x${FABRIC.adminNodeId.toString(16)}`], targets: null, fabricIndex: 1 }]) &&
          result.state.regulatoryConfig === 1
        );
      },
    });
    console.log(`commissioning: ${counts.writes} writes; after the cuts ${counts.old} boots found the old state, ${counts.new} the new, ${counts.replayed} by replaying the journal`);
    assert.ok(counts.old > 0 && counts.new > 0 && counts.replayed > 0);
  });

  it("RemoveFabric of one of two fabrics", async () => {
    const counts = await sweep("RemoveFabric", {
      async prepare(store) {
        const dut = await startTestDevice({ identity: testIdentity(), storage: store });
        const fabrics = await installFabrics(dut, 2);
        const client = await caseClient(dut, await newPeer(), fabrics[0]!);
        return {
          dut,
          operation: async () => {
            const outcome = await client.invoke(0, OperationalCredentialsCluster, "removeFabric", { fabricIndex: 2 });
            if (outcome.response?.statusCode !== 0) throw new Error(`RemoveFabric: ${JSON.stringify(outcome)}`);
          },
          close: () => dut.stop(),
          async verifyNew(booted) {
            const survivor = await caseClient(booted, await newPeer(), fabrics[0]!);
            assert.equal((await survivor.read(0, OperationalCredentialsCluster, "commissionedFabrics")).value, 1);
          },
        };
      },
      isOld: (result) => result.state.fabrics.map((f) => f.fabricIndex).join() === "1,2" && Object.keys(result.state.acl).join() === "1,2",
      isNew: (result) => result.state.fabrics.map((f) => f.fabricIndex).join() === "1" && Object.keys(result.state.acl).join() === "1" && result.state.fabrics[0]!.label === "fabric 1",
    });
    console.log(`RemoveFabric: ${counts.writes} writes; ${counts.old} old, ${counts.new} new, ${counts.replayed} by replay`);
    assert.ok(counts.old > 0 && counts.new > 0 && counts.replayed > 0);
  });

  it("ACL and Extension writes", async () => {
    const entries = (subjects: bigint[]) => [
      { privilege: 5, authMode: 2, subjects: [0x9000n], targets: null, fabricIndex: 1 },
      { privilege: 3, authMode: 2, subjects, targets: [{ cluster: 6, endpoint: 1, deviceType: null }], fabricIndex: 1 },
    ];
    const extension = [{ data: new Uint8Array([0x17, 0xc4, 0xf1, 0xff, 0x01, 0x00, 0x01, 0x00, 0x2a, 0x18]), fabricIndex: 1 }];
    const counts = await sweep("ACL write", {
      async prepare(store) {
        const dut = await startTestDevice({ identity: testIdentity(), storage: store });
        const [fabric] = await installFabrics(dut, 1);
        const client = await caseClient(dut, await newPeer(), fabric!);
        return {
          dut,
          operation: async () => {
            const acl = await client.write(0, AccessControlCluster, "acl", entries([0x7000n, 0x7001n]));
            if (acl.status !== 0) throw new Error(`ACL write: status ${acl.status}`);
            const ext = await client.write(0, AccessControlCluster, "extension", extension);
            if (ext.status !== 0) throw new Error(`Extension write: status ${ext.status}`);
          },
          close: () => dut.stop(),
        };
      },
      isOld: (result) => result.state.acl["1"]?.length === 1,
      isNew: (result) => JSON.stringify(result.state.acl["1"]) === JSON.stringify([
        { privilege: 5, authMode: 2, subjects: ["0x9000"], targets: null, fabricIndex: 1 },
        { privilege: 3, authMode: 2, subjects: ["0x7000", "0x7001"], targets: [{ cluster: 6, endpoint: 1, deviceType: null }], fabricIndex: 1 },
      ]),
    });
    console.log(`ACL writes: ${counts.writes} writes; ${counts.old} old, ${counts.new} new`);
    assert.ok(counts.old > 0 && counts.new > 0);
  });

  it("factory reset", async () => {
    const counts = await sweep("factory reset", {
      async prepare(store) {
        const dut = await startTestDevice({ identity: testIdentity(), storage: store });
        await installFabrics(dut, 2);
        dut.device.control({ op: "set-on-off", on: true });
        return {
          dut,
          operation: async () => {
            dut.device.factoryReset();
          },
          close: () => dut.stop(),
          async verifyNew(booted) {
            const status = booted.device.status();
            assert.equal(status.commissioningWindow.open, true, "a reset device is commissionable");
            const flow = new CommissioningFlow(await newPeer(), booted.endpoint, FABRIC);
            await flow.run(TEST_PASSCODE, booted.identity.dacPublicKey);
          },
        };
      },
      isOld: (result) => result.state.fabrics.length === 2 && Object.keys(result.state.acl).length === 2 && result.onOff,
      isNew: (result) => result.state.fabrics.length === 0 && Object.keys(result.state.acl).length === 0 && !result.onOff && !result.keys.some((key) => key.startsWith("f/")),
    });
    console.log(`factory reset: ${counts.writes} writes; ${counts.old} old, ${counts.new} new, ${counts.replayed} by replay`);
    assert.ok(counts.old > 0 && counts.new > 0 && counts.replayed > 0);
  });
});
