// DNS codec: round trips with compression, a hand-assembled packet, and malformed packets that
// must be refused with a DnsError (never another exception, never a hang).
import {
  DnsError,
  DnsType,
  DNS_CLASS_IN,
  decodeDnsMessage,
  encodeDnsMessage,
  formatIpv6,
  nameLabels,
  parseIpv6,
  joinLabels,
  recordKey,
  txtEntries,
  txtPairs,
  type DnsMessage,
  type DnsRecord,
} from "../../src/discovery/dns";
import { bytesEqual, deepEqual, equal, fromHex, ok, suite, throws, toHex } from "../portable/harness";
import { SeededRandom } from "./transport-fixtures";

const text = (value: string) => new TextEncoder().encode(value);

function sampleRecords(): DnsRecord[] {
  const instance = "0123456789ABCDEF._matterc._udp.local";
  const host = "A1B2C3D4E5F6.local";
  return [
    { name: "_matterc._udp.local", type: DnsType.PTR, class: DNS_CLASS_IN, cacheFlush: false, ttl: 4500, data: { kind: "PTR", target: instance } },
    { name: "_L3840._sub._matterc._udp.local", type: DnsType.PTR, class: DNS_CLASS_IN, cacheFlush: false, ttl: 4500, data: { kind: "PTR", target: instance } },
    { name: instance, type: DnsType.SRV, class: DNS_CLASS_IN, cacheFlush: true, ttl: 120, data: { kind: "SRV", priority: 0, weight: 0, port: 5540, target: host } },
    { name: instance, type: DnsType.TXT, class: DNS_CLASS_IN, cacheFlush: true, ttl: 4500, data: { kind: "TXT", entries: txtEntries({ D: 3840, CM: 1, VP: "65521+32768" }) } },
    { name: host, type: DnsType.A, class: DNS_CLASS_IN, cacheFlush: true, ttl: 120, data: { kind: "A", address: "10.0.0.7" } },
    { name: host, type: DnsType.AAAA, class: DNS_CLASS_IN, cacheFlush: true, ttl: 120, data: { kind: "AAAA", address: "fe80::1:2ff:fe03:405" } },
    { name: host, type: DnsType.NSEC, class: DNS_CLASS_IN, cacheFlush: true, ttl: 120, data: { kind: "NSEC", nextName: host, types: [DnsType.A, DnsType.AAAA] } },
    { name: "x.local", type: 99, class: DNS_CLASS_IN, cacheFlush: false, ttl: 5, data: { kind: "raw", bytes: Uint8Array.of(1, 2, 3) } },
  ];
}

function sampleMessage(): DnsMessage {
  return {
    id: 0,
    isResponse: true,
    opcode: 0,
    authoritative: true,
    truncated: false,
    rcode: 0,
    questions: [],
    answers: sampleRecords().slice(0, 2),
    authorities: [],
    additionals: sampleRecords().slice(2),
  };
}

/** A query for _matterc._udp.local PTR (QU) with one known answer whose name is a pointer. */
const HAND_QUERY = fromHex(
  "1234" + // id
    "0000" + // flags: query
    "0001" + // one question
    "0001" + // one answer
    "00000000" +
    "085f6d617474657263045f756470056c6f63616c00" + // _matterc._udp.local (offset 12)
    "000c" + // PTR
    "8001" + // QU, IN
    "c00c" + // pointer to offset 12
    "000c00010000119400" + // PTR IN, TTL 4500, rdlength high byte
    "13" + // rdlength 19
    "103031323334353637383941424344454600".slice(0, 34) + // 16-byte label "0123456789ABCDEF"
    "c00c", // followed by a pointer to the service
);

export default suite("dns", (test) => {
  test("a response with every record type round trips, and compression shrinks it", () => {
    const message = sampleMessage();
    const bytes = encodeDnsMessage(message);
    deepEqual(decodeDnsMessage(bytes), message);
    // Each label is written once; later names point at it (the NSEC next name is never compressed).
    const occurrences = (label: string) => {
      const needle = toHex(text(label));
      let count = 0;
      for (let at = toHex(bytes).indexOf(needle); at >= 0; at = toHex(bytes).indexOf(needle, at + 1)) count++;
      return count;
    };
    equal(occurrences("_matterc"), 1, "_matterc");
    equal(occurrences("0123456789ABCDEF"), 1, "instance label");
    equal(occurrences("A1B2C3D4E5F6"), 2, "host label (owner and NSEC next name)");
    // Encoding the decoded message again gives the same bytes.
    bytesEqual(encodeDnsMessage(decodeDnsMessage(bytes)), bytes);
  });

  test("messages far larger than the writer's first buffer round trip intact", () => {
    const answers: DnsRecord[] = [];
    for (let i = 0; i < 120; i++) {
      answers.push({ name: `host-${i}.local`, type: DnsType.A, class: DNS_CLASS_IN, cacheFlush: true, ttl: 120, data: { kind: "A", address: `10.1.${i}.${255 - i}` } });
      answers.push({ name: `i${i}._matter._tcp.local`, type: DnsType.TXT, class: DNS_CLASS_IN, cacheFlush: false, ttl: 4500, data: { kind: "TXT", entries: [text(`K${i}=${"v".repeat(i % 40)}`)] } });
    }
    const message: DnsMessage = { ...sampleMessage(), answers, additionals: [] };
    const bytes = encodeDnsMessage(message);
    ok(bytes.length > 4000, `${bytes.length} bytes`);
    deepEqual(decodeDnsMessage(bytes), message);
  });

  test("a hand-assembled query with pointers decodes", () => {
    const message = decodeDnsMessage(HAND_QUERY);
    equal(message.id, 0x1234);
    equal(message.isResponse, false);
    deepEqual(message.questions, [{ name: "_matterc._udp.local", type: DnsType.PTR, class: DNS_CLASS_IN, unicastResponse: true }]);
    equal(message.answers.length, 1);
    deepEqual(message.answers[0]!.data, { kind: "PTR", target: "0123456789ABCDEF._matterc._udp.local" });
    equal(message.answers[0]!.ttl, 4500);
    // Our encoder writes the same bytes for the same content.
    bytesEqual(encodeDnsMessage({ ...message, authoritative: false }), HAND_QUERY);
  });

  test("names: escapes, case-insensitive keys, labels with dots", () => {
    deepEqual(nameLabels("My\\.Device._matter._tcp.local"), ["My.Device", "_matter", "_tcp", "local"]);
    equal(joinLabels(["a.b", "c\\d"]), "a\\.b.c\\\\d");
    const record: DnsRecord = { name: "a\\.b.local", type: DnsType.PTR, class: 1, cacheFlush: false, ttl: 1, data: { kind: "PTR", target: "X.local" } };
    const decoded = decodeDnsMessage(encodeDnsMessage({ isResponse: true, answers: [record] }));
    equal(decoded.answers[0]!.name, "a\\.b.local");
    equal(recordKey({ ...record, name: "A\\.B.LOCAL", data: { kind: "PTR", target: "x.local" } }), recordKey(record));
  });

  test("IPv6 text: parse and RFC 5952 format", () => {
    for (const [input, canonical] of [
      ["fe80::1", "fe80::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["::", "::"],
      ["::ffff:10.1.2.3", "::ffff:a01:203"],
      ["fe80::abcd%eth0", "fe80::abcd"],
      ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ] as const) {
      equal(formatIpv6(parseIpv6(input)), canonical, input);
    }
    for (const bad of ["1::2::3", "12345::", "1:2:3:4:5:6:7", "g::1", "1:2:3:4:5:6:7:8:9"]) throws(() => parseIpv6(bad), "not an IPv6 address", bad);
  });

  test("TXT: empty record is one empty string; pairs are read case-insensitively, first wins", () => {
    const empty: DnsRecord = { name: "a.local", type: DnsType.TXT, class: 1, cacheFlush: false, ttl: 1, data: { kind: "TXT", entries: [] } };
    const bytes = encodeDnsMessage({ isResponse: true, answers: [empty] });
    equal(toHex(bytes.slice(-3)), "000100");
    deepEqual(decodeDnsMessage(bytes).answers[0]!.data, { kind: "TXT", entries: [] });
    const pairs = txtPairs([text("D=840"), text("d=1"), text("flag"), text("=x")]);
    deepEqual([...pairs.entries()], [["d", "840"], ["flag", ""]]);
  });

  test("malformed packets are refused with DnsError", () => {
    const valid = encodeDnsMessage(sampleMessage());
    const cases: [string, Uint8Array, string | RegExp][] = [
      ["short header", valid.slice(0, 11), "shorter than a header"],
      ["truncated record", valid.slice(0, valid.length - 1), /past|end/],
      ["trailing byte", Uint8Array.of(...valid, 0), "follow the last record"],
      ["counts that cannot fit", fromHex("0000840000ff00ff00ff00ff" + "00".repeat(20)), "cannot fit"],
      // A question whose name is a pointer to itself.
      ["pointer loop", fromHex("000000000001000000000000" + "c00c" + "00010001"), "backwards"],
      // A pointer forward to the rest of the packet.
      ["forward pointer", fromHex("000000000001000000000000" + "c010" + "00010001" + "0161" + "00"), /backwards|follow/],
      ["pointer into the header", fromHex("000000000001000000000000" + "c002" + "00010001"), "backwards"],
      ["extended label type", fromHex("000000000001000000000000" + "4161" + "00010001"), "label type"],
      ["label past the end", fromHex("000000000001000000000000" + "3f61" + "00010001"), /past/],
      ["A with 5 bytes", fromHex("000084000000000100000000" + "00" + "0001000100000078" + "0005" + "0a00000701"), "A record"],
      ["rdata longer than its name", fromHex("000084000000000100000000" + "00" + "000c000100000078" + "0004" + "01610000"), "unexplained"],
      ["PTR name running out of its rdata", fromHex("000084000000000100000000" + "00" + "000c000100000078" + "0002" + "0161" + "00"), /past|end/],
      ["TXT string past its record", fromHex("000084000000000100000000" + "00" + "0010000100000078" + "0002" + "0561"), "TXT"],
      ["NSEC windows out of order", fromHex("000084000000000100000000" + "00" + "002f000100000078" + "0007" + "00" + "000140" + "000140"), "increasing"],
      ["NSEC bitmap of 33 bytes", fromHex("000084000000000100000000" + "00" + "002f000100000078" + "0024" + "00" + "0021" + "00".repeat(33)), "bad length"],
      ["message too long", new Uint8Array(9001), "exceeds"],
    ];
    for (const [name, bytes, pattern] of cases) {
      const error = throws(() => decodeDnsMessage(bytes), pattern, name);
      ok(error instanceof DnsError, `${name}: ${error.name}`);
    }
    // A name of 256 bytes: four 63-byte labels.
    const longName = Array.from({ length: 4 }, () => "3f" + "61".repeat(63)).join("") + "00";
    throws(() => decodeDnsMessage(fromHex("000000000001000000000000" + longName + "00010001")), "longer than 255");
    throws(() => encodeDnsMessage({ isResponse: false, questions: [{ name: "a".repeat(64) + ".local", type: 1, class: 1, unicastResponse: false }] }), "label of 64");
  });

  test("random corruption of a valid packet: decoded or refused, never another error", () => {
    const valid = encodeDnsMessage(sampleMessage());
    const random = new SeededRandom(0xd15c0);
    let refused = 0;
    for (let round = 0; round < 1500; round++) {
      const bytes = valid.slice(0, 12 + (random.bytes(2)[0]! | (random.bytes(1)[0]! << 8)) % (valid.length - 11));
      const flips = 1 + (random.bytes(1)[0]! % 4);
      for (let i = 0; i < flips; i++) {
        const [position, value] = random.bytes(2);
        bytes[position! % bytes.length] = value!;
      }
      try {
        const message = decodeDnsMessage(bytes);
        // Whatever decodes must encode again.
        encodeDnsMessage(message);
      } catch (error) {
        if (!(error instanceof DnsError)) throw new Error(`round ${round}: ${(error as Error).name}: ${(error as Error).message} for ${toHex(bytes)}`);
        refused++;
      }
    }
    ok(refused > 500, `only ${refused} of 1500 corrupted packets were refused`);
  });
});
