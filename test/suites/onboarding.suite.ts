import { suite, equal, ok, deepEqual, throws, fromHex, toHex } from "../portable/harness";
import { base38Decode, base38Encode } from "../../src/codec/base38";
import { TlvWriter } from "../../src/codec/tlv";
import {
  CommissioningFlow,
  OnboardingError,
  QrExtensionTag,
  Rendezvous,
  decodeManualCode,
  decodeQrPayload,
  encodeManualCode,
  encodeQrPayload,
  extractQrPayloadText,
  isValidPasscode,
  verhoeffCheckDigit,
  verhoeffValidate,
  type OnboardingPayload,
} from "../../src/discovery/onboarding";
import { pseudoRandom } from "./codec-assert";

interface QrVector {
  qr_code: string;
  version: number;
  vendor_id: number;
  product_id: number;
  commissioning_flow: number;
  rendezvous_information: number;
  rendezvous_flags: string[];
  discriminator: number;
  short_discriminator: number;
  passcode: number;
  payload_bytes_hex: string;
}

interface ManualVector {
  manual_code: string;
  length: number;
  version: number;
  vid_pid_present: boolean;
  short_discriminator: number;
  passcode: number;
  vendor_id: number | null;
  product_id: number | null;
  commissioning_flow_reported_by_chip_tool: number;
}

interface OnboardingVectors {
  qr_codes: QrVector[];
  manual_codes: ManualVector[];
  qr_prefix_extraction: { cases: [string, string][] };
}

const FILE = "onboarding/onboarding_vectors.json";

function throwsOnboarding(fn: () => unknown, pattern?: RegExp | string, message?: string): void {
  const error = throws(fn, pattern, message);
  ok(error instanceof OnboardingError, `${message ?? ""}: expected an OnboardingError, got ${error.name}: ${error.message}`);
}

/** A vector's packed bytes with `count` bits from `start` replaced by `value`, as MT: text. */
function withBits(payloadHex: string, start: number, count: number, value: number, extra = new Uint8Array(0)): string {
  const bytes = fromHex(payloadHex);
  for (let k = 0; k < count; k++) {
    const bit = start + k;
    const mask = 1 << (bit % 8);
    if (Math.floor(value / 2 ** k) % 2) bytes[bit >> 3]! |= mask;
    else bytes[bit >> 3]! &= ~mask;
  }
  const all = new Uint8Array(bytes.length + extra.length);
  all.set(bytes);
  all.set(extra, bytes.length);
  return "MT:" + base38Encode(all);
}

/** Appends the check digit. */
const withCheck = (digits: string) => digits + verhoeffCheckDigit(digits);

export default suite("discovery/onboarding", (test) => {
  test("every QR vector decodes to its fields and re-encodes to the same text", (context) => {
    const { qr_codes } = context.vectors.json<OnboardingVectors>(FILE);
    ok(qr_codes.length >= 4);
    const flagBits: Record<string, number> = Rendezvous;
    for (const vector of qr_codes) {
      const payload = decodeQrPayload(vector.qr_code);
      deepEqual(payload, {
        version: vector.version,
        vendorId: vector.vendor_id,
        productId: vector.product_id,
        commissioningFlow: vector.commissioning_flow,
        rendezvousInformation: vector.rendezvous_information,
        discriminator: vector.discriminator,
        passcode: vector.passcode,
      }, vector.qr_code);
      equal(payload.discriminator >> 8, vector.short_discriminator);
      equal(vector.rendezvous_flags.reduce((bits, name) => bits | flagBits[name]!, 0), payload.rendezvousInformation, "flag names");
      equal(encodeQrPayload(payload), vector.qr_code);
      equal(toHex(base38Decode(vector.qr_code.slice(3))), vector.payload_bytes_hex);
    }
  });

  test("every manual code vector decodes to its fields and re-encodes", (context) => {
    const { manual_codes } = context.vectors.json<OnboardingVectors>(FILE);
    ok(manual_codes.length >= 3);
    for (const vector of manual_codes) {
      equal(vector.manual_code.length, vector.length);
      const payload = decodeManualCode(vector.manual_code);
      equal(payload.version, vector.version);
      equal(payload.shortDiscriminator, vector.short_discriminator, vector.manual_code);
      equal(payload.passcode, vector.passcode, vector.manual_code);
      equal(payload.vendorId ?? null, vector.vendor_id, vector.manual_code);
      equal(payload.productId ?? null, vector.product_id, vector.manual_code);
      equal(payload.vendorId !== undefined, vector.vid_pid_present);
      equal(payload.commissioningFlow, vector.commissioning_flow_reported_by_chip_tool);
      equal(encodeManualCode(payload), vector.manual_code);
    }
  });

  test("a device's QR payload and its manual code agree (vectors sharing a passcode)", (context) => {
    const { qr_codes, manual_codes } = context.vectors.json<OnboardingVectors>(FILE);
    let pairs = 0;
    for (const qr of qr_codes) {
      const manual = manual_codes.find((m) => m.passcode === qr.passcode);
      if (!manual) continue;
      equal(encodeManualCode(decodeQrPayload(qr.qr_code)), manual.manual_code, qr.qr_code);
      pairs++;
    }
    ok(pairs >= 3, `${pairs} pairs`);
  });

  test("manual codes may carry dashes and spaces", (context) => {
    const { manual_codes } = context.vectors.json<OnboardingVectors>(FILE);
    const [short, long] = [manual_codes.find((m) => m.length === 11)!, manual_codes.find((m) => m.length === 21)!];
    const dashed = short.manual_code.slice(0, 4) + "-" + short.manual_code.slice(4, 7) + "-" + short.manual_code.slice(7);
    deepEqual(decodeManualCode(dashed), decodeManualCode(short.manual_code));
    deepEqual(decodeManualCode(` ${long.manual_code.slice(0, 10)} ${long.manual_code.slice(10)} `), decodeManualCode(long.manual_code));
  });

  test("QR prefix extraction follows the reference rule for every vector case", (context) => {
    const { cases } = context.vectors.json<OnboardingVectors>(FILE).qr_prefix_extraction;
    ok(cases.length >= 15);
    for (const [input, expected] of cases) {
      equal(extractQrPayloadText(input), expected, JSON.stringify(input));
      if (expected === "") throwsOnboarding(() => decodeQrPayload(input), "no 'MT:' payload", input);
      else throwsOnboarding(() => decodeQrPayload(input), "base38", input); // "ABC" is not a valid payload
    }
    const { qr_codes } = context.vectors.json<OnboardingVectors>(FILE);
    const code = qr_codes[0]!.qr_code;
    deepEqual(decodeQrPayload(`https://example.com/x%${code}%tail`), decodeQrPayload(code));
  });

  test("Verhoeff: the vectors' check digits, and every single-digit error and adjacent swap is caught", (context) => {
    const { manual_codes } = context.vectors.json<OnboardingVectors>(FILE);
    for (const { manual_code } of manual_codes) {
      equal(String(verhoeffCheckDigit(manual_code.slice(0, -1))), manual_code.slice(-1));
      ok(verhoeffValidate(manual_code));
      for (let i = 0; i < manual_code.length; i++) {
        for (let digit = 0; digit <= 9; digit++) {
          if (String(digit) === manual_code[i]) continue;
          const wrong = manual_code.slice(0, i) + digit + manual_code.slice(i + 1);
          ok(!verhoeffValidate(wrong), `${wrong}`);
          throwsOnboarding(() => decodeManualCode(wrong), "check digit", wrong);
        }
        if (i + 1 < manual_code.length && manual_code[i] !== manual_code[i + 1]) {
          const swapped = manual_code.slice(0, i) + manual_code[i + 1] + manual_code[i] + manual_code.slice(i + 2);
          ok(!verhoeffValidate(swapped), `${swapped}`);
        }
      }
    }
    equal(verhoeffCheckDigit("236"), 3, "the textbook example");
    ok(verhoeffValidate("2363"));
    throwsOnboarding(() => verhoeffCheckDigit("12a"), "decimal digits");
  });

  test("isValidPasscode: 1..99999998 without the forbidden sequences", () => {
    for (const valid of [1, 2, 20202021, 12349876, 99999998, 11111112, 12345679]) ok(isValidPasscode(valid), `${valid}`);
    for (const invalid of [0, 99999999, 100000000, 2 ** 27 - 1, -1, 1.5, NaN, 11111111, 22222222, 33333333, 44444444, 55555555, 66666666, 77777777, 88888888, 12345678, 87654321]) {
      ok(!isValidPasscode(invalid), `${invalid}`);
    }
  });

  test("manual codes that must be rejected", () => {
    const cases: [string, string][] = [
      ["3497011233", "10 digits"],
      ["349701123320", "12 digits"],
      ["74549207530000100001", "20 digits"],
      ["3497O112332", "only digits"],
      ["3497_011_2332", "only digits"],
      ["", "only digits"],
      [withCheck("8497011233"), "leading digit 8"],
      [withCheck("9497011233"), "leading digit 9"],
      [withCheck("7454920753"), "says 21 digits, the code has 11"],
      [withCheck("34970112330000100001"), "says 11 digits, the code has 21"],
      [withCheck("0999990001"), "digits 2-6 (99999) exceed 65535"],
      [withCheck("0000019999"), "digits 7-10 (9999) exceed 8191"],
      [withCheck("0000000000"), "passcode is 0"],
      ["35191106788", "passcode 11111111 is not allowed"],
      [withCheck("74549207536553600001"), "exceeds 65535"],
      [withCheck("74549207536552500001"), "not a valid vendor id"],
      [withCheck("74549207530000100000"), "product id 0"],
    ];
    for (const [code, reason] of cases) throwsOnboarding(() => decodeManualCode(code), reason, code);
    // Bit packing alone, as for codes built to test it: 99999999 is representable in 27 bits.
    const packed = decodeManualCode(withCheck("0" + String((99999999 & 0x3fff)).padStart(5, "0") + String(Math.floor(99999999 / 0x4000)).padStart(4, "0")), { validate: false });
    equal(packed.passcode, 99999999);
    throwsOnboarding(() => decodeManualCode(withCheck("0000000000"), { validate: false }), "passcode is 0");
  });

  test("QR payloads that must be rejected", (context) => {
    const base = context.vectors.json<OnboardingVectors>(FILE).qr_codes[0]!.payload_bytes_hex;
    decodeQrPayload("MT:" + base38Encode(fromHex(base)));
    throwsOnboarding(() => decodeQrPayload(withBits(base, 35, 2, 3)), "commissioning flow 3 is reserved");
    throwsOnboarding(() => decodeQrPayload(withBits(base, 0, 3, 1)), "version 1");
    throwsOnboarding(() => decodeQrPayload(withBits(base, 57, 27, 11111111)), "passcode 11111111");
    throwsOnboarding(() => decodeQrPayload(withBits(base, 57, 27, 0)), "passcode 0");
    throwsOnboarding(() => decodeQrPayload(withBits(base, 57, 27, 99999999)), "passcode 99999999");
    throwsOnboarding(() => decodeQrPayload(withBits(base, 3, 16, 0xfff5)), "vendor id 0xfff5");
    throwsOnboarding(() => decodeQrPayload(withBits(base, 19, 16, 0)), "product id 0");
    throwsOnboarding(() => decodeQrPayload(withBits(base, 84, 4, 1)), "padding");
    throwsOnboarding(() => decodeQrPayload("MT:" + base38Encode(fromHex(base).subarray(0, 10))), "needs at least 11");
    throwsOnboarding(() => decodeQrPayload("MT:U9VJ0OMV172PX81321a"), "base38");
    throwsOnboarding(() => decodeQrPayload("MT:U9VJ0OMV172PX81321"), "base38: invalid length");
    // Consumers accept rendezvous bits defined after them; producers write only known ones.
    const future = decodeQrPayload(withBits(base, 37, 8, 0x82));
    equal(future.rendezvousInformation, 0x82);
    throwsOnboarding(() => encodeQrPayload(future), "reserved bits");
  });

  test("the optional TLV section: written, read back, validated", (context) => {
    const vector = context.vectors.json<OnboardingVectors>(FILE).qr_codes[1]!;
    const payload = decodeQrPayload(vector.qr_code);
    const extended: OnboardingPayload = {
      ...payload,
      extension: [
        { tag: QrExtensionTag.SerialNumber, value: "SN-0001" },
        { tag: QrExtensionTag.PbkdfIterations, value: 1000 },
        { tag: QrExtensionTag.PbkdfSalt, value: fromHex("53504132502b20536b66204b65792053616c74") },
        { tag: 0x80, value: -5 },
        { tag: 0x81, value: "vendor" },
      ],
    };
    const text = encodeQrPayload(extended);
    ok(text.startsWith(vector.qr_code.slice(0, 3 + 15)), "the fixed part comes first");
    const tlv = new TlvWriter().startStructure(undefined).utf8(0, "SN-0001").uint(1, 1000).bytes(2, fromHex("53504132502b20536b66204b65792053616c74")).int(0x80, -5).utf8(0x81, "vendor").end().finish();
    equal(toHex(base38Decode(text.slice(3))), vector.payload_bytes_hex + toHex(tlv));
    deepEqual(decodeQrPayload(text), extended);
    // A section written by hand after a vector's fixed bytes.
    const serialAsNumber = new TlvWriter().startStructure(undefined).uint(0, 123456).end().finish();
    deepEqual(decodeQrPayload("MT:" + base38Encode(new Uint8Array([...fromHex(vector.payload_bytes_hex), ...serialAsNumber]))).extension, [{ tag: 0, value: 123456 }]);

    const after = (tlvBytes: Uint8Array) => "MT:" + base38Encode(new Uint8Array([...fromHex(vector.payload_bytes_hex), ...tlvBytes]));
    throwsOnboarding(() => decodeQrPayload(after(fromHex("1618"))), "anonymous structure");
    throwsOnboarding(() => decodeQrPayload(after(new TlvWriter().startStructure({ common: 1 }).end().finish())), "anonymous structure");
    throwsOnboarding(() => decodeQrPayload(after(fromHex("152400"))), "extension");
    throwsOnboarding(() => decodeQrPayload(after(new TlvWriter().startStructure(undefined).uint(1, 999).end().finish())), "field 1 has an invalid value");
    throwsOnboarding(() => decodeQrPayload(after(new TlvWriter().startStructure(undefined).uint(3, 0).end().finish())), "field 3");
    throwsOnboarding(() => decodeQrPayload(after(new TlvWriter().startStructure(undefined).bytes(2, new Uint8Array(8)).end().finish())), "field 2");
    throwsOnboarding(() => decodeQrPayload(after(new TlvWriter().startStructure(undefined).bool(0x80, true).end().finish())), "unsupported type bool");
    throwsOnboarding(() => decodeQrPayload(after(new TlvWriter().startStructure(undefined).utf8(0x80, "a").utf8(0x80, "b").end().finish())), "duplicate field 128");
    throwsOnboarding(() => decodeQrPayload(after(new TlvWriter().startStructure(undefined).startStructure(5).end().end().finish())), "extension");
    throwsOnboarding(() => encodeQrPayload({ ...payload, extension: [{ tag: 256, value: 1 }] }), "outside 0..255");
  });

  test("the encoder refuses what a producer may not write", (context) => {
    const payload = decodeQrPayload(context.vectors.json<OnboardingVectors>(FILE).qr_codes[0]!.qr_code);
    const bad: [Partial<OnboardingPayload>, string][] = [
      [{ version: 1 }, "version 1"],
      [{ version: 8 }, "version 8 not in 0..7"],
      [{ vendorId: 0x10000 }, "vendorId 65536 not in 0..65535"],
      [{ vendorId: 0xfff5 }, "not a valid vendor id"],
      [{ productId: 0 }, "product id 0"],
      [{ productId: -1 }, "productId"],
      [{ commissioningFlow: 3 }, "reserved"],
      [{ discriminator: 4096 }, "discriminator 4096 not in 0..4095"],
      [{ passcode: 12345678 }, "passcode 12345678 is not allowed"],
      [{ passcode: 2 ** 27 }, "passcode 134217728 not in 0..134217727"],
      [{ passcode: 1.5 }, "passcode 1.5 not in 0..134217727"],
      [{ rendezvousInformation: 0x40 }, "reserved bits"],
    ];
    for (const [change, reason] of bad) {
      throwsOnboarding(() => encodeQrPayload({ ...payload, ...change }), reason, JSON.stringify(change));
    }
    throwsOnboarding(() => encodeManualCode({ ...payload, passcode: 0 }), "passcode 0");
    throwsOnboarding(() => encodeManualCode({ version: 0, commissioningFlow: 2, shortDiscriminator: 16, passcode: 20202021 }), "shortDiscriminator");
    throwsOnboarding(() => encodeManualCode({ version: 0, commissioningFlow: 2, shortDiscriminator: 1, passcode: 20202021 }), "vendorId");
  });

  test("the short or long manual code follows the flow unless asked otherwise", (context) => {
    const { qr_codes } = context.vectors.json<OnboardingVectors>(FILE);
    const custom = decodeQrPayload(qr_codes.find((q) => q.commissioning_flow === 2)!.qr_code);
    const standard = decodeQrPayload(qr_codes.find((q) => q.commissioning_flow === 0 && q.vendor_id !== 0)!.qr_code);
    equal(encodeManualCode(custom).length, 21);
    equal(encodeManualCode(standard).length, 11);
    const forcedShort = encodeManualCode(custom, { withVendorAndProduct: false });
    equal(forcedShort.length, 11);
    deepEqual(decodeManualCode(forcedShort), { version: 0, commissioningFlow: CommissioningFlow.Standard, shortDiscriminator: custom.discriminator >> 8, passcode: custom.passcode });
    const forcedLong = decodeManualCode(encodeManualCode(standard, { withVendorAndProduct: true }));
    equal(forcedLong.vendorId, standard.vendorId);
    equal(forcedLong.productId, standard.productId);
  });

  test("random valid payloads survive QR and manual round trips", () => {
    const next = pseudoRandom(5540);
    for (let i = 0; i < 300; i++) {
      let passcode = 1 + (next() % 99999998);
      while (!isValidPasscode(passcode)) passcode++;
      const vendorId = next() % 0xfff5;
      const payload: OnboardingPayload = {
        version: 0,
        vendorId,
        productId: vendorId === 0 ? next() % 0x10000 : 1 + (next() % 0xffff),
        commissioningFlow: next() % 3,
        rendezvousInformation: next() % 0x40,
        discriminator: next() % 4096,
        passcode,
      };
      const text = encodeQrPayload(payload);
      ok(/^MT:[0-9A-Z.\-]{19}$/.test(text), text);
      deepEqual(decodeQrPayload(text), payload);
      const manual = decodeManualCode(encodeManualCode(payload));
      equal(manual.passcode, payload.passcode);
      equal(manual.shortDiscriminator, payload.discriminator >> 8);
      equal(manual.vendorId, payload.commissioningFlow === 0 ? undefined : payload.vendorId);
    }
  });
});
