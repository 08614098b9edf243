// Commissioning the whole device (src/device.ts on the Node platform, UDP on loopback) with the
// tests' own commissioner: PASE, ArmFailSafe, SetRegulatoryConfig, attestation checked against the
// DAC key, the test PAA (openssl verify) and the CD signer (openssl cms), a CSR checked with
// openssl req, AddTrustedRootCertificate, AddNOC, CASE and CommissioningComplete; then what must
// hold afterwards (PASE refused, unknown commands, malformed messages, Operate subjects, restarts,
// factory reset, a second commissioner through OpenCommissioningWindow, RemoveFabric) and the
// fail-safe's expiry reverting AddNOC. Requests and responses go through matter.js's schemas.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Status as MatterStatus, TlvObject, TlvUInt32, TlvInvokeRequest, TlvInvokeResponse, TlvReadRequest, TlvDataReport, TlvStatusResponse } from "@matter/types";
import { AdministratorCommissioning } from "@matter/types/clusters/administrator-commissioning";
import { BasicInformation } from "@matter/types/clusters/basic-information";
import { GroupKeyManagement } from "@matter/types/clusters/group-key-management";
import { NetworkCommissioning } from "@matter/types/clusters/network-commissioning";
import { OnOff } from "@matter/types/clusters/on-off";
import { StatusError, type ControllerIdentity } from "./support/commissioner";
import { startTestDevice, testIdentity, TEST_PASSCODE, type DeviceUnderTest } from "./support/commissioning-device";
import { AccessControlCluster, CommissioningFlow, GeneralCommissioningCluster, OperationalCredentialsCluster, expectOk, publicKeyOfCsr } from "./support/commissioning-flow";
import { ImClient, ImOpcode, ImStatusError, type ClusterModel } from "./support/im-client";
import { random } from "./support/node-crypto";
import { passcodeToVerifier } from "./support/spake2p-prover";
import { SecureChannelStatus } from "./support/status";
import { TestPeer } from "./support/test-peer";
import { sleep } from "./support/device";
import { vectorPath } from "./portable/vectors";

const BasicInformationCluster = BasicInformation as unknown as ClusterModel;
const OnOffCluster = OnOff as unknown as ClusterModel;
const AdministratorCommissioningCluster = AdministratorCommissioning as unknown as ClusterModel;
const GroupKeyManagementCluster = GroupKeyManagement as unknown as ClusterModel;
const NetworkCommissioningCluster = NetworkCommissioning as unknown as ClusterModel;

const FABRIC_A = { fabricId: 0x0000_0000_0000_a11cn, deviceNodeId: 0x0000_0000_0000_d00an, adminNodeId: 0x0000_0000_0001_0001n };
const FABRIC_B = { fabricId: 0x0000_0000_0000_b0b0n, deviceNodeId: 0x0000_0000_0000_d00bn, adminNodeId: 0x0000_0000_0002_0002n, adminVendorId: 0xfff2 };
const OPERATOR_NODE_ID = 0x0000_0000_0001_0077n;
const Privilege = { Operate: 3, Administer: 5 };
const AuthModeCase = 2;
const id = <T>(value: number) => value as unknown as T;

const scratch = mkdtempSync(join(tmpdir(), "matter-xs-commissioning-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function openssl(args: string[]): { status: number | null; output: string } {
  const result = spawnSync("openssl", args, { cwd: scratch, encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function pem(label: string, der: Uint8Array): string {
  const body = Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

async function expectStatusReport(promise: Promise<unknown>, protocolCode: number): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof StatusError, `expected a StatusReport, got ${String(error)}`);
    assert.equal(error.status.protocolCode, protocolCode);
    return true;
  });
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe("commissioning the device with the tests' own commissioner", { concurrency: false }, () => {
  let dut: DeviceUnderTest;
  let peer: TestPeer;
  let flow: CommissioningFlow;
  let admin: ImClient;

  before(async () => {
    dut = await startTestDevice({ directory: join(scratch, "device-a") });
    peer = await TestPeer.open();
  });

  after(() => {
    peer?.close();
    dut?.stop();
  });

  it("commissions step by step: attestation, CSR, root, AddNOC, CASE, CommissioningComplete", async () => {
    const identity = dut.identity;
    assert.deepEqual(dut.device.status().commissioningWindow, { open: true, kind: "basic", takingPase: true });
    flow = new CommissioningFlow(peer, dut.endpoint, FABRIC_A);
    const pase = await flow.openPase(TEST_PASSCODE);
    assert.equal(dut.device.status().commissioningWindow.takingPase, false, "one commissioner at a time");

    // ArmFailSafe and the commissioning info.
    const armed = await flow.armFailSafe(120, 7n);
    assert.deepEqual(armed, { status: 0, response: { errorCode: 0, debugText: "" } });
    assert.equal(BigInt((await flow.pc.read(0, GeneralCommissioningCluster, "breadcrumb")).value), 7n);
    assert.deepEqual((await flow.pc.read(0, GeneralCommissioningCluster, "basicCommissioningInfo")).value, { failSafeExpiryLengthSeconds: 60, maxCumulativeFailsafeSeconds: 900 });

    // SetRegulatoryConfig: Outdoor, country DE; the country lands in Basic Information's Location.
    expectOk(await flow.setRegulatoryConfig(1, "DE", 8n), "SetRegulatoryConfig");
    assert.equal((await flow.pc.read(0, GeneralCommissioningCluster, "regulatoryConfig")).value, 1);
    assert.equal((await flow.pc.read(0, BasicInformationCluster, "location")).value, "DE");
    const outside = await flow.setRegulatoryConfig(3, "DE", 9n);
    assert.equal(outside.response.errorCode, 1, "ValueOutsideRange");

    // Attestation: signature by the DAC over the elements and the PASE attestation challenge.
    const attestation = await flow.attest(identity.dacPublicKey);
    assert.ok(attestation.signatureValid, "AttestationResponse signature verifies with the DAC public key");
    assert.deepEqual(new Uint8Array(attestation.elements.attestationNonce), attestation.nonce);
    assert.deepEqual(new Uint8Array(attestation.elements.certificationDeclaration), identity.certificationDeclaration);
    assert.equal(attestation.elements.timestamp, 0);
    writeFileSync(join(scratch, "cd.der"), attestation.elements.certificationDeclaration);
    const cd = openssl(["cms", "-verify", "-inform", "DER", "-in", "cd.der", "-binary", "-noverify", "-certfile", vectorPath("certification_declaration/Chip-Test-CD-Signing-Cert.pem"), "-out", "cd.content"]);
    assert.equal(cd.status, 0, cd.output);
    // A signature over another challenge must not verify: the challenge is the session's.
    const { verifySignature } = await import("./support/node-crypto");
    assert.ok(!verifySignature(identity.dacPublicKey, attestation.response.attestationElements, attestation.response.attestationSignature));

    // Certificate chain: DAC (1), PAI (2); both chain to the test PAA for openssl; 3 is refused.
    const dac = await flow.certificate(1);
    const pai = await flow.certificate(2);
    assert.deepEqual(dac, identity.dacDer);
    assert.deepEqual(pai, identity.paiDer);
    writeFileSync(join(scratch, "dac.pem"), pem("CERTIFICATE", dac));
    writeFileSync(join(scratch, "pai.pem"), pem("CERTIFICATE", pai));
    const chain = openssl(["verify", "-CAfile", vectorPath("attestation/Chip-Test-PAA-FFF1-Cert.pem"), "-untrusted", "pai.pem", "dac.pem"]);
    assert.equal(chain.status, 0, chain.output);
    assert.equal((await flow.pc.invoke(0, OperationalCredentialsCluster, "certificateChainRequest", { certificateType: 3 })).status, MatterStatus.InvalidCommand);

    // CSR: NOCSR elements signed by the DAC; the CSR itself verifies with openssl.
    const csr = await flow.csr(identity.dacPublicKey);
    assert.ok(csr.signatureValid, "CSRResponse signature verifies with the DAC public key");
    assert.deepEqual(new Uint8Array(csr.elements!.csrNonce), csr.nonce);
    const csrDer = new Uint8Array(csr.elements!.csr);
    writeFileSync(join(scratch, "csr.pem"), pem("CERTIFICATE REQUEST", csrDer));
    const request = openssl(["req", "-in", "csr.pem", "-verify", "-noout", "-pubkey"]);
    assert.equal(request.status, 0, request.output);
    assert.match(request.output, /verify OK|Certificate request self-signature verify OK/);
    const publicKey = publicKeyOfCsr(csrDer);
    const keyFromOpenssl = request.output.match(/-----BEGIN PUBLIC KEY-----([\s\S]+?)-----END PUBLIC KEY-----/)![1]!.replace(/\s+/g, "");
    assert.deepEqual(new Uint8Array(Buffer.from(keyFromOpenssl, "base64")).subarray(-65), publicKey);

    // Root, then AddNOC: the new fabric is pending, seen by the PASE session as its fabric.
    assert.equal((await flow.addTrustedRoot()).status, 0);
    const addNoc = await flow.addNoc(publicKey);
    assert.deepEqual(addNoc.response, { statusCode: 0, fabricIndex: 1 });
    assert.equal((await flow.pc.read(0, OperationalCredentialsCluster, "currentFabricIndex")).value, 1);
    const fabrics = (await flow.pc.read(0, OperationalCredentialsCluster, "fabrics")).value;
    assert.equal(fabrics.length, 1);
    assert.equal(fabrics[0].fabricId, FABRIC_A.fabricId);
    assert.equal(fabrics[0].nodeId, FABRIC_A.deviceNodeId);
    assert.equal(fabrics[0].vendorId, 0xfff1);
    assert.deepEqual(new Uint8Array(fabrics[0].rootPublicKey), flow.authority!.rootPublicKey);
    const roots = (await flow.pc.read(0, OperationalCredentialsCluster, "trustedRootCertificates")).value;
    assert.deepEqual(roots.map((root: Uint8Array) => new Uint8Array(root)), [flow.authority!.rcac]);
    const acl = (await flow.pc.read(0, AccessControlCluster, "acl")).value;
    assert.deepEqual(acl, [{ privilege: Privilege.Administer, authMode: AuthModeCase, subjects: [FABRIC_A.adminNodeId], targets: null, fabricIndex: 1 }]);
    assert.equal(dut.device.status().commissioned, false, "nothing is committed before CommissioningComplete");

    // CASE to the pending fabric, CommissioningComplete over PASE refused, over CASE accepted.
    admin = await flow.openCase();
    assert.equal((await admin.read(0, OperationalCredentialsCluster, "currentFabricIndex")).value, 1);
    const overPase = await flow.pc.invoke(0, GeneralCommissioningCluster, "commissioningComplete");
    assert.equal(overPase.response.errorCode, 2, "InvalidAuthentication over PASE");
    const complete = await flow.commissioningComplete(admin);
    assert.deepEqual(complete.response, { errorCode: 0, debugText: "" });

    const status = dut.device.status();
    assert.equal(status.commissioned, true);
    assert.deepEqual(status.fabrics, [{ fabricIndex: 1, fabricId: "0x000000000000A11C", nodeId: "0x000000000000D00A", vendorId: 0xfff1, label: "" }]);
    assert.equal(status.commissioningWindow.open, false);
    assert.equal(status.failSafeArmed, false);
    assert.deepEqual(status.secureSessions.map((session) => session.kind), ["case"], "the PASE session was cleared");
    assert.equal(BigInt((await admin.read(0, GeneralCommissioningCluster, "breadcrumb")).value), 0n);
    assert.equal((await admin.read(0, GeneralCommissioningCluster, "regulatoryConfig")).value, 1);
    const types = dut.events.map((event) => event.type);
    for (const type of ["commissioning-window-opened", "session-established", "fail-safe-armed", "fabric-added", "commissioning-complete", "commissioning-window-closed"]) assert.ok(types.includes(type as never), `event ${type}`);
    assert.ok(dut.logs.some((entry) => /invoke OperationalCredentials\.addNoc .*success/.test(entry.message)), "commands are logged");
    void pase;
  });

  it("refuses PASE once commissioning is complete: the window is closed", async () => {
    await expectStatusReport(new CommissioningFlow(peer, dut.endpoint, FABRIC_A).openPase(TEST_PASSCODE), SecureChannelStatus.code.invalidParameter);
  });

  it("answers an unknown command with UNSUPPORTED_COMMAND and the device's clusters with matter.js's types", async () => {
    const reply = await admin.raw(
      ImOpcode.InvokeRequest,
      TlvInvokeRequest.encode({
        suppressResponse: false,
        timedRequest: false,
        invokeRequests: [{ commandPath: { endpointId: id(0), clusterId: id(0x30), commandId: id(0x42) }, commandFields: TlvObject({}).encodeTlv({}) }],
        interactionModelRevision: 12,
      }),
    );
    const item = TlvInvokeResponse.decode(reply.payload).invokeResponses[0]!;
    assert.equal(item.status?.status.status, MatterStatus.UnsupportedCommand);
    // Reads of every commissioning attribute decode with matter.js's model types.
    for (const [cluster, attributes] of [
      [GeneralCommissioningCluster, ["breadcrumb", "basicCommissioningInfo", "regulatoryConfig", "locationCapability", "supportsConcurrentConnection"]],
      [OperationalCredentialsCluster, ["nocs", "fabrics", "supportedFabrics", "commissionedFabrics", "trustedRootCertificates", "currentFabricIndex"]],
      [AccessControlCluster, ["acl", "extension", "subjectsPerAccessControlEntry", "targetsPerAccessControlEntry", "accessControlEntriesPerFabric"]],
      [AdministratorCommissioningCluster, ["windowStatus", "adminFabricIndex", "adminVendorId"]],
      [GroupKeyManagementCluster, ["groupKeyMap", "groupTable", "maxGroupsPerFabric", "maxGroupKeysPerFabric"]],
      [NetworkCommissioningCluster, ["maxNetworks", "networks", "interfaceEnabled", "lastNetworkingStatus", "lastNetworkId", "lastConnectErrorValue"]],
    ] as const) {
      for (const attribute of attributes) {
        const outcome = await admin.read(0, cluster, attribute);
        assert.equal(outcome.status, 0, `${cluster.name}.${attribute}`);
      }
    }
    assert.equal((await admin.read(0, OperationalCredentialsCluster, "supportedFabrics")).value, 5);
    assert.equal((await admin.read(0, OperationalCredentialsCluster, "commissionedFabrics")).value, 1);
    const nocs = (await admin.read(0, OperationalCredentialsCluster, "nocs")).value;
    assert.deepEqual(new Uint8Array(nocs[0].icac), flow.authority!.icac);
    const featureMap = TlvDataReport.decode((await admin.raw(ImOpcode.ReadRequest, TlvReadRequest.encode({ attributeRequests: [{ endpointId: id(0), clusterId: id(0x31), attributeId: id(0xfffc) }], isFabricFiltered: true, interactionModelRevision: 12 }))).payload);
    assert.equal(TlvUInt32.decodeTlv(featureMap.attributeReports![0]!.attributeData!.data), 4, "Network Commissioning: the Ethernet feature");
    assert.equal((await admin.read(0, NetworkCommissioningCluster, "networks")).value.length, 1);
    const keySets = await admin.invoke(0, GroupKeyManagementCluster, "keySetReadAllIndices", {});
    assert.deepEqual(keySets.response, { groupKeySetIDs: [0] });
    const ipk = await admin.invoke(0, GroupKeyManagementCluster, "keySetRead", { groupKeySetId: 0 });
    assert.equal(ipk.response.groupKeySet.epochKey0, null, "the IPK is never read back");
  });

  it("answers malformed IM messages with INVALID_ACTION without disturbing other sessions", async () => {
    const operator = await operatorClient();
    const garbage = await admin.raw(ImOpcode.InvokeRequest, new Uint8Array([0x15, 0x28, 0x00, 0x18]));
    assert.equal(garbage.opcode, ImOpcode.StatusResponse);
    assert.equal(TlvStatusResponse.decode(garbage.payload).status, MatterStatus.InvalidAction);
    const truncated = await admin.raw(ImOpcode.ReadRequest, new Uint8Array([0x15, 0x36, 0x00]));
    assert.equal(TlvStatusResponse.decode(truncated.payload).status, MatterStatus.InvalidAction);
    const unknownOpcode = await admin.raw(0x77, new Uint8Array([0x15, 0x18]));
    assert.equal(TlvStatusResponse.decode(unknownOpcode.payload).status, MatterStatus.InvalidAction);
    // Both sessions still work.
    assert.equal((await admin.read(0, BasicInformationCluster, "vendorId")).value, 0xfff1);
    assert.equal((await operator.read(1, OnOffCluster, "onOff")).status, 0);
    const report = TlvDataReport.decode((await admin.raw(ImOpcode.ReadRequest, TlvReadRequest.encode({ attributeRequests: [{ endpointId: id(0), clusterId: id(0x28), attributeId: id(1) }], isFabricFiltered: true, interactionModelRevision: 12 }))).payload);
    assert.equal(report.attributeReports?.length, 1);
  });

  let operatorIdentity: ControllerIdentity | undefined;
  async function operatorClient(): Promise<ImClient> {
    if (!operatorIdentity) {
      const write = await admin.write(0, AccessControlCluster, "acl", [
        { privilege: Privilege.Administer, authMode: AuthModeCase, subjects: [FABRIC_A.adminNodeId], targets: null, fabricIndex: 1 },
        { privilege: Privilege.Operate, authMode: AuthModeCase, subjects: [OPERATOR_NODE_ID], targets: null, fabricIndex: 1 },
      ]);
      assert.equal(write.status, 0);
      const authority = flow.authority!;
      operatorIdentity = { authority, credentials: await authority.issue(OPERATOR_NODE_ID), resumption: new Map() };
    }
    return flow.openCase(operatorIdentity);
  }

  it("an Operate subject controls the light but cannot write the ACL or remove a fabric", async () => {
    const operator = await operatorClient();
    assert.equal((await operator.invoke(1, OnOffCluster, "toggle")).status, 0);
    assert.equal(dut.device.status().onOff, true);
    const write = await operator.write(0, AccessControlCluster, "acl", [{ privilege: Privilege.Administer, authMode: AuthModeCase, subjects: [OPERATOR_NODE_ID], targets: null, fabricIndex: 1 }]);
    assert.equal(write.status, MatterStatus.UnsupportedAccess);
    assert.equal((await operator.read(0, AccessControlCluster, "acl")).status, MatterStatus.UnsupportedAccess);
    const remove = await operator.invoke(0, OperationalCredentialsCluster, "removeFabric", { fabricIndex: 1 });
    assert.equal(remove.status, MatterStatus.UnsupportedAccess);
    assert.equal((await operator.invoke(0, GeneralCommissioningCluster, "armFailSafe", { expiryLengthSeconds: 10, breadcrumb: 0n })).status, MatterStatus.UnsupportedAccess);
    assert.equal(dut.device.status().fabrics.length, 1);
    // The administrator's view of the ACL is unchanged: both entries.
    assert.equal((await admin.read(0, AccessControlCluster, "acl")).value.length, 2);
    // Writes are validated: PASE auth mode, too many subjects, a group holding Administer.
    for (const invalid of [
      { privilege: Privilege.Operate, authMode: 1, subjects: null, targets: null, fabricIndex: 1 },
      { privilege: Privilege.Operate, authMode: AuthModeCase, subjects: [1n, 2n, 3n, 4n, 5n], targets: null, fabricIndex: 1 },
      { privilege: Privilege.Administer, authMode: 3, subjects: [7n], targets: null, fabricIndex: 1 },
      { privilege: Privilege.Operate, authMode: AuthModeCase, subjects: null, targets: [{ cluster: null, endpoint: null, deviceType: null }], fabricIndex: 1 },
    ]) {
      const outcome = await admin.write(0, AccessControlCluster, "acl", [{ privilege: Privilege.Administer, authMode: AuthModeCase, subjects: [FABRIC_A.adminNodeId], targets: null, fabricIndex: 1 }, invalid]);
      assert.equal(outcome.status, MatterStatus.ConstraintError, JSON.stringify(invalid, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
    }
  });

  it("fail-safe rules: commands need it armed; CASE may not arm it while a window is open", async () => {
    const noFailSafe = await admin.invoke(0, GeneralCommissioningCluster, "commissioningComplete");
    assert.equal(noFailSafe.response.errorCode, 3, "NoFailSafe");
    const csr = await admin.invoke(0, OperationalCredentialsCluster, "csrRequest", { csrNonce: random(32) });
    assert.equal(csr.status, MatterStatus.FailsafeRequired);
    const root = await admin.invoke(0, OperationalCredentialsCluster, "addTrustedRootCertificate", { rootCaCertificate: flow.authority!.rcac });
    assert.equal(root.status, MatterStatus.FailsafeRequired);
    // The administrator arms, then disarms with 0 (nothing pending: nothing changes).
    expectOk(await flow.armFailSafe(30, 5n, admin), "ArmFailSafe over CASE");
    expectOk(await flow.armFailSafe(0, 6n, admin), "ArmFailSafe(0)");
    assert.equal(dut.device.status().failSafeArmed, false);
    // With a window open and nothing armed, a CASE session may not arm it.
    dut.device.openCommissioningWindow(180);
    const busy = await flow.armFailSafe(30, 0n, admin);
    assert.equal(busy.response.errorCode, 4, "BusyWithOtherAdmin");
    assert.equal(dut.device.control({ op: "close-commissioning-window" }) !== undefined, true);
    assert.equal(dut.device.status().commissioningWindow.open, false);
  });

  it("OpenCommissioningWindow with a new verifier lets a second commissioner in", async () => {
    const passcode = 34567891;
    const salt = random(24);
    const { w0, L } = passcodeToVerifier(passcode, salt, 2000);
    const request = { commissioningTimeout: 300, pakePasscodeVerifier: new Uint8Array([...w0, ...L]), discriminator: 1234, iterations: 2000, salt };
    const untimed = await admin.invoke(0, AdministratorCommissioningCluster, "openCommissioningWindow", request);
    assert.equal(untimed.status, MatterStatus.NeedsTimedInteraction);
    const badVerifier = await admin.invoke(0, AdministratorCommissioningCluster, "openCommissioningWindow", { ...request, pakePasscodeVerifier: w0 }, { timedMs: 2000 });
    assert.deepEqual([badVerifier.status, badVerifier.clusterStatus], [MatterStatus.Failure, 3], "PAKEParameterError");
    const tooShort = await admin.invoke(0, AdministratorCommissioningCluster, "openCommissioningWindow", { ...request, commissioningTimeout: 60 }, { timedMs: 2000 });
    assert.equal(tooShort.status, MatterStatus.InvalidCommand);
    assert.equal((await admin.invoke(0, AdministratorCommissioningCluster, "openCommissioningWindow", request, { timedMs: 2000 })).status, 0);
    const again = await admin.invoke(0, AdministratorCommissioningCluster, "openCommissioningWindow", request, { timedMs: 2000 });
    assert.deepEqual([again.status, again.clusterStatus], [MatterStatus.Failure, 2], "Busy");
    assert.equal((await admin.read(0, AdministratorCommissioningCluster, "windowStatus")).value, 1);
    assert.equal((await admin.read(0, AdministratorCommissioningCluster, "adminFabricIndex")).value, 1);
    assert.equal((await admin.read(0, AdministratorCommissioningCluster, "adminVendorId")).value, 0xfff1);
    assert.ok(dut.events.some((event) => event.type === "commissioning-window-opened" && event.kind === "enhanced" && event.discriminator === 1234));

    // The factory passcode does not open this window; the new one does.
    const peerB = await TestPeer.open();
    try {
      await assert.rejects(new CommissioningFlow(peerB, dut.endpoint, FABRIC_B).openPase(TEST_PASSCODE));
      const second = new CommissioningFlow(peerB, dut.endpoint, FABRIC_B);
      const adminB = await second.run(passcode, dut.identity.dacPublicKey);
      assert.equal(second.fabricIndex, 2);
      assert.equal((await adminB.read(0, OperationalCredentialsCluster, "commissionedFabrics")).value, 2);
      assert.equal((await admin.read(0, AdministratorCommissioningCluster, "windowStatus")).value, 0);
      // Fabric-filtered reads show each administrator its own fabric; unfiltered, both.
      assert.deepEqual((await adminB.read(0, OperationalCredentialsCluster, "fabrics")).value.map((f: { fabricIndex: number }) => f.fabricIndex), [2]);
      const all = (await adminB.read(0, OperationalCredentialsCluster, "fabrics", { fabricFiltered: false })).value;
      assert.deepEqual(all.map((f: { fabricIndex: number; vendorId: number }) => [f.fabricIndex, f.vendorId]), [[1, 0xfff1], [2, 0xfff2]]);
      const nocsUnfiltered = (await adminB.read(0, OperationalCredentialsCluster, "nocs", { fabricFiltered: false })).value;
      assert.equal(nocsUnfiltered.find((n: { fabricIndex: number }) => n.fabricIndex === 1).noc, undefined, "another fabric's NOC is fabric-sensitive");
      // The fail-safe belongs to one fabric: another fabric's administrator is told it is busy.
      expectOk(await second.armFailSafe(30, 1n, adminB), "ArmFailSafe by fabric 2");
      assert.equal((await flow.armFailSafe(30, 1n, admin)).response.errorCode, 4, "BusyWithOtherAdmin");
      assert.equal((await admin.invoke(0, GeneralCommissioningCluster, "commissioningComplete")).response.errorCode, 2, "InvalidAuthentication: not the fail-safe's fabric");
      const windowWhileArmed = await admin.invoke(0, AdministratorCommissioningCluster, "openBasicCommissioningWindow", { commissioningTimeout: 180 }, { timedMs: 2000 });
      assert.deepEqual([windowWhileArmed.status, windowWhileArmed.clusterStatus], [MatterStatus.Failure, 2], "Busy while a fail-safe is armed");
      expectOk(await second.armFailSafe(0, 2n, adminB), "ArmFailSafe(0) by fabric 2");
      // Labels are unique across fabrics.
      assert.deepEqual((await admin.invoke(0, OperationalCredentialsCluster, "updateFabricLabel", { label: "kitchen" })).response, { statusCode: 0, fabricIndex: 1 });
      assert.equal((await adminB.invoke(0, OperationalCredentialsCluster, "updateFabricLabel", { label: "kitchen" })).response.statusCode, 10, "LabelConflict");

      // RemoveFabric(2) from fabric 1: fabric 2's session ends, and its CASE no longer finds a root.
      const sessionsBefore = dut.device.status().secureSessions.filter((session) => session.fabricIndex === 2);
      assert.equal(sessionsBefore.length, 1);
      const removed = await admin.invoke(0, OperationalCredentialsCluster, "removeFabric", { fabricIndex: 2 });
      assert.deepEqual(removed.response, { statusCode: 0, fabricIndex: 2 });
      await until(() => dut.device.status().secureSessions.every((session) => session.fabricIndex !== 2), "fabric 2's sessions to end");
      await assert.rejects(adminB.read(0, BasicInformationCluster, "vendorId"), "the removed fabric's session carries nothing");
      await expectStatusReport(second.openCase(), SecureChannelStatus.code.noSharedTrustRoots);
      assert.equal((await admin.invoke(0, OperationalCredentialsCluster, "removeFabric", { fabricIndex: 2 })).response.statusCode, 11, "InvalidFabricIndex");
      assert.deepEqual(dut.device.status().fabrics.map((fabric) => fabric.fabricIndex), [1]);
      assert.ok(dut.events.some((event) => event.type === "fabric-removed" && event.fabricIndex === 2));
    } finally {
      peerB.close();
    }
  });

  it("keeps the commissioning across a restart (directory store) and the light's state", async () => {
    assert.equal(dut.device.status().onOff, true);
    assert.equal((await admin.write(0, BasicInformationCluster, "location", "CH")).status, 0);
    dut.stop();
    peer.close();
    dut = await startTestDevice({ directory: join(scratch, "device-a"), identity: dut.identity });
    peer = await TestPeer.open();
    const status = dut.device.status();
    assert.equal(status.commissioned, true);
    assert.deepEqual(status.fabrics.map((fabric) => [fabric.fabricIndex, fabric.label]), [[1, "kitchen"]]);
    assert.equal(status.commissioningWindow.open, false, "a commissioned device does not open a window at boot");
    assert.equal(status.onOff, true);
    flow = Object.assign(new CommissioningFlow(peer, dut.endpoint, FABRIC_A), { authority: flow.authority, controller: flow.controller });
    admin = await flow.openCase();
    assert.equal((await admin.read(0, BasicInformationCluster, "location")).value, "CH");
    assert.equal((await admin.read(0, AccessControlCluster, "acl")).value.length, 2);
    assert.equal((await admin.read(1, OnOffCluster, "onOff")).value, true);
    await expectStatusReport(new CommissioningFlow(peer, dut.endpoint, FABRIC_A).openPase(TEST_PASSCODE), SecureChannelStatus.code.invalidParameter);
  });

  it("RemoveFabric of the last fabric over its own session: the response arrives, then the session ends and the device is commissionable", async () => {
    // A read sent the moment the response arrives, before it is acknowledged (the session is
    // still alive then): the device serves nothing more on a session it is about to end.
    let probe: Promise<unknown> | undefined;
    const removed = await admin.invoke(0, OperationalCredentialsCluster, "removeFabric", { fabricIndex: 1 }, { onResponse: () => (probe = new ImClient(admin.peer, admin.session, 1500).read(0, BasicInformationCluster, "vendorId")) });
    assert.deepEqual(removed.response, { statusCode: 0, fabricIndex: 1 });
    await assert.rejects(probe!, /no message|never acknowledged/);
    await until(() => dut.device.status().secureSessions.length === 0, "the session to end");
    assert.equal(dut.device.status().commissioningWindow.open, true);
    await expectStatusReport(flow.openCase(), SecureChannelStatus.code.noSharedTrustRoots);
  });

  it("factory reset erases fabrics, keys and ACLs and reopens commissioning", async () => {
    const again = new CommissioningFlow(peer, dut.endpoint, FABRIC_A);
    admin = await again.run(TEST_PASSCODE, dut.identity.dacPublicKey);
    assert.equal(dut.device.status().commissioned, true);
    const keysBefore = dut.platform.storage.keys("");
    assert.ok(keysBefore.some((key) => key.startsWith("f/")) && keysBefore.some((key) => key.startsWith("acl/")));
    const counterBefore = dut.platform.storage.get("rdi.counter");
    dut.device.factoryReset();
    const status = dut.device.status();
    assert.equal(status.commissioned, false);
    assert.equal(status.commissioningWindow.open, true);
    assert.equal(status.onOff, false);
    const keysAfter = dut.platform.storage.keys("");
    assert.ok(!keysAfter.some((key) => key.startsWith("f/") || key.startsWith("acl/") || key === "reg"), `left: ${keysAfter.join(", ")}`);
    assert.ok(dut.events.some((event) => event.type === "factory-reset"));
    // The rotating device id keeps counting (its values never repeat), and went one further for the new window.
    assert.equal(dut.platform.storage.get("rdi.counter")![0], counterBefore![0]! + 1);
    await expectStatusReport(again.openCase(), SecureChannelStatus.code.noSharedTrustRoots);
    const fresh = new CommissioningFlow(peer, dut.endpoint, FABRIC_B);
    await fresh.run(TEST_PASSCODE, dut.identity.dacPublicKey);
    assert.equal(fresh.fabricIndex, 1, "fabric indices start over after a reset");
  });
});

describe("UpdateNOC and BLE", { concurrency: false }, () => {
  it("UpdateNOC gives the node a new NOC under the fail-safe: CASE uses it at once, CommissioningComplete keeps it, expiry reverts it", async () => {
    const dut = await startTestDevice({ identity: testIdentity() });
    const peer = await TestPeer.open();
    try {
      const flow = new CommissioningFlow(peer, dut.endpoint, FABRIC_A);
      const admin = await flow.run(TEST_PASSCODE, dut.identity.dacPublicKey);
      const update = async (client: ImClient, nodeId: bigint) => {
        expectOk(await flow.armFailSafe(2, 1n, client), "ArmFailSafe");
        const csr = await client.invoke(0, OperationalCredentialsCluster, "csrRequest", { csrNonce: random(32), isForUpdateNoc: true });
        const elements = (csr.response as { nocsrElements: Uint8Array }).nocsrElements;
        const key = publicKeyOfCsr(new Uint8Array(elements));
        assert.equal((await client.invoke(0, OperationalCredentialsCluster, "addTrustedRootCertificate", { rootCaCertificate: flow.authority!.rcac })).status, 0);
        return { key, noc: await flow.authority!.issueForKey(key, nodeId) };
      };
      // AddTrustedRootCertificate in the same fail-safe rules UpdateNOC out.
      const refused = await update(admin, 0xd00cn);
      assert.equal((await admin.invoke(0, OperationalCredentialsCluster, "updateNoc", { nocValue: refused.noc, icacValue: flow.authority!.icac })).status, MatterStatus.ConstraintError);
      expectOk(await flow.armFailSafe(0, 1n, admin), "ArmFailSafe(0)");

      expectOk(await flow.armFailSafe(30, 1n, admin), "ArmFailSafe");
      const csr = await admin.invoke(0, OperationalCredentialsCluster, "csrRequest", { csrNonce: random(32), isForUpdateNoc: true });
      const key = publicKeyOfCsr(new Uint8Array((csr.response as { nocsrElements: Uint8Array }).nocsrElements));
      const updated = await admin.invoke(0, OperationalCredentialsCluster, "updateNoc", { nocValue: await flow.authority!.issueForKey(key, 0xd00cn), icacValue: flow.authority!.icac });
      assert.deepEqual(updated.response, { statusCode: 0, fabricIndex: 1 });
      const renamed = new CommissioningFlow(peer, dut.endpoint, { ...FABRIC_A, deviceNodeId: 0xd00cn });
      Object.assign(renamed, { authority: flow.authority, controller: flow.controller });
      const client = await renamed.openCase();
      expectOk(await renamed.commissioningComplete(client), "CommissioningComplete after UpdateNOC");
      assert.equal(dut.device.status().fabrics[0]!.nodeId, "0x000000000000D00C");
      await expectStatusReport(flow.openCase(), SecureChannelStatus.code.noSharedTrustRoots);

      // Again, but the fail-safe expires: the node id goes back to 0xD00C.
      expectOk(await flow.armFailSafe(2, 1n, client), "ArmFailSafe");
      const csr2 = await client.invoke(0, OperationalCredentialsCluster, "csrRequest", { csrNonce: random(32), isForUpdateNoc: true });
      const key2 = publicKeyOfCsr(new Uint8Array((csr2.response as { nocsrElements: Uint8Array }).nocsrElements));
      expectOk(await client.invoke(0, OperationalCredentialsCluster, "updateNoc", { nocValue: await flow.authority!.issueForKey(key2, 0xd00dn), icacValue: flow.authority!.icac }), "UpdateNOC");
      await until(() => dut.events.some((event) => event.type === "fail-safe-expired" && event.reason === "timeout"), "the fail-safe to expire", 6000);
      assert.equal(dut.device.status().fabrics[0]!.nodeId, "0x000000000000D00C");
      const again = await renamed.openCase();
      assert.equal((await again.read(0, OperationalCredentialsCluster, "currentFabricIndex")).value, 1);
    } finally {
      peer.close();
      dut.stop();
    }
  });

  it("advertises over BLE while the window is open, and stops once commissioned", async () => {
    const { SimulatedBleCentral } = await import("../hosts/sim/platform/ble-link");
    const { decodeBleServiceData } = await import("../src/discovery/ble-advertisement");
    const dut = await startTestDevice({ identity: testIdentity(), ble: true });
    const peer = await TestPeer.open();
    try {
      const blePort = await dut.node.ble!.ready;
      const data = await SimulatedBleCentral.scan(blePort);
      assert.ok(data, "advertising");
      assert.deepEqual(decodeBleServiceData(data), { opcode: 0, discriminator: 3840, version: 0, vendorId: 0xfff1, productId: 0x8000, additionalData: true });
      await new CommissioningFlow(peer, dut.endpoint, FABRIC_A).run(TEST_PASSCODE, dut.identity.dacPublicKey);
      assert.equal(await SimulatedBleCentral.scan(blePort), undefined, "no advertisement once commissioned");
      const onboarding = dut.device.control({ op: "onboarding" }) as { qrCode: string; manualCode: string; passcode: number };
      assert.equal(onboarding.passcode, TEST_PASSCODE);
      assert.match(onboarding.qrCode, /^MT:/);
      const { decodeQrPayload } = await import("../src/discovery/onboarding");
      const payload = decodeQrPayload(onboarding.qrCode);
      assert.equal(payload.rendezvousInformation, 0b110, "BLE and on-network");
      assert.equal(payload.discriminator, 3840);
    } finally {
      peer.close();
      dut.stop();
    }
  });
});

describe("fail-safe expiry", { concurrency: false }, () => {
  it("reverts AddNOC: the fabric is gone, CASE to it fails with NoSharedTrustRoots, PASE ends and the window takes commissioners again", async () => {
    const dut = await startTestDevice({ identity: testIdentity() });
    const peer = await TestPeer.open();
    try {
      const flow = new CommissioningFlow(peer, dut.endpoint, FABRIC_A);
      await flow.openPase(TEST_PASSCODE);
      expectOk(await flow.armFailSafe(2), "ArmFailSafe");
      expectOk(await flow.setRegulatoryConfig(0, "FR"), "SetRegulatoryConfig");
      const csr = await flow.csr(dut.identity.dacPublicKey);
      assert.equal((await flow.addTrustedRoot()).status, 0);
      expectOk(await flow.addNoc(publicKeyOfCsr(new Uint8Array(csr.elements!.csr))), "AddNOC");
      const client = await flow.openCase();
      assert.equal((await client.read(0, OperationalCredentialsCluster, "currentFabricIndex")).value, 1, "CASE reaches the pending fabric");
      assert.equal((await client.read(0, GeneralCommissioningCluster, "regulatoryConfig")).value, 0);
      await until(() => dut.events.some((event) => event.type === "fail-safe-expired"), "the fail-safe to expire", 6000);
      const expired = dut.events.find((event) => event.type === "fail-safe-expired")!;
      assert.deepEqual(expired, { type: "fail-safe-expired", reason: "timeout", revertedFabricIndex: 1 });
      const status = dut.device.status();
      assert.deepEqual(status.fabrics, []);
      assert.deepEqual(status.secureSessions, [], "the PASE session and the pending fabric's CASE session are gone");
      assert.deepEqual(status.commissioningWindow, { open: true, kind: "basic", takingPase: true });
      await expectStatusReport(flow.openCase(), SecureChannelStatus.code.noSharedTrustRoots);
      assert.deepEqual(dut.platform.storage.keys("f/"), []);
      assert.deepEqual(dut.platform.storage.keys("acl/"), []);
      assert.equal(dut.platform.storage.get("reg"), undefined, "the regulatory change was pending too");
      // A new commissioner gets in; the reverted regulatory config is the default again.
      const next = new CommissioningFlow(peer, dut.endpoint, FABRIC_B);
      const adminB = await next.run(TEST_PASSCODE, dut.identity.dacPublicKey);
      assert.equal((await adminB.read(0, GeneralCommissioningCluster, "regulatoryConfig")).value, 2);
      assert.equal(next.fabricIndex, 1, "nothing of the reverted fabric remains, its index included (as after a restart)");
    } finally {
      peer.close();
      dut.stop();
    }
  });

  it("ArmFailSafe(0) expires it at once; AddNOC twice in one fail-safe is a CONSTRAINT_ERROR", async () => {
    const dut = await startTestDevice({ identity: testIdentity() });
    const peer = await TestPeer.open();
    try {
      const flow = new CommissioningFlow(peer, dut.endpoint, FABRIC_A);
      await flow.openPase(TEST_PASSCODE);
      expectOk(await flow.armFailSafe(60), "ArmFailSafe");
      const csr = await flow.csr(dut.identity.dacPublicKey);
      const key = publicKeyOfCsr(new Uint8Array(csr.elements!.csr));
      assert.equal((await flow.addNoc(key)).response.statusCode, 3, "InvalidNOC without a trusted root");
      assert.equal((await flow.addTrustedRoot()).status, 0);
      assert.equal((await flow.addTrustedRoot()).status, MatterStatus.ConstraintError, "one root per fail-safe");
      expectOk(await flow.addNoc(key), "AddNOC");
      assert.equal((await flow.addNoc(key)).status, MatterStatus.ConstraintError);
      expectOk(await flow.armFailSafe(0), "ArmFailSafe(0)");
      await until(() => dut.device.status().secureSessions.length === 0, "the PASE session to end");
      assert.deepEqual(dut.device.status().fabrics, []);
      assert.equal(dut.device.status().failSafeArmed, false);
    } finally {
      peer.close();
      dut.stop();
    }
  });
});
