import { suite, equal, ok, bytesEqual, deepEqual } from "../portable/harness";
import {
  ByteReader,
  ByteWriter,
  CodecError,
  bytesEqual as sameBytes,
  concatBytes,
  fromHex,
  toHex,
  utf8Decode,
  utf8Encode,
  utf8Length,
} from "../../src/codec/bytes";
import { throwsCodecError } from "./codec-assert";

export default suite("codec/bytes", (test) => {
  test("hex round trip over every byte value, lowercase out, either case in", () => {
    const all = new Uint8Array(256).map((_, i) => i);
    const hex = toHex(all);
    equal(hex.length, 512);
    equal(hex, hex.toLowerCase());
    equal(hex.slice(0, 8), "00010203");
    equal(hex.slice(-4), "feff");
    bytesEqual(fromHex(hex), all);
    bytesEqual(fromHex(hex.toUpperCase()), all);
    equal(fromHex("").length, 0);
  });

  test("fromHex rejects odd length and non-hex characters with CodecError", () => {
    throwsCodecError(() => fromHex("abc"), "odd length");
    throwsCodecError(() => fromHex("0g"), "offset 1");
    throwsCodecError(() => fromHex("zz00"), "offset 0");
    throwsCodecError(() => fromHex("00 1"), "offset 2");
    throwsCodecError(() => fromHex("0x00"), "invalid character");
    throwsCodecError(() => fromHex("de:ad"), "odd length");
  });

  test("concatBytes and bytesEqual", () => {
    bytesEqual(concatBytes(), "");
    bytesEqual(concatBytes(fromHex("01"), new Uint8Array(0), fromHex("0203")), "010203");
    const backing = fromHex("00112233");
    bytesEqual(concatBytes(backing.subarray(1, 3), backing.subarray(0, 1)), "112200");
    ok(sameBytes(fromHex("0102"), fromHex("0102")));
    ok(!sameBytes(fromHex("0102"), fromHex("0103")));
    ok(!sameBytes(fromHex("0102"), fromHex("010200")));
    ok(sameBytes(new Uint8Array(0), new Uint8Array(0)));
  });

  test("utf8Encode matches the engine's TextEncoder on well-formed text", () => {
    const samples = ["", "Hello!", "Tschüs", "€", "日本語", "😀 emoji", "a\u0000b", "\uffff", "\u07ff\u0800", "\u{10ffff}", "x".repeat(1000)];
    const reference = new TextEncoder();
    for (const text of samples) {
      bytesEqual(utf8Encode(text), reference.encode(text), JSON.stringify(text));
      equal(utf8Length(text), reference.encode(text).length, `length of ${JSON.stringify(text)}`);
    }
  });

  test("utf8Encode turns lone surrogates into U+FFFD, as the WHATWG encoder does", () => {
    // Checked against fixed bytes, not the engine: XS's TextEncoder emits ill-formed ED A0 80.
    bytesEqual(utf8Encode("\ud800"), "efbfbd");
    bytesEqual(utf8Encode("x\udc00y"), "78efbfbd79");
    bytesEqual(utf8Encode("\ud83d"), "efbfbd");
    bytesEqual(utf8Encode("\ud83d\ude00"), "f09f9880");
    equal(utf8Length("a\ud800"), 4);
  });

  test("utf8Decode inverts utf8Encode for every plane", () => {
    const text = "A\u00e9\u0800\uffee\ud800\udc00\udbff\udfff" + "z".repeat(300) + "😀".repeat(100);
    equal(utf8Decode(utf8Encode(text)), text);
    bytesEqual(utf8Encode("\u{10ffff}"), "f48fbfbf");
    equal(utf8Decode(fromHex("f48fbfbf")), "\u{10ffff}");
    equal(utf8Decode(fromHex("efbfbd")), "\ufffd");
  });

  test("utf8Decode rejects malformed UTF-8 naming the byte offset", () => {
    const cases: [string, number][] = [
      ["80", 0], // lone continuation
      ["41c3", 1], // truncated 2-byte sequence
      ["41c328", 1], // bad continuation
      ["c0af", 0], // overlong '/'
      ["c1bf", 0], // overlong
      ["e08080", 0], // overlong 3-byte
      ["eda080", 0], // UTF-16 surrogate
      ["f08f8080", 0], // overlong 4-byte
      ["f4908080", 0], // beyond U+10FFFF
      ["f5808080", 0], // invalid lead
      ["ff", 0],
      ["414243e282", 3], // truncated at end
    ];
    for (const [hex, offset] of cases) throwsCodecError(() => utf8Decode(fromHex(hex)), `byte ${offset}`, hex);
  });

  test("ByteWriter writes each width in the stated byte order and grows past its capacity", () => {
    const writer = new ByteWriter(1);
    writer.u8(0xab).u16le(0x1234).u16be(0x1234).u32le(0xdeadbeef).u32be(0xdeadbeef);
    writer.u64le(0x0102030405060708n).u64le(5).i8(-2).i16le(-2).i32le(-2).i64le(-2n).f32le(1).f64le(-2);
    equal(writer.length, 1 + 2 + 2 + 4 + 4 + 8 + 8 + 1 + 2 + 4 + 8 + 4 + 8);
    bytesEqual(
      writer.finish(),
      "ab" + "3412" + "1234" + "efbeadde" + "deadbeef" + "0807060504030201" + "0500000000000000" + "fe" + "feff" + "feffffff" +
        "feffffffffffffff" + "0000803f" + "00000000000000c0",
    );
    const big = new ByteWriter(2);
    const chunk = new Uint8Array(1000).fill(7);
    for (let i = 0; i < 10; i++) big.bytes(chunk);
    equal(big.finish().length, 10000);
    ok(big.finish().every((b) => b === 7));
  });

  test("ByteWriter range-checks instead of truncating", () => {
    const writer = new ByteWriter();
    throwsCodecError(() => writer.u8(256), "u8");
    throwsCodecError(() => writer.u8(-1), "u8");
    throwsCodecError(() => writer.u8(1.5), "u8");
    throwsCodecError(() => writer.u16le(0x10000), "u16");
    throwsCodecError(() => writer.u16be(-1), "u16");
    throwsCodecError(() => writer.u32le(2 ** 32), "u32");
    throwsCodecError(() => writer.u32be(NaN), "u32");
    throwsCodecError(() => writer.u64le(1n << 64n), "u64");
    throwsCodecError(() => writer.u64le(-1), "u64");
    throwsCodecError(() => writer.u64le(0.5), "u64");
    throwsCodecError(() => writer.i8(128), "i8");
    throwsCodecError(() => writer.i16le(-32769), "i16");
    throwsCodecError(() => writer.i32le(2 ** 31), "i32");
    throwsCodecError(() => writer.i64le(1n << 63n), "i64");
    equal(writer.length, 0, "a rejected value writes nothing");
    bytesEqual(new ByteWriter().u64le((1n << 64n) - 1n).u64le(2 ** 53 - 1).finish(), "ffffffffffffffff" + "ffffffffffff1f00");
    bytesEqual(new ByteWriter().i64le(-(1n << 63n)).finish(), "0000000000000080");
  });

  test("ByteReader reads back what ByteWriter wrote", () => {
    const data = new ByteWriter()
      .u8(1).u16le(0xbeef).u16be(0xbeef).u32le(0xcafebabe).u32be(0xcafebabe).u64le((1n << 64n) - 2n)
      .i8(-128).i16le(-32768).i32le(-(2 ** 31)).i64le(-5n).f32le(0.5).f64le(17.9).bytes(fromHex("a1a2a3"))
      .finish();
    const reader = new ByteReader(data);
    equal(reader.offset, 0);
    equal(reader.remaining, data.length);
    equal(reader.u8(), 1);
    equal(reader.u16le(), 0xbeef);
    equal(reader.u16be(), 0xbeef);
    equal(reader.u32le(), 0xcafebabe);
    equal(reader.u32be(), 0xcafebabe);
    equal(reader.u64le(), (1n << 64n) - 2n);
    equal(reader.i8(), -128);
    equal(reader.i16le(), -32768);
    equal(reader.i32le(), -(2 ** 31));
    equal(reader.i64le(), -5n);
    equal(reader.f32le(), 0.5);
    equal(reader.f64le(), 17.9);
    ok(!reader.done);
    bytesEqual(reader.bytes(2), "a1a2");
    bytesEqual(reader.rest(), "a3");
    ok(reader.done);
    equal(reader.remaining, 0);
    equal(reader.offset, data.length);
  });

  test("ByteReader works on a subarray view and returns views", () => {
    const backing = fromHex("ff0102030405ff");
    const reader = new ByteReader(backing.subarray(1, 6));
    equal(reader.u16be(), 0x0102);
    equal(reader.u8(), 3);
    const view = reader.bytes(2);
    bytesEqual(view, "0405");
    equal(view.buffer, backing.buffer);
    ok(reader.done);
  });

  test("ByteReader throws CodecError('truncated ...') past the end and stays put", () => {
    const reader = new ByteReader(fromHex("010203"));
    reader.u8();
    const error = throwsCodecError(() => reader.u32le(), /^truncated/);
    ok(error.message.includes("offset 1"), error.message);
    equal(reader.offset, 1, "a failed read consumes nothing");
    throwsCodecError(() => reader.u64le(), /^truncated/);
    throwsCodecError(() => reader.bytes(3), /^truncated/);
    throwsCodecError(() => reader.bytes(-1), "invalid byte count");
    bytesEqual(reader.bytes(2), "0203");
    throwsCodecError(() => reader.u8(), /^truncated/);
    throwsCodecError(() => new ByteReader(new Uint8Array(0)).u16be(), /^truncated/);
    deepEqual(reader.bytes(0), new Uint8Array(0));
  });

  test("CodecError is an Error named CodecError", () => {
    const error = new CodecError("x");
    ok(error instanceof Error);
    equal(error.name, "CodecError");
    equal(error.message, "x");
  });
});
