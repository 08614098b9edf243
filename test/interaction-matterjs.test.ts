// Differential tests of the Interaction Model codecs against matter.js (@matter/types), the
// controller the device must work with: status codes, requests matter.js encodes decoded by us,
// and every message our server actually sends decoded by matter.js's schemas.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  Status as MatterStatus,
  TlvDataReport,
  TlvInvokeRequest,
  TlvInvokeResponse,
  TlvReadRequest,
  TlvStatusResponse,
  TlvSubscribeRequest,
  TlvSubscribeResponse,
  TlvTimedRequest,
  TlvUInt32,
  TlvString,
  TlvWriteRequest,
  TlvWriteResponse,
  TlvObject,
  TlvField,
} from "@matter/types";
import type { TlvTag, TlvWriter } from "../src/codec/tlv";
import { Opcode, Status } from "../src/interaction/constants";
import {
  decodeInvokeRequest,
  decodeReadRequest,
  decodeStatusResponse,
  decodeSubscribeRequest,
  decodeTimedRequest,
  decodeWriteRequest,
} from "../src/interaction/messages";
import { openPacket } from "./suites/transport-fixtures";
import { TEST_CLUSTER_ID, TestAttribute, TestCommand, makeWorld } from "./suites/im-fixtures";
import { ClusterId } from "../src/clusters/ids";

// matter.js's branded ids are plain numbers at run time.
const id = <T>(value: number) => value as unknown as T;

describe("interaction model codecs against matter.js", () => {
  it("every status code has matter.js's value", () => {
    for (const [name, code] of Object.entries(Status)) {
      if (typeof code !== "number") continue; // the enum's reverse mapping (code → name)
      assert.equal((MatterStatus as unknown as Record<string, number>)[name], code, name);
    }
  });

  it("decodes the requests matter.js encodes", () => {
    const read = decodeReadRequest(
      TlvReadRequest.encode({
        attributeRequests: [{ endpointId: id(1), clusterId: id(6), attributeId: id(0) }, { clusterId: id(0x28) }, {}],
        eventRequests: [{ endpointId: id(0), clusterId: id(0x28), eventId: id(0), isUrgent: true }],
        eventFilters: [{ eventMin: 17n as never }],
        isFabricFiltered: false,
        dataVersionFilters: [{ path: { endpointId: id(1), clusterId: id(6) }, dataVersion: 0xfffffffe }],
        interactionModelRevision: 12,
      }),
    );
    assert.deepEqual(read, {
      attributeRequests: [{ endpoint: 1, cluster: 6, attribute: 0 }, { cluster: 0x28 }, {}],
      eventRequests: [{ endpoint: 0, cluster: 0x28, event: 0, isUrgent: true }],
      eventFilters: [{ eventMin: 17n }],
      isFabricFiltered: false,
      dataVersionFilters: [{ path: { endpoint: 1, cluster: 6 }, dataVersion: 0xfffffffe }],
    });

    const subscribe = decodeSubscribeRequest(
      TlvSubscribeRequest.encode({ keepSubscriptions: true, minIntervalFloorSeconds: 1, maxIntervalCeilingSeconds: 3600, attributeRequests: [{}], eventRequests: [{ isUrgent: true }], isFabricFiltered: true, interactionModelRevision: 12 }),
    );
    assert.deepEqual(subscribe, { keepSubscriptions: true, minIntervalFloor: 1, maxIntervalCeiling: 3600, attributeRequests: [{}], eventRequests: [{ isUrgent: true }], isFabricFiltered: true });

    const write = decodeWriteRequest(
      TlvWriteRequest.encode({
        suppressResponse: false,
        timedRequest: true,
        writeRequests: [
          { path: { endpointId: id(0), clusterId: id(0x28), attributeId: id(5) }, data: TlvString.encodeTlv("hall"), dataVersion: 3 },
          { path: { endpointId: id(0), clusterId: id(0x1f), attributeId: id(0), listIndex: null }, data: TlvUInt32.encodeTlv(9) },
        ],
        moreChunkedMessages: true,
        interactionModelRevision: 12,
      }),
    );
    assert.equal(write.timedRequest, true);
    assert.equal(write.moreChunkedMessages, true);
    assert.deepEqual(write.writeRequests.map((w) => [w.path, w.dataVersion, w.data.value]), [
      [{ endpoint: 0, cluster: 0x28, attribute: 5 }, 3, "hall"],
      [{ endpoint: 0, cluster: 0x1f, attribute: 0, listIndex: null }, undefined, 9],
    ]);

    const Fields = TlvObject({ value: TlvField(0, TlvUInt32) });
    const invoke = decodeInvokeRequest(
      TlvInvokeRequest.encode({
        suppressResponse: false,
        timedRequest: false,
        invokeRequests: [
          { commandPath: { endpointId: id(1), clusterId: id(6), commandId: id(2) }, commandFields: Fields.encodeTlv({ value: 5 }), commandRef: 1 },
          { commandPath: { endpointId: id(0), clusterId: id(0x30), commandId: id(0) }, commandRef: 2 },
        ],
        interactionModelRevision: 12,
      }),
    );
    assert.deepEqual(invoke.invokeRequests.map((c) => [c.path, c.commandRef, c.fields?.type]), [
      [{ endpoint: 1, cluster: 6, command: 2 }, 1, "structure"],
      [{ endpoint: 0, cluster: 0x30, command: 0 }, 2, undefined],
    ]);
    assert.deepEqual(decodeTimedRequest(TlvTimedRequest.encode({ timeout: 4000, interactionModelRevision: 12 })), { timeoutMs: 4000 });
    assert.deepEqual(decodeStatusResponse(TlvStatusResponse.encode({ status: Status.Busy, interactionModelRevision: 12 })), { status: Status.Busy });
  });

  it("every message the server sends decodes with matter.js's schemas", async () => {
    const w = makeWorld();
    w.test.setBigList(30);
    const item = (w2: TlvWriter, tag: TlvTag) => void w2.startArray(tag).startStructure(undefined).utf8(1, "x").bytes(2, new Uint8Array(16)).end().end();
    await w.run(w.client.read({ attributeRequests: [{}, { endpoint: 9, cluster: 6, attribute: 0 }], eventRequests: [{}] }));
    await w.run(w.client.write([{ path: { endpoint: 0, cluster: TEST_CLUSTER_ID, attribute: TestAttribute.FabricItems }, data: item }, { path: { endpoint: 0, cluster: 0x28, attribute: 0x77 }, data: (x, tag) => void x.uint(tag, 1) }]));
    await w.run(
      w.client.invoke([
        { path: { endpoint: 0, cluster: TEST_CLUSTER_ID, command: TestCommand.Big }, fields: (x, tag) => void x.startStructure(tag).uint(0, 960).end(), commandRef: 1 },
        { path: { endpoint: 1, cluster: ClusterId.OnOff, command: 2 }, fields: (x, tag) => void x.startStructure(tag).end(), commandRef: 2 },
        { path: { endpoint: 1, cluster: ClusterId.OnOff, command: 0x77 }, commandRef: 3 },
      ]),
    );
    await w.run(w.client.subscribe({ attributeRequests: [{ endpoint: 1 }], eventRequests: [{}], minIntervalFloor: 0, maxIntervalCeiling: 5 }));
    w.onOff.on();
    await w.clock.advance(6000);
    await w.clock.advance(6000);
    await w.run(w.client.invoke([{ path: { endpoint: 1, cluster: 6, command: 2 } }], { timedFlag: true }));

    const seen = new Map<number, number>();
    for (const packet of w.link.between("device", "controller")) {
      const message = openPacket(packet, false);
      if (message.protocolHeader.protocolId !== 1) continue;
      const opcode = message.protocolHeader.opcode;
      seen.set(opcode, (seen.get(opcode) ?? 0) + 1);
      const schema = {
        [Opcode.ReportData]: TlvDataReport,
        [Opcode.WriteResponse]: TlvWriteResponse,
        [Opcode.InvokeResponse]: TlvInvokeResponse,
        [Opcode.SubscribeResponse]: TlvSubscribeResponse,
        [Opcode.StatusResponse]: TlvStatusResponse,
      }[opcode];
      assert.ok(schema, `unexpected opcode 0x${opcode.toString(16)}`);
      const decoded = (schema as { decode(bytes: Uint8Array): unknown }).decode(message.payload) as { interactionModelRevision?: number };
      assert.equal(decoded.interactionModelRevision, 12);
      assert.ok(message.payload.length <= 1024, `payload of ${message.payload.length} bytes`);
    }
    assert.ok((seen.get(Opcode.ReportData) ?? 0) >= 5, "chunked reads, priming and subscription reports");
    assert.equal(seen.get(Opcode.WriteResponse), 1);
    assert.equal(seen.get(Opcode.InvokeResponse), 2, "a batch response in two chunks");
    assert.equal(seen.get(Opcode.SubscribeResponse), 1);
    assert.ok((seen.get(Opcode.StatusResponse) ?? 0) >= 1);
  });
});
