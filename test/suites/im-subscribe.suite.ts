// Subscriptions over two transport stacks on an in-memory link with a manual clock: priming,
// reports on change no sooner than the min interval, keep-alive reports at the max interval,
// limits, and the ways a subscription ends.
import { suite, equal, ok, deepEqual } from "../portable/harness";
import { Status } from "../../src/interaction/constants";
import { ClusterId } from "../../src/clusters/ids";
import { OnOffAttribute } from "../../src/clusters/on-off";
import { BasicInformationEvent } from "../../src/clusters/basic-information";
import type { TlvElement } from "../../src/codec/tlv";
import { TEST_CLUSTER_ID, TestAttribute, attributeReports, dataFor, entry, makeWorld } from "./im-fixtures";
import { Privilege } from "../../src/interaction/constants";

const ONOFF = { endpoint: 1, cluster: ClusterId.OnOff, attribute: OnOffAttribute.OnOff };

export default suite("interaction model subscriptions", (test) => {
  test("priming, SubscribeResponse, a change reported after the min interval, then keep-alives at the max interval", async () => {
    const w = makeWorld();
    const primed = await w.run(w.client.subscribe({ attributeRequests: [ONOFF], minIntervalFloor: 2, maxIntervalCeiling: 10 }));
    equal(primed.reports.length, 1);
    const id = primed.reports[0]!.subscriptionId!;
    equal(dataFor(attributeReports(primed), 1, ClusterId.OnOff, OnOffAttribute.OnOff)!.data.value, false);
    deepEqual(primed.subscribeResponse, { subscriptionId: id, maxInterval: 10 });
    equal(w.server.subscriptions.count, 1);
    const establishedAt = w.server.subscriptions.all[0]!.lastReportMs;

    w.onOff.on();
    await w.clock.advance(1500);
    equal(w.client.received.length, 0, "nothing before the min interval");
    await w.clock.advance(1000);
    equal(w.client.received.length, 1);
    const report = w.client.received[0]!;
    equal(report.report.subscriptionId, id);
    ok(report.at - establishedAt >= 2000, `reported ${report.at - establishedAt} ms after the subscription started`);
    const data = attributeReports([report.report]);
    equal(data.length, 1, "only what changed is reported");
    equal(data[0]!.attributeData!.data.value, true);

    // Two changes in quick succession: one report.
    w.onOff.off();
    w.onOff.on();
    await w.clock.advance(3000);
    equal(w.client.received.length, 2);
    equal(attributeReports([w.client.received[1]!.report]).length, 1);

    // Nothing changes: an empty report when the max interval is up.
    const last = w.client.received[1]!.at;
    await w.clock.advance(last + 9500 - w.clock.now());
    equal(w.client.received.length, 2, "no keep-alive before the max interval");
    await w.clock.advance(1000);
    equal(w.client.received.length, 3);
    const keepAlive = w.client.received[2]!;
    equal(keepAlive.report.subscriptionId, id);
    equal(keepAlive.report.attributeReports, undefined);
    ok(keepAlive.at - last >= 10_000 && keepAlive.at - last < 10_100, `keep-alive after ${keepAlive.at - last} ms`);
    equal(w.device.exchanges.exchangeCount, 0, "every report exchange closed");
  });

  test("changes the subscription does not select cause no report", async () => {
    const w = makeWorld();
    await w.run(w.client.subscribe({ attributeRequests: [ONOFF], minIntervalFloor: 0, maxIntervalCeiling: 30 }));
    w.identify.startIdentifying(5);
    await w.clock.advance(6000);
    equal(w.client.received.length, 0);
  });

  test("a large list is primed in acknowledged chunks before the SubscribeResponse", async () => {
    const w = makeWorld();
    w.test.setBigList(40);
    const primed = await w.run(w.client.subscribe({ attributeRequests: [{ endpoint: 0, cluster: TEST_CLUSTER_ID, attribute: TestAttribute.BigList }] }));
    ok(primed.reports.length >= 3);
    for (const r of primed.reports.slice(0, -1)) equal(r.moreChunkedMessages, true);
    equal(primed.reports.at(-1)!.moreChunkedMessages, undefined);
    ok(primed.reports.every((r) => r.subscriptionId === primed.subscribeResponse!.subscriptionId));
    equal(attributeReports(primed).length, 41);
  });

  test("the subscription ends with its session", async () => {
    const w = makeWorld();
    await w.run(w.client.subscribe({ attributeRequests: [ONOFF], maxIntervalCeiling: 5 }));
    equal(w.server.subscriptions.count, 1);
    w.device.sessions.remove(w.admin.device.localSessionId);
    equal(w.server.subscriptions.count, 0);
    w.onOff.on();
    await w.clock.advance(20_000);
    equal(w.client.received.length, 0);
  });

  test("a subscriber answering with a failure status, or not at all, ends the subscription", async () => {
    const w = makeWorld();
    await w.run(w.client.subscribe({ attributeRequests: [ONOFF], maxIntervalCeiling: 5 }));
    w.client.reportStatus = Status.InvalidSubscription;
    w.onOff.on();
    await w.clock.advance(1000);
    equal(w.client.received.length, 1);
    equal(w.server.subscriptions.count, 0);

    const silent = makeWorld();
    await silent.run(silent.client.subscribe({ attributeRequests: [ONOFF], maxIntervalCeiling: 5 }));
    silent.link.drop = (packet) => packet.from === "controller";
    silent.onOff.on();
    await silent.clock.advance(60_000);
    equal(silent.server.subscriptions.count, 0);
  });

  test("limits: a fabric's oldest subscription makes way; a full node refuses with RESOURCE_EXHAUSTED", async () => {
    const w = makeWorld();
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push((await w.run(w.client.subscribe({ attributeRequests: [ONOFF], maxIntervalCeiling: 60 }))).subscribeResponse!.subscriptionId);
    equal(w.server.subscriptions.count, 3);
    deepEqual(w.server.subscriptions.all.map((s) => s.id), ids.slice(1), "the first subscription was ended");

    const small = makeWorld({ limits: { maxSubscriptions: 2 } });
    small.acl.push(entry(2, Privilege.View, [0x99n]));
    const other = small.connect({ fabricIndex: 2, peerNodeId: 0x99n, ids: { controller: 0x4001, device: 0x4002 } });
    await small.run(small.client.subscribe({ attributeRequests: [ONOFF] }));
    await small.run(small.client.subscribe({ attributeRequests: [ONOFF] }));
    equal((await small.run(other.subscribe({ attributeRequests: [ONOFF] }))).status, Status.ResourceExhausted);
    equal(small.server.subscriptions.count, 2);
  });

  test("KeepSubscriptions false ends the subscriber's earlier subscriptions", async () => {
    const w = makeWorld();
    await w.run(w.client.subscribe({ attributeRequests: [ONOFF] }));
    await w.run(w.client.subscribe({ attributeRequests: [ONOFF] }));
    equal(w.server.subscriptions.count, 2);
    const replacement = await w.run(w.client.subscribe({ attributeRequests: [ONOFF], keepSubscriptions: false }));
    equal(w.server.subscriptions.count, 1);
    equal(w.server.subscriptions.all[0]!.id, replacement.subscribeResponse!.subscriptionId);
  });

  test("invalid subscribe requests", async () => {
    const w = makeWorld();
    equal((await w.run(w.client.subscribe({ attributeRequests: [ONOFF], minIntervalFloor: 20, maxIntervalCeiling: 10 }))).status, Status.InvalidAction);
    equal((await w.run(w.client.subscribe({}))).status, Status.InvalidAction);
    equal(w.server.subscriptions.count, 0);
  });

  test("urgent events are reported at the min interval; others ride with the next report", async () => {
    const w = makeWorld();
    const primed = await w.run(
      w.client.subscribe({
        attributeRequests: [ONOFF],
        eventRequests: [{ endpoint: 0, cluster: ClusterId.BasicInformation, event: BasicInformationEvent.Leave, isUrgent: true }, { endpoint: 0, cluster: ClusterId.BasicInformation, event: BasicInformationEvent.ShutDown }],
        minIntervalFloor: 1,
        maxIntervalCeiling: 30,
      }),
    );
    ok(primed.subscribeResponse);
    w.basic.shutDown();
    await w.clock.advance(5000);
    equal(w.client.received.length, 0, "a non-urgent event waits");
    w.basic.leave(1);
    await w.clock.advance(1500);
    equal(w.client.received.length, 1);
    const events = w.client.received[0]!.report.eventReports!.map((e) => e.eventData!.path.event);
    deepEqual(events, [BasicInformationEvent.ShutDown, BasicInformationEvent.Leave], "the waiting event goes with the urgent one, in order");
    const leave = w.client.received[0]!.report.eventReports![1]!.eventData!;
    equal(((leave.data!.value as TlvElement[])[0]!).value, 1);
    w.onOff.on();
    await w.clock.advance(1500);
    equal(w.client.received.length, 2);
    equal(w.client.received[1]!.report.eventReports, undefined, "events are reported once");
  });

  test("a fabric-sensitive event is only shown to its fabric", async () => {
    const w = makeWorld();
    w.acl.push(entry(2, Privilege.View, [0x99n]));
    const other = w.connect({ fabricIndex: 2, peerNodeId: 0x99n, ids: { controller: 0x4001, device: 0x4002 } });
    w.basic.leave(1);
    const mine = await w.run(w.client.read({ eventRequests: [{ endpoint: 0, cluster: ClusterId.BasicInformation, event: BasicInformationEvent.Leave }] }));
    equal(mine.reports[0]!.eventReports!.length, 1);
    const theirs = await w.run(other.read({ eventRequests: [{ endpoint: 0, cluster: ClusterId.BasicInformation, event: BasicInformationEvent.Leave }] }));
    equal(theirs.reports[0]!.eventReports, undefined);
  });
});
