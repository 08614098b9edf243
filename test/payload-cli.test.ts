// Runs `matter-xs payload` as a user would (node hosts/cli/matter-xs.mjs ...) on the onboarding
// vectors: the printed QR payload and manual code, the --json output, exit code 2 on bad input,
// and the QR symbol it draws, read back with an independent QR decoder (jsQR).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import jsQR from "jsqr";
import { repositoryRoot, vectorPath } from "./portable/vectors";

interface QrVector {
  qr_code: string;
  version: number;
  vendor_id: number;
  product_id: number;
  commissioning_flow: number;
  rendezvous_information: number;
  discriminator: number;
  passcode: number;
}

interface ManualVector {
  manual_code: string;
  short_discriminator: number;
  passcode: number;
  vendor_id: number | null;
  product_id: number | null;
  commissioning_flow_reported_by_chip_tool: number;
}

const vectors = JSON.parse(readFileSync(vectorPath("onboarding/onboarding_vectors.json"), "utf8")) as { qr_codes: QrVector[]; manual_codes: ManualVector[] };

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [join(repositoryRoot, "hosts/cli/matter-xs.mjs"), "payload", ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Reads back the plain-text symbol: each character is two modules, top and bottom; dark is filled. */
function readDrawnSymbol(drawn: string): string | undefined {
  const lines = drawn.split("\n").filter((line) => line.length > 0);
  const width = Math.max(...lines.map((line) => [...line].length));
  const rows: boolean[][] = [];
  for (const line of lines) {
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    for (const char of [...line].concat(Array(width - [...line].length).fill(" "))) {
      assert.ok(" ▀▄█".includes(char), `unexpected character ${JSON.stringify(char)} in the drawn symbol`);
      top.push(char === "▀" || char === "█");
      bottom.push(char === "▄" || char === "█");
    }
    rows.push(top, bottom);
  }
  const scale = 6;
  const border = 4; // extra quiet zone, in modules
  const size = (width + 2 * border) * scale;
  const height = (rows.length + 2 * border) * scale;
  const pixels = new Uint8ClampedArray(size * height * 4).fill(255);
  rows.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (!dark) return;
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          const at = (((y + border) * scale + dy) * size + (x + border) * scale + dx) * 4;
          pixels[at] = pixels[at + 1] = pixels[at + 2] = 0;
        }
      }
    }),
  );
  return jsQR(pixels, size, height, { inversionAttempts: "dontInvert" })?.data;
}

test("encode prints each vector's QR payload and the matching manual code, and draws a readable symbol", () => {
  for (const vector of vectors.qr_codes) {
    const args = [
      "encode", "--qr", "text",
      "--vid", String(vector.vendor_id), "--pid", String(vector.product_id), "--flow", String(vector.commissioning_flow),
      "--rendezvous", String(vector.rendezvous_information), "--discriminator", String(vector.discriminator), "--passcode", String(vector.passcode),
    ];
    const run = cli(...args);
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.split("\n");
    assert.equal(lines[0], `QR payload:   ${vector.qr_code}`);
    const manual = vectors.manual_codes.find((m) => m.passcode === vector.passcode);
    if (manual) assert.match(lines[1]!, new RegExp(`^Manual code:  ${manual.manual_code}  \\(\\d{4}-\\d{3}-\\d{4}(-\\d{5}-\\d{5})?\\)$`));
    else assert.match(lines[1]!, /^Manual code:  \d{11}(\d{10})?  /);
    assert.equal(readDrawnSymbol(lines.slice(2).join("\n")), vector.qr_code, "the drawn symbol scans as the payload");
  }
});

test("encode defaults, hex options, the ANSI drawing and --qr none", () => {
  const defaults = cli("encode", "--qr", "none");
  assert.equal(defaults.status, 0, defaults.stderr);
  assert.equal(defaults.stdout, "QR payload:   MT:Y.K90AFN00KA0648G00\nManual code:  34970112332  (3497-011-2332)\n");
  const hex = cli("encode", "--qr", "none", "--vid", "0xFFF1", "--pid", "0x8000", "--discriminator", "0xF00");
  assert.equal(hex.stdout, defaults.stdout);
  const ansi = cli("encode", "--qr", "ansi");
  assert.equal(ansi.status, 0, ansi.stderr);
  assert.ok(ansi.stdout.includes("\x1b[47m"), "explicit white background");
});

test("decode --json prints exactly the payload keys for every QR vector and manual code vector", () => {
  for (const vector of vectors.qr_codes) {
    const run = cli("decode", vector.qr_code, "--json");
    assert.equal(run.status, 0, run.stderr);
    const printed = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(printed), ["version", "vendorId", "productId", "commissioningFlow", "rendezvousInformation", "discriminator", "passcode"]);
    assert.deepEqual(printed, {
      version: vector.version,
      vendorId: vector.vendor_id,
      productId: vector.product_id,
      commissioningFlow: vector.commissioning_flow,
      rendezvousInformation: vector.rendezvous_information,
      discriminator: vector.discriminator,
      passcode: vector.passcode,
    });
  }
  for (const vector of vectors.manual_codes) {
    const run = cli("decode", vector.manual_code, "--json");
    assert.equal(run.status, 0, run.stderr);
    const printed = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(printed), ["version", "vendorId", "productId", "commissioningFlow", "rendezvousInformation", "shortDiscriminator", "passcode"]);
    assert.deepEqual(printed, {
      version: 0,
      vendorId: vector.vendor_id,
      productId: vector.product_id,
      commissioningFlow: vector.commissioning_flow_reported_by_chip_tool,
      rendezvousInformation: null,
      shortDiscriminator: vector.short_discriminator,
      passcode: vector.passcode,
    });
  }
});

test("decode prints a readable summary", () => {
  const qr = cli("decode", vectors.qr_codes[0]!.qr_code);
  assert.equal(qr.status, 0, qr.stderr);
  assert.match(qr.stdout, /vendor id +4891 \(0x131B\)/);
  assert.match(qr.stdout, /rendezvous information 2 \(BLE\)/);
  assert.match(qr.stdout, /discriminator +3431 \(short 13\)/);
  const manual = cli("decode", "3497-011-2332");
  assert.equal(manual.status, 0, manual.stderr);
  assert.match(manual.stdout, /short discriminator +15/);
  assert.match(manual.stdout, /passcode +20202021/);
});

test("bad input exits with code 2 and says why", () => {
  const cases: [string[], RegExp][] = [
    [["decode", "34970112333"], /check digit/],
    [["decode", "MT:U9VJ0OMV172PX81321a"], /base38: invalid character/],
    [["decode", "MT:"], /no 'MT:' payload/],
    [["decode", "hello"], /only digits/],
    [["decode"], /one code/],
    [["decode", "34970112332", "--verbose"], /Unknown option/],
    [["encode", "--passcode", "12345678"], /passcode 12345678 is not allowed/],
    [["encode", "--flow", "3"], /--flow must be an integer from 0 to 2/],
    [["encode", "--vid", "65536"], /--vid must be/],
    [["encode", "--discriminator", "4096"], /--discriminator must be/],
    [["encode", "--vid", "0xFFF5", "--qr", "none"], /not a valid vendor id/],
    [["encode", "--qr", "png"], /--qr must be ansi, text or none/],
    [["frobnicate"], /unknown action 'frobnicate'/],
    [[], /missing action/],
  ];
  for (const [args, message] of cases) {
    const run = cli(...args);
    assert.equal(run.status, 2, `${args.join(" ")}: exit ${run.status}\n${run.stdout}${run.stderr}`);
    assert.match(run.stderr, message, args.join(" "));
    assert.match(run.stderr, /^matter-xs payload: /);
  }
});
