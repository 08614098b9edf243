// Certificate and key files for the desktop tools: PEM armour, P-256 private keys in SEC1
// ("EC PRIVATE KEY", what openssl ecparam writes and CHIP's test keys use) or PKCS#8
// ("PRIVATE KEY"), and certificates as PEM or DER. Problems a user can fix are CliErrors.
import { existsSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import {
  Der,
  decodeDer,
  derBitString,
  derExplicit,
  derInteger,
  derOctetString,
  derOid,
  derReadBitString,
  derReadInteger,
  derReadOid,
  derSequence,
  type DerNode,
} from "../../src/codec/der";
import { bytesEqual } from "../../src/codec/bytes";
import { publicKeyFromPrivate, type Random } from "../../src/crypto";
import { Oid } from "../../src/certs";
import { CliError } from "./args";

/** Randomness for the tools: the operating system's CSPRNG. */
export const systemRandom: Random = { bytes: (length: number) => new Uint8Array(randomBytes(length)) };

export interface PemBlock {
  label: string;
  der: Uint8Array;
}

export function toPem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der).toString("base64");
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

export function isPem(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, 256)).toString("latin1").includes("-----BEGIN ");
}

export function parsePem(text: string, source: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const pattern = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    const body = match[2]!.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new CliError(`${source}: the ${match[1]} block is not valid base64`);
    blocks.push({ label: match[1]!, der: new Uint8Array(Buffer.from(body, "base64")) });
  }
  if (blocks.length === 0) throw new CliError(`${source}: no PEM block found`);
  return blocks;
}

export function readInputFile(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new CliError(`${what} file '${path}' does not exist`);
  return new Uint8Array(readFileSync(path));
}

/** A certificate from a PEM ("CERTIFICATE") or DER file. */
export function readCertificateFile(path: string, what: string): Uint8Array {
  const bytes = readInputFile(path, what);
  if (!isPem(bytes)) return bytes;
  const block = parsePem(Buffer.from(bytes).toString("latin1"), path).find((candidate) => candidate.label === "CERTIFICATE");
  if (!block) throw new CliError(`${what} '${path}' has no CERTIFICATE block`);
  return block.der;
}

function expect(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node || node.tag !== tag) throw new CliError(`${what} is malformed`);
  return node;
}

/** SEC1 ECPrivateKey (RFC 5915) -> 32-byte scalar; checks the curve and the embedded public key. */
function parseSec1(node: DerNode, what: string): Uint8Array {
  const [version, key, ...rest] = node.children;
  if (derReadInteger(expect(version, Der.INTEGER, what)) !== 1n) throw new CliError(`${what}: unsupported ECPrivateKey version`);
  const scalar = expect(key, Der.OCTET_STRING, what).contents;
  if (scalar.length !== 32) throw new CliError(`${what}: not a P-256 private key (${scalar.length}-byte scalar)`);
  let publicKey: Uint8Array;
  try {
    publicKey = publicKeyFromPrivate(scalar);
  } catch {
    throw new CliError(`${what}: the private scalar is out of range`);
  }
  for (const field of rest) {
    if (field.tag === 0xa0) {
      const curve = derReadOid(expect(field.children[0], Der.OID, what));
      if (curve !== Oid.prime256v1) throw new CliError(`${what}: curve ${curve} is not P-256`);
    } else if (field.tag === 0xa1) {
      const embedded = derReadBitString(expect(field.children[0], Der.BIT_STRING, what)).bytes;
      if (!bytesEqual(embedded, publicKey)) throw new CliError(`${what}: the embedded public key does not match the private key`);
    }
  }
  return scalar;
}

/** PKCS#8 PrivateKeyInfo wrapping a SEC1 P-256 key. */
function parsePkcs8(node: DerNode, what: string): Uint8Array {
  const [version, algorithm, key] = node.children;
  if (derReadInteger(expect(version, Der.INTEGER, what)) !== 0n) throw new CliError(`${what}: unsupported PKCS#8 version`);
  const algorithmNode = expect(algorithm, Der.SEQUENCE, what);
  const keyType = derReadOid(expect(algorithmNode.children[0], Der.OID, what));
  if (keyType !== Oid.ecPublicKey) throw new CliError(`${what}: not an EC key (${keyType})`);
  const curve = derReadOid(expect(algorithmNode.children[1], Der.OID, what));
  if (curve !== Oid.prime256v1) throw new CliError(`${what}: curve ${curve} is not P-256`);
  return parseSec1(decodeDer(expect(key, Der.OCTET_STRING, what).contents), what);
}

/** Parses a P-256 private key from DER (SEC1 or PKCS#8). */
export function parsePrivateKeyDer(der: Uint8Array, what: string): Uint8Array {
  let root: DerNode;
  try {
    root = decodeDer(der);
  } catch (error) {
    throw new CliError(`${what}: not DER (${(error as Error).message})`);
  }
  if (root.tag !== Der.SEQUENCE) throw new CliError(`${what}: not a private key`);
  try {
    return root.children[1]?.tag === Der.SEQUENCE ? parsePkcs8(root, what) : parseSec1(root, what);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`${what}: ${(error as Error).message}`);
  }
}

/** A P-256 private key from a PEM ("EC PRIVATE KEY" or "PRIVATE KEY") or DER file. */
export function readPrivateKeyFile(path: string, what: string): Uint8Array {
  const bytes = readInputFile(path, what);
  if (!isPem(bytes)) return parsePrivateKeyDer(bytes, `${what} '${path}'`);
  const blocks = parsePem(Buffer.from(bytes).toString("latin1"), path);
  const block = blocks.find((candidate) => candidate.label === "EC PRIVATE KEY" || candidate.label === "PRIVATE KEY");
  if (!block) throw new CliError(`${what} '${path}' has no EC PRIVATE KEY or PRIVATE KEY block`);
  return parsePrivateKeyDer(block.der, `${what} '${path}'`);
}

/** SEC1 DER with the curve and public key, as openssl writes it. */
export function encodeSec1PrivateKey(privateKey: Uint8Array): Uint8Array {
  return derSequence(
    derInteger(1),
    derOctetString(privateKey),
    derExplicit(0, derOid(Oid.prime256v1)),
    derExplicit(1, derBitString(publicKeyFromPrivate(privateKey), 0)),
  );
}

export function privateKeyPem(privateKey: Uint8Array): string {
  return toPem("EC PRIVATE KEY", encodeSec1PrivateKey(privateKey));
}
