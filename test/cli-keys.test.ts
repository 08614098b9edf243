// Key and certificate files for the tools: the test PKI's SEC1 keys (PEM and DER) read back to the
// scalars the vector file lists, openssl's PKCS#8 and "ecparam -genkey" output are understood, the
// keys we write are valid for openssl, and malformed or foreign keys are refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromHex } from "../src/codec/bytes";
import { generateKeyPair, publicKeyFromPrivate } from "../src/crypto";
import { CliError } from "../hosts/cli/args";
import { privateKeyPem, readCertificateFile, readPrivateKeyFile, systemRandom } from "../hosts/cli/keys";
import { vectorPath } from "./portable/vectors";

const folder = mkdtempSync(join(tmpdir(), "matter-xs-keys-"));
test.after(() => rmSync(folder, { recursive: true, force: true }));

test("the test PKI's keys read back to the listed scalars, from PEM and DER", () => {
  const chain = JSON.parse(readFileSync(vectorPath("attestation/attestation_chain_fff1_8000.json"), "utf8"));
  const files: [string, string][] = [
    ["attestation/Chip-Test-PAA-FFF1-Key", chain.PAA.private_key_hex],
    ["attestation/Chip-Test-PAI-FFF1-8000-Key", chain.PAI.private_key_hex],
    ["attestation/Chip-Test-DAC-FFF1-8000-0000-Key", chain.DAC.private_key_hex],
    ["certification_declaration/Chip-Test-CD-Signing-Key", JSON.parse(readFileSync(vectorPath("certification_declaration/cd_vectors.json"), "utf8")).signer.private_key_hex],
  ];
  for (const [base, hex] of files) {
    assert.deepEqual(readPrivateKeyFile(vectorPath(`${base}.pem`), base), fromHex(hex), `${base}.pem`);
    assert.deepEqual(readPrivateKeyFile(vectorPath(`${base}.der`), base), fromHex(hex), `${base}.der`);
  }
  assert.deepEqual(readCertificateFile(vectorPath("attestation/Chip-Test-PAA-FFF1-Cert.pem"), "PAA"), fromHex(chain.PAA.der_hex));
  assert.deepEqual(readCertificateFile(vectorPath("attestation/Chip-Test-PAA-FFF1-Cert.der"), "PAA"), fromHex(chain.PAA.der_hex));
});

test("openssl's PKCS#8 and ecparam output are read; the SEC1 keys we write are valid for openssl", () => {
  const generated = join(folder, "generated.pem");
  execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-out", generated]);
  const scalar = readPrivateKeyFile(generated, "generated");
  const pkcs8 = join(folder, "generated-pkcs8.pem");
  execFileSync("openssl", ["pkcs8", "-topk8", "-nocrypt", "-in", generated, "-out", pkcs8]);
  assert.deepEqual(readPrivateKeyFile(pkcs8, "pkcs8"), scalar);
  const pkcs8Der = join(folder, "generated-pkcs8.der");
  execFileSync("openssl", ["pkcs8", "-topk8", "-nocrypt", "-in", generated, "-outform", "DER", "-out", pkcs8Der]);
  assert.deepEqual(readPrivateKeyFile(pkcs8Der, "pkcs8 der"), scalar);

  const keys = generateKeyPair(systemRandom);
  const ours = join(folder, "ours.pem");
  writeFileSync(ours, privateKeyPem(keys.privateKey));
  const text = execFileSync("openssl", ["ec", "-in", ours, "-check", "-noout", "-text"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  assert.match(text, /ASN1 OID: prime256v1/);
  const publicDer = execFileSync("openssl", ["ec", "-in", ours, "-pubout", "-outform", "DER"], { stdio: ["ignore", "pipe", "ignore"] });
  assert.deepEqual(new Uint8Array(publicDer.subarray(publicDer.length - 65)), publicKeyFromPrivate(keys.privateKey));
});

test("other curves, mismatched embedded public keys and non-keys are refused", () => {
  const secp384 = join(folder, "p384.pem");
  execFileSync("openssl", ["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", secp384]);
  assert.throws(() => readPrivateKeyFile(secp384, "p384"), (error: Error) => error instanceof CliError && /not a P-256 private key|not P-256/.test(error.message));
  const ed25519 = join(folder, "ed25519.pem");
  execFileSync("openssl", ["genpkey", "-algorithm", "ed25519", "-out", ed25519]);
  assert.throws(() => readPrivateKeyFile(ed25519, "ed25519"), /not an EC key/);
  assert.throws(() => readPrivateKeyFile(vectorPath("attestation/Chip-Test-PAA-FFF1-Cert.pem"), "a certificate"), /no EC PRIVATE KEY or PRIVATE KEY block/);
  // A SEC1 key whose embedded public key belongs to another private key.
  const mixed = readFileSync(vectorPath("attestation/Chip-Test-DAC-FFF1-8000-0000-Key.der"));
  const other = readFileSync(vectorPath("attestation/Chip-Test-PAI-FFF1-8000-Key.der"));
  const spliced = Buffer.concat([mixed.subarray(0, mixed.length - 65), other.subarray(other.length - 65)]);
  writeFileSync(join(folder, "spliced.der"), spliced);
  assert.throws(() => readPrivateKeyFile(join(folder, "spliced.der"), "spliced"), /embedded public key does not match/);
  writeFileSync(join(folder, "junk.pem"), "-----BEGIN EC PRIVATE KEY-----\n!!!\n-----END EC PRIVATE KEY-----\n");
  assert.throws(() => readPrivateKeyFile(join(folder, "junk.pem"), "junk"), /not valid base64/);
});
