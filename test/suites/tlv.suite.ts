import { suite, equal, ok, bytesEqual, deepEqual, fromHex, toHex, AssertionError } from "../portable/harness";
import { CodecError } from "../../src/codec/bytes";
import {
  TlvStruct,
  TlvWriter,
  asBigInt,
  asNumber,
  decodeTlv,
  decodeTlvElements,
  encodeTlv,
  tlvTagToString,
  type TlvElement,
  type TlvTag,
} from "../../src/codec/tlv";
import { pseudoRandom, throwsCodecError } from "./codec-assert";

interface TlvVector {
  description: string;
  encoding_hex: string;
  value_notation: string;
  decoded_by_collector: string;
}

interface TlvVectorFile {
  vectors: TlvVector[];
  sample: { encoding_hex: string; length: number; structure: string; large_string: string };
}

const VECTORS = "tlv/tlv_vectors.json";

// The collector's decoding is written in Python notation: ('<tag bytes hex>', value), where a
// container's value is a list of such pairs and an octet string is shown as hex.
type CollectorValue = number | boolean | null | string | CollectorItem[];
type CollectorItem = [string, CollectorValue];

function parseCollector(text: string): CollectorItem {
  let at = 0;
  const skipSpaces = () => {
    while (text[at] === " ") at++;
  };
  const expect = (char: string) => {
    skipSpaces();
    if (text[at] !== char) throw new AssertionError(`collector notation: expected '${char}' at ${at} in ${text}`);
    at++;
  };
  const quoted = (): string => {
    expect("'");
    let out = "";
    while (text[at] !== "'") {
      if (at >= text.length) throw new AssertionError(`collector notation: unterminated string in ${text}`);
      out += text[at++];
    }
    at++;
    return out;
  };
  const value = (): CollectorValue => {
    skipSpaces();
    if (text[at] === "'") return quoted();
    if (text[at] === "[") {
      at++;
      const items: CollectorItem[] = [];
      skipSpaces();
      if (text[at] === "]") return at++, items;
      for (;;) {
        items.push(item());
        skipSpaces();
        if (text[at] === "]") return at++, items;
        expect(",");
      }
    }
    const word = /^[^,)\]]+/.exec(text.slice(at))![0].trim();
    at += word.length;
    if (word === "True") return true;
    if (word === "False") return false;
    if (word === "None") return null;
    if (word === "inf") return Infinity;
    if (word === "-inf") return -Infinity;
    const number = Number(word);
    if (Number.isNaN(number)) throw new AssertionError(`collector notation: unknown value ${word}`);
    return number;
  };
  const item = (): CollectorItem => {
    expect("(");
    const tag = quoted();
    expect(",");
    const v = value();
    expect(")");
    return [tag, v];
  };
  const result = item();
  skipSpaces();
  if (at !== text.length) throw new AssertionError(`collector notation: trailing text in ${text}`);
  return result;
}

/** A tag's bytes as the encoding carries them (canonical width), for comparison with the collector. */
function tagBytesHex(tag: TlvTag): string {
  const le = (value: number, bytes: number) => {
    let out = "";
    for (let i = 0; i < bytes; i++) out += ((Math.floor(value / 2 ** (8 * i)) & 0xff) | 0x100).toString(16).slice(1);
    return out;
  };
  if (tag === undefined) return "";
  if (typeof tag === "number") return le(tag, 1);
  if ("common" in tag) return le(tag.common, tag.common > 0xffff ? 4 : 2);
  if ("implicit" in tag) return le(tag.implicit, tag.implicit > 0xffff ? 4 : 2);
  return le(tag.vendor, 2) + le(tag.profile, 2) + le(tag.id, tag.id > 0xffff ? 4 : 2);
}

function matchCollector(element: TlvElement, [tag, value]: CollectorItem, path: string): void {
  equal(tagBytesHex(element.tag), tag, `${path} tag`);
  if (Array.isArray(value)) {
    ok(element.type === "structure" || element.type === "array" || element.type === "list", `${path}: expected a container, got ${element.type}`);
    const children = element.value as TlvElement[];
    equal(children.length, value.length, `${path} child count`);
    children.forEach((child, i) => matchCollector(child, value[i]!, `${path}[${i}]`));
  } else if (element.type === "bytes") {
    equal(toHex(element.value as Uint8Array), value, `${path} bytes`);
  } else {
    equal(element.value, value, `${path} value`);
  }
}

/** The element type the vector's description and notation name, for scalar vectors. */
function describedType(vector: TlvVector): string | undefined {
  if (vector.description.startsWith("Single precision")) return "float";
  if (vector.description.startsWith("Double")) return "double";
  if (/^(Boolean|Null|UTF-8|Octet)/.test(vector.description)) return undefined;
  if (/^\[|^\{|^\[\[/.test(vector.value_notation)) return undefined;
  if (/\d+U$/.test(vector.value_notation)) return "uint";
  if (/^Signed/.test(vector.description)) return "int";
  return undefined;
}

const isDecodeOnly = (vector: TlvVector) => /decode only/i.test(vector.description);

export default suite("codec/tlv", (test) => {
  test("every vector decodes to the collector's reading and re-encodes to the exact bytes", (context) => {
    const file = context.vectors.json<TlvVectorFile>(VECTORS);
    ok(file.vectors.length >= 40, "vector file is complete");
    let canonical = 0;
    for (const vector of file.vectors) {
      const bytes = fromHex(vector.encoding_hex);
      const element = decodeTlv(bytes);
      matchCollector(element, parseCollector(vector.decoded_by_collector), vector.description);
      const type = describedType(vector);
      if (type) equal(element.type, type, `${vector.description}: type`);
      if (isDecodeOnly(vector)) continue;
      bytesEqual(encodeTlv(element), bytes, vector.description);
      canonical++;
    }
    equal(canonical, file.vectors.length - 1, "exactly one decode-only vector");
  });

  test("the non-minimal encoding decodes, and re-encodes minimally", (context) => {
    const vector = context.vectors.json<TlvVectorFile>(VECTORS).vectors.find(isDecodeOnly)!;
    bytesEqual(fromHex(vector.encoding_hex), "012a00");
    const element = decodeTlv(fromHex(vector.encoding_hex));
    deepEqual(element, { tag: undefined, type: "int", value: 42 });
    bytesEqual(encodeTlv(element), "002a");
  });

  test("the large sample decodes to the structure its README describes", (context) => {
    const { sample } = context.vectors.json<TlvVectorFile>(VECTORS);
    const bytes = fromHex(sample.encoding_hex);
    equal(bytes.length, sample.length);
    equal(sample.large_string.length, 270);
    const full = (id: number): TlvTag => ({ vendor: 0xaabb, profile: 0xccdd, id });
    const expected: TlvElement = {
      tag: full(1),
      type: "structure",
      value: [
        { tag: full(2), type: "bool", value: true },
        { tag: { implicit: 2 }, type: "bool", value: false },
        {
          tag: 0,
          type: "array",
          value: [
            { tag: undefined, type: "int", value: 42 },
            { tag: undefined, type: "int", value: -17 },
            { tag: undefined, type: "int", value: -170000 },
            { tag: undefined, type: "uint", value: 40000000000 },
            { tag: undefined, type: "structure", value: [] },
            {
              tag: undefined,
              type: "list",
              value: [
                { tag: full(17), type: "null", value: null },
                { tag: { implicit: 900000 }, type: "null", value: null },
                { tag: undefined, type: "null", value: null },
                {
                  tag: { implicit: 4000000000 },
                  type: "structure",
                  value: [{ tag: { common: 70000 }, type: "utf8", value: sample.large_string }],
                },
              ],
            },
          ],
        },
        { tag: full(5), type: "utf8", value: "This is a test" },
        { tag: { implicit: 65535 }, type: "float", value: Math.fround(17.9) },
        { tag: { implicit: 65536 }, type: "double", value: 17.9 },
      ],
    };
    const decoded = decodeTlv(bytes);
    // The decoder represents anonymous tags as an absent-valued `tag` key; compare through a re-encode too.
    deepEqual(normalise(decoded), normalise(expected));
    bytesEqual(encodeTlv(expected), bytes, "the described structure encodes to the sample");
    bytesEqual(encodeTlv(decoded), bytes, "the decoded sample re-encodes exactly");
  });

  test("TlvWriter's methods rebuild the sample byte for byte", (context) => {
    const { sample } = context.vectors.json<TlvVectorFile>(VECTORS);
    const full = (id: number): TlvTag => ({ vendor: 0xaabb, profile: 0xccdd, id });
    const writer = new TlvWriter()
      .startStructure(full(1))
      .bool(full(2), true)
      .bool({ implicit: 2 }, false)
      .startArray(0)
      .int(undefined, 42)
      .int(undefined, -17)
      .int(undefined, -170000)
      .uint(undefined, 40000000000n)
      .startStructure(undefined)
      .end()
      .startList(undefined)
      .null(full(17))
      .null({ implicit: 900000 })
      .null(undefined)
      .startStructure({ implicit: 4000000000 })
      .utf8({ common: 70000 }, sample.large_string)
      .end()
      .end()
      .end()
      .utf8(full(5), "This is a test")
      .float({ implicit: 65535 }, 17.9)
      .double({ implicit: 65536 }, 17.9)
      .end();
    bytesEqual(writer.finish(), sample.encoding_hex);
  });

  test("certification declarations: TLV content reads as its elements and re-encodes exactly", (context) => {
    const cd = context.vectors.json<{
      tlv_tags: Record<string, number>;
      test_cases: { name: string; elements: Record<string, unknown>; cd_content_hex: string }[];
    }>("certification_declaration/cd_vectors.json");
    const tags = cd.tlv_tags;
    const number = (value: unknown) => (typeof value === "string" ? parseInt(value, 16) : (value as number));
    for (const { name, elements, cd_content_hex } of cd.test_cases) {
      const bytes = fromHex(cd_content_hex);
      const struct = TlvStruct.decode(bytes);
      equal(struct.uint(tags.format_version!), elements.format_version, `${name} format_version`);
      equal(struct.uint(tags.vendor_id!), number(elements.vendor_id), `${name} vendor_id`);
      const productIds = struct.array(tags.product_id_array!).map(asNumber);
      if (Array.isArray(elements.product_ids)) deepEqual(productIds, elements.product_ids.map(number), `${name} product ids`);
      else deepEqual(productIds, Array.from({ length: 100 }, (_, i) => 0x8000 + i), `${name}: ${String(elements.product_ids)}`);
      equal(struct.uint(tags.device_type_id!), number(elements.device_type_id), `${name} device type`);
      equal(struct.utf8(tags.certificate_id!, 19), elements.certificate_id, `${name} certificate id`);
      equal(struct.uint(tags.security_level!), elements.security_level);
      equal(struct.uint(tags.security_information!), elements.security_information);
      equal(struct.uint(tags.version_number!), number(elements.version_number));
      equal(struct.uint(tags.certification_type!), elements.certification_type);
      equal(struct.optionalUint(tags.dac_origin_vendor_id!) ?? null, elements.dac_origin_vendor_id === null ? null : number(elements.dac_origin_vendor_id));
      equal(struct.optionalUint(tags.dac_origin_product_id!) ?? null, elements.dac_origin_product_id === null ? null : number(elements.dac_origin_product_id));
      bytesEqual(encodeTlv(struct.element), bytes, `${name} re-encodes`);
    }
  });

  test("integers use the smallest width for their value, and come back as number or bigint", () => {
    const unsigned: [number | bigint, string][] = [
      [0, "0400"], [255, "04ff"], [256, "050001"], [65535, "05ffff"], [65536, "0600000100"],
      [0xffffffff, "06ffffffff"], [2 ** 32, "070000000001000000"], [2 ** 53 - 1, "07ffffffffffff1f00"],
      [2n ** 53n, "070000000000002000"], [2n ** 64n - 1n, "07ffffffffffffffff"],
    ];
    for (const [value, hex] of unsigned) {
      bytesEqual(new TlvWriter().uint(undefined, value).finish(), hex, `uint ${value}`);
      const decoded = decodeTlv(fromHex(hex)).value;
      equal(typeof decoded, typeof value === "bigint" && value > BigInt(Number.MAX_SAFE_INTEGER) ? "bigint" : "number", `uint ${value} type`);
      equal(BigInt(decoded as number | bigint), BigInt(value), `uint ${value} value`);
    }
    const signed: [number | bigint, string][] = [
      [0, "0000"], [127, "007f"], [-128, "0080"], [128, "018000"], [-129, "017fff"], [32767, "01ff7f"],
      [-32768, "010080"], [32768, "0200800000"], [-32769, "02ff7fffff"], [2 ** 31 - 1, "02ffffff7f"],
      [-(2 ** 31), "0200000080"], [2 ** 31, "030000008000000000"], [-(2 ** 31) - 1, "03ffffff7fffffffff"],
      [-(2 ** 32), "0300000000ffffffff"], [-(2n ** 48n), "03000000000000ffff"],
      [-(2 ** 53 - 1), "03010000000000e0ff"], [-(2n ** 53n), "03000000000000e0ff"],
      [2n ** 63n - 1n, "03ffffffffffffff7f"], [-(2n ** 63n), "030000000000000080"],
    ];
    for (const [value, hex] of signed) {
      bytesEqual(new TlvWriter().int(undefined, value).finish(), hex, `int ${value}`);
      const decoded = decodeTlv(fromHex(hex)).value;
      const big = BigInt(value);
      const safe = big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= -BigInt(Number.MAX_SAFE_INTEGER);
      equal(typeof decoded, safe ? "number" : "bigint", `int ${value} type`);
      equal(BigInt(decoded as number | bigint), big, `int ${value} value`);
    }
    bytesEqual(new TlvWriter().uint(undefined, 7n).int(undefined, -3n).finish(), "040700fd", "small bigints shrink too");
  });

  test("strings and byte strings use the smallest length field", () => {
    const cases: [number, string][] = [[0, "00"], [255, "ff"], [256, "0001"], [65535, "ffff"], [65536, "00000100"]];
    for (const [length, lengthHex] of cases) {
      const control = length <= 0xff ? 0 : length <= 0xffff ? 1 : 2;
      const data = new Uint8Array(length).fill(0x61);
      const asBytes = new TlvWriter().bytes(undefined, data).finish();
      equal(toHex(asBytes.subarray(0, 1 + lengthHex.length / 2)), (0x10 + control).toString(16) + lengthHex, `bytes ${length}`);
      equal(asBytes.length, 1 + lengthHex.length / 2 + length);
      const asText = new TlvWriter().utf8(undefined, "a".repeat(length)).finish();
      equal(toHex(asText.subarray(0, 1)), "0" + (0xc + control).toString(16), `utf8 ${length}`);
      equal((decodeTlv(asText).value as string).length, length);
      equal((decodeTlv(asBytes).value as Uint8Array).length, length);
    }
    // The length counts bytes, not characters.
    bytesEqual(new TlvWriter().utf8(undefined, "€").finish(), "0c03e282ac");
  });

  test("tags use the smallest form", () => {
    const cases: [TlvTag, string][] = [
      [0, "240000"], [255, "24ff00"],
      [{ common: 0 }, "44000000"], [{ common: 0xffff }, "44ffff00"], [{ common: 0x10000 }, "640000010000"],
      [{ implicit: 1 }, "84010000"], [{ implicit: 0xffffffff }, "a4ffffffff00"],
      [{ vendor: 0xfff1, profile: 0xdeed, id: 0xffff }, "c4f1ffeddeffff00"],
      [{ vendor: 0, profile: 0, id: 0x10000 }, "e4000000000000010000"],
    ];
    for (const [tag, hex] of cases) {
      const placed = typeof tag === "number" ? new TlvWriter().startStructure(undefined).uint(tag, 0).end().finish() : new TlvWriter().uint(tag, 0).finish();
      const inner = typeof tag === "number" ? toHex(placed).slice(2, -2) : toHex(placed);
      equal(inner, hex, tlvTagToString(tag));
      const decoded = decodeTlv(placed);
      deepEqual((typeof tag === "number" ? (decoded.value as TlvElement[])[0]! : decoded).tag, tag);
    }
  });

  test("the writer rejects out-of-range values and tags, writing nothing", () => {
    const writer = new TlvWriter();
    throwsCodecError(() => writer.uint(undefined, -1), "uint");
    throwsCodecError(() => writer.uint(undefined, 2n ** 64n), "uint");
    throwsCodecError(() => writer.uint(undefined, -1n), "uint");
    throwsCodecError(() => writer.uint(undefined, 1.5), "uint");
    throwsCodecError(() => writer.uint(undefined, 2 ** 64), "uint");
    throwsCodecError(() => writer.int(undefined, 2n ** 63n), "int64");
    throwsCodecError(() => writer.int(undefined, -(2n ** 63n) - 1n), "int64");
    throwsCodecError(() => writer.int(undefined, 0.1), "int");
    throwsCodecError(() => writer.int(undefined, NaN), "int");
    throwsCodecError(() => writer.uint({ common: 2 ** 32 }, 0), "tag id");
    throwsCodecError(() => writer.uint({ implicit: -1 }, 0), "tag id");
    throwsCodecError(() => writer.uint({ vendor: 0x10000, profile: 0, id: 1 }, 0), "vendor");
    throwsCodecError(() => writer.uint({ vendor: 1, profile: 1, id: 2 ** 32 }, 0), "tag id");
    throwsCodecError(() => writer.bytes(undefined, "ab" as unknown as Uint8Array), "Uint8Array");
    throwsCodecError(() => writer.utf8(undefined, 5 as unknown as string), "string");
    writer.startStructure(undefined);
    throwsCodecError(() => writer.uint(256, 0), "context tag 256");
    throwsCodecError(() => writer.uint(-1, 0), "context tag -1");
    throwsCodecError(() => writer.uint(1.5, 0), "context tag 1.5");
    throwsCodecError(() => writer.uint(undefined, 0), "anonymous element inside a structure");
    writer.end();
    bytesEqual(writer.finish(), "1518", "nothing from the rejected calls was written");
  });

  test("the writer enforces where tags may appear and that containers are balanced", () => {
    throwsCodecError(() => new TlvWriter().uint(1, 0), "context tag 1 at top level");
    throwsCodecError(() => new TlvWriter().startArray(undefined).uint(1, 0), "inside an array");
    throwsCodecError(() => new TlvWriter().startArray(undefined).uint({ common: 1 }, 0), "inside an array");
    throwsCodecError(() => new TlvWriter().startStructure(undefined).finish(), "still open");
    throwsCodecError(() => new TlvWriter().end(), "without an open container");
    throwsCodecError(() => new TlvWriter().startList(undefined).end().end(), "without an open container");
    bytesEqual(new TlvWriter().startList(undefined).uint(1, 0).uint(undefined, 1).null(1).end().finish(), "172401000401340118");
    throwsCodecError(() => encodeTlv({ tag: undefined, type: "structure", value: 5 as unknown as TlvElement[] }), "children");
    throwsCodecError(() => encodeTlv({ tag: undefined, type: "null", value: 0 }), "null");
    throwsCodecError(() => encodeTlv({ tag: undefined, type: "uint", value: "1" }), "uint 1 is not an integer");
    throwsCodecError(() => encodeTlv({ tag: undefined, type: "nope" as "null", value: null }), "unknown element type");
  });

  test("every truncation of every vector and of the sample is a CodecError", (context) => {
    const file = context.vectors.json<TlvVectorFile>(VECTORS);
    const encodings = [...file.vectors.map((v) => v.encoding_hex), file.sample.encoding_hex];
    let prefixes = 0;
    for (const hex of encodings) {
      const bytes = fromHex(hex);
      for (let length = 0; length < bytes.length; length++) {
        throwsCodecError(() => decodeTlv(bytes.subarray(0, length)), "TLV", `${hex} cut to ${length} bytes`);
        prefixes++;
      }
    }
    equal(prefixes, encodings.reduce((sum, hex) => sum + hex.length / 2, 0));
  });

  test("truncation messages name what is missing and where", () => {
    throwsCodecError(() => decodeTlv(new Uint8Array(0)), "no element at offset 0");
    throwsCodecError(() => decodeTlv(fromHex("1520")), "truncated tag at offset 1");
    throwsCodecError(() => decodeTlv(fromHex("15240100")), "structure opened at offset 0 has no end-of-container");
    throwsCodecError(() => decodeTlv(fromHex("0301020304")), "truncated integer at offset 0");
    throwsCodecError(() => decodeTlv(fromHex("0a0000")), "truncated float");
    throwsCodecError(() => decodeTlv(fromHex("0b00")), "truncated double");
    throwsCodecError(() => decodeTlv(fromHex("1201")), "truncated octet string length");
  });

  test("lengths beyond the input are rejected before reading", () => {
    throwsCodecError(() => decodeTlv(fromHex("0c05414243")), "claims 5 bytes but only 3 remain");
    throwsCodecError(() => decodeTlv(fromHex("0d0100")), "claims 1 bytes but only 0 remain");
    throwsCodecError(() => decodeTlv(fromHex("0effffffff41")), "claims 4294967295 bytes");
    throwsCodecError(() => decodeTlv(fromHex("13ffffffffffffffff41")), "claims 18446744073709551615 bytes");
    deepEqual(decodeTlv(fromHex("13050000000000000001020304ff")).value, fromHex("01020304ff"), "a small 8-byte length is fine");
  });

  test("maxLength bounds each string", () => {
    const hello = fromHex("0c0648656c6c6f21");
    equal(decodeTlv(hello, { maxLength: 6 }).value, "Hello!");
    throwsCodecError(() => decodeTlv(hello, { maxLength: 5 }), "over the limit of 5");
    throwsCodecError(() => decodeTlv(fromHex("1003010203"), { maxLength: 2 }), "octet string of 3 bytes is over the limit of 2 at offset 0");
  });

  test("reserved element types are rejected for every tag form", () => {
    let checked = 0;
    for (let form = 0; form < 8; form++) {
      for (let type = 0x19; type <= 0x1f; type++) {
        const control = (form << 5) | type;
        const input = new Uint8Array(17);
        input[0] = control;
        throwsCodecError(() => decodeTlv(input), `reserved element type 0x${type.toString(16)}`);
        const nested = fromHex("17" + control.toString(16).padStart(2, "0") + "00".repeat(16));
        throwsCodecError(() => decodeTlv(nested), "at offset 1");
        checked++;
      }
    }
    equal(checked, 56);
  });

  test("end-of-container must be untagged and inside a container", () => {
    throwsCodecError(() => decodeTlv(fromHex("18")), "outside any container at offset 0");
    throwsCodecError(() => decodeTlv(fromHex("1538")), "end-of-container with a tag");
    throwsCodecError(() => decodeTlv(fromHex("16f8")), "end-of-container with a tag");
    throwsCodecError(() => decodeTlvElements(fromHex("151818")), "outside any container at offset 2");
  });

  test("tag placement rules of the reference reader", () => {
    throwsCodecError(() => decodeTlv(fromHex("15002a18")), "anonymous element inside a structure at offset 1");
    throwsCodecError(() => decodeTlv(fromHex("1624012a18")), "inside an array at offset 1");
    throwsCodecError(() => decodeTlv(fromHex("164401002a18")), "inside an array");
    throwsCodecError(() => decodeTlv(fromHex("24012a")), "context tag 1 at top level");
    throwsCodecError(() => decodeTlvElements(fromHex("092401")), "context tag 1 at top level");
    ok(decodeTlv(fromHex("4401002a")).tag !== undefined, "profile tags are fine at top level");
  });

  test("invalid UTF-8 in a string is rejected with its offset; octet strings may hold anything", () => {
    throwsCodecError(() => decodeTlv(fromHex("0c02c328")), "invalid UTF-8 (byte offset 2) in the string at offset 0");
    throwsCodecError(() => decodeTlv(fromHex("0c02c0af")), "invalid UTF-8");
    throwsCodecError(() => decodeTlv(fromHex("0c03eda080")), "invalid UTF-8");
    throwsCodecError(() => decodeTlv(fromHex("0c04f4908080")), "invalid UTF-8");
    throwsCodecError(() => decodeTlv(fromHex("152c00034142ff18")), "(byte offset 6) in the string at offset 1");
    deepEqual(decodeTlv(fromHex("1002c328")).value, fromHex("c328"));
  });

  test("trailing bytes after the element are rejected; sequences decode element by element", () => {
    throwsCodecError(() => decodeTlv(fromHex("0900")), "1 trailing bytes at offset 1");
    throwsCodecError(() => decodeTlv(fromHex("15180000")), "2 trailing bytes at offset 2");
    deepEqual(decodeTlvElements(new Uint8Array(0)), []);
    deepEqual(
      decodeTlvElements(fromHex("0908042a1518")).map((e) => e.value),
      [true, false, 42, []],
    );
    throwsCodecError(() => decodeTlvElements(fromHex("0908042a15")), "no end-of-container");
  });

  test("depth limit: 16 nested containers by default, configurable", () => {
    const nested = (depth: number) => fromHex("16".repeat(depth) + "18".repeat(depth));
    let element = decodeTlv(nested(16));
    for (let depth = 1; depth < 16; depth++) element = (element.value as TlvElement[])[0]!;
    deepEqual(element.value, []);
    throwsCodecError(() => decodeTlv(nested(17)), "nested deeper than 16 at offset 16");
    throwsCodecError(() => decodeTlv(nested(3), { maxDepth: 2 }), "deeper than 2");
    throwsCodecError(() => decodeTlv(fromHex("1518"), { maxDepth: 0 }), "deeper than 0");
    equal(decodeTlv(fromHex("042a"), { maxDepth: 0 }).value, 42);
    // A deep attack input stops at the limit, not at the end of the input.
    throwsCodecError(() => decodeTlv(new Uint8Array(100000).fill(0x17)), "nested deeper than 16");
  });

  test("element-count limit: 4096 by default, configurable, counted across a sequence", () => {
    const array = (count: number) => fromHex("16" + "14".repeat(count) + "18");
    equal((decodeTlv(array(4095)).value as TlvElement[]).length, 4095);
    throwsCodecError(() => decodeTlv(array(4096)), "more than 4096 elements");
    throwsCodecError(() => decodeTlv(array(3), { maxElements: 3 }), "more than 3 elements");
    equal((decodeTlv(array(2), { maxElements: 3 }).value as TlvElement[]).length, 2);
    throwsCodecError(() => decodeTlvElements(fromHex("090909"), { maxElements: 2 }), "more than 2 elements");
  });

  test("mutated and random inputs either decode to a tree that round-trips or throw CodecError", (context) => {
    const file = context.vectors.json<TlvVectorFile>(VECTORS);
    const seeds = [...file.vectors.map((v) => fromHex(v.encoding_hex)), fromHex(file.sample.encoding_hex)];
    const next = pseudoRandom(0x7e57);
    let decoded = 0;
    let rejected = 0;
    for (let round = 0; round < 3000; round++) {
      const seed = seeds[next() % seeds.length]!;
      let input: Uint8Array;
      const mode = next() % 4;
      if (mode === 0) {
        input = seed.slice();
        for (let flips = 1 + (next() % 3); flips > 0; flips--) input[next() % input.length] = next() & 0xff;
      } else if (mode === 1) {
        input = seed.slice();
        const at = next() % input.length;
        input[at] = input[at]! ^ (1 << (next() % 8));
      } else if (mode === 2) {
        const cut = next() % seed.length;
        input = new Uint8Array([...seed.subarray(0, cut), next() & 0xff, ...seed.subarray(cut)]);
      } else {
        input = new Uint8Array(1 + (next() % 24)).map(() => next() & 0xff);
      }
      let element: TlvElement;
      try {
        element = decodeTlv(input, { maxDepth: 8, maxElements: 512 });
      } catch (error) {
        if (!(error instanceof CodecError)) throw new AssertionError(`${toHex(input)}: ${String(error)}`);
        rejected++;
        continue;
      }
      decoded++;
      deepEqual(normalise(decodeTlv(encodeTlv(element))), normalise(element), `round trip of ${toHex(input)}`);
    }
    ok(decoded > 50 && rejected > 50, `decoded ${decoded}, rejected ${rejected}`);
  });

  test("TlvStruct reads typed fields by context tag", () => {
    const bytes = new TlvWriter()
      .startStructure(undefined)
      .uint(1, 5)
      .uint(2, 2n ** 60n)
      .int(3, -7)
      .bool(4, true)
      .bytes(5, fromHex("00112233"))
      .utf8(6, "Tschüs")
      .startStructure(7).uint(0, 9).end()
      .startArray(8).uint(undefined, 1).uint(undefined, 2).end()
      .startList(9).null(1).end()
      .null(10)
      .int(11, -(2n ** 62n))
      .uint({ common: 3 }, 1)
      .end()
      .finish();
    const struct = TlvStruct.decode(bytes);
    equal(struct.fields.length, 12);
    equal(struct.uint(1), 5);
    equal(struct.uint64(1), 5n);
    equal(struct.uint64(2), 2n ** 60n);
    equal(struct.int(3), -7);
    equal(struct.int64(11), -(2n ** 62n));
    equal(struct.bool(4), true);
    bytesEqual(struct.bytes(5), "00112233");
    bytesEqual(struct.bytes(5, 4), "00112233");
    bytesEqual(struct.bytes(5, { min: 1, max: 4 }), "00112233");
    equal(struct.utf8(6), "Tschüs");
    equal(struct.utf8(6, 7), "Tschüs");
    equal(struct.struct(7).uint(0), 9);
    deepEqual(struct.array(8).map(asNumber), [1, 2]);
    equal(struct.array(9).length, 1, "a list is readable as an array");
    equal(struct.struct(9).isNull(1), true, "a list is readable as a structure");
    ok(struct.isNull(10));
    ok(!struct.isNull(1));
    ok(!struct.isNull(99));
    ok(struct.has(12) === false && struct.get(12) === undefined);
    equal(struct.optionalUint(1), 5);
    equal(struct.optionalUint(99), undefined);
    equal(struct.optionalUint64(2), 2n ** 60n);
    equal(struct.optionalUint64(99), undefined);
    equal(struct.optionalInt(3), -7);
    equal(struct.optionalBool(4), true);
    equal(struct.optionalBool(99), undefined);
    bytesEqual(struct.optionalBytes(5)!, "00112233");
    equal(struct.optionalBytes(99), undefined);
    equal(struct.optionalUtf8(6), "Tschüs");
    equal(struct.optionalUtf8(99), undefined);
    equal(struct.optionalStruct(7)!.uint(0), 9);
    equal(struct.optionalStruct(99), undefined);
    equal(struct.optionalArray(8)!.length, 2);
    equal(struct.optionalArray(99), undefined);
  });

  test("TlvStruct errors name the tag: missing, wrong type, constraints, unsafe integers", () => {
    const struct = TlvStruct.decode(
      new TlvWriter().startStructure(undefined).uint(1, 2n ** 53n).int(2, -1).bytes(3, fromHex("0102")).utf8(4, "€uro").uint(5, 1).end().finish(),
    );
    throwsCodecError(() => struct.uint(9), "missing required field 9");
    throwsCodecError(() => struct.struct(9), "missing required field 9");
    throwsCodecError(() => struct.uint(1), "field 1 value 9007199254740992 is not a safe integer");
    equal(struct.uint64(1), 2n ** 53n);
    throwsCodecError(() => struct.uint(2), "field 2 should be uint, got int");
    throwsCodecError(() => struct.int(1), "field 1 should be int, got uint");
    throwsCodecError(() => struct.bool(5), "field 5 should be bool, got uint");
    throwsCodecError(() => struct.utf8(3), "field 3 should be utf8, got bytes");
    throwsCodecError(() => struct.bytes(4), "field 4 should be bytes, got utf8");
    throwsCodecError(() => struct.struct(5), "field 5 should be structure or list");
    throwsCodecError(() => struct.array(5), "field 5 should be array or list");
    throwsCodecError(() => struct.optionalUint(2), "field 2 should be uint", "an optional field of the wrong type is still an error");
    throwsCodecError(() => struct.bytes(3, 3), "field 3 is 2 bytes, expected 3");
    throwsCodecError(() => struct.bytes(3, { min: 3 }), "field 3 is 2 bytes, expected at least 3");
    throwsCodecError(() => struct.bytes(3, { max: 1 }), "field 3 is 2 bytes, expected at most 1");
    throwsCodecError(() => struct.utf8(4, 5), "field 4 is 6 bytes, expected at most 5");
    equal(struct.utf8(4, 6), "€uro");
  });

  test("TlvStruct needs a structure or list and rejects duplicate fields in a structure", () => {
    throwsCodecError(() => TlvStruct.decode(fromHex("1618")), "expected a structure, got array");
    throwsCodecError(() => new TlvStruct({ tag: undefined, type: "uint", value: 1 }), "expected a structure, got uint");
    throwsCodecError(() => TlvStruct.decode(fromHex("15240101240102" + "18")), "duplicate field 1");
    const list = TlvStruct.decode(fromHex("17240101240102" + "18"));
    equal(list.uint(1), 1, "a list may repeat a tag; the first one is read");
    throwsCodecError(() => TlvStruct.decode(fromHex("1524")), "TLV");
  });

  test("asNumber and asBigInt", () => {
    equal(asNumber({ tag: undefined, type: "int", value: -3 }), -3);
    equal(asBigInt({ tag: undefined, type: "uint", value: 3 }), 3n);
    equal(asBigInt(decodeTlv(fromHex("07ffffffffffffffff"))), 2n ** 64n - 1n);
    throwsCodecError(() => asNumber(decodeTlv(fromHex("07ffffffffffffffff"))), "safe integer");
    throwsCodecError(() => asNumber({ tag: undefined, type: "utf8", value: "1" }), "expected an integer, got utf8");
    throwsCodecError(() => asBigInt({ tag: undefined, type: "bool", value: true }), "expected an integer, got bool");
  });

  test("decoded byte strings are views of the input; tag strings read well", () => {
    const input = fromHex("1003aabbcc");
    const value = decodeTlv(input).value as Uint8Array;
    equal(value.buffer, input.buffer);
    equal(value.byteOffset, 2);
    equal(tlvTagToString(undefined), "anonymous");
    equal(tlvTagToString(7), "context 7");
    equal(tlvTagToString({ common: 70000 }), "common 70000");
    equal(tlvTagToString({ implicit: 2 }), "implicit 2");
    equal(tlvTagToString({ vendor: 0xfff1, profile: 0xdeed, id: 1 }), "FFF1:DEED:1");
  });
});

/** Drops keys whose value is undefined so hand-built and decoded trees compare structurally. */
function normalise(element: TlvElement): unknown {
  const out: Record<string, unknown> = { type: element.type };
  if (element.tag !== undefined) out.tag = element.tag;
  out.value = Array.isArray(element.value) ? element.value.map(normalise) : element.value;
  return out;
}
