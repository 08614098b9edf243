// `matter-xs ota create` and `ota inspect` as a user runs them, with independent checks of what
// they write: matter.js's OtaImageReader reads and validates the image (header, payload size,
// digest) and extracts the payload; openssl verifies the signature over the bytes the format
// says are signed; the firmware-signing key `matter-xs mfg` generates signs images that verify
// with the public key in the factory partition it writes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StandardCrypto } from "@matter/general";
import { OtaImageReader as MatterJsOtaImageReader } from "@matter/protocol";
import { signatureToDer, sha256 } from "../src/crypto";
import { decodeFactoryImage } from "../src/factory";
import { readOtaImage, verifyOtaSignature } from "../src/ota/image";

const cli = join(import.meta.dirname, "../hosts/cli/matter-xs.mjs");
const work = mkdtempSync(join(tmpdir(), "matter-xs-ota-cli-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

function run(...args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 120_000 });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function openssl(...args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync("openssl", args, { encoding: "utf8" });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function keyPair(name: string): { privatePem: string; publicPem: string } {
  const privatePem = join(work, `${name}.pem`);
  const publicPem = join(work, `${name}.pub.pem`);
  assert.equal(openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", privatePem).status, 0);
  assert.equal(openssl("ec", "-in", privatePem, "-pubout", "-out", publicPem).status, 0);
  return { privatePem, publicPem };
}

function stream(bytes: Uint8Array, piece = 1000): ReadableStreamDefaultReader<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + piece));
      at += piece;
    },
  }).getReader();
}

const signer = keyPair("signer");
const other = keyPair("other");
const payload = new Uint8Array(200_000).map((_, i) => (i * 2654435761) >>> 24);
const payloadPath = join(work, "firmware.bin");
writeFileSync(payloadPath, payload);
const imagePath = join(work, "firmware.ota");

test("create writes a signed image that inspect verifies field by field", () => {
  const created = run("ota", "create", "--vid", "0xFFF1", "--pid", "0x8000", "--version", "3", "--version-string", "3.0-rc1",
    "--payload", payloadPath, "--key", signer.privatePem, "--out", imagePath, "--min-version", "1", "--max-version", "2",
    "--release-notes", "https://example.com/3.0");
  assert.equal(created.status, 0, created.stderr);
  const inspected = run("ota", "inspect", imagePath, "--pubkey", signer.publicPem);
  assert.equal(inspected.status, 0, inspected.stdout + inspected.stderr);
  for (const line of [
    /vendor id:\s+0xFFF1/,
    /product id:\s+0x8000/,
    /software version:\s+3 /,
    /software version string:\s+3\.0-rc1/,
    /payload size:\s+200000/,
    /min applicable version:\s+1/,
    /max applicable version:\s+2/,
    /release notes URL:\s+https:\/\/example\.com\/3\.0/,
    /image digest type:\s+1 \(sha-256\)/,
    new RegExp(`image digest:\\s+${Buffer.from(sha256(payload)).toString("hex")}`),
    /digest:\s+OK/,
    /signature check:\s+OK/,
  ]) {
    assert.match(inspected.stdout, line);
  }
  const withoutKey = run("ota", "inspect", imagePath);
  assert.equal(withoutKey.status, 0);
  assert.match(withoutKey.stdout, /signature check:\s+not checked \(give --pubkey\)/);
  // The private key file works as --pubkey too.
  assert.equal(run("ota", "inspect", imagePath, "--pubkey", signer.privatePem).status, 0);
});

test("matter.js reads the image: header, size, digest, payload", async () => {
  const file = new Uint8Array(readFileSync(imagePath));
  const crypto = new StandardCrypto();
  const header = await MatterJsOtaImageReader.file(stream(file), crypto, file.length);
  assert.equal(header.vendorId, 0xfff1);
  assert.equal(header.productId, 0x8000);
  assert.equal(header.softwareVersion, 3);
  assert.equal(header.softwareVersionString, "3.0-rc1");
  assert.equal(BigInt(header.payloadSize), 200_000n);
  assert.equal(header.minApplicableSoftwareVersion, 1);
  assert.equal(header.maxApplicableSoftwareVersion, 2);
  assert.equal(header.releaseNotesUrl, "https://example.com/3.0");
  assert.equal(header.imageDigestType, 1);
  const chunks: Uint8Array[] = [];
  const sink = new WritableStream<Uint8Array>({ write: (chunk) => void chunks.push(chunk.slice()) });
  await MatterJsOtaImageReader.extractPayload(stream(file, 777), sink.getWriter(), crypto, file.length);
  assert.deepEqual(new Uint8Array(Buffer.concat(chunks)), payload);
});

test("openssl verifies the signature over the header up to the signature and SHA-256(payload)", () => {
  const file = new Uint8Array(readFileSync(imagePath));
  const { header, payloadSha256 } = readOtaImage(file);
  const headerLength = 16 + header.headerSize;
  const message = Buffer.concat([file.subarray(0, header.signedLength), Buffer.from(sha256(file.subarray(headerLength)))]);
  assert.deepEqual(new Uint8Array(message.subarray(message.length - 32)), payloadSha256);
  const messagePath = join(work, "signed.bin");
  const signaturePath = join(work, "signature.der");
  writeFileSync(messagePath, message);
  writeFileSync(signaturePath, signatureToDer(header.signature!));
  const verified = openssl("dgst", "-sha256", "-verify", signer.publicPem, "-signature", signaturePath, messagePath);
  assert.equal(verified.status, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, /Verified OK/);
  assert.notEqual(openssl("dgst", "-sha256", "-verify", other.publicPem, "-signature", signaturePath, messagePath).status, 0);
});

test("inspect fails (exit 1) for another key, a changed payload, a truncated file, an unsigned image with --pubkey", () => {
  const wrongKey = run("ota", "inspect", imagePath, "--pubkey", other.publicPem);
  assert.equal(wrongKey.status, 1);
  assert.match(wrongKey.stdout, /digest:\s+OK/);
  assert.match(wrongKey.stdout, /signature check:\s+FAILED/);

  const file = new Uint8Array(readFileSync(imagePath));
  const changed = file.slice();
  changed[file.length - 5]! ^= 0x80;
  const changedPath = join(work, "changed.ota");
  writeFileSync(changedPath, changed);
  const changedRun = run("ota", "inspect", changedPath, "--pubkey", signer.publicPem);
  assert.equal(changedRun.status, 1);
  assert.match(changedRun.stdout, /digest:\s+BAD/);
  assert.match(changedRun.stdout, /signature check:\s+FAILED/);

  const truncatedPath = join(work, "truncated.ota");
  writeFileSync(truncatedPath, file.subarray(0, file.length - 1000));
  const truncated = run("ota", "inspect", truncatedPath, "--pubkey", signer.publicPem);
  assert.equal(truncated.status, 1);
  assert.match(truncated.stdout, /payload:\s+BAD: OTA image: truncated payload \(199000 of 200000 bytes\)/);

  const headerOnly = join(work, "header-only.ota");
  writeFileSync(headerOnly, file.subarray(0, 30));
  const short = run("ota", "inspect", headerOnly);
  assert.equal(short.status, 1);
  assert.match(short.stdout, /not a readable OTA image/);

  const minimal = join(import.meta.dirname, "../../shared/vectors/ota/ota_minimal.ota");
  const unsignedRun = run("ota", "inspect", minimal, "--pubkey", signer.publicPem);
  assert.equal(unsignedRun.status, 1);
  assert.match(unsignedRun.stdout, /image digest type:\s+9 \(sha3-224\)/);
  assert.match(unsignedRun.stdout, /digest:\s+OK/);
  assert.match(unsignedRun.stdout, /signature check:\s+FAILED: the image is not signed/);
  assert.equal(run("ota", "inspect", minimal).status, 0, "nothing to fail without a key");
});

test("create refuses bad input with exit code 2 and writes nothing", () => {
  const out = join(work, "refused.ota");
  const base = ["ota", "create", "--vid", "0xFFF1", "--pid", "0x8000", "--version", "3", "--version-string", "3", "--payload", payloadPath, "--key", signer.privatePem, "--out", out];
  const cases: [string[], RegExp][] = [
    [base.filter((_, i) => i !== base.indexOf("--key") && i !== base.indexOf("--key") + 1), /--key is required/],
    [[...base, "--min-version", "3"], /--min-version must be lower than --version/],
    [[...base, "--max-version", "5"], /--max-version must be lower than --version/],
    [[...base, "--min-version", "2", "--max-version", "1"], /--max-version must not be lower than --min-version/],
    [base.map((arg) => (arg === "0xFFF1" ? "0" : arg)), /--vid must be an integer from 1/],
    [base.map((arg, i) => (i === base.indexOf("--version-string") + 1 ? "v".repeat(65) : arg)), /--version-string must be 1 to 64 bytes/],
    [base.map((arg) => (arg === payloadPath ? join(work, "missing.bin") : arg)), /does not exist/],
    [base.map((arg) => (arg === signer.privatePem ? signer.publicPem : arg)), /no EC PRIVATE KEY or PRIVATE KEY block/],
  ];
  for (const [args, message] of cases) {
    const result = run(...args);
    assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.throws(() => readFileSync(out), /ENOENT/);
  }
});

test("the firmware-signing key from matter-xs mfg signs images the factory partition's key verifies", () => {
  const devices = join(work, "devices");
  const provisioned = run("mfg", "--out", devices);
  assert.equal(provisioned.status, 0, provisioned.stderr);
  const out = join(work, "mfg-signed.ota");
  const created = run("ota", "create", "--vid", "0xFFF1", "--pid", "0x8000", "--version", "2", "--version-string", "2",
    "--payload", payloadPath, "--key", join(devices, "firmware-signing-key.pem"), "--out", out);
  assert.equal(created.status, 0, created.stderr);
  const factory = decodeFactoryImage(new Uint8Array(readFileSync(join(devices, "factory.bin"))));
  const { header, payloadSha256, digestMatches } = readOtaImage(new Uint8Array(readFileSync(out)));
  assert.ok(digestMatches);
  assert.ok(verifyOtaSignature(header, payloadSha256, factory.firmwareSigningKey));
  assert.equal(header.vendorId, factory.vendorId);
  assert.equal(header.productId, factory.productId);
});
