// The Interaction Model over a real PASE session on UDP loopback: the firmware's secure channel
// stack on the Node platform with the data model and InteractionServer attached, and the
// independent test commissioner (matter.js TLV schemas, Node crypto) as the client.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Status as MatterStatus, TlvDataReport, TlvInvokeRequest, TlvInvokeResponse, TlvReadRequest, TlvStatusResponse, TlvObject, TlvField, TlvUInt16 } from "@matter/types";
import { TestCommissioner } from "./support/commissioner";
import { startDevice, type DeviceUnderTest } from "./support/device";
import { random } from "./support/node-crypto";
import { passcodeToVerifier } from "./support/spake2p-prover";
import { TestPeer, type SecureContext } from "./support/test-peer";
import { AccessControl, NO_ACCESS_CONTROL_ENTRIES } from "../src/interaction/access-control";
import { Opcode } from "../src/interaction/constants";
import { DataModel } from "../src/interaction/model";
import { InteractionServer } from "../src/interaction/server";
import { MemoryAttributeStore } from "../src/interaction/store";
import { BasicInformationAttribute, BasicInformationServer } from "../src/clusters/basic-information";
import { DescriptorServer } from "../src/clusters/descriptor";
import { GeneralDiagnosticsServer } from "../src/clusters/general-diagnostics";
import { IdentifyServer } from "../src/clusters/identify";
import { ClusterId, DeviceTypes } from "../src/clusters/ids";
import { OnOffServer } from "../src/clusters/on-off";

const PASSCODE = 20202021;
const ITERATIONS = 1000;
const IM = 0x0001;
const id = <T>(value: number) => value as unknown as T;

describe("interaction model over PASE on UDP", () => {
  let device: DeviceUnderTest;
  let peer: TestPeer;
  let session: SecureContext;
  let server: InteractionServer;
  let onOff: OnOffServer;
  let commissioning = true;

  beforeEach(async () => {
    device = await startDevice();
    const salt = random(32);
    device.stack.openCommissioningWindow({ ...passcodeToVerifier(PASSCODE, salt, ITERATIONS), salt, iterations: ITERATIONS });
    const model = new DataModel({ clock: device.platform.clock, random: device.stack.random, store: new MemoryAttributeStore() });
    onOff = new OnOffServer();
    model.addEndpoint({
      id: 0,
      deviceTypes: [DeviceTypes.RootNode],
      clusters: [
        new DescriptorServer(),
        new BasicInformationServer({
          identity: { vendorId: 0xfff1, vendorName: "matter-xs", productId: 0x8000, productName: "light", hardwareVersion: 1, hardwareVersionString: "1", serialNumber: "0001" },
          softwareVersion: 1,
          softwareVersionString: "0.1",
          random: device.stack.random,
        }),
        new GeneralDiagnosticsServer(),
      ],
    });
    model.addEndpoint({ id: 1, deviceTypes: [DeviceTypes.OnOffLight], clusters: [new DescriptorServer(), new IdentifyServer(), onOff] });
    model.start();
    commissioning = true;
    server = new InteractionServer({
      exchanges: device.stack.exchanges,
      model,
      accessControl: new AccessControl({ entries: NO_ACCESS_CONTROL_ENTRIES, deviceTypesOn: (endpoint) => model.deviceTypesOn(endpoint) }),
      random: device.stack.random,
      isCommissioning: (s) => commissioning && s.kind === "pase",
    });
    peer = await TestPeer.open();
    session = (await new TestCommissioner(peer, device.endpoint).pase({ passcode: PASSCODE })).session;
  });

  afterEach(() => {
    server.close();
    peer.close();
    device.close();
  });

  it("reads Basic Information, in acknowledged chunks for a wildcard, and answers an invoke outside endpoint 0 with UNSUPPORTED_ACCESS", async () => {
    const reply = await peer.request(session, IM, Opcode.ReadRequest, TlvReadRequest.encode({ attributeRequests: [{ endpointId: id(0), clusterId: id(ClusterId.BasicInformation), attributeId: id(BasicInformationAttribute.VendorId) }], isFabricFiltered: true, interactionModelRevision: 12 }));
    assert.equal(reply.opcode, Opcode.ReportData);
    const report = TlvDataReport.decode(reply.payload);
    assert.equal(report.suppressResponse, true);
    const vendor = report.attributeReports![0]!.attributeData!;
    assert.equal(vendor.path.attributeId, BasicInformationAttribute.VendorId);

    // Everything on endpoint 0: more than one message, each acknowledged with a StatusResponse.
    const exchange = peer.exchange(session);
    exchange.send(IM, Opcode.ReadRequest, TlvReadRequest.encode({ attributeRequests: [{ endpointId: id(0) }], isFabricFiltered: true, interactionModelRevision: 12 }));
    let chunks = 0;
    let attributes = 0;
    for (;;) {
      const message = await exchange.next(5000);
      assert.equal(message.opcode, Opcode.ReportData);
      assert.ok(message.payload.length <= 1024);
      const chunk = TlvDataReport.decode(message.payload);
      chunks++;
      attributes += chunk.attributeReports?.length ?? 0;
      if (!chunk.moreChunkedMessages) break;
      exchange.send(IM, Opcode.StatusResponse, TlvStatusResponse.encode({ status: MatterStatus.Success, interactionModelRevision: 12 }));
    }
    exchange.close();
    assert.ok(chunks >= 2, `${chunks} chunks`);
    assert.ok(attributes > 30, `${attributes} attributes`);

    const toggle = await peer.request(
      session,
      IM,
      Opcode.InvokeRequest,
      TlvInvokeRequest.encode({ suppressResponse: false, timedRequest: false, invokeRequests: [{ commandPath: { endpointId: id(1), clusterId: id(ClusterId.OnOff), commandId: id(2) }, commandFields: TlvObject({}).encodeTlv({}) }], interactionModelRevision: 12 }),
    );
    const outcome = TlvInvokeResponse.decode(toggle.payload).invokeResponses[0]!.status!;
    assert.equal(outcome.status.status, MatterStatus.UnsupportedAccess);
    assert.equal(onOff.onOff, false);

    const identify = await peer.request(
      session,
      IM,
      Opcode.InvokeRequest,
      TlvInvokeRequest.encode({ suppressResponse: false, timedRequest: false, invokeRequests: [{ commandPath: { endpointId: id(0), clusterId: id(ClusterId.Identify), commandId: id(0) }, commandFields: TlvObject({ t: TlvField(0, TlvUInt16) }).encodeTlv({ t: 1 }) }], interactionModelRevision: 12 }),
    );
    assert.equal(TlvInvokeResponse.decode(identify.payload).invokeResponses[0]!.status!.status.status, MatterStatus.UnsupportedCluster, "Identify is on endpoint 1 only");
  });

  it("malformed messages get INVALID_ACTION; the session keeps working; commissioning over means no access", async () => {
    const garbage = await peer.request(session, IM, Opcode.InvokeRequest, new Uint8Array([0x15, 0x28, 0x00, 0x18]));
    assert.equal(garbage.opcode, Opcode.StatusResponse);
    assert.equal(TlvStatusResponse.decode(garbage.payload).status, MatterStatus.InvalidAction);
    const read = () => peer.request(session, IM, Opcode.ReadRequest, TlvReadRequest.encode({ attributeRequests: [{ endpointId: id(0), clusterId: id(ClusterId.BasicInformation), attributeId: id(0) }], isFabricFiltered: true, interactionModelRevision: 12 }));
    assert.ok(TlvDataReport.decode((await read()).payload).attributeReports![0]!.attributeData);
    commissioning = false;
    assert.equal(TlvDataReport.decode((await read()).payload).attributeReports![0]!.attributeStatus!.status.status, MatterStatus.UnsupportedAccess);
  });
});
