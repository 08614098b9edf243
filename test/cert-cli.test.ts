// `matter-xs cert convert` and `cert inspect`: Matter TLV <-> X.509 (DER and PEM) both ways, checked
// byte for byte and with openssl; inspect output for each kind of input; errors exit with code 2.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCsr, DnTag, encodeMatterCertificate, issueMatterCertificate, KeyUsage, matterCertificateToX509, NO_EXPIRATION_UNIX } from "../src/certs";
import { generateKeyPair } from "../src/crypto";
import { toHex } from "../src/codec/bytes";
import { parsePem, systemRandom, toPem } from "../hosts/cli/keys";
import { main } from "../hosts/cli/main";
import { repositoryRoot, vectorPath } from "./portable/vectors";

const folder = mkdtempSync(join(tmpdir(), "matter-xs-cert-cli-"));
test.after(() => rmSync(folder, { recursive: true, force: true }));
const file = (name: string) => join(folder, name);

async function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...parts: unknown[]) => void out.push(parts.join(" "));
  console.error = (...parts: unknown[]) => void err.push(parts.join(" "));
  try {
    return { status: await main(args), stdout: out.join("\n"), stderr: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

function issueNoc() {
  const root = generateKeyPair(systemRandom);
  const node = generateKeyPair(systemRandom);
  const issuer = [{ tag: DnTag.rcacId, value: 0x1122334455667788n }];
  const subject = [{ tag: DnTag.nodeId, value: 0x0000000000abcdefn }, { tag: DnTag.fabricId, value: 0x2906c908d115d362n }, { tag: DnTag.caseAuthenticatedTag, value: 0x00020003n }];
  return issueMatterCertificate(
    { serialNumber: new Uint8Array([0x42]), issuer, subject, notBefore: 1735689600, notAfter: NO_EXPIRATION_UNIX, publicKey: node.publicKey, issuerPublicKey: root.publicKey, ca: false, keyUsage: KeyUsage.digitalSignature, extendedKeyUsage: [2, 1] },
    root.privateKey,
  );
}

test("convert: TLV -> PEM and DER -> TLV again, byte for byte; openssl reads the X.509", async () => {
  const noc = issueNoc();
  const tlv = encodeMatterCertificate(noc);
  writeFileSync(file("noc.tlv"), tlv);

  assert.equal((await cli(["cert", "convert", file("noc.tlv"), "--to", "x509", "--out", file("noc.pem")])).status, 0);
  const der = parsePem(readFileSync(file("noc.pem"), "latin1"), "noc.pem")[0]!.der;
  assert.deepEqual(der, matterCertificateToX509(noc));
  const text = spawnSync("openssl", ["x509", "-in", file("noc.pem"), "-noout", "-text"], { encoding: "utf8" });
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /1\.3\.6\.1\.4\.1\.37244\.1\.1 = 0000000000ABCDEF/);
  assert.match(text.stdout, /Not After : Dec 31 23:59:59 9999 GMT/);

  assert.equal((await cli(["cert", "convert", file("noc.pem"), "--to", "x509", "--out", file("noc.der")])).status, 0);
  assert.deepEqual(new Uint8Array(readFileSync(file("noc.der"))), der, "PEM -> DER");
  assert.equal((await cli(["cert", "convert", file("noc.der"), "--to", "tlv", "--out", file("back.tlv")])).status, 0);
  assert.deepEqual(new Uint8Array(readFileSync(file("back.tlv"))), tlv, "DER -> TLV");
  assert.equal((await cli(["cert", "convert", file("noc.pem"), "--to", "tlv", "--out", file("back2.tlv")])).status, 0);
  assert.deepEqual(new Uint8Array(readFileSync(file("back2.tlv"))), tlv, "PEM -> TLV");

  // TLV given as hex text, X.509 written as PEM on request
  writeFileSync(file("noc.hex"), toHex(tlv) + "\n");
  assert.equal((await cli(["cert", "convert", file("noc.hex"), "--to", "x509", "--format", "pem", "--out", file("noc-from-hex.crt")])).status, 0);
  assert.equal(readFileSync(file("noc-from-hex.crt"), "latin1"), toPem("CERTIFICATE", der));
});

test("inspect: operational, attestation, CD and CSR inputs", async () => {
  const noc = issueNoc();
  writeFileSync(file("inspect.tlv"), encodeMatterCertificate(noc));
  const operational = await cli(["cert", "inspect", file("inspect.tlv")]);
  assert.equal(operational.status, 0, operational.stderr);
  assert.match(operational.stdout, /Matter node operational certificate \(NOC\)/);
  assert.match(operational.stdout, /node id 0x0000000000ABCDEF, fabric id 0x2906C908D115D362, CATs 0x00020003/);
  assert.match(operational.stdout, /extended key usage: +clientAuth, serverAuth/);

  const dac = await cli(["cert", "inspect", vectorPath("attestation/Chip-Test-DAC-FFF1-8000-0000-Cert.pem")]);
  assert.equal(dac.status, 0, dac.stderr);
  assert.match(dac.stdout, /a DAC/);
  assert.match(dac.stdout, /VID 0xFFF1, PID 0x8000/);
  assert.match(dac.stdout, /DAC profile \(6\.2\.2\): +conforms/);
  const paa = await cli(["cert", "inspect", vectorPath("attestation/Chip-Test-PAA-FFF1-Cert.der")]);
  assert.match(paa.stdout, /a PAA[\s\S]*self-signature: +verifies/);

  const cd = await cli(["cert", "inspect", vectorPath("certification_declaration/cd_test_02_cms.der")]);
  assert.equal(cd.status, 0, cd.stderr);
  assert.match(cd.stdout, /vendor id: +0xFFF2/);
  assert.match(cd.stdout, /product ids: +0x8001 0x8002/);
  assert.match(cd.stdout, /DAC origin: +0xFFF1 \/ 0x8000/);
  assert.match(cd.stdout, /certificate id: +ZIG20142ZB330002-24/);

  writeFileSync(file("request.pem"), toPem("CERTIFICATE REQUEST", buildCsr(generateKeyPair(systemRandom).privateKey)));
  const csr = await cli(["cert", "inspect", file("request.pem")]);
  assert.match(csr.stdout, /PKCS#10[\s\S]*subject: +O=CSR[\s\S]*self-signature: +verifies/);
});

test("errors exit with code 2 and say what is wrong", async () => {
  writeFileSync(file("garbage.bin"), new Uint8Array([0x99, 0x01, 0x02]));
  writeFileSync(file("broken.tlv"), new Uint8Array([0x15, 0x30, 0x01]));
  const cases: [string[], RegExp][] = [
    [["cert", "convert", vectorPath("attestation/Chip-Test-DAC-FFF1-8000-0000-Cert.pem"), "--to", "tlv", "--out", file("x.tlv")], /1\.3\.6\.1\.4\.1\.37244\.2\.1 has no Matter TLV encoding/],
    [["cert", "convert", file("garbage.bin"), "--to", "x509", "--out", file("x.der")], /neither Matter TLV nor DER/],
    [["cert", "convert", file("broken.tlv"), "--to", "x509", "--out", file("x.der")], /Matter certificate/],
    [["cert", "convert", file("missing.tlv"), "--to", "x509", "--out", file("x.der")], /does not exist/],
    [["cert", "convert", file("broken.tlv"), "--to", "json", "--out", file("x")], /--to must be x509 or tlv/],
    [["cert", "convert", file("broken.tlv"), "--to", "x509"], /--out FILE is required/],
    [["cert", "inspect", file("garbage.bin")], /neither Matter TLV nor DER/],
    [["cert", "frobnicate"], /expected 'convert' or 'inspect'/],
  ];
  for (const [args, pattern] of cases) {
    const result = await cli(args);
    assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, pattern, args.join(" "));
  }
  const spawned = spawnSync(process.execPath, [join(repositoryRoot, "hosts/cli/matter-xs.mjs"), ...cases[0]![0]], { encoding: "utf8" });
  assert.equal(spawned.status, 2);
  assert.match(spawned.stderr, cases[0]![1]);
});
