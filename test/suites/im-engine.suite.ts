// The Interaction Model server over two transport stacks joined by an in-memory link, with
// fixed-key CASE and PASE sessions: read, write, invoke, timed and subscribe interactions,
// chunking, data version filters, fabric filtering, access control and malformed requests.
import { suite, equal, ok, deepEqual, bytesEqual } from "../portable/harness";
import { Opcode, Status, GlobalAttribute, Privilege } from "../../src/interaction/constants";
import { encodeReadRequest, encodeWriteRequest } from "../../src/interaction/messages";
import type { TlvElement, TlvTag, TlvWriter } from "../../src/codec/tlv";
import { ClusterId } from "../../src/clusters/ids";
import { BasicInformationAttribute as BI, BasicInformationEvent } from "../../src/clusters/basic-information";
import { OnOffAttribute, OnOffCommand } from "../../src/clusters/on-off";
import { DescriptorAttribute } from "../../src/clusters/descriptor";
import { WildcardFlag } from "../../src/interaction/reports";
import { MemoryAttributeStore } from "../../src/interaction/store";
import {
  ADMIN_NODE_ID,
  TEST_CLUSTER_ID,
  TestAttribute,
  TestCommand,
  attributeReports,
  dataFor,
  entry,
  eventReports,
  invokeOutcomes,
  makeWorld,
  statusFor,
  type FabricItemValue,
} from "./im-fixtures";

const ONOFF = { endpoint: 1, cluster: ClusterId.OnOff, attribute: OnOffAttribute.OnOff };
const NODE_LABEL = { endpoint: 0, cluster: ClusterId.BasicInformation, attribute: BI.NodeLabel };
const TEST = (attribute: number) => ({ endpoint: 0, cluster: TEST_CLUSTER_ID, attribute });
const TEST_COMMAND = (command: number) => ({ endpoint: 0, cluster: TEST_CLUSTER_ID, command });
const ONOFF_COMMAND = (command: number) => ({ endpoint: 1, cluster: ClusterId.OnOff, command });
function elements(el: TlvElement): unknown[] {
  return (el.value as TlvElement[]).map((child) => child.value);
}

const emptyFields = (w: TlvWriter, tag: TlvTag) => void w.startStructure(tag).end();

export default suite("interaction model server", (test) => {
  test("read of a concrete attribute: value and the cluster's data version, in one report", async () => {
    const w = makeWorld();
    const result = await w.run(w.client.read({ attributeRequests: [ONOFF] }));
    equal(result.reports.length, 1);
    equal(result.reports[0]!.suppressResponse, true);
    const data = dataFor(attributeReports(result), 1, ClusterId.OnOff, OnOffAttribute.OnOff)!;
    equal(data.data.value, false);
    equal(data.dataVersion, w.onOff.dataVersion);
    w.onOff.on();
    const after = await w.run(w.client.read({ attributeRequests: [ONOFF] }));
    const changed = dataFor(attributeReports(after), 1, ClusterId.OnOff, OnOffAttribute.OnOff)!;
    equal(changed.data.value, true);
    equal(changed.dataVersion, (data.dataVersion! + 1) >>> 0, "one change, one data version step");
  });

  test("unknown endpoint, cluster and attribute get their statuses", async () => {
    const w = makeWorld();
    const result = await w.run(
      w.client.read({
        attributeRequests: [
          { endpoint: 9, cluster: ClusterId.OnOff, attribute: 0 },
          { endpoint: 1, cluster: ClusterId.LevelControl, attribute: 0 },
          { endpoint: 1, cluster: ClusterId.OnOff, attribute: 0x1234 },
          ONOFF,
        ],
      }),
    );
    const reports = attributeReports(result);
    equal(statusFor(reports, 9, ClusterId.OnOff, 0), Status.UnsupportedEndpoint);
    equal(statusFor(reports, 1, ClusterId.LevelControl, 0), Status.UnsupportedCluster);
    equal(statusFor(reports, 1, ClusterId.OnOff, 0x1234), Status.UnsupportedAttribute);
    ok(dataFor(reports, 1, ClusterId.OnOff, 0), "the valid path is still served");
  });

  test("wildcard expansion: every endpoint, cluster and attribute, global attributes included", async () => {
    const w = makeWorld();
    const all = attributeReports(await w.run(w.client.read({ attributeRequests: [{}] })));
    let expected = 0;
    for (const endpoint of w.model.endpoints) {
      for (const cluster of endpoint.clusters) {
        for (const attribute of cluster.definition.attributes) {
          // Attributes above View are left out of wildcards for subjects without the privilege; the admin has it.
          expected++;
          ok(dataFor(all, endpoint.id, cluster.definition.id, attribute.id), `missing ${endpoint.id}/${cluster.definition.name}/${attribute.name}`);
        }
      }
    }
    equal(all.length, expected);
    ok(all.every((r) => r.attributeData), "no statuses in a wildcard read");

    const onOffEverywhere = attributeReports(await w.run(w.client.read({ attributeRequests: [{ cluster: ClusterId.OnOff }] })));
    ok(onOffEverywhere.every((r) => r.attributeData!.path.endpoint === 1 && r.attributeData!.path.cluster === ClusterId.OnOff));
    equal(onOffEverywhere.length, w.onOff.definition.attributes.length);

    const revisions = attributeReports(await w.run(w.client.read({ attributeRequests: [{ endpoint: 0, attribute: GlobalAttribute.ClusterRevision }] })));
    deepEqual(
      revisions.map((r) => [r.attributeData!.path.cluster, r.attributeData!.data.value]),
      w.model.endpoint(0)!.clusters.map((c) => [c.definition.id, c.definition.revision]),
    );

    const parts = dataFor(attributeReports(await w.run(w.client.read({ attributeRequests: [{ endpoint: 0, cluster: ClusterId.Descriptor, attribute: DescriptorAttribute.PartsList }] }))), 0, ClusterId.Descriptor, DescriptorAttribute.PartsList)!;
    deepEqual(elements(parts.data), [1], "the root's PartsList names endpoint 1");
  });

  test("wildcard path flags skip what they name", async () => {
    const w = makeWorld();
    const read = async (flags: number) => attributeReports(await w.run(w.client.read({ attributeRequests: [{ wildcardPathFlags: flags }] })));
    const all = await read(0);
    const noRoot = await read(WildcardFlag.SkipRootNode);
    ok(noRoot.length > 0 && noRoot.every((r) => r.attributeData!.path.endpoint !== 0));
    const noGlobals = await read(WildcardFlag.SkipGlobalAttributes);
    ok(!noGlobals.some((r) => ([GlobalAttribute.AttributeList, GlobalAttribute.AcceptedCommandList, GlobalAttribute.GeneratedCommandList] as number[]).includes(r.attributeData!.path.attribute!)));
    ok(noGlobals.some((r) => r.attributeData!.path.attribute === GlobalAttribute.ClusterRevision), "ClusterRevision is not one of the skipped globals");
    const noDiagnostics = await read(WildcardFlag.SkipDiagnosticsClusters);
    ok(!noDiagnostics.some((r) => r.attributeData!.path.cluster === ClusterId.GeneralDiagnostics));
    const noCustom = await read(WildcardFlag.SkipCustomElements);
    ok(!noCustom.some((r) => r.attributeData!.path.cluster === TEST_CLUSTER_ID));
    const noFixed = await read(WildcardFlag.SkipFixedAttributes);
    ok(!noFixed.some((r) => r.attributeData!.path.cluster === ClusterId.BasicInformation && r.attributeData!.path.attribute === BI.VendorName));
    ok(noFixed.some((r) => r.attributeData!.path.cluster === ClusterId.BasicInformation && r.attributeData!.path.attribute === BI.NodeLabel));
    ok(all.length > noRoot.length && all.length > noFixed.length);
  });

  test("a wildcard cluster with a non-global attribute, or a list index, is INVALID_ACTION", async () => {
    const w = makeWorld();
    equal((await w.run(w.client.read({ attributeRequests: [{ endpoint: 0, attribute: 5 }] }))).status, Status.InvalidAction);
    equal((await w.run(w.client.read({ attributeRequests: [{ ...ONOFF, listIndex: 0 }] }))).status, Status.InvalidAction);
    const tooMany = Array.from({ length: 17 }, () => ONOFF);
    equal((await w.run(w.client.read({ attributeRequests: tooMany }))).status, Status.PathsExhausted);
    const empty = await w.run(w.client.read({}));
    equal(empty.reports.length, 1, "an empty read is answered by an empty report");
    equal(empty.reports[0]!.attributeReports, undefined);
  });

  test("data version filters leave out clusters whose version the reader has", async () => {
    const w = makeWorld();
    const paths = [{ endpoint: 1, cluster: ClusterId.OnOff }, { endpoint: 0, cluster: ClusterId.BasicInformation, attribute: BI.VendorName }];
    const same = await w.run(w.client.read({ attributeRequests: paths, dataVersionFilters: [{ path: { endpoint: 1, cluster: ClusterId.OnOff }, dataVersion: w.onOff.dataVersion }] }));
    const reports = attributeReports(same);
    ok(!reports.some((r) => r.attributeData?.path.cluster === ClusterId.OnOff), "the filtered cluster is left out");
    ok(dataFor(reports, 0, ClusterId.BasicInformation, BI.VendorName), "other clusters are read");
    const stale = await w.run(w.client.read({ attributeRequests: paths, dataVersionFilters: [{ path: { endpoint: 1, cluster: ClusterId.OnOff }, dataVersion: (w.onOff.dataVersion + 1) >>> 0 }] }));
    ok(dataFor(attributeReports(stale), 1, ClusterId.OnOff, OnOffAttribute.OnOff), "a different version reads the cluster");
    const concrete = await w.run(w.client.read({ attributeRequests: [ONOFF], dataVersionFilters: [{ path: { endpoint: 1, cluster: ClusterId.OnOff }, dataVersion: w.onOff.dataVersion }] }));
    equal(attributeReports(concrete).length, 0, "a concrete path is filtered too");
  });

  test("a large list attribute is chunked: replace-all then appends, each message within the budget", async () => {
    const w = makeWorld();
    w.test.setBigList(40);
    const result = await w.run(w.client.read({ attributeRequests: [TEST(TestAttribute.BigList), ONOFF] }));
    ok(result.reports.length >= 3, `expected several chunks, got ${result.reports.length}`);
    for (const report of result.reports.slice(0, -1)) equal(report.moreChunkedMessages, true);
    equal(result.reports[result.reports.length - 1]!.suppressResponse, true);
    const reports = attributeReports(result).filter((r) => r.attributeData?.path.attribute === TestAttribute.BigList && r.attributeData.path.cluster === TEST_CLUSTER_ID);
    equal(reports[0]!.attributeData!.path.listIndex, undefined);
    equal((reports[0]!.attributeData!.data.value as TlvElement[]).length, 0, "the first item replaces the list with an empty one");
    const appended = reports.slice(1).map((r) => {
      equal(r.attributeData!.path.listIndex, null);
      return r.attributeData!.data.value as Uint8Array;
    });
    equal(appended.length, 40);
    appended.forEach((entry, i) => bytesEqual(entry, new Uint8Array(64).fill(i)));
    ok(dataFor(attributeReports(result), 1, ClusterId.OnOff, OnOffAttribute.OnOff), "the next path follows the list");
    for (const packet of w.link.between("device", "controller")) ok(packet.bytes.length <= 1280, `packet of ${packet.bytes.length} bytes`);
    const largest = Math.max(...w.link.between("device", "controller").map((p) => p.bytes.length));
    ok(largest > 900, `chunks are filled (largest ${largest})`);
  });

  test("fabric-scoped lists: writes replace the writer's entries, filtered reads see their own, others lose sensitive fields", async () => {
    const w = makeWorld();
    const second = w.connect({ fabricIndex: 2, peerNodeId: 0x77n, ids: { controller: 0x3333, device: 0x4444 } });
    w.acl.push(entry(2, Privilege.Administer, [0x77n]));
    const item = (label: string, fill: number) => (wr: TlvWriter, tag: TlvTag) => void wr.startStructure(tag).utf8(1, label).bytes(2, new Uint8Array(16).fill(fill)).uint(0xfe, 9).end();
    const writeItems = (client: typeof w.client, items: ReturnType<typeof item>[]) =>
      client.write([{ path: TEST(TestAttribute.FabricItems), data: (wr, tag) => { wr.startArray(tag); for (const i of items) i(wr, undefined); wr.end(); } }]);
    equal((await w.run(writeItems(w.client, [item("one", 1), item("two", 2)]))).writeResponses[0]!.writeResponses[0]!.status.status, Status.Success);
    equal((await w.run(writeItems(second, [item("other", 3)]))).writeResponses[0]!.writeResponses[0]!.status.status, Status.Success);
    deepEqual(
      w.test.fabricItems.map((i: FabricItemValue) => [i.label, i.fabricIndex]),
      [["one", 1], ["two", 1], ["other", 2]],
      "the FabricIndex comes from the session, never from the writer",
    );
    const mine = dataFor(attributeReports(await w.run(w.client.read({ attributeRequests: [TEST(TestAttribute.FabricItems)], isFabricFiltered: true }))), 0, TEST_CLUSTER_ID, TestAttribute.FabricItems)!;
    equal((mine.data.value as TlvElement[]).length, 2);
    const everyone = dataFor(attributeReports(await w.run(w.client.read({ attributeRequests: [TEST(TestAttribute.FabricItems)], isFabricFiltered: false }))), 0, TEST_CLUSTER_ID, TestAttribute.FabricItems)!;
    const entries = everyone.data.value as TlvElement[];
    equal(entries.length, 3);
    const foreign = entries[2]!.value as TlvElement[];
    deepEqual(foreign.map((f) => f.tag), [1, 0xfe], "the other fabric's secret is left out");
    const own = entries[0]!.value as TlvElement[];
    deepEqual(own.map((f) => f.tag), [1, 2, 0xfe]);
    // Replacing fabric 2's list leaves fabric 1's alone.
    await w.run(writeItems(second, []));
    deepEqual(w.test.fabricItems.map((i: FabricItemValue) => i.label), ["one", "two"]);
  });

  test("write: success persists and bumps the version; type, length, read-only, unknown and version errors", async () => {
    const w = makeWorld();
    const before = w.basic.dataVersion;
    const label = (text: string) => (wr: TlvWriter, tag: TlvTag) => void wr.utf8(tag, text);
    const ok1 = await w.run(w.client.write([{ path: NODE_LABEL, data: label("kitchen") }]));
    deepEqual(ok1.writeResponses[0]!.writeResponses, [{ path: NODE_LABEL, status: { status: Status.Success } }]);
    equal(w.basic.nodeLabel, "kitchen");
    equal(w.basic.dataVersion, (before + 1) >>> 0);
    ok((w.store as MemoryAttributeStore).load(0, ClusterId.BasicInformation), "Basic Information's record was saved");
    const statuses = await w.run(
      w.client.write([
        { path: NODE_LABEL, data: (wr, tag) => void wr.uint(tag, 5) },
        { path: NODE_LABEL, data: label("x".repeat(33)) },
        { path: { endpoint: 0, cluster: ClusterId.BasicInformation, attribute: BI.VendorName }, data: label("me") },
        { path: { endpoint: 0, cluster: ClusterId.BasicInformation, attribute: 0x99 }, data: label("?") },
        { path: { endpoint: 0, cluster: ClusterId.BasicInformation, attribute: BI.Location }, data: label("us") },
        { path: NODE_LABEL, data: label("stale"), dataVersion: (w.basic.dataVersion + 7) >>> 0 },
        { path: { endpoint: 4, cluster: ClusterId.BasicInformation, attribute: BI.NodeLabel }, data: label("nowhere") },
      ]),
    );
    deepEqual(
      statuses.writeResponses[0]!.writeResponses.map((r) => r.status.status),
      [Status.ConstraintError, Status.ConstraintError, Status.UnsupportedWrite, Status.UnsupportedAttribute, Status.ConstraintError, Status.DataVersionMismatch, Status.UnsupportedEndpoint],
    );
    equal(w.basic.nodeLabel, "kitchen", "nothing invalid was applied");
    const current = await w.run(w.client.write([{ path: NODE_LABEL, data: label("hall"), dataVersion: w.basic.dataVersion }]));
    equal(current.writeResponses[0]!.writeResponses[0]!.status.status, Status.Success, "the current data version is accepted");
    const quiet = await w.run(w.client.write([{ path: NODE_LABEL, data: label("quiet") }], { suppressResponse: true }));
    deepEqual(quiet.opcodes, [], "SuppressResponse: no WriteResponse");
    equal(w.basic.nodeLabel, "quiet");
  });

  test("list writes across chunks: replace-all, then appends in the next WriteRequest", async () => {
    const w = makeWorld();
    w.test.setBigList(3);
    const path = TEST(TestAttribute.BigList);
    const entryData = (fill: number) => (wr: TlvWriter, tag: TlvTag) => void wr.bytes(tag, new Uint8Array(64).fill(fill));
    const first = encodeWriteRequest({ timedRequest: false, moreChunkedMessages: true, writeRequests: [{ path, data: (wr, tag) => void wr.startArray(tag).end() }, { path: { ...path, listIndex: null }, data: entryData(0xa0) }] });
    const second = encodeWriteRequest({ timedRequest: false, writeRequests: [{ path: { ...path, listIndex: null }, data: entryData(0xa1) }, { path: { ...path, listIndex: null }, data: entryData(0xa2) }] });
    const result = await w.run(w.client.interact(Opcode.WriteRequest, first, { chunks: [second] }));
    equal(result.writeResponses.length, 2, "each chunk gets its WriteResponse");
    deepEqual(result.writeResponses[0]!.writeResponses.map((r) => [r.path.listIndex, r.status.status]), [[undefined, 0], [null, 0]]);
    deepEqual(result.writeResponses[1]!.writeResponses.map((r) => r.status.status), [0, 0]);
    deepEqual(w.test.bigList.map((e) => e[0]), [0xa0, 0xa1, 0xa2]);
    const appendToScalar = await w.run(w.client.write([{ path: { ...NODE_LABEL, listIndex: null }, data: (wr, tag) => void wr.utf8(tag, "x") }]));
    equal(appendToScalar.status, Status.InvalidAction);
  });

  test("timed write: needed, accepted within the timeout, refused after it, mismatches", async () => {
    const w = makeWorld();
    const path = TEST(TestAttribute.TimedValue);
    const value = (v: number) => (wr: TlvWriter, tag: TlvTag) => void wr.uint(tag, v);
    const untimed = await w.run(w.client.write([{ path, data: value(1) }]));
    equal(untimed.writeResponses[0]!.writeResponses[0]!.status.status, Status.NeedsTimedInteraction);
    const timed = await w.run(w.client.write([{ path, data: value(2) }], { timedMs: 500 }));
    deepEqual(timed.opcodes, [Opcode.StatusResponse, Opcode.WriteResponse]);
    equal(timed.writeResponses[0]!.writeResponses[0]!.status.status, Status.Success);
    equal(w.test.timedValue, 2);
    const late = await w.run(w.client.write([{ path, data: value(3) }], { timedMs: 100, delayActionMs: 300 }));
    equal(late.status, Status.Timeout);
    equal(w.test.timedValue, 2, "an expired timed write changes nothing");
    const flagWithoutTimed = await w.run(w.client.write([{ path, data: value(4) }], { timedFlag: true }));
    equal(flagWithoutTimed.status, Status.TimedRequestMismatch);
    const timedWithoutFlag = await w.run(w.client.write([{ path, data: value(5) }], { timedMs: 500, timedFlag: false }));
    equal(timedWithoutFlag.status, Status.TimedRequestMismatch);
    equal(w.test.timedValue, 2);
  });

  test("invoke: status, response, unknown command, cluster status, handler failure, malformed fields", async () => {
    const w = makeWorld();
    const toggle = await w.run(w.client.invoke([{ path: ONOFF_COMMAND(OnOffCommand.Toggle), fields: emptyFields }]));
    deepEqual(invokeOutcomes(toggle), [Status.Success]);
    equal(w.onOff.onOff, true);
    const echo = await w.run(w.client.invoke([{ path: TEST_COMMAND(TestCommand.Echo), fields: (wr, tag) => void wr.startStructure(tag).uint(0, 42).end() }]));
    const response = echo.invokeResponses[0]!.invokeResponses[0]!.command!;
    deepEqual(response.path, TEST_COMMAND(TestCommand.EchoResponse));
    equal(((response.fields!.value as TlvElement[])[0]!).value, 42);
    deepEqual(invokeOutcomes(await w.run(w.client.invoke([{ path: ONOFF_COMMAND(0x33), fields: emptyFields }]))), [Status.UnsupportedCommand]);
    deepEqual(invokeOutcomes(await w.run(w.client.invoke([{ path: { endpoint: 7, cluster: ClusterId.OnOff, command: 0 }, fields: emptyFields }]))), [Status.UnsupportedEndpoint]);
    deepEqual(invokeOutcomes(await w.run(w.client.invoke([{ path: { endpoint: 1, cluster: ClusterId.LevelControl, command: 0 }, fields: emptyFields }]))), [Status.UnsupportedCluster]);
    const failed = await w.run(w.client.invoke([{ path: TEST_COMMAND(TestCommand.Fail), fields: emptyFields }]));
    deepEqual(failed.invokeResponses[0]!.invokeResponses[0]!.status!.status, { status: Status.Failure, clusterStatus: 5 });
    deepEqual(invokeOutcomes(await w.run(w.client.invoke([{ path: TEST_COMMAND(TestCommand.Crash), fields: emptyFields }]))), [Status.Failure]);
    deepEqual(invokeOutcomes(await w.run(w.client.invoke([{ path: TEST_COMMAND(TestCommand.Echo), fields: (wr, tag) => void wr.startStructure(tag).utf8(0, "x").end() }]))), [Status.InvalidCommand]);
    deepEqual(invokeOutcomes(await w.run(w.client.invoke([{ path: TEST_COMMAND(TestCommand.Echo), fields: emptyFields }]))), [Status.InvalidCommand]);
    deepEqual(invokeOutcomes(await w.run(w.client.invoke([{ path: TEST_COMMAND(TestCommand.Echo) }]))), [Status.InvalidCommand], "missing CommandFields");
    deepEqual(invokeOutcomes(await w.run(w.client.invoke([{ path: ONOFF_COMMAND(OnOffCommand.OnWithTimedOff), fields: (wr, tag) => void wr.startStructure(tag).uint(0, 0).uint(1, 0xffff).uint(2, 0).end() }]))), [Status.ConstraintError]);
    equal((await w.run(w.client.invoke([{ path: { cluster: ClusterId.OnOff, command: 0 }, fields: emptyFields }]))).status, Status.InvalidAction, "a unicast invoke needs an endpoint");
    const context = w.test.invoked.find((i) => i.name === "echo")!.context;
    equal(context.session, w.admin.device);
    equal(context.fabricIndex, 1);
    equal(context.subject!.subject, ADMIN_NODE_ID);
  });

  test("after-response actions run once the response is acknowledged", async () => {
    const w = makeWorld();
    w.link.drop = (packet) => packet.from === "device" && w.link.between("device", "controller").length === 0;
    const result = await w.run(w.client.invoke([{ path: TEST_COMMAND(TestCommand.Echo), fields: (wr, tag) => void wr.startStructure(tag).uint(0, 999).end() }]));
    deepEqual(invokeOutcomes(result), ["response"]);
    await w.clock.advance(1000);
    equal(w.test.afterResponseAt.length, 1);
    const responses = w.link.between("device", "controller");
    ok(responses[0]!.dropped && !responses[1]!.dropped, "the first transmission was lost, the retransmission arrived");
    ok(w.test.afterResponseAt[0]! > responses[1]!.at, "the action waited for the retransmitted response's acknowledgement");
  });

  test("timed invoke: needed, accepted, expired, mismatched", async () => {
    const w = makeWorld();
    const noop = [{ path: TEST_COMMAND(TestCommand.TimedNoop), fields: emptyFields }];
    deepEqual(invokeOutcomes(await w.run(w.client.invoke(noop))), [Status.NeedsTimedInteraction]);
    const timed = await w.run(w.client.invoke(noop, { timedMs: 1000 }));
    deepEqual(invokeOutcomes(timed), [Status.Success]);
    equal(w.test.invoked.at(-1)!.context.timed, true);
    const count = w.test.invoked.length;
    equal((await w.run(w.client.invoke(noop, { timedMs: 50, delayActionMs: 200 }))).status, Status.Timeout);
    equal((await w.run(w.client.invoke(noop, { timedFlag: true }))).status, Status.TimedRequestMismatch);
    equal((await w.run(w.client.invoke(noop, { timedMs: 1000, timedFlag: false }))).status, Status.TimedRequestMismatch);
    equal(w.test.invoked.length, count, "no refused timed invoke reached the cluster");
    const readAfterTimed = await w.run(w.client.interact(Opcode.ReadRequest, encodeReadRequest({ isFabricFiltered: true, attributeRequests: [ONOFF] }), { timedMs: 1000 }));
    equal(readAfterTimed.status, Status.InvalidAction, "only a write or an invoke may follow a TimedRequest");
  });

  test("batch invoke: CommandRefs echoed in order; missing or repeated refs and paths, and too many commands, are INVALID_ACTION", async () => {
    const w = makeWorld();
    const echo = (value: number) => (wr: TlvWriter, tag: TlvTag) => void wr.startStructure(tag).uint(0, value).end();
    const batch = await w.run(
      w.client.invoke([
        { path: TEST_COMMAND(TestCommand.Echo), fields: echo(7), commandRef: 1 },
        { path: ONOFF_COMMAND(OnOffCommand.On), fields: emptyFields, commandRef: 2 },
        { path: ONOFF_COMMAND(0x55), fields: emptyFields, commandRef: 3 },
      ]),
    );
    const ibs = batch.invokeResponses.flatMap((r) => r.invokeResponses);
    deepEqual(ibs.map((ib) => ib.command?.commandRef ?? ib.status?.commandRef), [1, 2, 3]);
    deepEqual(invokeOutcomes(batch), ["response", Status.Success, Status.UnsupportedCommand]);
    equal(w.onOff.onOff, true);
    equal((await w.run(w.client.invoke([{ path: ONOFF_COMMAND(0), fields: emptyFields, commandRef: 1 }, { path: ONOFF_COMMAND(1), fields: emptyFields }]))).status, Status.InvalidAction);
    equal((await w.run(w.client.invoke([{ path: ONOFF_COMMAND(0), fields: emptyFields, commandRef: 1 }, { path: ONOFF_COMMAND(1), fields: emptyFields, commandRef: 1 }]))).status, Status.InvalidAction);
    equal((await w.run(w.client.invoke([{ path: ONOFF_COMMAND(0), fields: emptyFields, commandRef: 1 }, { path: ONOFF_COMMAND(0), fields: emptyFields, commandRef: 2 }]))).status, Status.InvalidAction);
    const five = [0, 1, 2, 0x40, 0x41].map((command, i) => ({ path: ONOFF_COMMAND(command), fields: emptyFields, commandRef: i }));
    equal((await w.run(w.client.invoke(five))).status, Status.InvalidAction);
    equal(w.onOff.onOff, true, "a refused batch runs none of its commands");
  });

  test("invoke responses too large for one message are chunked", async () => {
    const w = makeWorld();
    const result = await w.run(
      w.client.invoke([
        { path: TEST_COMMAND(TestCommand.Big), fields: (wr, tag) => void wr.startStructure(tag).uint(0, 960).end(), commandRef: 1 },
        { path: TEST_COMMAND(TestCommand.Echo), fields: (wr, tag) => void wr.startStructure(tag).uint(0, 9).end(), commandRef: 2 },
        { path: ONOFF_COMMAND(OnOffCommand.Toggle), fields: emptyFields, commandRef: 3 },
      ]),
    );
    equal(result.invokeResponses.length, 2);
    equal(result.invokeResponses[0]!.moreChunkedMessages, true);
    equal(result.invokeResponses[0]!.invokeResponses.length, 1);
    equal(result.invokeResponses[1]!.moreChunkedMessages, undefined);
    deepEqual(invokeOutcomes(result), ["response", "response", Status.Success]);
    const data = (result.invokeResponses[0]!.invokeResponses[0]!.command!.fields!.value as TlvElement[])[0]!.value as Uint8Array;
    equal(data.length, 960);
    const tooBig = await w.run(w.client.invoke([{ path: TEST_COMMAND(TestCommand.Big), fields: (wr, tag) => void wr.startStructure(tag).uint(0, 1500).end() }]));
    deepEqual(invokeOutcomes(tooBig), [Status.Failure], "a response that fits no message becomes FAILURE");
  });

  test("a malformed request gets INVALID_ACTION without disturbing another exchange in progress", async () => {
    const w = makeWorld();
    const slow = w.client.invoke([{ path: TEST_COMMAND(TestCommand.Slow), fields: (wr, tag) => void wr.startStructure(tag).uint(0, 500).end() }]);
    const garbage = w.client.interact(Opcode.ReadRequest, new Uint8Array([0x15, 0x36, 0x00, 0x17, 0x24]));
    const wrongContainer = w.client.interact(Opcode.InvokeRequest, new Uint8Array([0x17, 0x18]));
    const unsolicitedReport = w.client.interact(Opcode.ReportData, new Uint8Array([0x15, 0x18]));
    const unknownOpcode = w.client.interact(0x33, new Uint8Array([0x15, 0x18]));
    equal((await w.run(garbage)).status, Status.InvalidAction);
    equal((await w.run(wrongContainer)).status, Status.InvalidAction);
    equal((await w.run(unsolicitedReport)).status, Status.InvalidAction);
    equal((await w.run(unknownOpcode)).status, Status.InvalidAction);
    deepEqual(invokeOutcomes(await w.run(slow)), [Status.Success], "the slow command still completes");
    equal(w.server.activeInteractions, 0);
    equal(w.device.exchanges.exchangeCount, 0, "every exchange was closed");
  });

  test("access control on every path: View, Operate and no-entry subjects", async () => {
    const w = makeWorld();
    w.acl.push(entry(1, Privilege.View, [0x0c03n]), entry(1, Privilege.Operate, [0x0c04n], [{ endpoint: 1, cluster: null, deviceType: null }]));
    const viewer = w.connect({ fabricIndex: 1, peerNodeId: 0x0c03n, ids: { controller: 0x5001, device: 0x6001 } });
    const operator = w.connect({ fabricIndex: 1, peerNodeId: 0x0c04n, ids: { controller: 0x5002, device: 0x6002 } });
    const stranger = w.connect({ fabricIndex: 1, peerNodeId: 0x0c05n, ids: { controller: 0x5003, device: 0x6003 } });
    const label = (wr: TlvWriter, tag: TlvTag) => void wr.utf8(tag, "nope");

    const viewerRead = attributeReports(await w.run(viewer.read({ attributeRequests: [ONOFF, TEST(TestAttribute.AdminValue)] })));
    ok(dataFor(viewerRead, 1, ClusterId.OnOff, OnOffAttribute.OnOff));
    equal(statusFor(viewerRead, 0, TEST_CLUSTER_ID, TestAttribute.AdminValue), Status.UnsupportedAccess, "AdminValue needs Manage to read");
    const viewerWildcard = attributeReports(await w.run(viewer.read({ attributeRequests: [{ endpoint: 0, cluster: TEST_CLUSTER_ID }] })));
    ok(viewerWildcard.length > 0 && !viewerWildcard.some((r) => r.attributeData?.path.attribute === TestAttribute.AdminValue), "wildcards silently leave out what the subject may not read");
    equal((await w.run(viewer.write([{ path: NODE_LABEL, data: label }]))).writeResponses[0]!.writeResponses[0]!.status.status, Status.UnsupportedAccess);
    deepEqual(invokeOutcomes(await w.run(viewer.invoke([{ path: ONOFF_COMMAND(OnOffCommand.Toggle), fields: emptyFields }]))), [Status.UnsupportedAccess]);
    equal(w.onOff.onOff, false);

    deepEqual(invokeOutcomes(await w.run(operator.invoke([{ path: ONOFF_COMMAND(OnOffCommand.Toggle), fields: emptyFields }]))), [Status.Success]);
    deepEqual(invokeOutcomes(await w.run(operator.invoke([{ path: { endpoint: 1, cluster: ClusterId.Identify, command: 0 }, fields: (wr, tag) => void wr.startStructure(tag).uint(0, 5).end() }]))), [Status.UnsupportedAccess], "Identify needs Manage");
    const operatorOnRoot = attributeReports(await w.run(operator.read({ attributeRequests: [NODE_LABEL] })));
    equal(statusFor(operatorOnRoot, 0, ClusterId.BasicInformation, BI.NodeLabel), Status.UnsupportedAccess, "the entry targets endpoint 1 only");
    deepEqual(invokeOutcomes(await w.run(operator.invoke([{ path: TEST_COMMAND(TestCommand.Crash), fields: emptyFields }]))), [Status.UnsupportedAccess]);

    const strangerRead = attributeReports(await w.run(stranger.read({ attributeRequests: [ONOFF, { endpoint: 9, cluster: 6, attribute: 0 }] })));
    equal(statusFor(strangerRead, 1, ClusterId.OnOff, 0), Status.UnsupportedAccess);
    equal(statusFor(strangerRead, 9, 6, 0), Status.UnsupportedAccess, "access is checked before existence");
    equal(attributeReports(await w.run(stranger.read({ attributeRequests: [{}] }))).length, 0);
  });

  test("PASE: administrator of endpoint 0 while commissioning, nothing afterwards", async () => {
    const w = makeWorld();
    const pase = w.connect({ kind: "pase", ids: { controller: 0x7001, device: 0x7002 } });
    w.commissioning.value = true;
    const during = attributeReports(await w.run(pase.read({ attributeRequests: [{ endpoint: 0, cluster: ClusterId.BasicInformation, attribute: BI.VendorId }, ONOFF] })));
    equal(dataFor(during, 0, ClusterId.BasicInformation, BI.VendorId)!.data.value, 0xfff1);
    equal(statusFor(during, 1, ClusterId.OnOff, 0), Status.UnsupportedAccess);
    const write = await w.run(pase.write([{ path: { endpoint: 0, cluster: ClusterId.BasicInformation, attribute: BI.Location }, data: (wr, tag) => void wr.utf8(tag, "CH") }]));
    equal(write.writeResponses[0]!.writeResponses[0]!.status.status, Status.Success, "Location needs Administer");
    const fabricScoped = await w.run(pase.write([{ path: TEST(TestAttribute.FabricItems), data: (wr, tag) => void wr.startArray(tag).end() }]));
    equal(fabricScoped.writeResponses[0]!.writeResponses[0]!.status.status, Status.UnsupportedAccess, "no fabric yet: fabric-scoped data is out of reach");
    w.commissioning.value = false;
    const after = w.connect({ kind: "pase", ids: { controller: 0x7003, device: 0x7004 } });
    const denied = attributeReports(await w.run(after.read({ attributeRequests: [{ endpoint: 0, cluster: ClusterId.BasicInformation, attribute: BI.VendorId }] })));
    equal(statusFor(denied, 0, ClusterId.BasicInformation, BI.VendorId), Status.UnsupportedAccess);
  });

  test("events: StartUp is in the log; reads honour EventMin; concrete unknown events get UNSUPPORTED_EVENT", async () => {
    const w = makeWorld();
    const result = await w.run(w.client.read({ eventRequests: [{ endpoint: 0, cluster: ClusterId.BasicInformation }] }));
    const startUp = eventReports(result).find((e) => e.eventData?.path.event === BasicInformationEvent.StartUp)!.eventData!;
    equal(startUp.priority, 2);
    equal(((startUp.data!.value as TlvElement[])[0]!).value, 3, "StartUp carries the software version");
    const later = await w.run(w.client.read({ eventRequests: [{}], eventFilters: [{ eventMin: startUp.eventNumber + 1n }] }));
    ok(eventReports(later).every((e) => e.eventData!.eventNumber > startUp.eventNumber));
    const unknown = await w.run(w.client.read({ eventRequests: [{ endpoint: 0, cluster: ClusterId.BasicInformation, event: 0x77 }, { endpoint: 5, cluster: 6, event: 0 }] }));
    deepEqual(eventReports(unknown).map((e) => e.eventStatus?.status.status), [Status.UnsupportedEvent, Status.UnsupportedEndpoint]);
  });

  test("persistence: a node built on the same store restores NodeLabel, OnOff, UniqueID and counts the reboot", async () => {
    const store = new MemoryAttributeStore();
    const first = makeWorld({ store });
    await first.run(first.client.write([{ path: NODE_LABEL, data: (wr, tag) => void wr.utf8(tag, "porch") }]));
    first.onOff.on();
    const uniqueId = first.basic.uniqueId;
    equal(uniqueId.length, 32);
    equal(first.diagnostics.rebootCount, 1);
    const second = makeWorld({ store });
    equal(second.basic.nodeLabel, "porch");
    equal(second.onOff.onOff, true);
    equal(second.basic.uniqueId, uniqueId, "UniqueID survives a restart");
    equal(second.diagnostics.rebootCount, 2);
    store.clear();
    const third = makeWorld({ store });
    equal(third.basic.nodeLabel, "");
    ok(third.basic.uniqueId !== "" && third.basic.uniqueId.length === 32);
  });
});
