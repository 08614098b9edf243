// Operational certificates and CSRs against independent implementations: matter.js (its own TLV and
// X.509 encoders and chain rules) and openssl (X.509 chain verification, CSR self-signature).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { CertificateAuthority, Icac, Noc, Rcac } from "@matter/protocol";
import { StandardCrypto } from "@matter/general";
import { CaseAuthenticatedTag, FabricId, NodeId } from "@matter/types";
import {
  buildCsr,
  DnTag,
  encodeMatterCertificate,
  issueMatterCertificate,
  KeyUsage,
  matterCertificateToX509,
  NO_EXPIRATION_UNIX,
  validateOperationalChain,
  verifyCsr,
  x509ToMatterTlv,
  type DnEntry,
} from "../src/certs";
import { generateKeyPair, type Random } from "../src/crypto";
import { toPem } from "../hosts/cli/keys";

const random: Random = { bytes: (length) => new Uint8Array(randomBytes(length)) };
const toBytes = (value: unknown) => new Uint8Array(value as ArrayBuffer);

function openssl(args: string[], cwd: string): { status: number | null; output: string } {
  const result = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

test("matter.js-issued RCAC/ICAC/NOC convert to the same X.509 matter.js builds, and back to the same TLV", async () => {
  const crypto = new StandardCrypto();
  for (const withIcac of [true, false]) {
    const ca = await CertificateAuthority.create(crypto, withIcac);
    const node = generateKeyPair(random);
    const cats = [CaseAuthenticatedTag(0x00010002), CaseAuthenticatedTag(0xfffe0001)];
    const noc = toBytes(await ca.generateNoc(node.publicKey, FabricId(0x1234_5678_9abc_def0n), NodeId(0x55n), cats));
    const rcac = toBytes(ca.rootCert);
    const chain: [string, Uint8Array, { fromTlv(tlv: Uint8Array): { asSignedDer(): unknown } }][] = [
      ["RCAC", rcac, Rcac],
      ["NOC", noc, Noc],
    ];
    const icac = withIcac ? toBytes(ca.icacCert) : undefined;
    if (icac) chain.push(["ICAC", icac, Icac]);
    for (const [name, tlv, kind] of chain) {
      const theirs = toBytes(kind.fromTlv(tlv).asSignedDer());
      assert.deepEqual(matterCertificateToX509(tlv), theirs, `${name}: our X.509 equals matter.js's`);
      assert.deepEqual(x509ToMatterTlv(theirs), tlv, `${name}: matter.js's X.509 converts back to its TLV`);
    }
    const validated = validateOperationalChain(icac ? { rcac, icac, noc } : { rcac, noc });
    assert.equal(validated.nodeId, 0x55n);
    assert.equal(validated.fabricId, 0x1234_5678_9abc_def0n);
    assert.deepEqual(validated.cats, [0x00010002, 0xfffe0001]);
  }
});

test("certificates we issue pass matter.js's own verification and openssl's chain verification", async () => {
  const crypto = new StandardCrypto();
  const root = generateKeyPair(random);
  const ica = generateKeyPair(random);
  const node = generateKeyPair(random);
  const now = Math.floor(Date.now() / 1000) - 60;
  const rcacSubject: DnEntry[] = [{ tag: DnTag.rcacId, value: 0xcacacaca00000001n }, { tag: DnTag.fabricId, value: 0xfab0n }];
  const icacSubject: DnEntry[] = [{ tag: DnTag.icacId, value: 0xcacacaca00000002n }, { tag: DnTag.fabricId, value: 0xfab0n }];
  const nocSubject: DnEntry[] = [
    { tag: DnTag.nodeId, value: 0xdededede00010001n },
    { tag: DnTag.fabricId, value: 0xfab0n },
    { tag: DnTag.caseAuthenticatedTag, value: 0xabcd0001n },
  ];
  const base = { notBefore: now, notAfter: NO_EXPIRATION_UNIX };
  const rcac = issueMatterCertificate(
    { ...base, serialNumber: new Uint8Array([1]), issuer: rcacSubject, subject: rcacSubject, publicKey: root.publicKey, issuerPublicKey: root.publicKey, ca: true, pathLength: 1, keyUsage: KeyUsage.keyCertSign | KeyUsage.crlSign },
    root.privateKey,
  );
  const icac = issueMatterCertificate(
    { ...base, serialNumber: new Uint8Array([2]), issuer: rcacSubject, subject: icacSubject, publicKey: ica.publicKey, issuerPublicKey: root.publicKey, ca: true, pathLength: 0, keyUsage: KeyUsage.keyCertSign | KeyUsage.crlSign },
    root.privateKey,
  );
  const noc = issueMatterCertificate(
    { ...base, serialNumber: new Uint8Array([3]), issuer: icacSubject, subject: nocSubject, publicKey: node.publicKey, issuerPublicKey: ica.publicKey, ca: false, keyUsage: KeyUsage.digitalSignature, extendedKeyUsage: [2, 1] },
    ica.privateKey,
  );
  const tlv = { rcac: encodeMatterCertificate(rcac), icac: encodeMatterCertificate(icac), noc: encodeMatterCertificate(noc) };

  const theirRoot = Rcac.fromTlv(tlv.rcac);
  const theirIca = Icac.fromTlv(tlv.icac);
  await theirRoot.verify(crypto);
  await theirIca.verify(crypto, theirRoot);
  await Noc.fromTlv(tlv.noc).verify(crypto, theirRoot, theirIca);

  const folder = mkdtempSync(join(tmpdir(), "matter-xs-opcert-"));
  try {
    writeFileSync(join(folder, "rcac.pem"), toPem("CERTIFICATE", matterCertificateToX509(tlv.rcac)));
    writeFileSync(join(folder, "icac.pem"), toPem("CERTIFICATE", matterCertificateToX509(tlv.icac)));
    writeFileSync(join(folder, "noc.pem"), toPem("CERTIFICATE", matterCertificateToX509(tlv.noc)));
    const verified = openssl(["verify", "-x509_strict", "-CAfile", "rcac.pem", "-untrusted", "icac.pem", "noc.pem"], folder);
    assert.equal(verified.status, 0, verified.output);
    assert.match(verified.output, /noc.pem: OK/);
    // The oracle can fail: a NOC signed by a key the ICAC does not hold is refused.
    const forged = issueMatterCertificate(
      { ...base, serialNumber: new Uint8Array([4]), issuer: icacSubject, subject: nocSubject, publicKey: node.publicKey, issuerPublicKey: ica.publicKey, ca: false, keyUsage: KeyUsage.digitalSignature, extendedKeyUsage: [1, 2] },
      ica.privateKey,
    );
    forged.signature = rcac.signature;
    writeFileSync(join(folder, "forged.pem"), toPem("CERTIFICATE", matterCertificateToX509(forged)));
    const refused = openssl(["verify", "-CAfile", "rcac.pem", "-untrusted", "icac.pem", "forged.pem"], folder);
    assert.notEqual(refused.status, 0, refused.output);
    const text = execFileSync("openssl", ["x509", "-in", "noc.pem", "-noout", "-text"], { cwd: folder, encoding: "utf8" });
    assert.match(text, /1\.3\.6\.1\.4\.1\.37244\.1\.1 = DEDEDEDE00010001/);
    assert.match(text, /1\.3\.6\.1\.4\.1\.37244\.1\.6 = ABCD0001/);
    assert.match(text, /TLS Web Client Authentication, TLS Web Server Authentication/);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test("openssl req -verify accepts our CSRs and refuses a tampered one", () => {
  const folder = mkdtempSync(join(tmpdir(), "matter-xs-csr-"));
  try {
    for (let index = 0; index < 5; index++) {
      const keys = generateKeyPair(random);
      const csr = buildCsr(keys.privateKey);
      assert.deepEqual(verifyCsr(csr), keys.publicKey);
      writeFileSync(join(folder, `csr${index}.pem`), toPem("CERTIFICATE REQUEST", csr));
      const result = openssl(["req", "-verify", "-in", `csr${index}.pem`, "-noout"], folder);
      assert.equal(result.status, 0, result.output);
      // openssl 3.0 exits 0 even when the self-signature fails, so its verdict is read from the text.
      assert.match(result.output, /self-signature verify OK/);
      assert.doesNotMatch(result.output, /failure|did not match/);
      const pubkey = execFileSync("openssl", ["req", "-in", `csr${index}.pem`, "-noout", "-pubkey"], { cwd: folder, encoding: "utf8" });
      const spki = Buffer.from(pubkey.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
      assert.deepEqual(new Uint8Array(spki.subarray(spki.length - 65)), keys.publicKey, "openssl reads the same public key");
    }
    const tampered = buildCsr(generateKeyPair(random).privateKey);
    tampered[tampered.length - 3] = tampered[tampered.length - 3]! ^ 0x01;
    writeFileSync(join(folder, "tampered.pem"), toPem("CERTIFICATE REQUEST", tampered));
    const refused = openssl(["req", "-verify", "-in", "tampered.pem", "-noout"], folder);
    assert.ok(refused.status !== 0 || /verify failure|did not match/.test(refused.output), refused.output);
    assert.doesNotMatch(refused.output, /verify OK/);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
