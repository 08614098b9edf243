// The whole device (src/device.ts) inside the XS engine, through the simulator's bridge, over real
// UDP on loopback: the tests' own commissioner commissions it (attestation and CSR signatures
// checked against the DAC key), controls the light over CASE, and a factory reset sends it back
// to commissionable. DNS-SD stays off the machine's interfaces (withoutMulticast). Reports the
// wall time of each step as the commissioner saw it and the engine's heap.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { OnOff } from "@matter/types/clusters/on-off";
import { BasicInformation } from "@matter/types/clusters/basic-information";
import { bundleForXs } from "../hosts/sim/engine/bundle";
import { XsHost } from "../hosts/sim/bridge/host";
import { heapStatsOf } from "../hosts/sim/engine/xsnap";
import { NodePlatform } from "../hosts/sim/platform/node";
import type { Platform } from "../src/platform";
import { testIdentity, withoutMulticast, TEST_PASSCODE } from "./support/commissioning-device";
import { CommissioningFlow, GeneralCommissioningCluster, OperationalCredentialsCluster, expectOk, publicKeyOfCsr } from "./support/commissioning-flow";
import type { ClusterModel, ImClient } from "./support/im-client";
import { StatusError } from "./support/commissioner";
import { SecureChannelStatus } from "./support/status";
import { TestPeer } from "./support/test-peer";

const here = dirname(fileURLToPath(import.meta.url));
const OnOffCluster = OnOff as unknown as ClusterModel;
const BasicInformationCluster = BasicInformation as unknown as ClusterModel;
const FABRIC = { fabricId: 0x0000_0000_0000_7e57n, deviceNodeId: 0x0000_0000_0000_0c0dn, adminNodeId: 0x0000_0000_0000_0a0an };

describe("the device inside XS, commissioned over UDP", { concurrency: false }, () => {
  const identity = testIdentity();
  const node = new NodePlatform({ logLevel: "error" });
  const platform: Platform = { clock: node.clock, entropy: node.entropy, storage: node.storage, flash: node.flash, network: withoutMulticast(node.network), log: (level, message) => node.log(level, message), reboot: () => node.reboot() };
  const events: any[] = [];
  const timings: Record<string, number> = {};
  let host: XsHost;
  let peer: TestPeer;
  let port: number;
  let admin: ImClient;
  let peakSlots = 0;
  let baseline: { slots: number; chunks: number } | undefined;

  async function timed<T>(name: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      timings[name] = Math.round(performance.now() - started);
      if (host.lastMeter) peakSlots = Math.max(peakSlots, heapStatsOf(host.lastMeter).peakSlots);
    }
  }

  before(async () => {
    node.flash.open("factory")!.write(0, identity.image);
    // Small increments (64 KB chunks, 1024 slots), so that the peaks say what the device needs rather than how far the engine grew.
    host = new XsHost({ platform, onNotify: (note) => events.push(note.event), engine: { creation: { initialChunkSize: 65536, incrementalChunkSize: 65536, initialHeapCount: 4096, incrementalHeapCount: 1024 } } });
    await host.evaluate(await bundleForXs({ resolveDir: here, contents: `import "./fixtures/commissioning-firmware";` }));
    const status = await host.control<{ port: number; commissioningWindow: { open: boolean } }>({ op: "start" });
    assert.equal(status.commissioningWindow.open, true);
    await node.network.ready();
    port = (await host.control<{ port: number }>({ op: "status" })).port;
    peer = await TestPeer.open();
    // Peaks from here on are the running device's, not the bundle's evaluation.
    baseline = await host.worker.resetHeapPeaks({ gc: true });
  });

  after(async () => {
    const heap = await host?.worker.heapStats().catch(() => undefined);
    console.log(
      `commissioning the device in XS, as the commissioner saw it (ms): ${JSON.stringify(timings)}; heap after start ${baseline?.slots} slots + ${baseline?.chunks} chunk bytes, ` +
        `peak while serving ${heap ? heap.peakSlots : peakSlots} slots (${heap?.slotSize ?? 32} bytes each) + ${heap?.peakChunks ?? "?"} chunk bytes`,
    );
    peer?.close();
    await host?.control({ op: "shutdown" }).catch(() => {});
    await host?.stop();
    node.close();
  });

  it("commissions: PASE, attestation, CSR, AddNOC, CASE, CommissioningComplete", async () => {
    const flow = new CommissioningFlow(peer, { address: "127.0.0.1", port }, FABRIC);
    await timed("PASE", () => flow.openPase(TEST_PASSCODE));
    expectOk(await timed("ArmFailSafe", () => flow.armFailSafe(120)), "ArmFailSafe");
    expectOk(await flow.setRegulatoryConfig(), "SetRegulatoryConfig");
    const attestation = await timed("AttestationRequest", () => flow.attest(identity.dacPublicKey));
    assert.ok(attestation.signatureValid, "the DAC signature made in XS verifies");
    assert.deepEqual(new Uint8Array(attestation.elements.certificationDeclaration), identity.certificationDeclaration);
    assert.deepEqual(await flow.certificate(1), identity.dacDer);
    const csr = await timed("CSRRequest", () => flow.csr(identity.dacPublicKey));
    assert.ok(csr.signatureValid);
    assert.equal((await flow.addTrustedRoot()).status, 0);
    expectOk(await timed("AddNOC", () => flow.addNoc(publicKeyOfCsr(new Uint8Array(csr.elements!.csr)))), "AddNOC");
    admin = await timed("CASE", () => flow.openCase());
    expectOk(await timed("CommissioningComplete", () => flow.commissioningComplete(admin)), "CommissioningComplete");
    const status = await host.control<{ commissioned: boolean; fabrics: { fabricIndex: number }[]; commissioningWindow: { open: boolean } }>({ op: "status" });
    assert.equal(status.commissioned, true);
    assert.equal(status.commissioningWindow.open, false);
    assert.ok(events.some((event) => event.type === "commissioning-complete"));
    assert.equal((await admin.read(0, OperationalCredentialsCluster, "commissionedFabrics")).value, 1);
    const heap = await host.worker.heapStats();
    console.log(`device in XS, peak heap from start through commissioning: ${heap.peakSlots} slots + ${heap.peakChunks} chunk bytes (now ${heap.slots} slots + ${heap.chunks} chunk bytes)`);
  });

  it("the administrator reads Basic Information and toggles the light", async () => {
    assert.equal((await admin.read(0, BasicInformationCluster, "softwareVersionString")).value, "2.0-xs");
    assert.equal((await admin.read(0, BasicInformationCluster, "vendorId")).value, 0xfff1);
    assert.equal((await timed("toggle", () => admin.invoke(1, OnOffCluster, "toggle"))).status, 0);
    assert.equal((await admin.read(1, OnOffCluster, "onOff")).value, true);
    assert.ok(events.some((event) => event.type === "on-off" && event.on === true));
    assert.equal((await admin.read(0, GeneralCommissioningCluster, "regulatoryConfig")).value, 2);
  });

  it("factory reset: the fabric is gone and the device is commissionable again", async () => {
    assert.deepEqual(await host.control({ op: "factory-reset" }), { ok: true });
    const status = await host.control<{ commissioned: boolean; commissioningWindow: { open: boolean }; port: number }>({ op: "status" });
    assert.equal(status.commissioned, false);
    assert.equal(status.commissioningWindow.open, true);
    assert.equal(status.port, port, "a reset keeps the port");
    const flow = new CommissioningFlow(peer, { address: "127.0.0.1", port }, FABRIC);
    await assert.rejects(flow.openCase({ authority: (await flow.makeAuthority()), credentials: await (await flow.makeAuthority()).issue(FABRIC.adminNodeId), resumption: new Map() }), (error: unknown) => error instanceof StatusError && error.status.protocolCode === SecureChannelStatus.code.noSharedTrustRoots);
    await flow.run(TEST_PASSCODE, identity.dacPublicKey);
  });
});
