// The operational DNS-SD resolver against scripted responses and a manual clock: the questions it
// asks and when (QU first, then 1 s, 2 s, 4 s apart), SRV with addresses in one answer, SRV then
// a separate address query, goodbyes, other names and families ignored, link-local addresses
// bound to their interface, timeouts, and the resolver over MdnsResponder's own sockets.
import { DNS_CLASS_IN, DnsType, decodeDnsMessage, encodeDnsMessage, txtEntries, type DnsMessage, type DnsRecord } from "../../src/discovery/dns";
import { MdnsResponder } from "../../src/discovery/mdns";
import { OperationalResolver, ResolveError, operationalInstanceName, type MdnsQuerier } from "../../src/discovery/resolver";
import type { AddressFamily, Network, NetworkInterfaceInfo, UdpEndpoint, UdpOptions, UdpSocket } from "../../src/platform";
import { deepEqual, equal, ok, rejects, suite } from "../portable/harness";
import { ManualClock, SeededRandom } from "./transport-fixtures";

const FABRIC = 0x87e1b004e235a130n;
const NODE = 0x00000000000000e2n;
const INSTANCE = "87E1B004E235A130-00000000000000E2._matter._tcp.local";
const HOST = "0E1F2A3B4C5D.local";

class ScriptedQuerier implements MdnsQuerier {
  readonly sent: { at: number; message: DnsMessage }[] = [];
  private readonly listeners = new Set<(message: DnsMessage, from: UdpEndpoint) => void>();

  constructor(private readonly clock: ManualClock) {}

  sendQuery(packet: Uint8Array): void {
    this.sent.push({ at: this.clock.now(), message: decodeDnsMessage(packet) });
  }

  onResponse(listener: (message: DnsMessage, from: UdpEndpoint) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  get listening(): number {
    return this.listeners.size;
  }

  answer(answers: DnsRecord[], additionals: DnsRecord[] = [], from: Partial<UdpEndpoint> = {}): void {
    const message = decodeDnsMessage(encodeDnsMessage({ isResponse: true, answers, additionals }));
    for (const listener of [...this.listeners]) listener(message, { address: "fd00::e2", port: 5353, family: 6, ...from });
  }
}

const srv = (target = HOST, port = 5540, ttl = 120): DnsRecord => ({
  name: INSTANCE,
  type: DnsType.SRV,
  class: DNS_CLASS_IN,
  cacheFlush: true,
  ttl,
  data: { kind: "SRV", priority: 0, weight: 0, port, target },
});
const txt = (): DnsRecord => ({ name: INSTANCE, type: DnsType.TXT, class: DNS_CLASS_IN, cacheFlush: true, ttl: 4500, data: { kind: "TXT", entries: txtEntries({ SII: 5000, SAI: 300, T: 0 }) } });
const aaaa = (address: string, name = HOST, ttl = 120): DnsRecord => ({ name, type: DnsType.AAAA, class: DNS_CLASS_IN, cacheFlush: true, ttl, data: { kind: "AAAA", address } });
const a = (address: string, name = HOST, ttl = 120): DnsRecord => ({ name, type: DnsType.A, class: DNS_CLASS_IN, cacheFlush: true, ttl, data: { kind: "A", address } });

function setup() {
  const clock = new ManualClock();
  const querier = new ScriptedQuerier(clock);
  const resolver = new OperationalResolver({ querier, clock });
  return { clock, querier, resolver };
}

/** The outcome of a promise once the clock work so far has settled. */
function track<T>(promise: Promise<T>): { value?: T; error?: Error } {
  const state: { value?: T; error?: Error } = {};
  promise.then(
    (value) => (state.value = value),
    (error: Error) => (state.error = error),
  );
  return state;
}

export default suite("DNS-SD operational resolver", (test) => {
  test("instance names are the spec's upper-case 16-digit hex pair", () => {
    equal(operationalInstanceName(FABRIC, NODE), INSTANCE);
    equal(operationalInstanceName(0n, 1n), "0000000000000000-0000000000000001._matter._tcp.local");
  });

  test("asks for SRV and TXT (QU first), retries 1 s, 2 s, 4 s apart, and gives up at the timeout", async () => {
    const { clock, querier, resolver } = setup();
    const outcome = track(resolver.resolve(FABRIC, NODE, { timeoutMs: 7500 }));
    await clock.advance(0);
    equal(querier.sent.length, 1);
    const first = querier.sent[0]!.message;
    equal(first.isResponse, false);
    deepEqual(
      first.questions.map((q) => [q.name, q.type, q.unicastResponse]),
      [
        [INSTANCE, DnsType.SRV, true],
        [INSTANCE, DnsType.TXT, true],
      ],
    );
    await clock.advance(7499);
    deepEqual(
      querier.sent.map((entry) => entry.at - querier.sent[0]!.at),
      [0, 1000, 3000, 7000],
    );
    ok(querier.sent.slice(1).every((entry) => entry.message.questions.every((q) => !q.unicastResponse)), "only the first query asks for a unicast answer");
    equal(outcome.error, undefined);
    await clock.advance(1);
    ok(outcome.error instanceof ResolveError, "rejected with ResolveError");
    ok(/no SRV record of 87E1B004E235A130-00000000000000E2/.test(outcome.error!.message), outcome.error!.message);
    equal(querier.listening, 0, "stops listening");
    equal(clock.pendingTimers, 0, "no timer left");
  });

  test("SRV with its addresses as additional records resolves in one round trip, best address first", async () => {
    const { clock, querier, resolver } = setup();
    const outcome = track(resolver.resolve(FABRIC, NODE));
    await clock.advance(0);
    querier.answer([srv(HOST, 5541), txt()], [a("10.0.0.9"), aaaa("fe80::9"), aaaa("fd00::9"), aaaa("fd00::9")], { interfaceName: "eth0" });
    await clock.advance(0);
    const node = outcome.value!;
    ok(node, `resolved (${outcome.error?.message})`);
    equal(node.instance, INSTANCE);
    equal(node.host, HOST);
    equal(node.port, 5541);
    deepEqual(node.addresses, [
      { address: "fd00::9", port: 5541, family: 6 },
      { address: "10.0.0.9", port: 5541, family: 4 },
      { address: "fe80::9", port: 5541, family: 6, interfaceName: "eth0" },
    ]);
    equal(node.txt.get("sii"), "5000", "TXT keys are kept case-folded");
    equal(querier.sent.length, 1);
    equal(clock.pendingTimers, 0);
  });

  test("an SRV alone makes it ask for the host's AAAA and A at once", async () => {
    const { clock, querier, resolver } = setup();
    const outcome = track(resolver.resolve(FABRIC, NODE));
    await clock.advance(0);
    querier.answer([srv()]);
    await clock.advance(0);
    equal(querier.sent.length, 2);
    deepEqual(
      querier.sent[1]!.message.questions.map((q) => [q.name, q.type]),
      [
        [HOST, DnsType.AAAA],
        [HOST, DnsType.A],
      ],
    );
    // Addresses of another host, and an address that withdraws itself, change nothing.
    querier.answer([aaaa("fd00::1", "OTHER.local")]);
    querier.answer([aaaa("fd00::2", HOST, 0)]);
    await clock.advance(0);
    equal(outcome.value, undefined);
    querier.answer([a("192.168.7.2")]);
    await clock.advance(0);
    deepEqual(outcome.value?.addresses, [{ address: "192.168.7.2", port: 5540, family: 4 }]);
  });

  test("families the caller cannot use are neither asked for nor taken; link-local needs an interface", async () => {
    const { clock, querier, resolver } = setup();
    const outcome = track(resolver.resolve(FABRIC, NODE, { families: [4], timeoutMs: 3000 }));
    await clock.advance(0);
    querier.answer([srv()], [aaaa("fd00::5")]);
    await clock.advance(0);
    deepEqual(
      querier.sent[1]!.message.questions.map((q) => q.type),
      [DnsType.A],
    );
    equal(outcome.value, undefined);
    querier.answer([a("10.1.1.1")]);
    await clock.advance(0);
    deepEqual(outcome.value?.addresses.map((x) => x.address), ["10.1.1.1"]);

    const second = setup();
    const linkLocal = track(second.resolver.resolve(FABRIC, NODE, { timeoutMs: 2000 }));
    await second.clock.advance(0);
    second.querier.answer([srv()], [aaaa("fe80::7")]); // arrived without an interface name: unusable
    await second.clock.advance(2000);
    ok(linkLocal.error instanceof ResolveError);
    ok(/is 0E1F2A3B4C5D.local, but no usable address/.test(linkLocal.error!.message), linkLocal.error!.message);
  });

  test("a goodbye for the SRV forgets it; a new SRV replaces the old target", async () => {
    const { clock, querier, resolver } = setup();
    const outcome = track(resolver.resolve(FABRIC, NODE));
    await clock.advance(0);
    querier.answer([srv("OLD.local")]);
    querier.answer([srv("OLD.local", 5540, 0)]);
    querier.answer([a("10.0.0.1", "OLD.local")]);
    await clock.advance(0);
    equal(outcome.value, undefined, "the withdrawn host's address is not taken");
    querier.answer([srv("NEW.local", 5600)], [a("10.0.0.2", "NEW.local")]);
    await clock.advance(0);
    equal(outcome.value?.host, "NEW.local");
    deepEqual(outcome.value?.addresses, [{ address: "10.0.0.2", port: 5600, family: 4 }]);
  });

  test("queries ignore other instances; several resolutions run side by side; close rejects them", async () => {
    const { clock, querier, resolver } = setup();
    const first = track(resolver.resolve(FABRIC, NODE));
    const other = track(resolver.resolve(FABRIC, 0xe3n));
    await clock.advance(0);
    querier.answer([{ ...srv(), name: "87E1B004E235A130-00000000000000E3._matter._tcp.local" }], [a("10.9.9.9")]);
    await clock.advance(0);
    equal(first.value, undefined);
    equal(other.value?.addresses[0]?.address, "10.9.9.9");
    resolver.close();
    await clock.advance(0);
    ok(first.error instanceof ResolveError && /closed/.test(first.error.message));
    await rejects(() => resolver.resolve(FABRIC, NODE), /closed/);
    equal(clock.pendingTimers, 0);
  });

  test("over the responder's sockets: queries go to the groups, only port-5353 responses count", async () => {
    const clock = new ManualClock();
    const receivers = new Map<AddressFamily, (data: Uint8Array, from: UdpEndpoint) => void>();
    const sent: { to: UdpEndpoint; message: DnsMessage }[] = [];
    const network: Network = {
      openUdp(options: UdpOptions, onMessage): UdpSocket {
        receivers.set(options.family, onMessage);
        return { port: options.port, family: options.family, send: (data, to) => sent.push({ to, message: decodeDnsMessage(data) }), close: () => {} };
      },
      interfaces: (): NetworkInterfaceInfo[] => [{ name: "eth0", addresses: [{ address: "10.0.0.7", family: 4 }] }],
    };
    const responder = new MdnsResponder({ network, clock, random: new SeededRandom(3), interfaceName: "eth0", hostName: "AABBCCDDEEFF" });
    const resolver = new OperationalResolver({ querier: responder, clock });
    const outcome = track(resolver.resolve(FABRIC, NODE, { timeoutMs: 4000 }));
    await clock.advance(0);
    deepEqual(
      sent.map((entry) => [entry.to.address, entry.to.port, entry.message.questions[0]?.name]),
      [
        ["ff02::fb", 5353, INSTANCE],
        ["224.0.0.251", 5353, INSTANCE],
      ],
    );
    const response = encodeDnsMessage({ isResponse: true, answers: [srv()], additionals: [a("10.0.0.8")] });
    receivers.get(4)!(response, { address: "10.0.0.8", port: 40000, family: 4 });
    await clock.advance(0);
    equal(outcome.value, undefined, "a response from another port is not an mDNS answer");
    receivers.get(4)!(response, { address: "10.0.0.8", port: 5353, family: 4 });
    await clock.advance(0);
    deepEqual(outcome.value?.addresses, [{ address: "10.0.0.8", port: 5540, family: 4 }]);
    responder.close();
  });
});
