// `matter-xs payload`: builds the onboarding codes a device prints on its label (QR payload,
// manual pairing code, the QR symbol drawn in the terminal) and reads them back.
import QRCode from "qrcode";
import {
  OnboardingError,
  Rendezvous,
  decodeManualCode,
  decodeQrPayload,
  encodeManualCode,
  encodeQrPayload,
  type ManualCodePayload,
  type OnboardingPayload,
} from "../../src/discovery/onboarding";
import { toHex } from "../../src/codec/bytes";
import { CliError, integerOption, parseCommandLine } from "./args";

const USAGE = `usage:
  matter-xs payload encode [--vid N] [--pid N] [--flow 0|1|2] [--rendezvous N] [--discriminator N] [--passcode N]
                           [--qr ansi|text|none]
  matter-xs payload decode <QR text or manual code> [--json]

encode prints the QR payload (MT:...), the manual pairing code and the QR symbol. Numbers are decimal
or 0x-prefixed. Defaults: --vid 0xFFF1 --pid 0x8000 --flow 0 --rendezvous 4 (on-network)
--discriminator 3840 --passcode 20202021. --qr picks how the symbol is drawn: ansi (explicit
black-on-white colours, readable on any terminal theme; the default on a terminal), text (plain
block characters, dark modules filled; the default when the output is not a terminal) or none.

decode reads either form; --json prints version, vendorId, productId, commissioningFlow,
rendezvousInformation, discriminator (shortDiscriminator for a manual code) and passcode; values a
manual code does not carry are null.`;

export async function run(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action === "--help" || action === "-h" || action === "help") {
    console.log(USAGE);
    return 0;
  }
  try {
    if (action === "encode") return await encode(rest);
    if (action === "decode") return decode(rest);
  } catch (error) {
    if (error instanceof OnboardingError) throw new CliError(error.message);
    throw error;
  }
  throw new CliError(`${action === undefined ? "missing action" : `unknown action '${action}'`} (encode or decode)\n\n${USAGE}`);
}

async function encode(args: string[]): Promise<number> {
  const { values } = parseCommandLine(args, {
    vid: { type: "string" },
    pid: { type: "string" },
    flow: { type: "string" },
    rendezvous: { type: "string" },
    discriminator: { type: "string" },
    passcode: { type: "string" },
    qr: { type: "string" },
  });
  const payload: OnboardingPayload = {
    version: 0,
    vendorId: integerOption("vid", values.vid, 0, 0xffff) ?? 0xfff1,
    productId: integerOption("pid", values.pid, 0, 0xffff) ?? 0x8000,
    commissioningFlow: integerOption("flow", values.flow, 0, 2) ?? 0,
    rendezvousInformation: integerOption("rendezvous", values.rendezvous, 0, 0xff) ?? Rendezvous.OnNetwork,
    discriminator: integerOption("discriminator", values.discriminator, 0, 0xfff) ?? 3840,
    passcode: integerOption("passcode", values.passcode, 0, 2 ** 27 - 1) ?? 20202021,
  };
  const style = values.qr ?? (process.stdout.isTTY ? "ansi" : "text");
  if (style !== "ansi" && style !== "text" && style !== "none") throw new CliError(`--qr must be ansi, text or none (got '${style}')`);
  const qr = encodeQrPayload(payload);
  const manual = encodeManualCode(payload);
  console.log(`QR payload:   ${qr}`);
  console.log(`Manual code:  ${manual}  (${formatManualCode(manual)})`);
  if (style !== "none") console.log(await drawQrCode(qr, style));
  return 0;
}

/** The QR symbol of an onboarding payload as terminal text: ANSI blocks, or plain UTF-8 half blocks. */
export function drawQrCode(qr: string, style: "ansi" | "text"): Promise<string> {
  return style === "ansi"
    ? QRCode.toString(qr, { type: "terminal", small: true, errorCorrectionLevel: "M" })
    : QRCode.toString(qr, { type: "utf8", errorCorrectionLevel: "M", margin: 2 });
}

/** The grouping printed on labels: 4-3-4 digits, and 4-3-4-5-5 for 21-digit codes. */
export function formatManualCode(digits: string): string {
  const groups = [digits.slice(0, 4), digits.slice(4, 7), digits.slice(7, 11)];
  if (digits.length === 21) groups.push(digits.slice(11, 16), digits.slice(16));
  return groups.join("-");
}

function decode(args: string[]): number {
  const { values, positionals } = parseCommandLine(args, { json: { type: "boolean" } }, true);
  if (positionals.length !== 1) throw new CliError(`decode takes one code (got ${positionals.length})\n\n${USAGE}`);
  const text = positionals[0]!.trim();
  if (text.includes("MT:")) {
    const payload = decodeQrPayload(text);
    if (values.json) {
      printJson(payload, { discriminator: payload.discriminator, rendezvousInformation: payload.rendezvousInformation });
      return 0;
    }
    const flags = Object.entries(Rendezvous).filter(([, bit]) => payload.rendezvousInformation & bit).map(([name]) => name);
    console.log(`QR code payload
  version                ${payload.version}
  vendor id              ${payload.vendorId} (0x${hex4(payload.vendorId)})
  product id             ${payload.productId} (0x${hex4(payload.productId)})
  commissioning flow     ${payload.commissioningFlow} (${flowName(payload.commissioningFlow)})
  rendezvous information ${payload.rendezvousInformation} (${flags.join(", ") || "none"})
  discriminator          ${payload.discriminator} (short ${payload.discriminator >> 8})
  passcode               ${payload.passcode}`);
    for (const field of payload.extension ?? []) {
      const value = field.value instanceof Uint8Array ? toHex(field.value) : String(field.value);
      console.log(`  extension tag ${String(field.tag).padEnd(8)} ${value}`);
    }
    return 0;
  }
  const payload = decodeManualCode(text);
  if (values.json) {
    printJson(payload, { shortDiscriminator: payload.shortDiscriminator, rendezvousInformation: null });
    return 0;
  }
  console.log(`Manual pairing code (${payload.vendorId === undefined ? 11 : 21} digits)
  version                ${payload.version}
  vendor id              ${payload.vendorId === undefined ? "-" : `${payload.vendorId} (0x${hex4(payload.vendorId)})`}
  product id             ${payload.productId === undefined ? "-" : `${payload.productId} (0x${hex4(payload.productId)})`}
  commissioning flow     ${payload.commissioningFlow} (${flowName(payload.commissioningFlow)}, from the VID/PID flag)
  short discriminator    ${payload.shortDiscriminator}
  passcode               ${payload.passcode}`);
  return 0;
}

function printJson(payload: OnboardingPayload | ManualCodePayload, specific: Record<string, number | null>): void {
  const discriminatorKey = "discriminator" in specific ? "discriminator" : "shortDiscriminator";
  const out = {
    version: payload.version,
    vendorId: payload.vendorId ?? null,
    productId: payload.productId ?? null,
    commissioningFlow: payload.commissioningFlow,
    rendezvousInformation: specific.rendezvousInformation ?? null,
    [discriminatorKey]: specific[discriminatorKey],
    passcode: payload.passcode,
  };
  console.log(JSON.stringify(out));
}

const hex4 = (value: number) => value.toString(16).toUpperCase().padStart(4, "0");
const flowName = (flow: number) => ["standard", "user action required", "custom"][flow] ?? "reserved";
