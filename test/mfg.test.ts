// `matter-xs mfg` end to end: runs the command line, then checks what it wrote with openssl (the
// attestation chain and the CMS-signed CD) and with the device-side factory reader, and that bad
// inputs stop it with exit code 2 and a message naming the problem.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeFactoryImage, FACTORY_PARTITION_SIZE, type FactoryData } from "../src/factory";
import { decodeCdContent, parseX509, verifyCertificationDeclaration, validateAttestationChain } from "../src/certs";
import { ecdsaVerify, generateKeyPair, publicKeyFromPrivate, spake2pComputeVerifier } from "../src/crypto";
import { decodeManualCode, decodeQrPayload } from "../src/discovery/onboarding";
import { parsePem, privateKeyPem, readPrivateKeyFile, systemRandom } from "../hosts/cli/keys";
import { repositoryRoot, vectorPath } from "./portable/vectors";
import { main } from "../hosts/cli/main";

const attestation = (name: string) => vectorPath(`attestation/${name}`);
const cdVector = (name: string) => vectorPath(`certification_declaration/${name}`);
const folders: string[] = [];

function scratch(): string {
  const folder = mkdtempSync(join(tmpdir(), "matter-xs-mfg-"));
  folders.push(folder);
  return folder;
}

test.after(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [join(repositoryRoot, "hosts/cli/matter-xs.mjs"), ...args], { cwd: repositoryRoot, encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs the command-line entry in this process, capturing what it prints to stderr. */
async function cliInProcess(args: string[]): Promise<{ status: number; stderr: string }> {
  const printed: string[] = [];
  const original = console.error;
  console.error = (...parts: unknown[]) => void printed.push(parts.join(" "));
  try {
    return { status: await main(args), stderr: printed.join("\n") };
  } finally {
    console.error = original;
  }
}

function openssl(args: string[], cwd: string): { status: number | null; output: string } {
  const result = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function pem(path: string): Uint8Array {
  return parsePem(readFileSync(path, "latin1"), path)[0]!.der;
}

function onboarding(folder: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of readFileSync(join(folder, "onboarding.txt"), "utf8").split("\n")) {
    const at = line.indexOf(":");
    if (at > 0) fields[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return fields;
}

/** Everything a device folder must satisfy: chain (openssl and ours), image, verifier, codes. */
function checkDevice(out: string, deviceFolder: string, expect: { vendorId: number; productId: number; paa: boolean }): FactoryData {
  const chain = openssl(["verify", "-x509_strict", "-CAfile", "paa.pem", "-untrusted", "pai.pem", join(deviceFolder, "dac.pem")], out);
  if (expect.paa) {
    assert.equal(chain.status, 0, chain.output);
    assert.match(chain.output, /dac.pem: OK/);
  }
  const image = new Uint8Array(readFileSync(join(out, deviceFolder, "factory.bin")));
  assert.equal(image.length, FACTORY_PARTITION_SIZE, "the image is padded to the partition size");
  const data = decodeFactoryImage(image);
  assert.equal(data.vendorId, expect.vendorId);
  assert.equal(data.productId, expect.productId);
  assert.deepEqual(data.attestation.dacCertificate, pem(join(out, deviceFolder, "dac.pem")));
  assert.deepEqual(data.attestation.paiCertificate, pem(join(out, "pai.pem")));
  assert.deepEqual(data.attestation.certificationDeclaration, new Uint8Array(readFileSync(join(out, "cd.der"))));
  if (expect.paa) validateAttestationChain({ paa: pem(join(out, "paa.pem")), pai: data.attestation.paiCertificate, dac: data.attestation.dacCertificate });
  const message = new TextEncoder().encode("attestation");
  assert.ok(ecdsaVerify(parseX509(data.attestation.dacCertificate).publicKey, message, data.attestation.signWithDac(message)));

  const info = onboarding(join(out, deviceFolder));
  const passcode = Number(info.passcode);
  const verifier = spake2pComputeVerifier(passcode, data.pbkdfSalt, data.pbkdfIterations);
  assert.deepEqual(data.spake2pW0, verifier.w0, "w0 is the verifier of the printed passcode");
  assert.deepEqual(data.spake2pL, verifier.L);
  assert.ok(data.pbkdfSalt.length >= 16 && data.pbkdfSalt.length <= 32);
  const qr = decodeQrPayload(info["QR payload"]!);
  assert.equal(qr.passcode, passcode);
  assert.equal(qr.discriminator, data.discriminator);
  assert.equal(qr.vendorId, expect.vendorId);
  assert.equal(qr.productId, expect.productId);
  const manual = decodeManualCode(info["manual pairing code"]!);
  assert.equal(manual.passcode, passcode);
  assert.equal(manual.shortDiscriminator, data.discriminator >> 8);
  assert.equal(info["serial number"], data.serialNumber);
  return data;
}

function checkCd(out: string, expect: { vendorId: number; productId: number }): void {
  const verified = openssl(["cms", "-verify", "-inform", "DER", "-in", "cd.der", "-binary", "-noverify", "-certfile", "cd-signing-cert.pem", "-out", "cd-content.bin"], out);
  assert.equal(verified.status, 0, verified.output);
  assert.match(verified.output, /Verification successful/);
  const content = new Uint8Array(readFileSync(join(out, "cd-content.bin")));
  const declaration = decodeCdContent(content);
  assert.equal(declaration.vendorId, expect.vendorId);
  assert.deepEqual(declaration.productIds, [expect.productId]);
  const ours = verifyCertificationDeclaration(new Uint8Array(readFileSync(join(out, "cd.der"))), parseX509(pem(join(out, "cd-signing-cert.pem"))).publicKey);
  assert.deepEqual(ours.content, content, "openssl extracts the content we signed");
  // The oracle can fail: another certificate is not the signer.
  assert.notEqual(openssl(["cms", "-verify", "-inform", "DER", "-in", "cd.der", "-binary", "-noverify", "-certfile", "pai.pem", "-out", "/dev/null"], out).status, 0);
}

test("the shared test PAI and PAA with the shared CD signing key", () => {
  const out = scratch();
  const result = cli([
    "mfg", "--out", out,
    "--pai-cert", attestation("Chip-Test-PAI-FFF1-8000-Cert.pem"), "--pai-key", attestation("Chip-Test-PAI-FFF1-8000-Key.pem"),
    "--paa-cert", attestation("Chip-Test-PAA-FFF1-Cert.pem"),
    "--cd-cert", cdVector("Chip-Test-CD-Signing-Cert.pem"), "--cd-key", cdVector("Chip-Test-CD-Signing-Key.pem"),
    "--passcode", "20202021", "--discriminator", "3840", "--serial", "TEST-SN-1", "--iterations", "2000", "--store-passcode",
  ]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /MT:/);
  const data = checkDevice(out, "", { vendorId: 0xfff1, productId: 0x8000, paa: true });
  assert.equal(data.passcode, 20202021);
  assert.equal(data.discriminator, 3840);
  assert.equal(data.serialNumber, "TEST-SN-1");
  assert.equal(data.pbkdfIterations, 2000);
  assert.match(onboarding(out)["QR payload"]!, /^MT:/);
  checkCd(out, { vendorId: 0xfff1, productId: 0x8000 });
  assert.deepEqual(pem(join(out, "pai.pem")), pem(attestation("Chip-Test-PAI-FFF1-8000-Cert.pem")));
  assert.match(readFileSync(join(out, "partitions.csv"), "utf8"), /^factory, data, undefined, 0x11000, 0x6000, encrypted$/m);
  assert.match(result.stdout, /esptool\.py write_flash 0x11000 /);
  assert.ok(!existsSync(join(out, "pai-key.pem")), "a given PAI key is not copied");
  // The firmware key written next to the outputs is what the partition holds.
  const firmwareKey = readPrivateKeyFile(join(out, "firmware-signing-key.pem"), "firmware key");
  assert.deepEqual(data.firmwareSigningKey, publicKeyFromPrivate(firmwareKey));
  assert.equal(openssl(["ec", "-in", "firmware-signing-key.pem", "-check", "-noout"], out).status, 0);
});

test("the shared test PAA issues a new PAI; a given firmware key is used", () => {
  const out = scratch();
  const keyFile = join(out, "..", `${out.split("/").pop()}-firmware.pem`);
  const firmware = generateKeyPair(systemRandom);
  writeFileSync(keyFile, privateKeyPem(firmware.privateKey));
  folders.push(keyFile);
  const result = cli([
    "mfg", "--out", out, "--vid", "0xFFF1", "--pid", "0x8001",
    "--paa-cert", attestation("Chip-Test-PAA-FFF1-Cert.pem"), "--paa-key", attestation("Chip-Test-PAA-FFF1-Key.pem"),
    "--firmware-key", keyFile, "--partition-offset", "0x3f0000",
  ]);
  assert.equal(result.status, 0, result.stderr);
  const data = checkDevice(out, "", { vendorId: 0xfff1, productId: 0x8001, paa: true });
  assert.equal(data.passcode, undefined, "the passcode is not stored unless asked");
  assert.deepEqual(data.firmwareSigningKey, firmware.publicKey);
  assert.ok(!existsSync(join(out, "firmware-signing-key.pem")));
  assert.deepEqual(pem(join(out, "paa.pem")), pem(attestation("Chip-Test-PAA-FFF1-Cert.pem")));
  assert.ok(existsSync(join(out, "pai-key.pem")), "the new PAI's key is kept");
  assert.match(result.stdout, /esptool\.py write_flash 0x3f0000/);
  assert.match(readFileSync(join(out, "partitions.csv"), "utf8"), /factory, data, undefined, 0x3f0000, 0x6000, encrypted/);
  checkCd(out, { vendorId: 0xfff1, productId: 0x8001 });
});

test("a generated PAA and PAI with --count: a CSV of serial, QR payload and manual code", () => {
  const out = scratch();
  const result = cli(["mfg", "--out", out, "--vid", "0xFFF2", "--pid", "0x8003", "--count", "3", "--serial", "LOT7-"]);
  assert.equal(result.status, 0, result.stderr);
  const rows = readFileSync(join(out, "devices.csv"), "utf8").trim().split("\n");
  assert.equal(rows[0], "serial,qr_payload,manual_code,discriminator,passcode,image");
  assert.equal(rows.length, 4);
  const serials = new Set<string>();
  for (const row of rows.slice(1)) {
    const [serial, qr, manual, discriminator, passcode, image] = row.split(",");
    serials.add(serial!);
    assert.equal(image, `${serial}/factory.bin`);
    const data = checkDevice(out, serial!, { vendorId: 0xfff2, productId: 0x8003, paa: true });
    assert.equal(data.serialNumber, serial);
    assert.equal(decodeQrPayload(qr!).passcode, Number(passcode));
    assert.equal(decodeQrPayload(qr!).discriminator, Number(discriminator));
    assert.equal(decodeManualCode(manual!).passcode, Number(passcode));
    assert.equal(onboarding(join(out, serial!))["QR payload"], qr);
  }
  assert.deepEqual([...serials], ["LOT7-1", "LOT7-2", "LOT7-3"]);
  checkCd(out, { vendorId: 0xfff2, productId: 0x8003 });
  for (const secret of ["paa-key.pem", "pai-key.pem", "cd-signing-key.pem", "firmware-signing-key.pem"]) {
    assert.ok(existsSync(join(out, secret)), secret);
  }
});

test("inconsistent inputs stop with exit code 2, a message naming the problem, and no output", async () => {
  const pai = ["--pai-cert", attestation("Chip-Test-PAI-FFF1-8000-Cert.pem"), "--pai-key", attestation("Chip-Test-PAI-FFF1-8000-Key.pem")];
  const cases: [string[], RegExp][] = [
    [["--vid", "0xFFF2", ...pai], /--pai-cert is a PAI of vendor 0xFFF1, not of --vid 0xFFF2/],
    [["--pid", "0x8001", ...pai], /--pai-cert only covers product 0x8000, not --pid 0x8001/],
    [["--pai-cert", attestation("Chip-Test-PAI-FFF1-8000-Cert.pem"), "--pai-key", attestation("Chip-Test-DAC-FFF1-8000-0000-Key.pem")], /--pai-key .* does not match the public key in --pai-cert/],
    [["--paa-cert", attestation("Chip-Test-PAA-FFF1-Cert.pem"), "--paa-key", attestation("Chip-Test-PAI-FFF1-8000-Key.pem")], /--paa-key .* does not match the public key in --paa-cert/],
    [["--vid", "0xFFF3", "--paa-cert", attestation("Chip-Test-PAA-FFF1-Cert.pem"), "--paa-key", attestation("Chip-Test-PAA-FFF1-Key.pem")], /PAA of vendor 0xFFF1, not of --vid 0xFFF3/],
    [["--cd-cert", cdVector("Chip-Test-CD-Signing-Cert.pem"), "--cd-key", attestation("Chip-Test-PAA-FFF1-Key.pem")], /--cd-key .* does not match the public key in --cd-cert/],
    [["--pai-cert", attestation("Chip-Test-DAC-FFF1-8000-0000-Cert.pem"), "--pai-key", attestation("Chip-Test-DAC-FFF1-8000-0000-Key.pem")], /is not a usable PAI: PAI must be a CA/],
    [[...pai, "--paa-cert", cdVector("Chip-Test-CD-Signing-Cert.pem")], /--pai-cert does not chain to --paa-cert/],
    ...["00000000", "11111111", "22222222", "33333333", "44444444", "55555555", "66666666", "77777777", "88888888", "99999999", "12345678", "87654321", "100000000"].map(
      (passcode): [string[], RegExp] => [["--passcode", passcode], new RegExp(`--passcode ${passcode} is not allowed`)],
    ),
    [["--count", "2", "--passcode", "20202021"], /--passcode gives one device's passcode/],
    [["--discriminator", "4096"], /--discriminator must be an integer from 0 to 4095/],
    [["--iterations", "999"], /--iterations must be an integer from 1000 to 100000/],
    [["--iterations", "100001"], /--iterations must be an integer from 1000 to 100000/],
    [["--certificate-id", "TOO-SHORT"], /--certificate-id must be 19 characters/],
    [["--pai-key", attestation("Chip-Test-PAI-FFF1-8000-Key.pem")], /--pai-key needs --pai-cert/],
    [["--pai-cert", join(repositoryRoot, "no-such-file.pem"), "--pai-key", attestation("Chip-Test-PAI-FFF1-8000-Key.pem")], /does not exist/],
  ];
  // A few through a real process (exit status), the whole table through the same entry in-process.
  for (const [args, pattern] of [cases[0]!, cases[2]!, cases[8]!]) {
    const out = join(scratch(), "out");
    const result = cli(["mfg", "--out", out, ...args]);
    assert.equal(result.status, 2, `${args.join(" ")}: exit ${result.status}\n${result.stderr}`);
    assert.match(result.stderr, pattern, args.join(" "));
    assert.ok(!existsSync(out), `${args.join(" ")}: nothing written`);
  }
  for (const [args, pattern] of cases) {
    const out = join(scratch(), "out");
    const result = await cliInProcess(["mfg", "--out", out, ...args]);
    assert.equal(result.status, 2, `${args.join(" ")}: exit ${result.status}\n${result.stderr}`);
    assert.match(result.stderr, pattern, args.join(" "));
    assert.ok(!existsSync(out) || readdirSync(out).length === 0, `${args.join(" ")}: nothing written`);
  }
  assert.equal((await cliInProcess(["mfg"])).status, 2);
});
