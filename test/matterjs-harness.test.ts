// The matter.js peer harness (test/support/matterjs) proven against a matter.js device: a
// matter.js controller in a process of its own commissions a matter.js On/Off light that presents
// the shared test DAC/PAI/CD, both inside a private network namespace, and then reads, invokes,
// subscribes, reconnects after a device restart on another port, lets a second controller in
// through an enhanced commissioning window and removes its own fabric. Attestation is strict: a
// DAC under a PAA the controller does not trust, or a CD signed by an unknown key, is refused.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { DeviceAttestationCheck, type AttestationFinding } from "@matter/protocol";
import { ACCEPTED_ATTESTATION_FINDINGS, strictAttestationPolicy } from "./support/matterjs/attestation-policy";
import { ChildRequestError } from "./support/matterjs/channel";
import { MatterJsController, type MatterJsPeer } from "./support/matterjs/controller";
import { foreignPaaChain, sharedTestTrust, TEST_PRODUCT_ID, TEST_VENDOR_ID, untrustedCdSignerCredentials } from "./support/matterjs/credentials";
import { MatterJsDevice } from "./support/matterjs/device";
import { NamespaceProcess } from "./support/matterjs/namespace-process";
import { namespaceName, NetworkNamespace, withNetworkNamespace } from "./support/matterjs/netns";
import { AttestationRejectedError } from "./support/matterjs/errors";

const OK = 0; // NodeOperationalCertStatus.Ok

function namespaceListed(name: string): boolean {
  return spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n").some((line) => line.split(" ")[0] === name);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("private network namespace", () => {
  it("has only a loopback interface, with multicast and the mDNS routes", async () => {
    await withNetworkNamespace(namespaceName("mxs-nl"), async (namespace) => {
      const links = namespace.exec("ip", ["-o", "link", "show"]).trim().split("\n");
      assert.equal(links.length, 1, links.join("\n"));
      assert.match(links[0]!, /^1: lo: <[^>]*\bMULTICAST\b[^>]*\bUP\b/);
      assert.match(namespace.exec("ip", ["route", "show"]), /^224\.0\.0\.0\/4 dev lo/m);
      assert.match(namespace.exec("ip", ["-6", "route", "show", "table", "local"]), /^multicast ff00::\/8 dev lo|^ff00::\/8 dev lo/m);
    });
  });

  it("is deleted, with what runs inside, when the body throws", async () => {
    const name = namespaceName("mxs-nt");
    let pid = 0;
    await assert.rejects(
      withNetworkNamespace(name, async (namespace) => {
        pid = namespace.spawn("sleep", ["60"], { stdio: "ignore" }).pid!;
        assert.ok(processAlive(pid));
        throw new Error("body failed");
      }),
      /body failed/,
    );
    assert.equal(namespaceListed(name), false);
    assert.equal(processAlive(pid), false);
  });

  it("is deleted, with what runs inside, when the body overruns its time limit", async () => {
    const name = namespaceName("mxs-no");
    let pid = 0;
    await assert.rejects(
      withNetworkNamespace(
        name,
        async (namespace) => {
          const child = namespace.spawn("sleep", ["60"], { stdio: "ignore" });
          pid = child.pid!;
          await new Promise((resolve) => child.once("exit", resolve));
        },
        { timeoutMs: 500 },
      ),
      /gave up after 500 ms/,
    );
    assert.equal(namespaceListed(name), false);
    assert.equal(processAlive(pid), false);
  });

  it("runs any program inside with its output kept (NamespaceProcess)", async () => {
    await withNetworkNamespace(namespaceName("mxs-np"), async (namespace) => {
      const program = NamespaceProcess.start(namespace, "sh", ["-c", "ip -o link show | cut -d: -f2; echo ready; exec sleep 60"]);
      const [, interfaces] = (await program.waitForOutput(/^([\s\S]*)ready$/m, 10_000)) as RegExpMatchArray & [string, string];
      assert.deepEqual(interfaces.trim().split(/\s+/), ["lo"]);
      await program.stop();
      assert.deepEqual(await program.exited, { code: null, signal: "SIGTERM" });
      const quitter = NamespaceProcess.start(namespace, "sh", ["-c", "echo bye"]);
      await assert.rejects(quitter.waitForOutput(/never printed/, 10_000), /ended before printing/);
    });
  });
});

describe("matter.js controller and matter.js device in a private network", { timeout: 180_000 }, () => {
  let namespace: NetworkNamespace | undefined;
  let device: MatterJsDevice;
  let controller: MatterJsController;
  let secondController: MatterJsController | undefined;
  let peer: MatterJsPeer;
  let secondPeer: MatterJsPeer;

  before(async () => {
    namespace = NetworkNamespace.create(namespaceName("mxs-mj"));
    [device, controller] = await Promise.all([
      MatterJsDevice.start(namespace, { port: 5540, passcode: 20202021, discriminator: 3840 }),
      MatterJsController.start(namespace, { ...sharedTestTrust(), interface: "lo", label: "first controller" }),
    ]);
  });

  after(async () => {
    await Promise.allSettled([secondController?.stop(), controller?.stop(), device?.stop()]);
    await namespace?.delete();
  });

  it("commissions by discriminator alone (DNS-SD), with only the accepted attestation findings", async (t) => {
    peer = await controller.commission({ discriminator: 3840, passcode: 20202021 });
    t.diagnostic(`full commissioning of the matter.js device: ${peer.commissioningMs.toFixed(0)} ms`);
    for (const finding of peer.attestationFindings) assert.ok(ACCEPTED_ATTESTATION_FINDINGS.has(finding.type as DeviceAttestationCheck), finding.type);
    const fabrics = await device.waitForFabrics((list) => list.length === 1);
    assert.equal(fabrics[0]!.label, "first controller");
    assert.equal(fabrics[0]!.nodeId, peer.nodeId);
    assert.equal((await device.state()).commissioned, true);
  });

  it("commissions by address and port", async () => {
    const other = await MatterJsDevice.start(namespace!, { port: 5550, discriminator: 3841, label: "second matter.js device" });
    try {
      const otherPeer = await controller.commission({ address: "127.0.0.1", port: 5550, passcode: 20202021 });
      assert.notEqual(otherPeer.nodeId, peer.nodeId);
      const fabrics = await other.waitForFabrics((list) => list.length === 1);
      assert.equal(fabrics[0]!.nodeId, otherPeer.nodeId);
      const { values } = await otherPeer.read(0, "BasicInformation", ["serialNumber"]);
      assert.equal(values.serialNumber, "MJS-0001");
    } finally {
      await other.stop();
    }
  });

  it("reads Basic Information", async () => {
    const { values, statuses } = await peer.read(0, "BasicInformation", [
      "dataModelRevision",
      "vendorName",
      "vendorId",
      "productName",
      "productId",
      "nodeLabel",
      "hardwareVersion",
      "softwareVersion",
      "serialNumber",
      "uniqueId",
    ]);
    assert.deepEqual(statuses, {});
    assert.equal(values.vendorId, TEST_VENDOR_ID);
    assert.equal(values.productId, TEST_PRODUCT_ID);
    assert.equal(values.vendorName, "matter-xs test");
    assert.equal(values.productName, "matter.js On/Off light");
    assert.equal(values.nodeLabel, "matter.js light");
    assert.equal(values.hardwareVersion, 1);
    assert.equal(values.softwareVersion, 1);
    assert.equal(values.serialNumber, "MJS-0001");
    assert.equal(values.uniqueId, "matter-xs-matterjs-light");
    assert.equal(typeof values.dataModelRevision, "number");
  });

  it("invokes On/Off Toggle and reads the new state back", async () => {
    assert.deepEqual((await peer.read(1, "OnOff", ["onOff"])).values, { onOff: false });
    await peer.invoke(1, "OnOff", "toggle");
    assert.deepEqual((await peer.read(1, "OnOff", ["onOff"])).values, { onOff: true });
    assert.equal((await device.state()).onOff, true);
    await peer.invoke(1, "OnOff", "toggle");
    assert.deepEqual((await peer.read(1, "OnOff", ["onOff"])).values, { onOff: false });
  });

  it("subscribes and receives the priming report, then a report per change", async () => {
    const subscription = await peer.subscribe(1, "OnOff", ["onOff"], { minIntervalSeconds: 0, maxIntervalSeconds: 10 });
    try {
      assert.deepEqual(await subscription.nextReport(), { endpoint: 1, cluster: "OnOff", attribute: "onOff", value: false });
      await peer.invoke(1, "OnOff", "on");
      assert.equal((await subscription.nextReport()).value, true);
      // A change made on the device itself, not by this controller.
      await device.setOnOff(false);
      assert.equal((await subscription.nextReport()).value, false);
    } finally {
      await subscription.close();
    }
  });

  it("reconnects after the device restarts on another port: new CASE session, address from _matter._tcp", async (t) => {
    const before = await peer.sessions();
    assert.equal(before.open.length, 1);
    const old = before.open[0]!;
    assert.match(old.address ?? "", /:5540$/);

    // A power cut: no goodbye, no CloseSession; the device comes back with its fabrics on port 5541.
    await device.restart({ port: 5541, kill: true });
    const started = performance.now();
    const session = await peer.reconnect();
    t.diagnostic(`reconnect after restart: ${(performance.now() - started).toFixed(0)} ms`);
    assert.notEqual(session.id, old.id);
    // The old address is dead; only the operational advertisement says where the device is now.
    assert.match(session.address ?? "", /:5541$/);
    assert.equal((await peer.read(0, "BasicInformation", ["serialNumber"])).values.serialNumber, "MJS-0001");
    const after = await peer.sessions();
    assert.deepEqual(after.open.map((open) => open.id), [session.id]);
    assert.ok(after.closed.some((closed) => closed.id === old.id));
  });

  it("opens an enhanced commissioning window through which a second controller joins", async () => {
    const window = await peer.openCommissioningWindow({ timeoutSeconds: 180 });
    assert.notEqual(window.passcode, 20202021);
    assert.match(window.manualPairingCode, /^\d{11}$/);
    secondController = await MatterJsController.start(namespace!, { ...sharedTestTrust(), interface: "lo", label: "second controller" });
    secondPeer = await secondController.commission({ discriminator: window.discriminator, passcode: window.passcode });
    const fabrics = await device.waitForFabrics((list) => list.length === 2);
    assert.deepEqual(fabrics.map((fabric) => fabric.label).sort(), ["first controller", "second controller"]);
    const both = await Promise.all([peer, secondPeer].map((each) => each.read(0, "OperationalCredentials", ["commissionedFabrics", "currentFabricIndex"])));
    assert.deepEqual(both.map(({ values }) => values.commissionedFabrics), [2, 2]);
    assert.notEqual(both[0]!.values.currentFabricIndex, both[1]!.values.currentFabricIndex);
  });

  it("removes the first fabric: the device ends its sessions and keeps only the second", async () => {
    const ownFabric = (await peer.read(0, "OperationalCredentials", ["currentFabricIndex"])).values.currentFabricIndex;
    // Control: the device answers on the current session before the removal.
    assert.equal((await peer.probeSession(5)).answered, true);
    assert.deepEqual(await peer.removeFabric(), { statusCode: OK, fabricIndex: ownFabric });
    const probe = await peer.probeSession(5);
    assert.equal(probe.answered, false, "the device still answers on a session of the removed fabric");
    assert.deepEqual((await peer.sessions()).open, []);
    const fabrics = await device.waitForFabrics((list) => list.length === 1);
    assert.equal(fabrics[0]!.label, "second controller");
    const { values } = await secondPeer.read(0, "OperationalCredentials", ["commissionedFabrics"]);
    assert.equal(values.commissionedFabrics, 1);
  });
});

describe("attestation policy", () => {
  it("accepts only the test certification type and the trust-store timing finding", () => {
    assert.deepEqual([...ACCEPTED_ATTESTATION_FINDINGS].sort(), [DeviceAttestationCheck.CertificationTypeTest, DeviceAttestationCheck.PaaTrustStoreTimeMismatch].sort());
    for (const check of Object.values(DeviceAttestationCheck)) {
      for (const level of ["error", "warning", "info"] as const) {
        const finding: AttestationFinding = { level, type: check, message: "m" };
        const policy = strictAttestationPolicy();
        if (ACCEPTED_ATTESTATION_FINDINGS.has(check)) assert.equal(policy([finding]), true);
        else assert.throws(() => policy([finding]), (error: unknown) => error instanceof AttestationRejectedError && error.checks.join() === check);
      }
    }
    const seen: AttestationFinding[] = [];
    const mixed: AttestationFinding[] = [
      { level: "info", type: DeviceAttestationCheck.CertificationTypeTest, message: "test CD" },
      { level: "warning", type: DeviceAttestationCheck.CdSignerVerificationSkipped, message: "unknown CD signer" },
    ];
    assert.throws(() => strictAttestationPolicy(seen)(mixed), (error: unknown) => error instanceof AttestationRejectedError && error.checks.join() === "CdSignerVerificationSkipped");
    assert.deepEqual(seen, mixed);
  });
});

describe("attestation against a matter.js device", { timeout: 120_000 }, () => {
  let namespace: NetworkNamespace | undefined;
  const stops: (() => Promise<void>)[] = [];

  before(() => {
    namespace = NetworkNamespace.create(namespaceName("mxs-ma"));
  });

  after(async () => {
    await Promise.allSettled(stops.map((stop) => stop()));
    await namespace?.delete();
  });

  async function startDevice(options: Parameters<typeof MatterJsDevice.start>[1]): Promise<MatterJsDevice> {
    const device = await MatterJsDevice.start(namespace!, options);
    stops.push(() => device.stop());
    return device;
  }

  async function startController(options: Parameters<typeof MatterJsController.start>[1]): Promise<MatterJsController> {
    const controller = await MatterJsController.start(namespace!, options);
    stops.push(() => controller.stop());
    return controller;
  }

  async function refusal(promise: Promise<unknown>): Promise<string | undefined> {
    const error = await promise.then(
      () => assert.fail("commissioning succeeded"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof ChildRequestError, String(error));
    return error.wire.check;
  }

  it("refuses a DAC under a PAA that is not in the store, and accepts it when the PAA is", async () => {
    const foreign = foreignPaaChain();
    const [strict, trusting, refusedDevice, acceptedDevice] = await Promise.all([
      startController({ ...sharedTestTrust(), label: "strict" }),
      startController({ paaCerts: [foreign.paa], cdSigningCerts: sharedTestTrust().cdSigningCerts, label: "trusting" }),
      startDevice({ port: 5560, discriminator: 3850, credentials: foreign.credentials, label: "foreign-PAA device A" }),
      startDevice({ port: 5561, discriminator: 3851, credentials: foreign.credentials, label: "foreign-PAA device B" }),
    ]);
    assert.equal(await refusal(strict.commission({ address: "127.0.0.1", port: 5560, passcode: 20202021 })), DeviceAttestationCheck.PaaNotTrusted);
    assert.deepEqual((await refusedDevice.state()).fabrics, []);

    const accepted = await trusting.commission({ address: "127.0.0.1", port: 5561, passcode: 20202021 });
    for (const finding of accepted.attestationFindings) assert.ok(ACCEPTED_ATTESTATION_FINDINGS.has(finding.type as DeviceAttestationCheck), finding.type);
    assert.equal((await acceptedDevice.waitForFabrics((list) => list.length === 1))[0]!.label, "trusting");
  });

  it("refuses a Certification Declaration signed by a key that is not in the store", async () => {
    const [strict] = await Promise.all([
      startController({ ...sharedTestTrust(), label: "strict CD" }),
      startDevice({ port: 5562, discriminator: 3852, credentials: untrustedCdSignerCredentials(), label: "unknown-CD-signer device" }),
    ]);
    assert.equal(await refusal(strict.commission({ address: "127.0.0.1", port: 5562, passcode: 20202021 })), DeviceAttestationCheck.CdSignerVerificationSkipped);
  });
});
