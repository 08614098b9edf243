// Cross-checks the DER codec against OpenSSL, an independent implementation: the structure that
// `openssl asn1parse` reports for the vector certificates, and the encodings `-genstr` produces
// for OIDs and INTEGERs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { vectorPath } from "./portable/vectors";
import { toHex } from "../src/codec/bytes";
import { decodeDer, derInteger, derOid, derReadInteger, derReadOid, derReadString, Der, type DerNode } from "../src/codec/der";

const FILES = [
  "attestation/Chip-Test-PAA-FFF1-Cert.der",
  "attestation/Chip-Test-PAI-FFF1-8000-Cert.der",
  "attestation/Chip-Test-DAC-FFF1-8000-0000-Cert.der",
  "attestation/Chip-Test-DAC-FFF1-8000-0000-Key.der",
  "certification_declaration/Chip-Test-CD-Signing-Cert.der",
  "certification_declaration/cd_example_fff1_8000-8063_cms.der",
];

function openssl(args: string[]): string {
  const run = spawnSync("openssl", args, { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${run.stderr}`);
  return run.stdout;
}

/** DER that `openssl asn1parse -genstr` produces for an ASN1_generate_nconf string. */
function opensslGenerate(spec: string, folder: string): string {
  const out = join(folder, "generated.der");
  openssl(["asn1parse", "-genstr", spec, "-noout", "-out", out]);
  return toHex(readFileSync(out));
}

interface Walked {
  node: DerNode;
  offset: number;
  depth: number;
}

function walk(node: DerNode, base: Uint8Array, depth: number, out: Walked[]): Walked[] {
  out.push({ node, offset: node.raw.byteOffset - base.byteOffset, depth });
  for (const child of node.children) walk(child, base, depth + 1, out);
  return out;
}

const LINE = /^\s*(\d+):d=\s*(\d+)\s+hl=\s*(\d+)\s+l=\s*(\d+)\s+(prim|cons):([^:]*)(?::(.*))?$/;

test("decodeDer sees the same elements as openssl asn1parse", () => {
  for (const path of FILES) {
    const bytes = new Uint8Array(readFileSync(vectorPath(path)));
    const lines = openssl(["asn1parse", "-inform", "der", "-in", vectorPath(path)]).trimEnd().split("\n");
    const mine = walk(decodeDer(bytes), bytes, 0, []);
    assert.equal(mine.length, lines.length, `${path}: element count`);
    lines.forEach((line, i) => {
      const match = LINE.exec(line);
      assert.ok(match, `unparsed openssl line: ${line}`);
      const [, offset, depth, headerLength, length, form, type, value] = match;
      const { node, offset: myOffset, depth: myDepth } = mine[i]!;
      const where = `${path} element ${i} (${line.trim()})`;
      assert.equal(myOffset, Number(offset), `${where}: offset`);
      assert.equal(myDepth, Number(depth), `${where}: depth`);
      assert.equal(node.raw.length - node.contents.length, Number(headerLength), `${where}: header length`);
      assert.equal(node.contents.length, Number(length), `${where}: length`);
      assert.equal(node.constructed, form === "cons", `${where}: constructed`);
      if (node.tag === Der.INTEGER) assert.equal(derReadInteger(node).toString(16).toUpperCase().padStart(value!.replace("-", "").length, "0"), value!.replace("-", ""), where);
      if (node.tag === Der.UTF8String || node.tag === Der.PrintableString || node.tag === Der.IA5String) assert.equal(derReadString(node), value, where);
      if (node.tag === Der.UTCTime || node.tag === Der.GeneralizedTime) assert.equal(new TextDecoder().decode(node.contents), value, where);
      if (node.tag === Der.OID && /^\d+(\.\d+)+$/.test(value ?? "")) assert.equal(derReadOid(node), value, where);
      if (type!.includes("[HEX DUMP]")) assert.equal(toHex(node.contents).toUpperCase(), value, where);
    });
  }
});

test("OID and INTEGER encodings match openssl -genstr", () => {
  const folder = mkdtempSync(join(tmpdir(), "matter-xs-der-"));
  try {
    const oids = new Set<string>(["2.999.3", "1.2.4294967295", "2.25.329800735698586629295641978511506172918", "0.39", "1.39"]);
    for (const path of FILES) {
      for (const { node } of walk(decodeDer(new Uint8Array(readFileSync(vectorPath(path)))), new Uint8Array(0), 0, [])) {
        if (node.tag === Der.OID) oids.add(derReadOid(node));
      }
    }
    assert.ok(oids.size > 15, `${oids.size} OIDs`);
    for (const oid of oids) assert.equal(toHex(derOid(oid)), opensslGenerate(`OID:${oid}`, folder), oid);
    const integers = [0n, 1n, 127n, 128n, 255n, 256n, -1n, -127n, -128n, -129n, -255n, -256n, -257n, -32768n, -32769n, 65535n,
      2n ** 63n, -(2n ** 63n), 2n ** 64n, -(2n ** 64n), 2n ** 255n, 2n ** 256n - 1n, -(2n ** 255n)];
    for (const value of integers) {
      const spec = `INTEGER:${value < 0n ? "-" : ""}0x${(value < 0n ? -value : value).toString(16)}`;
      assert.equal(toHex(derInteger(value)), opensslGenerate(spec, folder), spec);
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
