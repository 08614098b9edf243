import { suite, equal, ok, bytesEqual, fromHex } from "../portable/harness";
import { base38Decode, base38Encode } from "../../src/codec/base38";
import { pseudoRandom, throwsCodecError } from "./codec-assert";

interface Base38Vectors {
  encode: { bytes_hex: string; base38: string }[];
  decode_ok: { base38: string; bytes_hex: string }[];
  decode_error: { base38: string; reason: string }[];
}

interface QrVector {
  qr_code: string;
  payload_bytes_hex: string;
}

const FILE = "onboarding/onboarding_vectors.json";

export default suite("codec/base38", (test) => {
  test("encode vectors, and each decodes back", (context) => {
    const { encode } = context.vectors.json<{ base38: Base38Vectors }>(FILE).base38;
    ok(encode.length >= 15);
    for (const vector of encode) {
      equal(base38Encode(fromHex(vector.bytes_hex)), vector.base38, vector.bytes_hex);
      bytesEqual(base38Decode(vector.base38), vector.bytes_hex, vector.base38);
    }
  });

  test("decode_ok vectors", (context) => {
    const { decode_ok } = context.vectors.json<{ base38: Base38Vectors }>(FILE).base38;
    ok(decode_ok.length > 0);
    for (const vector of decode_ok) bytesEqual(base38Decode(vector.base38), vector.bytes_hex, vector.base38);
  });

  test("decode_error vectors: overflowing groups and invalid characters", (context) => {
    const { decode_error } = context.vectors.json<{ base38: Base38Vectors }>(FILE).base38;
    ok(decode_error.length >= 6);
    for (const vector of decode_error) {
      const pattern = /invalid character/.test(vector.reason) ? "invalid character" : "does not fit";
      throwsCodecError(() => base38Decode(vector.base38), pattern, `${JSON.stringify(vector.base38)}: ${vector.reason}`);
    }
  });

  test("QR codes: the text after MT: is base38 of payload_bytes", (context) => {
    const { qr_codes } = context.vectors.json<{ qr_codes: QrVector[] }>(FILE);
    ok(qr_codes.length >= 4);
    for (const vector of qr_codes) {
      ok(vector.qr_code.startsWith("MT:"));
      const text = vector.qr_code.slice(3);
      bytesEqual(base38Decode(text), vector.payload_bytes_hex, vector.qr_code);
      equal(base38Encode(fromHex(vector.payload_bytes_hex)), text, vector.qr_code);
    }
  });

  test("group boundaries: largest values fit, one more overflows", () => {
    equal(base38Encode(fromHex("ffffff")), "PLS18");
    throwsCodecError(() => base38Decode("QLS18"), "does not fit in 3 bytes");
    throwsCodecError(() => base38Decode("....."), "does not fit in 3 bytes");
    throwsCodecError(() => base38Decode("...."), "does not fit in 2 bytes");
    throwsCodecError(() => base38Decode(".."), "does not fit in 1 byte");
    throwsCodecError(() => base38Decode("00000S6"), "group at offset 5");
  });

  test("lengths that no byte count produces are rejected", () => {
    for (const text of ["0", "000", "000000", "00000000"]) throwsCodecError(() => base38Decode(text), "invalid length", text);
    equal(base38Decode("").length, 0);
  });

  test("characters outside the alphabet, including lower case, are rejected with their offset", () => {
    throwsCodecError(() => base38Decode("a0"), "'a' at offset 0");
    throwsCodecError(() => base38Decode("0000:"), "':' at offset 4");
    throwsCodecError(() => base38Decode("00000é0"), "'é' at offset 5");
    throwsCodecError(() => base38Decode("0😀"), "invalid character");
  });

  test("random round trips of every length up to 40 bytes", () => {
    const next = pseudoRandom(38);
    for (let length = 0; length <= 40; length++) {
      const bytes = new Uint8Array(length).map(() => next() & 0xff);
      const text = base38Encode(bytes);
      equal(text.length, Math.floor(length / 3) * 5 + [0, 2, 4][length % 3]!);
      ok(/^[0-9A-Z.\-]*$/.test(text));
      bytesEqual(base38Decode(text), bytes);
    }
  });
});
