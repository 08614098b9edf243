// Interaction Model message codecs against TLV built by hand from the spec's tag tables
// (Matter Core 1.4, 10.6 and 10.7), on Node and XS. Every byte string below is written out from
// the layout: 15 = anonymous structure, 35/36/37 = structure/array/list with a context tag,
// 24/25/26 = uint8/16/32, 28/29 = false/true, 2c = UTF-8 string, 18 = end of container.
import { suite, equal, deepEqual, bytesEqual, ok, throws, fromHex } from "../portable/harness";
import {
  ImMessageError,
  attributeDataItem,
  attributeStatusItem,
  commandResponseItem,
  commandStatusItem,
  decodeAttributePath,
  decodeInvokeRequest,
  decodeInvokeResponse,
  decodeReadRequest,
  decodeReportData,
  decodeStatusResponse,
  decodeSubscribeRequest,
  decodeSubscribeResponse,
  decodeTimedRequest,
  decodeWriteRequest,
  decodeWriteResponse,
  encodeInvokeRequest,
  encodeInvokeResponse,
  encodeReadRequest,
  encodeReportData,
  encodeStatusResponse,
  encodeSubscribeRequest,
  encodeSubscribeResponse,
  encodeTimedRequest,
  encodeWriteRequest,
  encodeWriteResponse,
  eventDataItem,
} from "../../src/interaction/messages";
import { Status } from "../../src/interaction/constants";
import { decodeTlv } from "../../src/codec/tlv";

const REVISION = "24ff0c"; // InteractionModelRevision 12 (Matter 1.4)
const ONOFF_PATH = "2402012403062404 00".replace(/ /g, ""); // endpoint 1, cluster 6, attribute 0

const READ_ONOFF = `15 3600 17${ONOFF_PATH}18 18 2903 ${REVISION} 18`;
const WRITE_NODE_LABEL = `15 2801 3602 15 3701 240200 240328 240405 18 2c0207 6b69746368656e 18 18 ${REVISION} 18`;
const INVOKE_TOGGLE = `15 2800 2801 3602 15 3700 240001 240106 240202 18 3501 18 18 18 ${REVISION} 18`;
const SUBSCRIBE_ALL = `15 2800 240100 24023c 3603 17 18 18 3604 17 18 18 2907 ${REVISION} 18`;
const TIMED_500 = `15 2500f401 ${REVISION} 18`;

function hex(text: string): Uint8Array {
  return fromHex(text.replace(/\s/g, ""));
}

function throwsInvalid(fn: () => unknown, pattern?: RegExp | string): void {
  const error = throws(fn, pattern);
  ok(error instanceof ImMessageError, `expected ImMessageError, got ${error.name}: ${error.message}`);
}

export default suite("interaction model messages", (test) => {
  test("StatusResponse", () => {
    bytesEqual(encodeStatusResponse(Status.UnsupportedAccess), hex(`15 24007e ${REVISION} 18`));
    deepEqual(decodeStatusResponse(hex(`15 240086 ${REVISION} 18`)), { status: 0x86 });
    deepEqual(decodeStatusResponse(hex("15 240000 18")), { status: 0 }, "the revision is optional on receipt");
  });

  test("ReadRequest of one concrete attribute, fabric-filtered", () => {
    const decoded = decodeReadRequest(hex(READ_ONOFF));
    deepEqual(decoded, { isFabricFiltered: true, attributeRequests: [{ endpoint: 1, cluster: 6, attribute: 0 }] });
    bytesEqual(encodeReadRequest(decoded), hex(READ_ONOFF));
  });

  test("ReadRequest with wildcards, flags, event paths, event filter and data version filter", () => {
    const request = {
      attributeRequests: [{ cluster: 0x28 }, { endpoint: 0, wildcardPathFlags: 0x1 }],
      eventRequests: [{ endpoint: 0, cluster: 0x28, event: 0, isUrgent: true }],
      eventFilters: [{ eventMin: 5n }],
      isFabricFiltered: false,
      dataVersionFilters: [{ path: { endpoint: 0, cluster: 0x28 }, dataVersion: 0xdeadbeef }],
    };
    const expected = hex(
      `15 3600 17 240328 18 17 240200 240601 18 18` +
        `3601 17 240100 240228 240300 290418 18` +
        `3602 15 240105 18 18` +
        `2803` +
        `3604 15 3700 240100 240228 18 2601efbeadde 18 18 ${REVISION} 18`,
    );
    bytesEqual(encodeReadRequest(request), expected);
    deepEqual(decodeReadRequest(expected), request);
  });

  test("SubscribeRequest for everything", () => {
    const decoded = decodeSubscribeRequest(hex(SUBSCRIBE_ALL));
    deepEqual(decoded, { keepSubscriptions: false, minIntervalFloor: 0, maxIntervalCeiling: 60, attributeRequests: [{}], eventRequests: [{}], isFabricFiltered: true });
    bytesEqual(encodeSubscribeRequest(decoded), hex(SUBSCRIBE_ALL));
  });

  test("SubscribeResponse", () => {
    const bytes = hex(`15 2600efbeadde 24023c ${REVISION} 18`);
    bytesEqual(encodeSubscribeResponse({ subscriptionId: 0xdeadbeef, maxInterval: 60 }), bytes);
    deepEqual(decodeSubscribeResponse(bytes), { subscriptionId: 0xdeadbeef, maxInterval: 60 });
  });

  test("WriteRequest of NodeLabel", () => {
    const decoded = decodeWriteRequest(hex(WRITE_NODE_LABEL));
    equal(decoded.timedRequest, false);
    equal(decoded.writeRequests.length, 1);
    deepEqual(decoded.writeRequests[0]!.path, { endpoint: 0, cluster: 0x28, attribute: 5 });
    equal(decoded.writeRequests[0]!.data.value, "kitchen");
    bytesEqual(encodeWriteRequest({ timedRequest: false, writeRequests: [{ path: { endpoint: 0, cluster: 0x28, attribute: 5 }, data: (w, tag) => w.utf8(tag, "kitchen") }] }), hex(WRITE_NODE_LABEL));
  });

  test("WriteRequest list append chunk: ListIndex null, data version, MoreChunkedMessages", () => {
    // The data version is sent as a uint32 here; the encoder writes its canonical uint8 form.
    const decoded = decodeWriteRequest(hex(`15 2800 2801 3602 15 260001000000 3701 240200 24031f 240400 3405 18 3502 18 18 18 2903 ${REVISION} 18`));
    const bytes = hex(`15 2800 2801 3602 15 240001 3701 240200 24031f 240400 3405 18 3502 18 18 18 2903 ${REVISION} 18`);
    equal(decoded.suppressResponse, false);
    equal(decoded.moreChunkedMessages, true);
    equal(decoded.writeRequests[0]!.dataVersion, 1);
    equal(decoded.writeRequests[0]!.path.listIndex, null);
    bytesEqual(
      encodeWriteRequest({
        suppressResponse: false,
        timedRequest: false,
        moreChunkedMessages: true,
        writeRequests: [{ dataVersion: 1, path: { endpoint: 0, cluster: 0x1f, attribute: 0, listIndex: null }, data: (w, tag) => w.startStructure(tag).end() }],
      }),
      bytes,
    );
  });

  test("WriteResponse", () => {
    const bytes = hex(`15 3600 15 3700 240200 240328 240405 18 3501 240000 18 18 15 3700 240200 240328 240406 18 3501 240001 240102 18 18 18 ${REVISION} 18`);
    const response = {
      writeResponses: [
        { path: { endpoint: 0, cluster: 0x28, attribute: 5 }, status: { status: 0 } },
        { path: { endpoint: 0, cluster: 0x28, attribute: 6 }, status: { status: 1, clusterStatus: 2 } },
      ],
    };
    bytesEqual(encodeWriteResponse(response), bytes);
    deepEqual(decodeWriteResponse(bytes), response);
  });

  test("InvokeRequest of Toggle", () => {
    const decoded = decodeInvokeRequest(hex(INVOKE_TOGGLE));
    equal(decoded.suppressResponse, false);
    equal(decoded.timedRequest, false);
    deepEqual(decoded.invokeRequests[0]!.path, { endpoint: 1, cluster: 6, command: 2 });
    equal(decoded.invokeRequests[0]!.fields!.type, "structure");
    equal(decoded.invokeRequests[0]!.commandRef, undefined);
    bytesEqual(encodeInvokeRequest({ suppressResponse: false, timedRequest: false, invokeRequests: [{ path: { endpoint: 1, cluster: 6, command: 2 }, fields: (w, tag) => w.startStructure(tag).end() }] }), hex(INVOKE_TOGGLE));
  });

  test("InvokeResponse with a status and a command response, CommandRefs echoed", () => {
    const status = commandStatusItem({ endpoint: 1, cluster: 6, command: 2 }, { status: 0 }, 7);
    bytesEqual(status, hex("15 3501 3700 240001 240106 240202 18 3501 240000 18 240207 18 18"));
    const response = commandResponseItem({ endpoint: 0, cluster: 0x30, command: 1 }, (w, tag) => w.startStructure(tag).uint(0, 0).utf8(1, "").end(), 8);
    bytesEqual(response, hex("15 3500 3700 240000 240130 240201 18 3501 240000 2c0100 18 240208 18 18"));
    const bytes = encodeInvokeResponse({ invokeResponses: [status, response], moreChunkedMessages: true });
    bytesEqual(bytes.subarray(0, 5), hex("15 2800 3601"));
    const decoded = decodeInvokeResponse(bytes);
    equal(decoded.suppressResponse, false);
    equal(decoded.moreChunkedMessages, true);
    deepEqual(decoded.invokeResponses[0]!.status, { path: { endpoint: 1, cluster: 6, command: 2 }, status: { status: 0 }, commandRef: 7 });
    equal(decoded.invokeResponses[1]!.command!.commandRef, 8);
    deepEqual(decoded.invokeResponses[1]!.command!.path, { endpoint: 0, cluster: 0x30, command: 1 });
  });

  test("TimedRequest", () => {
    bytesEqual(encodeTimedRequest(500), hex(TIMED_500));
    deepEqual(decodeTimedRequest(hex(TIMED_500)), { timeoutMs: 500 });
  });

  test("ReportData assembled from items decodes to the same reports", () => {
    const data = attributeDataItem(0x12345678, { endpoint: 1, cluster: 6, attribute: 0 }, (w, tag) => w.bool(tag, true));
    bytesEqual(data, hex(`15 3501 260078563412 3701 ${ONOFF_PATH} 18 2902 18 18`));
    const status = attributeStatusItem({ endpoint: 1, cluster: 6, attribute: 9 }, { status: Status.UnsupportedAttribute });
    bytesEqual(status, hex("15 3500 3700 240201 240306 240409 18 3501 240086 18 18 18"));
    const event = eventDataItem({ path: { endpoint: 0, cluster: 0x28, event: 0 }, eventNumber: 3n, priority: 2, systemTimestamp: 1500n, data: decodeTlv(hex("15 2500 0100 18")) });
    const bytes = encodeReportData({ subscriptionId: 1, attributeReports: [data, status], eventReports: [event], moreChunkedMessages: true });
    bytesEqual(bytes.subarray(0, 6), hex("15 240001 3601"));
    const report = decodeReportData(bytes);
    equal(report.subscriptionId, 1);
    equal(report.moreChunkedMessages, true);
    equal(report.suppressResponse, undefined);
    equal(report.attributeReports!.length, 2);
    equal(report.attributeReports![0]!.attributeData!.dataVersion, 0x12345678);
    equal(report.attributeReports![0]!.attributeData!.data.value, true);
    deepEqual(report.attributeReports![1]!.attributeStatus, { path: { endpoint: 1, cluster: 6, attribute: 9 }, status: { status: 0x86 } });
    const eventData = report.eventReports![0]!.eventData!;
    equal(eventData.eventNumber, 3n);
    equal(eventData.priority, 2);
    equal(eventData.systemTimestamp, 1500n);
    deepEqual(eventData.path, { endpoint: 0, cluster: 0x28, event: 0 });
    bytesEqual(encodeReportData({ suppressResponse: true }), hex(`15 2904 ${REVISION} 18`));
  });

  test("paths decode every field and keep ListIndex null apart from absent", () => {
    const path = decodeAttributePath(decodeTlv(hex("17 290027010807060504030201 2402fe 2603feff0000 2604fcff0000 3405 2606ff010000 18")));
    deepEqual(path, { enableTagCompression: true, node: 0x0102030405060708n, endpoint: 0xfe, cluster: 0xfffe, attribute: 0xfffc, listIndex: null, wildcardPathFlags: 0x1ff });
    deepEqual(decodeAttributePath(decodeTlv(hex("17 240507 18"))), { listIndex: 7 });
    deepEqual(decodeAttributePath(decodeTlv(hex("17 240799 18"))), {}, "unknown tags (newer revisions) are ignored");
  });

  test("malformed messages are ImMessageErrors, never crashes", () => {
    throwsInvalid(() => decodeReadRequest(hex(`15 3600 15${ONOFF_PATH}18 18 2903 18`)), /AttributePathIB must be a TLV list/);
    throwsInvalid(() => decodeReadRequest(hex(`15 3600 17${ONOFF_PATH}18 18 18`)), /missing required field 3/);
    throwsInvalid(() => decodeReadRequest(hex(`15 3700 17${ONOFF_PATH}18 18 2903 18`)), /must be a TLV array/);
    throwsInvalid(() => decodeReadRequest(hex(`15 3600 17 260200000100 18 18 2903 18`)), /endpoint/);
    throwsInvalid(() => decodeReadRequest(hex(`15 3600 17 2c0201 31 18 18 2903 18`)), /field 2/);
    throwsInvalid(() => decodeReadRequest(hex(`15 2903 2903 18`)), /duplicate/);
    throwsInvalid(() => decodeReadRequest(hex(`${READ_ONOFF} 00`)), /trailing/);
    throwsInvalid(() => decodeReadRequest(hex(READ_ONOFF).subarray(0, 12)), /truncated/);
    throwsInvalid(() => decodeReadRequest(hex(`17 2903 18`)), /anonymous structure|must be a TLV structure/);
    throwsInvalid(() => decodeReadRequest(hex(`15 2903 29ff 18`)), /field 255|uint|should be/);
    throwsInvalid(() => decodeReadRequest(hex(`15 2903 25ff0001 18`)), /not a uint8/);
    throwsInvalid(() => decodeReadRequest(new Uint8Array(0)), /truncated/);
    throwsInvalid(() => decodeInvokeRequest(hex(`15 2800 2801 18`)), /field 2/);
    throwsInvalid(() => decodeInvokeRequest(hex(`15 2800 2801 3602 15 3700 240001 240202 18 18 18 18`)), /field 1/);
    throwsInvalid(() => decodeWriteRequest(hex(`15 2801 3602 15 3701 240200 18 18 18 18`)), /field 2/);
    throwsInvalid(() => decodeTimedRequest(hex(`15 260000000100 18`)), /timeout/);
    throwsInvalid(() => decodeStatusResponse(hex(`15 25000001 18`)), /status/);
    throwsInvalid(() => decodeSubscribeRequest(hex(`15 2800 240100 24023c 18`)), /field 7/);
    throwsInvalid(() => decodeReportData(hex(`15 3601 15 18 18 18`)), /exactly one/);
    throwsInvalid(() => decodeInvokeResponse(hex(`15 2800 3601 15 18 18 18`)), /exactly one/);
  });

  test("every single-byte corruption of a request is either decoded or an ImMessageError", () => {
    for (const sample of [READ_ONOFF, WRITE_NODE_LABEL, INVOKE_TOGGLE, SUBSCRIBE_ALL, TIMED_500]) {
      const original = hex(sample);
      for (let i = 0; i < original.length; i++) {
        for (const replacement of [0x00, 0x18, 0x15, 0xff, original[i]! ^ 0x20]) {
          const corrupted = original.slice();
          corrupted[i] = replacement;
          for (const decode of [decodeReadRequest, decodeWriteRequest, decodeInvokeRequest, decodeSubscribeRequest, decodeTimedRequest]) {
            try {
              decode(corrupted);
            } catch (error) {
              if (!(error instanceof ImMessageError)) throw new Error(`byte ${i} := ${replacement}: ${(error as Error).name}: ${(error as Error).message}`);
            }
          }
        }
      }
    }
  });
});
