// The mDNS responder against a scripted network and a manual clock: probing, announcements,
// answers (multicast, QU, legacy unicast, subtypes, ANY, known answers, NSEC), conflicts and
// renames, probe tie-breaks, aggregation and rate limits, goodbyes.
import {
  DNS_CLASS_IN,
  DnsType,
  decodeDnsMessage,
  encodeDnsMessage,
  sameName,
  txtPairs,
  type DnsMessage,
  type DnsQuestion,
  type DnsRecord,
} from "../../src/discovery/dns";
import { decodeBleServiceData } from "../../src/discovery/ble-advertisement";
import { CommissioningAdvertisement } from "../../src/discovery/commissioning-advertisement";
import { MdnsResponder, MDNS_IPV4_GROUP, MDNS_IPV6_GROUP, type CommissionableInfo } from "../../src/discovery/mdns";
import { additionalDataPayload, rotatingDeviceId, rotatingDeviceIdHex } from "../../src/discovery/rotating-id";
import type { AddressFamily, BleEvents, BlePeripheral, KeyValueStore, Network, NetworkInterfaceInfo, UdpEndpoint, UdpOptions, UdpSocket } from "../../src/platform";
import { bytesEqual, deepEqual, equal, fromHex, ok, suite } from "../portable/harness";
import { ManualClock, SeededRandom } from "./transport-fixtures";

interface Sent {
  at: number;
  family: AddressFamily;
  to: UdpEndpoint;
  message: DnsMessage;
}

class ScriptedNetwork implements Network {
  readonly sent: Sent[] = [];
  readonly opened: UdpOptions[] = [];
  readonly receivers = new Map<AddressFamily, (data: Uint8Array, from: UdpEndpoint) => void>();
  closedSockets = 0;
  addresses: NetworkInterfaceInfo[] = [
    { name: "eth0", addresses: [{ address: "10.0.0.7", family: 4 }, { address: "fe80::7", family: 6 }] },
    { name: "wlan0", addresses: [{ address: "192.168.1.9", family: 4 }] },
  ];

  constructor(private readonly clock: ManualClock) {}

  openUdp(options: UdpOptions, onMessage: (data: Uint8Array, from: UdpEndpoint) => void): UdpSocket {
    this.opened.push(options);
    this.receivers.set(options.family, onMessage);
    return {
      port: options.port,
      family: options.family,
      send: (data, to) => this.sent.push({ at: this.clock.now(), family: options.family, to, message: decodeDnsMessage(data) }),
      close: () => this.closedSockets++,
    };
  }

  interfaces(): NetworkInterfaceInfo[] {
    return this.addresses;
  }

  inject(family: AddressFamily, message: Parameters<typeof encodeDnsMessage>[0], from: Partial<UdpEndpoint> = {}): void {
    this.receivers.get(family)!(encodeDnsMessage(message), { address: family === 4 ? "10.0.0.50" : "fe80::50", port: 5353, family, ...from });
  }

  take(): Sent[] {
    return this.sent.splice(0);
  }
}

const INFO: CommissionableInfo = {
  discriminator: 3840,
  vendorId: 0xfff1,
  productId: 0x8000,
  commissioningMode: 1,
  port: 5540,
  deviceType: 257,
  rotatingId: "0A00D00561E77A68A9FD975057375B9283A8",
};

function setup(options: { families?: AddressFamily[] } = {}) {
  const clock = new ManualClock();
  const network = new ScriptedNetwork(clock);
  const responder = new MdnsResponder({ network, clock, random: new SeededRandom(7), interfaceName: "eth0", hostName: "A1B2C3D4E5F6", ...options });
  return { clock, network, responder };
}

async function advertised(options: { families?: AddressFamily[] } = {}) {
  const context = setup(options);
  context.responder.advertiseCommissionable(INFO);
  await context.clock.advance(5000);
  context.network.take();
  return context;
}

class RecordingBle implements BlePeripheral {
  serviceData: Uint8Array | undefined;
  additionalData: Uint8Array | undefined;
  advertise(serviceData: Uint8Array | undefined): void {
    this.serviceData = serviceData;
  }
  setAdditionalData(data: Uint8Array | undefined): void {
    this.additionalData = data;
  }
  indicate(): void {}
  disconnect(): void {}
  setHandler(_events: BleEvents): void {}
}

function memoryStore(): KeyValueStore {
  const map = new Map<string, Uint8Array>();
  return {
    maxKeyLength: 15,
    maxValueLength: 4000,
    get: (key) => map.get(key),
    set: (key, value) => void map.set(key, value.slice()),
    delete: (key) => void map.delete(key),
    keys: (prefix) => [...map.keys()].filter((key) => key.startsWith(prefix)),
  };
}

const question = (name: string, type: number, unicastResponse = false): DnsQuestion => ({ name, type, class: DNS_CLASS_IN, unicastResponse });
const names = (records: DnsRecord[]) => records.map((record) => `${record.name} ${record.type}`).sort();
const ptr = (name: string, target: string, ttl = 4500): DnsRecord => ({ name, type: DnsType.PTR, class: DNS_CLASS_IN, cacheFlush: false, ttl, data: { kind: "PTR", target } });

export default suite("mdns", (test) => {
  test("opens 5353 on both families, joined to the groups on the chosen interface", () => {
    const { network } = setup();
    deepEqual(
      network.opened.map((o) => [o.family, o.port, o.multicastGroups, o.interfaceName, o.reuseAddress]),
      [
        [6, 5353, [MDNS_IPV6_GROUP], "eth0", true],
        [4, 5353, [MDNS_IPV4_GROUP], "eth0", true],
      ],
    );
  });

  test("probes three times 250 ms apart, then announces three times with the full record set", async () => {
    const { clock, network, responder } = setup({ families: [4] });
    responder.advertiseCommissionable(INFO);
    await clock.advance(5000);
    const sent = network.take();
    const probes = sent.filter((s) => !s.message.isResponse);
    const announcements = sent.filter((s) => s.message.isResponse);
    equal(probes.length, 3, "probes");
    equal(probes[1]!.at - probes[0]!.at, 250);
    equal(probes[2]!.at - probes[1]!.at, 250);
    ok(probes.every((p) => p.to.address === MDNS_IPV4_GROUP && p.to.port === 5353 && p.to.interfaceName === "eth0"));
    const instance = responder.commissionableInstance;
    ok(/^[0-9A-F]{16}\._matterc\._udp\.local$/.test(instance), instance);
    deepEqual(
      probes[0]!.message.questions.map((q) => [q.name, q.type, q.unicastResponse]),
      [
        [instance, DnsType.ANY, true],
        ["A1B2C3D4E5F6.local", DnsType.ANY, true],
      ],
    );
    equal(probes[1]!.message.questions[0]!.unicastResponse, false);
    deepEqual(names(probes[0]!.message.authorities), [`${instance} 16`, `${instance} 33`, "A1B2C3D4E5F6.local 1"].sort());
    equal(announcements.length, 3, "announcements");
    equal(announcements[0]!.at - probes[2]!.at, 250);
    equal(announcements[1]!.at - announcements[0]!.at, 1000);
    equal(announcements[2]!.at - announcements[1]!.at, 2000);
    const records = announcements[0]!.message.answers;
    const ptrs = records.filter((r) => r.type === DnsType.PTR).map((r) => `${r.name} -> ${(r.data as { target: string }).target}`);
    for (const sub of ["_L3840", "_S15", "_V65521", "_T257", "_CM"]) {
      ok(ptrs.includes(`${sub}._sub._matterc._udp.local -> ${instance}`), `${sub} in ${ptrs.join(", ")}`);
      ok(ptrs.includes(`_services._dns-sd._udp.local -> ${sub}._sub._matterc._udp.local`), `${sub} enumerated`);
    }
    ok(ptrs.includes(`_matterc._udp.local -> ${instance}`));
    const srv = records.find((r) => r.type === DnsType.SRV)!;
    deepEqual(srv.data, { kind: "SRV", priority: 0, weight: 0, port: 5540, target: "A1B2C3D4E5F6.local" });
    ok(srv.cacheFlush && srv.ttl === 120);
    const txt = records.find((r) => r.type === DnsType.TXT)!;
    deepEqual(Object.fromEntries(txtPairs((txt.data as { entries: Uint8Array[] }).entries)), {
      d: "3840",
      cm: "1",
      vp: "65521+32768",
      dt: "257",
      sii: "500",
      sai: "300",
      sat: "4000",
      t: "0",
      ri: "0A00D00561E77A68A9FD975057375B9283A8",
      ph: "33",
    });
    // Only eth0's address, and no AAAA: this responder serves IPv4 only.
    deepEqual(
      records.filter((r) => r.type === DnsType.A || r.type === DnsType.AAAA).map((r) => r.data),
      [{ kind: "A", address: "10.0.0.7" }],
    );
    ok(records.every((r) => r.cacheFlush === (r.type !== DnsType.PTR)));
  });

  test("answers a subtype PTR query after a shared-record delay, with SRV, TXT and addresses as additionals", async () => {
    const { clock, network, responder } = await advertised();
    network.inject(6, { isResponse: false, questions: [question("_L3840._sub._matterc._udp.local", DnsType.PTR)] });
    network.inject(6, { isResponse: false, questions: [question("_L3841._sub._matterc._udp.local", DnsType.PTR)] });
    equal(network.sent.length, 0, "shared answers wait");
    await clock.advance(130);
    const sent = network.take();
    equal(sent.length, 1);
    ok(sent[0]!.at - 5000 - 1000 >= 20 && sent[0]!.at - 6000 <= 120, `sent after ${sent[0]!.at - 6000} ms`);
    equal(sent[0]!.to.address, MDNS_IPV6_GROUP);
    deepEqual(names(sent[0]!.message.answers), ["_L3840._sub._matterc._udp.local 12"]);
    deepEqual(names(sent[0]!.message.additionals), [`${responder.commissionableInstance} 16`, `${responder.commissionableInstance} 33`, "A1B2C3D4E5F6.local 1", "A1B2C3D4E5F6.local 28"].sort());
  });

  test("QU questions are answered by unicast; legacy queries get the id, the question and short TTLs", async () => {
    const { clock, network, responder } = await advertised({ families: [4] });
    await clock.advance(1_200_000); // long enough that a multicast copy is due as well (quarter TTL)
    network.inject(4, { isResponse: false, questions: [question("_V65521._sub._matterc._udp.local", DnsType.PTR, true)] });
    await clock.advance(200);
    const sent = network.take();
    const unicast = sent.filter((s) => s.to.address === "10.0.0.50");
    equal(unicast.length, 1);
    equal(unicast[0]!.to.port, 5353);
    equal(sent.filter((s) => s.to.address === MDNS_IPV4_GROUP).length, 1, "a quarter TTL passed: multicast too");

    network.inject(4, { id: 0x4242, isResponse: false, questions: [question(responder.commissionableInstance, DnsType.SRV)] }, { port: 40000 });
    const legacy = network.take();
    equal(legacy.length, 1);
    equal(legacy[0]!.to.port, 40000);
    equal(legacy[0]!.message.id, 0x4242);
    deepEqual(legacy[0]!.message.questions.map((q) => q.name), [responder.commissionableInstance]);
    ok([...legacy[0]!.message.answers, ...legacy[0]!.message.additionals].every((r) => r.ttl <= 10 && !r.cacheFlush));
  });

  test("known answers with at least half the TTL suppress the answer", async () => {
    const { clock, network, responder } = await advertised({ families: [4] });
    const instance = responder.commissionableInstance;
    network.inject(4, { isResponse: false, questions: [question("_matterc._udp.local", DnsType.PTR)], answers: [ptr("_matterc._udp.local", instance, 3000)] });
    await clock.advance(200);
    equal(network.take().length, 0, "suppressed");
    network.inject(4, { isResponse: false, questions: [question("_matterc._udp.local", DnsType.PTR)], answers: [ptr("_matterc._udp.local", instance, 2000)] });
    await clock.advance(200);
    equal(network.take().length, 1, "TTL below half: answered");
  });

  test("ANY on the instance gives SRV and TXT at once; a missing type gets an NSEC", async () => {
    const { clock, network, responder } = await advertised({ families: [4] });
    network.inject(4, { isResponse: false, questions: [question(responder.commissionableInstance, DnsType.ANY)] });
    let sent = network.take();
    equal(sent.length, 1, "unique answers go out without delay");
    deepEqual(names(sent[0]!.message.answers), [`${responder.commissionableInstance} 16`, `${responder.commissionableInstance} 33`]);
    await clock.advance(1000);
    network.inject(4, { isResponse: false, questions: [question("a1b2c3d4e5f6.LOCAL", DnsType.AAAA)] });
    sent = network.take();
    equal(sent.length, 1);
    const nsec = sent[0]!.message.answers[0]!;
    deepEqual(nsec.data, { kind: "NSEC", nextName: "A1B2C3D4E5F6.local", types: [DnsType.A] });
  });

  test("answers of several queries aggregate; a record is multicast at most once a second", async () => {
    const { clock, network } = await advertised({ families: [4] });
    network.inject(4, { isResponse: false, questions: [question("_S15._sub._matterc._udp.local", DnsType.PTR)] });
    await clock.advance(10);
    network.inject(4, { isResponse: false, questions: [question("_CM._sub._matterc._udp.local", DnsType.PTR)] });
    await clock.advance(200);
    let sent = network.take();
    equal(sent.length, 1, "one aggregated packet");
    deepEqual(names(sent[0]!.message.answers), ["_CM._sub._matterc._udp.local 12", "_S15._sub._matterc._udp.local 12"]);
    network.inject(4, { isResponse: false, questions: [question("_S15._sub._matterc._udp.local", DnsType.PTR)] });
    await clock.advance(200);
    equal(network.take().length, 0, "within a second of the last multicast");
    await clock.advance(1000);
    network.inject(4, { isResponse: false, questions: [question("_S15._sub._matterc._udp.local", DnsType.PTR)] });
    await clock.advance(200);
    sent = network.take();
    equal(sent.length, 1);
  });

  test("a conflicting response while probing renames the instance and probes again", async () => {
    const { clock, network, responder } = setup({ families: [4] });
    responder.advertiseCommissionable(INFO);
    await clock.advance(300);
    const first = responder.commissionableInstance;
    network.inject(4, {
      isResponse: true,
      answers: [{ name: first, type: DnsType.SRV, class: DNS_CLASS_IN, cacheFlush: true, ttl: 120, data: { kind: "SRV", priority: 0, weight: 0, port: 1, target: "other.local" } }],
    });
    await clock.advance(5000);
    const second = responder.commissionableInstance;
    ok(second !== first, "renamed");
    const announcement = network.take().find((s) => s.message.isResponse)!;
    ok(announcement.message.answers.some((r) => sameName(r.name, second)));
    ok(!announcement.message.answers.some((r) => sameName(r.name, first)));
  });

  test("a host name conflict renames the host; our own looped-back packets are no conflict", async () => {
    const { clock, network, responder } = setup({ families: [4] });
    responder.advertiseCommissionable(INFO);
    await clock.advance(260);
    // Our own probe, looped back, must not disturb probing.
    const ownProbe = network.sent[0]!.message;
    network.inject(4, { isResponse: false, questions: ownProbe.questions, authorities: ownProbe.authorities });
    network.inject(4, {
      isResponse: true,
      answers: [{ name: "A1B2C3D4E5F6.local", type: DnsType.A, class: DNS_CLASS_IN, cacheFlush: true, ttl: 120, data: { kind: "A", address: "10.0.0.99" } }],
    });
    await clock.advance(5000);
    ok(responder.hostName !== "A1B2C3D4E5F6.local", "host renamed");
    const sent = network.take();
    const announcement = sent.find((s) => s.message.isResponse)!;
    const srv = announcement.message.answers.find((r) => r.type === DnsType.SRV)!;
    equal((srv.data as { target: string }).target, responder.hostName);
    // Our announcements looped back do not start another round.
    for (const s of sent.filter((x) => x.message.isResponse)) network.inject(4, { isResponse: true, answers: s.message.answers });
    await clock.advance(5000);
    equal(network.take().filter((s) => !s.message.isResponse).length, 0, "no new probes");
  });

  test("simultaneous probes: the lexicographically later data wins, the loser waits a second", async () => {
    for (const [port, weLose] of [[65000, true], [1, false]] as const) {
      const { clock, network, responder } = setup({ families: [4] });
      responder.advertiseCommissionable(INFO);
      await clock.advance(260);
      const instance = responder.commissionableInstance;
      const ourProbes = network.take();
      const probesBefore = ourProbes.length;
      // The other prober has the same TXT: the SRV port decides (ours is 5540).
      const ourTxt = ourProbes[0]!.message.authorities.find((r) => r.type === DnsType.TXT)!;
      network.inject(4, {
        isResponse: false,
        questions: [question(instance, DnsType.ANY)],
        authorities: [ourTxt, { name: instance, type: DnsType.SRV, class: DNS_CLASS_IN, cacheFlush: false, ttl: 120, data: { kind: "SRV", priority: 0, weight: 0, port, target: "other.local" } }],
      });
      await clock.advance(600);
      const probesAfter = network.take().filter((s) => !s.message.isResponse).length;
      if (weLose) {
        equal(probesAfter, 0, "deferred");
        await clock.advance(1000);
        ok(network.take().some((s) => !s.message.isResponse), "probing again after a second");
      } else {
        ok(probesBefore + probesAfter >= 3, "probing went on");
      }
      equal(responder.commissionableInstance, instance, "no rename for a tie-break");
    }
  });

  test("withdrawing sends goodbyes with TTL 0 and stops answering", async () => {
    const { clock, network, responder } = await advertised({ families: [4] });
    const instance = responder.commissionableInstance;
    responder.withdrawCommissionable();
    const sent = network.take();
    equal(sent.length, 1);
    const goodbyes = sent[0]!.message.answers;
    ok(goodbyes.every((r) => r.ttl === 0));
    ok(goodbyes.some((r) => r.type === DnsType.PTR && sameName(r.name, "_L3840._sub._matterc._udp.local")));
    ok(goodbyes.some((r) => r.type === DnsType.SRV && sameName(r.name, instance)));
    ok(goodbyes.some((r) => r.type === DnsType.A), "host records too: nothing else is advertised");
    network.inject(4, { isResponse: false, questions: [question("_matterc._udp.local", DnsType.PTR)] });
    await clock.advance(500);
    equal(network.take().length, 0);
  });

  test("closing the window's CM: the _CM subtype says goodbye, the rest is announced again", async () => {
    const { clock, network, responder } = await advertised({ families: [4] });
    responder.advertiseCommissionable({ ...INFO, commissioningMode: 0 });
    await clock.advance(5000);
    const sent = network.take();
    const goodbye = sent[0]!.message.answers;
    deepEqual(names(goodbye), ["_CM._sub._matterc._udp.local 12", "_services._dns-sd._udp.local 12"]);
    ok(goodbye.every((r) => r.ttl === 0));
    const txt = sent[1]!.message.answers.find((r) => r.type === DnsType.TXT)!;
    equal(txtPairs((txt.data as { entries: Uint8Array[] }).entries).get("cm"), "0");
  });

  test("operational: <fabric>-<node> upper-case hex, _I subtype, session TXT; withdraw says goodbye", async () => {
    const { clock, network, responder } = setup({ families: [4] });
    responder.advertiseOperational({ compressedFabricId: 0x2906c908d115d362n, nodeId: 0x8fc7772401cd0696n, port: 5540, sessionIntervals: { idleIntervalMs: 5000 } });
    await clock.advance(5000);
    const announcement = network.take().find((s) => s.message.isResponse)!.message.answers;
    const instance = "2906C908D115D362-8FC7772401CD0696._matter._tcp.local";
    ok(announcement.some((r) => r.type === DnsType.PTR && sameName(r.name, "_matter._tcp.local") && (r.data as { target: string }).target === instance));
    ok(announcement.some((r) => r.type === DnsType.PTR && sameName(r.name, "_I2906C908D115D362._sub._matter._tcp.local")));
    const txt = announcement.find((r) => r.type === DnsType.TXT)!;
    deepEqual(Object.fromEntries(txtPairs((txt.data as { entries: Uint8Array[] }).entries)), { sii: "5000", sai: "300", sat: "4000", t: "0" });
    network.inject(4, { isResponse: false, questions: [question(instance, DnsType.SRV)] });
    equal(network.take().length, 1);
    responder.withdrawOperational(0x2906c908d115d362n, 0x8fc7772401cd0696n);
    const goodbye = network.take()[0]!.message.answers;
    ok(goodbye.length > 0 && goodbye.every((r) => r.ttl === 0));
  });

  test("malformed packets are dropped and the responder goes on answering", async () => {
    const { clock, network } = await advertised({ families: [4] });
    const receive = network.receivers.get(4)!;
    for (const junk of [new Uint8Array(0), Uint8Array.of(1, 2, 3), new Uint8Array(12).fill(0xff), Uint8Array.of(0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1)]) {
      receive(junk, { address: "10.0.0.50", port: 5353, family: 4 });
    }
    network.inject(4, { isResponse: false, questions: [question("_matterc._udp.local", DnsType.PTR)] });
    await clock.advance(200);
    equal(network.take().length, 1);
  });

  test("close() says goodbye for everything, then closes the sockets", async () => {
    const { clock, network, responder } = await advertised();
    responder.advertiseOperational({ compressedFabricId: 1n, nodeId: 2n, port: 5540 });
    responder.close();
    const sent = network.take();
    equal(network.closedSockets, 0, "the goodbyes get a moment to leave");
    await clock.advance(100);
    equal(network.closedSockets, 2);
    ok(sent.length >= 2 && sent.every((s) => s.message.answers.every((r) => r.ttl === 0)));
    ok(sent.some((s) => s.family === 6) && sent.some((s) => s.family === 4));
  });

  test("the commissioning window: DNS-SD and BLE together, a new rotating id per window, both withdrawn on close", async () => {
    const { clock, network, responder } = setup({ families: [4] });
    const ble = new RecordingBle();
    const uniqueId = fromHex("00112233445566778899aabbccddeeff");
    const window = new CommissioningAdvertisement({ mdns: responder, ble, storage: memoryStore(), rotatingIdUniqueId: uniqueId });
    const riOf = (sent: { message: DnsMessage }[]) => {
      const txt = sent.find((s) => s.message.isResponse)!.message.answers.find((r) => r.type === DnsType.TXT)!;
      return txtPairs((txt.data as { entries: Uint8Array[] }).entries).get("ri");
    };
    for (const counter of [1, 2]) {
      window.openWindow({ discriminator: 3840, vendorId: 0xfff1, productId: 0x8000, port: 5540 });
      await clock.advance(5000);
      equal(riOf(network.take()), rotatingDeviceIdHex(rotatingDeviceId(uniqueId, counter)), `window ${counter}`);
      deepEqual(decodeBleServiceData(ble.serviceData!), { opcode: 0, discriminator: 3840, version: 0, vendorId: 0xfff1, productId: 0x8000, additionalData: true });
      bytesEqual(ble.additionalData!, additionalDataPayload(rotatingDeviceId(uniqueId, counter)));
      window.closeWindow();
      const goodbye = network.take();
      ok(goodbye.length === 1 && goodbye[0]!.message.answers.every((r) => r.ttl === 0), "goodbyes");
      equal(ble.serviceData, undefined);
      equal(ble.additionalData, undefined);
      equal(window.isOpen, false);
    }
  });
});
