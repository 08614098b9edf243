// Certification Declarations against openssl: the CMS we sign (SignedData v3, signer named by
// subject key identifier, no certificates, no signed attributes) verifies with
// `openssl cms -verify -binary -noverify -certfile <signing cert>`, which also accepts CHIP's CDs
// and refuses a tampered one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromHex } from "../src/codec/bytes";
import { decodeCdContent, signCdContent } from "../src/certs";
import { vectorPath } from "./portable/vectors";

const folder = mkdtempSync(join(tmpdir(), "matter-xs-cd-"));
test.after(() => rmSync(folder, { recursive: true, force: true }));

function verify(cms: Uint8Array, name: string): { status: number | null; output: string; content?: Uint8Array } {
  writeFileSync(join(folder, `${name}.der`), cms);
  const result = spawnSync(
    "openssl",
    ["cms", "-verify", "-inform", "DER", "-in", `${name}.der`, "-binary", "-noverify", "-certfile", vectorPath("certification_declaration/Chip-Test-CD-Signing-Cert.pem"), "-out", `${name}.content`],
    { cwd: folder, encoding: "utf8" },
  );
  const output = `${result.stdout}${result.stderr}`;
  return result.status === 0 ? { status: 0, output, content: new Uint8Array(readFileSync(join(folder, `${name}.content`))) } : { status: result.status, output };
}

test("openssl verifies the CDs we sign and extracts their content; CHIP's CDs verify the same way", () => {
  const vectors = JSON.parse(readFileSync(vectorPath("certification_declaration/cd_vectors.json"), "utf8"));
  const signerKeyId = fromHex(vectors.signer.subject_key_id_hex);
  const signerKey = fromHex(vectors.signer.private_key_hex);
  vectors.test_cases.forEach((testCase: { cd_content_hex: string; cms_signed_hex: string }, index: number) => {
    const content = fromHex(testCase.cd_content_hex);
    const ours = verify(signCdContent(content, signerKeyId, signerKey), `ours${index}`);
    assert.equal(ours.status, 0, ours.output);
    assert.match(ours.output, /Verification successful/);
    assert.deepEqual(ours.content, content);
    decodeCdContent(ours.content!);
    const chip = verify(fromHex(testCase.cms_signed_hex), `chip${index}`);
    assert.equal(chip.status, 0, chip.output);
    assert.deepEqual(chip.content, content);
  });
  const tampered = signCdContent(fromHex(vectors.test_cases[0].cd_content_hex), signerKeyId, signerKey);
  tampered[60] = tampered[60]! ^ 0x01;
  const refused = verify(tampered, "tampered");
  assert.notEqual(refused.status, 0, refused.output);
});
