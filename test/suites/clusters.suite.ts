// Cluster behaviour on a data model without a network (Node and XS): On/Off Lighting timing and
// start-up, Identify countdown, Basic Information and General Diagnostics rules, Descriptor
// composition; plus the value schemas the clusters rely on.
import { suite, equal, ok, deepEqual, throws, bytesEqual, fromHex } from "../portable/harness";
import { DataModel, LOCAL_READ, findAttribute, findCommand, type ClusterServer, type InvokeContext, type WriteContext } from "../../src/interaction/model";
import { MemoryAttributeStore } from "../../src/interaction/store";
import { StatusError } from "../../src/interaction/errors";
import { Status } from "../../src/interaction/constants";
import { decodeTlv, TlvWriter } from "../../src/codec/tlv";
import {
  SchemaError,
  decodeValue,
  encodeStandalone,
  encodeValue,
  fabricIndexField,
  field,
  list,
  nullable,
  octets,
  string,
  struct,
  uint,
  uint64,
  uint8,
} from "../../src/interaction/schema";
import { BasicInformationAttribute, BasicInformationServer } from "../../src/clusters/basic-information";
import { DescriptorAttribute, DescriptorServer } from "../../src/clusters/descriptor";
import { GeneralDiagnosticsCommand, GeneralDiagnosticsServer, interfacesFromPlatform, parseIPv4, parseIPv6, InterfaceType } from "../../src/clusters/general-diagnostics";
import { IdentifyCommand, IdentifyServer } from "../../src/clusters/identify";
import { ClusterId, DeviceTypes } from "../../src/clusters/ids";
import { OnOffAttribute, OnOffCommand, OnOffServer, StartUpOnOff } from "../../src/clusters/on-off";
import { ManualClock, SeededRandom } from "./transport-fixtures";

function node(clusters0: ClusterServer[], clusters1: ClusterServer[], store = new MemoryAttributeStore(), clock = new ManualClock()) {
  const model = new DataModel({ clock, random: new SeededRandom(1), store });
  model.addEndpoint({ id: 0, deviceTypes: [DeviceTypes.RootNode], clusters: [new DescriptorServer(), ...clusters0] });
  model.addEndpoint({ id: 1, deviceTypes: [DeviceTypes.OnOffLight], clusters: [new DescriptorServer([ClusterId.OnOff]), ...clusters1] });
  model.start();
  return { model, clock, store };
}

function context(endpoint = 1): InvokeContext {
  return { fabricIndex: 1, timed: false, endpoint, afterResponse: () => {} };
}

const WRITE: WriteContext = { fabricIndex: 1, timed: false };

function invoke(cluster: ClusterServer, commandId: number, request: unknown = {}): unknown {
  return cluster.invoke(findCommand(cluster.definition, commandId)!, request, context(cluster.endpointId));
}

function statusOf(fn: () => unknown): number {
  const error = throws(fn);
  ok(error instanceof StatusError, `expected a StatusError, got ${error.name}: ${error.message}`);
  return (error as StatusError).status;
}

function identity() {
  return { vendorId: 0xfff1, vendorName: "V", productId: 0x8000, productName: "P", hardwareVersion: 1, hardwareVersionString: "1", serialNumber: "S" };
}

export default suite("clusters", (test) => {
  test("On/Off: On, Off and Toggle; every change is reported to the output", () => {
    const outputs: boolean[] = [];
    const onOff = new OnOffServer({ onChange: (on) => outputs.push(on) });
    node([], [onOff]);
    invoke(onOff, OnOffCommand.On);
    invoke(onOff, OnOffCommand.Toggle);
    invoke(onOff, OnOffCommand.Toggle);
    invoke(onOff, OnOffCommand.Off);
    deepEqual(outputs, [false, true, false, true, false], "the start-up state, then each change");
    equal(onOff.onOff, false);
  });

  test("On/Off: OnWithTimedOff turns off after OnTime, then guards the off state for OffWaitTime", async () => {
    const onOff = new OnOffServer();
    const { clock } = node([], [onOff]);
    invoke(onOff, OnOffCommand.OnWithTimedOff, { onOffControl: 0, onTime: 20, offWaitTime: 30 });
    equal(onOff.onOff, true);
    await clock.advance(1000);
    ok(onOff.onTime > 0 && onOff.onTime <= 10, `OnTime counts in tenths (${onOff.onTime})`);
    await clock.advance(1000);
    equal(onOff.onOff, false, "off when OnTime ran out");
    equal(onOff.offWaitTime, 30);
    // Delayed Off: a new timed on only shortens the guard.
    invoke(onOff, OnOffCommand.OnWithTimedOff, { onOffControl: 0, onTime: 50, offWaitTime: 10 });
    equal(onOff.onOff, false);
    equal(onOff.offWaitTime, 10);
    await clock.advance(1100);
    equal(onOff.offWaitTime, 0);
    invoke(onOff, OnOffCommand.OnWithTimedOff, { onOffControl: 1, onTime: 50, offWaitTime: 0 });
    equal(onOff.onOff, false, "AcceptOnlyWhenOn while off: ignored");
    invoke(onOff, OnOffCommand.On);
    invoke(onOff, OnOffCommand.OnWithTimedOff, { onOffControl: 1, onTime: 5, offWaitTime: 0 });
    equal(onOff.onTime, 5);
    await clock.advance(600);
    equal(onOff.onOff, false);
    equal(onOff.onTime, 0);
  });

  test("On/Off: OffWithEffect stores the global scene, OnWithRecallGlobalScene recalls it once", () => {
    const onOff = new OnOffServer();
    node([], [onOff]);
    invoke(onOff, OnOffCommand.On);
    invoke(onOff, OnOffCommand.OffWithEffect, { effectIdentifier: 0, effectVariant: 2 });
    equal(onOff.onOff, false);
    equal(onOff.globalSceneControl, false);
    invoke(onOff, OnOffCommand.OnWithRecallGlobalScene);
    equal(onOff.onOff, true);
    equal(onOff.globalSceneControl, true);
    invoke(onOff, OnOffCommand.Off);
    invoke(onOff, OnOffCommand.OnWithRecallGlobalScene);
    equal(onOff.onOff, false, "with GlobalSceneControl true the command is discarded");
    equal(statusOf(() => invoke(onOff, OnOffCommand.OffWithEffect, { effectIdentifier: 1, effectVariant: 1 })), Status.ConstraintError);
    equal(statusOf(() => invoke(onOff, OnOffCommand.OffWithEffect, { effectIdentifier: 2, effectVariant: 0 })), Status.ConstraintError);
  });

  test("On/Off: OnOff and StartUpOnOff persist; StartUpOnOff decides the state at start", () => {
    const store = new MemoryAttributeStore();
    const first = new OnOffServer();
    node([], [first], store);
    invoke(first, OnOffCommand.On);
    equal(new OnOffServer().onOff, false);
    const second = new OnOffServer();
    node([], [second], store);
    equal(second.onOff, true, "null StartUpOnOff: the previous state");
    second.writeAttribute(findAttribute(second.definition, OnOffAttribute.StartUpOnOff)!, StartUpOnOff.Toggle, WRITE);
    equal(statusOf(() => second.writeAttribute(findAttribute(second.definition, OnOffAttribute.StartUpOnOff)!, 3, WRITE)), Status.ConstraintError);
    const third = new OnOffServer();
    node([], [third], store);
    equal(third.onOff, false, "Toggle flips the stored state");
    equal(third.startUpOnOff, StartUpOnOff.Toggle);
  });

  test("Identify: counts down once a second and says when it starts and stops", async () => {
    const events: boolean[] = [];
    const identify = new IdentifyServer({ onIdentify: (active) => events.push(active) });
    const { clock } = node([], [identify]);
    invoke(identify, IdentifyCommand.Identify, { identifyTime: 3 });
    equal(identify.identifyTime, 3);
    await clock.advance(1000);
    equal(identify.identifyTime, 2);
    await clock.advance(2000);
    equal(identify.identifyTime, 0);
    deepEqual(events, [true, false]);
    identify.writeAttribute(findAttribute(identify.definition, 0)!, 10, WRITE);
    identify.writeAttribute(findAttribute(identify.definition, 0)!, 0, WRITE);
    await clock.advance(5000);
    equal(identify.identifyTime, 0);
    deepEqual(events, [true, false, true, false]);
    equal(statusOf(() => invoke(identify, IdentifyCommand.TriggerEffect, { effectIdentifier: 0x03, effectVariant: 0 })), Status.ConstraintError);
    equal(invoke(identify, IdentifyCommand.TriggerEffect, { effectIdentifier: 0x0b, effectVariant: 0 }), undefined);
  });

  test("Basic Information: identity, UniqueID, Location rule, revisions", () => {
    const basic = new BasicInformationServer({ identity: identity(), softwareVersion: 7, softwareVersionString: "7", random: new SeededRandom(3) });
    node([basic], []);
    const read = (id: number) => basic.readValue(findAttribute(basic.definition, id)!, LOCAL_READ);
    equal(read(BasicInformationAttribute.VendorId), 0xfff1);
    equal(read(BasicInformationAttribute.SoftwareVersion), 7);
    ok(/^[0-9A-F]{32}$/.test(read(BasicInformationAttribute.UniqueId) as string));
    deepEqual(read(BasicInformationAttribute.CapabilityMinima), { caseSessionsPerFabric: 3, subscriptionsPerFabric: 3 });
    equal(read(BasicInformationAttribute.MaxPathsPerInvoke), 4);
    equal(read(BasicInformationAttribute.Location), "XX");
    const location = findAttribute(basic.definition, BasicInformationAttribute.Location)!;
    equal(statusOf(() => basic.writeAttribute(location, "us", WRITE)), Status.ConstraintError);
    basic.writeAttribute(location, "US", WRITE);
    equal(basic.location, "US");
  });

  test("General Diagnostics: RebootCount, TimeSnapshot, TestEventTrigger keys", async () => {
    const store = new MemoryAttributeStore();
    const key = fromHex("00112233445566778899aabbccddeeff");
    const triggers: bigint[] = [];
    const clock = new ManualClock();
    const diagnostics = new GeneralDiagnosticsServer({ testEventTriggers: { enableKey: key, handle: (t) => (triggers.push(t), t === 0x1n) } });
    node([diagnostics], [], store, clock);
    equal(diagnostics.rebootCount, 1);
    equal(diagnostics.testEventTriggersEnabled, true);
    await clock.advance(2500);
    deepEqual(invoke(diagnostics, GeneralDiagnosticsCommand.TimeSnapshot), { systemTimeMs: 2500n, posixTimeMs: null });
    equal(diagnostics.readValue(findAttribute(diagnostics.definition, 0x02)!, LOCAL_READ), 2n, "UpTime in seconds");
    equal(statusOf(() => invoke(diagnostics, GeneralDiagnosticsCommand.TestEventTrigger, { enableKey: new Uint8Array(16), eventTrigger: 1n })), Status.ConstraintError);
    equal(invoke(diagnostics, GeneralDiagnosticsCommand.TestEventTrigger, { enableKey: key, eventTrigger: 1n }), undefined);
    equal(statusOf(() => invoke(diagnostics, GeneralDiagnosticsCommand.TestEventTrigger, { enableKey: key, eventTrigger: 2n })), Status.InvalidCommand);
    deepEqual(triggers, [1n, 2n]);
    const disabled = new GeneralDiagnosticsServer({ testEventTriggers: { enableKey: new Uint8Array(16), handle: () => true } });
    node([disabled], [], new MemoryAttributeStore());
    equal(disabled.testEventTriggersEnabled, false, "an all-zero key disables triggers");
    equal(statusOf(() => invoke(disabled, GeneralDiagnosticsCommand.TestEventTrigger, { enableKey: new Uint8Array(16), eventTrigger: 1n })), Status.ConstraintError);
    const again = new GeneralDiagnosticsServer();
    node([again], [], store);
    equal(again.rebootCount, 2, "RebootCount persists and counts every start");
  });

  test("General Diagnostics: network interfaces from the platform's list", () => {
    const interfaces = interfacesFromPlatform(
      [{ name: "eth0", addresses: [{ address: "192.168.1.20", family: 4 }, { address: "fe80::1%eth0", family: 6 }, { address: "fd00:1:2::abcd", family: 6 }] }],
      () => ({ hardwareAddress: fromHex("020000000001"), type: InterfaceType.Ethernet }),
    );
    equal(interfaces.length, 1);
    const eth = interfaces[0]!;
    equal(eth.isOperational, true);
    bytesEqual(eth.iPv4Addresses[0]!, "c0a80114");
    bytesEqual(eth.iPv6Addresses[0]!, "fe800000000000000000000000000001");
    bytesEqual(eth.iPv6Addresses[1]!, "fd00000100020000000000000000abcd");
    const encoded = new TlvWriter();
    const diagnostics = new GeneralDiagnosticsServer({ interfaces: () => interfaces });
    node([diagnostics], []);
    const attribute = findAttribute(diagnostics.definition, 0x00)!;
    encodeValue(encoded, undefined, attribute.schema, diagnostics.readValue(attribute, LOCAL_READ));
    ok(encoded.finish().length > 40);
  });

  test("IP address parsing", () => {
    bytesEqual(parseIPv6("::")!, new Uint8Array(16));
    bytesEqual(parseIPv6("::1")!, "00000000000000000000000000000001");
    bytesEqual(parseIPv6("2001:db8::8a2e:370:7334")!, "20010db80000000000008a2e03707334");
    bytesEqual(parseIPv6("::ffff:192.0.2.1")!, "00000000000000000000ffffc0000201");
    bytesEqual(parseIPv6("1:2:3:4:5:6:7:8")!, "00010002000300040005000600070008");
    for (const bad of ["1::2::3", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "12345::", "g::", "1:2:3:4:5:6:7::8"]) equal(parseIPv6(bad), undefined, bad);
    bytesEqual(parseIPv4("10.0.0.255")!, "0a0000ff");
    for (const bad of ["10.0.0", "256.1.1.1", "1.2.3.4.5", "a.b.c.d", ""]) equal(parseIPv4(bad), undefined, bad);
  });

  test("Descriptor: device types, server and client lists, parts", () => {
    const { model } = node([], [new OnOffServer(), new IdentifyServer()]);
    const root = model.cluster(0, ClusterId.Descriptor)!;
    const light = model.cluster(1, ClusterId.Descriptor)!;
    const read = (cluster: ClusterServer, id: number) => cluster.readValue(findAttribute(cluster.definition, id)!, LOCAL_READ);
    deepEqual(read(root, DescriptorAttribute.DeviceTypeList), [{ deviceType: 0x16, revision: 3 }]);
    deepEqual(read(light, DescriptorAttribute.DeviceTypeList), [{ deviceType: 0x100, revision: 3 }]);
    deepEqual(read(light, DescriptorAttribute.ServerList), [ClusterId.Identify, ClusterId.OnOff, ClusterId.Descriptor]);
    deepEqual(read(light, DescriptorAttribute.ClientList), [ClusterId.OnOff]);
    deepEqual(read(root, DescriptorAttribute.PartsList), [1]);
    deepEqual(read(light, DescriptorAttribute.PartsList), []);
  });

  test("schemas: constraints, types, nullability and fabric-sensitive fields", () => {
    const entry = struct(field(1, "name", string(4)), field(2, "key", octets(2), { fabricSensitive: true }), field(3, "note", uint8, { optional: true }), fabricIndexField);
    const schema = list(entry, 2);
    const value = [
      { name: "a", key: fromHex("0102"), fabricIndex: 1 },
      { name: "b", key: fromHex("0304"), note: 9, fabricIndex: 2 },
    ];
    const all = encodeStandalone(schema, value);
    deepEqual(decodeValue(decodeTlv(all), schema), value);
    const w = new TlvWriter();
    encodeValue(w, undefined, schema, value, { fabricIndex: 1, fabricFiltered: false });
    const shown = decodeTlv(w.finish()).value as { value: { tag: number }[] }[];
    deepEqual(shown[1]!.value.map((f) => f.tag), [1, 3, 0xfe], "another fabric's entry loses its sensitive field");
    const filtered = new TlvWriter();
    encodeValue(filtered, undefined, schema, value, { fabricIndex: 2, fabricFiltered: true });
    equal((decodeTlv(filtered.finish()).value as unknown[]).length, 1);
    deepEqual((decodeValue(decodeTlv(all), schema, 7) as { fabricIndex: number }[]).map((e) => e.fabricIndex), [7, 7], "the server's fabric index replaces the writer's");

    const kind = (fn: () => unknown) => (throws(fn) as SchemaError).kind;
    equal(kind(() => decodeValue(decodeTlv(encodeStandalone(list(uint8), [1])), schema)), "type");
    equal(kind(() => decodeValue(decodeTlv(encodeStandalone(list(entry), [value[0], value[0], value[0]])), schema)), "constraint", "too many entries");
    equal(kind(() => decodeValue(decodeTlv(encodeStandalone(string(10), "abcde")), string(4))), "constraint");
    equal(kind(() => decodeValue(decodeTlv(encodeStandalone(uint(16), 300)), uint8)), "constraint");
    equal(kind(() => decodeValue(decodeTlv(encodeStandalone(uint(16), 3)), uint(8, 5, 10))), "constraint");
    equal(kind(() => decodeValue(decodeTlv(fromHex("1524010118")), struct(field(1, "a", uint8), field(2, "b", uint8)))), "type", "a missing field");
    equal(kind(() => decodeValue(decodeTlv(fromHex("15240101240102 18")), struct(field(1, "a", uint8)))), "type", "a repeated field");
    equal(decodeValue(decodeTlv(fromHex("14")), nullable(uint8)), null);
    equal(kind(() => decodeValue(decodeTlv(fromHex("14")), uint8)), "type");
    equal(decodeValue(decodeTlv(fromHex("0708070605040302 01".replace(/ /g, ""))), uint64), 0x0102030405060708n);
    deepEqual(decodeValue(decodeTlv(fromHex("1524010124630718")), struct(field(1, "a", uint8))), { a: 1 }, "unknown fields are ignored");
    equal(kind(() => encodeStandalone(uint8, 256)), "constraint");
    equal(kind(() => encodeStandalone(struct(field(1, "a", uint8)), {})), "type");
  });
});
