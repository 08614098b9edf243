// End to end: the matter.js controller from npm commissions `matter-xs sim` (the firmware on the
// XS engine) inside a private network namespace, with strict attestation against the device's
// own PAA and CD signer and nothing else; then reads, toggles, reconnects after a restart, lets a
// second controller in through OpenCommissioningWindow and removes the first fabric.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readCertificateFile } from "../hosts/cli/keys";
import { Simulator } from "../hosts/sim/simulator";
import { ACCEPTED_ATTESTATION_FINDINGS } from "./support/matterjs/attestation-policy";
import { MatterJsController, type MatterJsPeer } from "./support/matterjs/controller";
import type { DeviceAttestationCheck } from "@matter/protocol";
import { NamespaceProcess } from "./support/matterjs/namespace-process";
import { namespaceName, NetworkNamespace } from "./support/matterjs/netns";

const PASSCODE = 20231107;
const DISCRIMINATOR = 1234;
const READY = /^status: /m;

describe("matter.js commissions the XS simulator", { timeout: 300_000 }, () => {
  const stateDir = mkdtempSync(join(tmpdir(), "matter-xs-e2e-"));
  let namespace: NetworkNamespace | undefined;
  let sim: NamespaceProcess | undefined;
  let controller: MatterJsController | undefined;
  let secondController: MatterJsController | undefined;
  let peer: MatterJsPeer;
  let trust: { paaCerts: Uint8Array[]; cdSigningCerts: Uint8Array[] };

  const startSim = async (): Promise<NamespaceProcess> => {
    const process = NamespaceProcess.start(
      namespace!,
      globalThis.process.execPath,
      ["hosts/cli/matter-xs.mjs", "sim", "--engine", "xs", "--state", stateDir, "--interface", "lo", "--port", "5540"],
      { label: "matter-xs sim" },
    );
    await process.waitForOutput(READY, 60_000);
    return process;
  };

  before(async () => {
    // Provision the identity first (no network needed), so the controller can trust its PAA.
    const simulator = await Simulator.create({ stateDir, passcode: PASSCODE, discriminator: DISCRIMINATOR, log: () => {} });
    const { paaCertificatePath, cdSigningCertificatePath } = simulator.identity;
    assert.ok(paaCertificatePath && cdSigningCertificatePath, "the simulator provisioned its own PAA and CD signer");
    trust = {
      paaCerts: [readCertificateFile(paaCertificatePath, "PAA")],
      cdSigningCerts: [readCertificateFile(cdSigningCertificatePath, "CD signing certificate")],
    };
    namespace = NetworkNamespace.create(namespaceName("mxs-e2e"));
    [sim, controller] = await Promise.all([startSim(), MatterJsController.start(namespace, { ...trust, interface: "lo", label: "first controller" })]);
  });

  after(async () => {
    await Promise.allSettled([secondController?.stop(), controller?.stop(), sim?.stop()]);
    await namespace?.delete();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("commissions by discriminator alone, attestation passing strict checks", async (t) => {
    peer = await controller!.commission({ discriminator: DISCRIMINATOR, passcode: PASSCODE });
    t.diagnostic(`full commissioning of the XS simulator: ${peer.commissioningMs.toFixed(0)} ms`);
    for (const finding of peer.attestationFindings) {
      assert.ok(ACCEPTED_ATTESTATION_FINDINGS.has(finding.type as DeviceAttestationCheck), `attestation finding ${finding.type}`);
    }
  });

  it("reads Basic Information from the factory data", async () => {
    const { values, statuses } = await peer.read(0, "BasicInformation", ["vendorId", "productId", "serialNumber", "softwareVersion", "uniqueId"]);
    assert.deepEqual(statuses, {});
    assert.equal(values.vendorId, 0xfff1);
    assert.equal(values.productId, 0x8000);
    assert.equal(typeof values.serialNumber, "string");
    assert.equal(typeof values.softwareVersion, "number");
  });

  it("toggles On/Off and reads it back", async () => {
    const before = (await peer.read(1, "OnOff", ["onOff"])).values.onOff;
    await peer.invoke(1, "OnOff", "toggle");
    assert.equal((await peer.read(1, "OnOff", ["onOff"])).values.onOff, !before);
  });

  it("reconnects over CASE after the device restarts, and reads again", async () => {
    const onOff = (await peer.read(1, "OnOff", ["onOff"])).values.onOff;
    await sim!.stop();
    sim = await startSim();
    await peer.reconnect();
    assert.equal((await peer.read(1, "OnOff", ["onOff"])).values.onOff, onOff, "the attribute survived the restart");
  });

  it("lets a second controller in through OpenCommissioningWindow", async () => {
    const window = await peer.openCommissioningWindow();
    secondController = await MatterJsController.start(namespace!, { ...trust, interface: "lo", label: "second controller" });
    const second = await secondController.commission({ address: "127.0.0.1", port: 5540, passcode: window.passcode });
    const { values } = await second.read(0, "BasicInformation", ["vendorId"]);
    assert.equal(values.vendorId, 0xfff1);
    const fabrics = await second.read(0, "OperationalCredentials", ["commissionedFabrics"]);
    assert.equal(fabrics.values.commissionedFabrics, 2);
  });

  it("RemoveFabric removes the first fabric and ends its sessions", async () => {
    const ownFabric = (await peer.read(0, "OperationalCredentials", ["currentFabricIndex"])).values.currentFabricIndex;
    assert.equal((await peer.probeSession(5)).answered, true, "the first fabric's session answers before removal");
    assert.deepEqual(await peer.removeFabric(), { statusCode: 0, fabricIndex: ownFabric });
    assert.equal((await peer.probeSession(5)).answered, false, "no answer on a session of the removed fabric");
    assert.deepEqual((await peer.sessions()).open, [], "the device closed the removed fabric's sessions");
  });
});
