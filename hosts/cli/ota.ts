// `matter-xs ota create ...` and `matter-xs ota inspect FILE [--pubkey KEY]`: signed Matter OTA
// images (src/ota/image.ts). Both stream the payload in chunks, so image size does not matter.
import { closeSync, existsSync, openSync, readSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { CodecError, fromHex, toHex } from "../../src/codec/bytes";
import { decodeDer } from "../../src/codec/der";
import { parseSubjectPublicKeyInfo } from "../../src/certs";
import { createSha256, ecdsaSign, isValidPublicKey, publicKeyFromPrivate } from "../../src/crypto";
import { OtaImageError, otaFaultName } from "../../src/ota/errors";
import {
  encodeOtaHeader,
  OTA_MAX_RELEASE_NOTES_URL_LENGTH,
  OTA_MAX_VERSION_STRING_LENGTH,
  OTA_SIGNATURE_TAG,
  OtaImageReader,
  otaDigestType,
  verifyOtaSignature,
  type OtaHeaderFields,
  type OtaImageSummary,
} from "../../src/ota/image";
import { CliError, integerOption, parseCommandLine } from "./args";
import { isPem, parsePem, parsePrivateKeyDer, readInputFile, readPrivateKeyFile } from "./keys";

const USAGE = `usage: matter-xs ota create --vid ID --pid ID --version N --version-string TEXT
                            --payload FILE --key KEY.pem --out FILE
                            [--min-version N] [--max-version N] [--release-notes URL]
       matter-xs ota inspect FILE [--pubkey KEY]

create  writes a Matter OTA image (ImageDigestType sha-256) whose header carries the matter-xs
        signature: ECDSA P-256 by --key (the firmware-signing key given to \`matter-xs mfg\`)
        over the header up to the signature and the payload's SHA-256.
inspect prints every header field, checks the payload size and digest, and with --pubkey the
        signature. KEY: a public key (PEM/DER SubjectPublicKeyInfo, or 65 bytes in hex), or the
        private key itself. Exit code 0 when everything checked holds, 1 when not.`;

const CHUNK = 64 * 1024;

function readChunks(path: string, onChunk: (chunk: Uint8Array) => void): void {
  const fd = openSync(path, "r");
  try {
    const buffer = new Uint8Array(CHUNK);
    for (;;) {
      const count = readSync(fd, buffer, 0, CHUNK, null);
      if (count === 0) break;
      onChunk(buffer.subarray(0, count));
    }
  } finally {
    closeSync(fd);
  }
}

function writeFully(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done);
}

function create(args: string[]): number {
  const { values } = parseCommandLine(args, {
    vid: { type: "string" },
    pid: { type: "string" },
    version: { type: "string" },
    "version-string": { type: "string" },
    payload: { type: "string" },
    key: { type: "string" },
    out: { type: "string" },
    "min-version": { type: "string" },
    "max-version": { type: "string" },
    "release-notes": { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  for (const name of ["vid", "pid", "version", "version-string", "payload", "key", "out"] as const) {
    if (values[name] === undefined) throw new CliError(`--${name} is required`);
  }
  const vendorId = integerOption("vid", values.vid, 1, 0xfffe)!;
  const productId = integerOption("pid", values.pid, 1, 0xffff)!;
  const softwareVersion = integerOption("version", values.version, 0, 0xffffffff)!;
  const minVersion = integerOption("min-version", values["min-version"], 0, 0xffffffff);
  const maxVersion = integerOption("max-version", values["max-version"], 0, 0xffffffff);
  const versionString = values["version-string"]!;
  const versionStringLength = Buffer.byteLength(versionString, "utf8");
  if (versionStringLength < 1 || versionStringLength > OTA_MAX_VERSION_STRING_LENGTH) {
    throw new CliError(`--version-string must be 1 to ${OTA_MAX_VERSION_STRING_LENGTH} bytes`);
  }
  // An image applies to devices running older versions; these are the rules of CHIP's ota_image_tool.py.
  if (minVersion !== undefined && minVersion >= softwareVersion) throw new CliError("--min-version must be lower than --version");
  if (maxVersion !== undefined && maxVersion >= softwareVersion) throw new CliError("--max-version must be lower than --version");
  if (minVersion !== undefined && maxVersion !== undefined && maxVersion < minVersion) throw new CliError("--max-version must not be lower than --min-version");
  const releaseNotes = values["release-notes"];
  if (releaseNotes !== undefined) {
    const length = Buffer.byteLength(releaseNotes, "utf8");
    if (length < 1 || length > OTA_MAX_RELEASE_NOTES_URL_LENGTH) throw new CliError(`--release-notes must be 1 to ${OTA_MAX_RELEASE_NOTES_URL_LENGTH} bytes`);
    if (!releaseNotes.startsWith("https://")) console.error("warning: --release-notes should be an https:// URL");
  }
  const privateKey = readPrivateKeyFile(values.key!, "--key");
  const payloadPath = values.payload!;
  if (!existsSync(payloadPath) || !statSync(payloadPath).isFile()) throw new CliError(`--payload file '${payloadPath}' does not exist`);

  const sha = createSha256();
  let payloadSize = 0;
  readChunks(payloadPath, (chunk) => {
    sha.update(chunk);
    payloadSize += chunk.length;
  });
  const payloadSha256 = sha.digest();
  const fields: OtaHeaderFields = { vendorId, productId, softwareVersion, softwareVersionString: versionString, payloadSize };
  if (minVersion !== undefined) fields.minApplicableVersion = minVersion;
  if (maxVersion !== undefined) fields.maxApplicableVersion = maxVersion;
  if (releaseNotes !== undefined) fields.releaseNotesUrl = releaseNotes;
  let header: Uint8Array;
  try {
    header = encodeOtaHeader(fields, payloadSha256, (message) => ecdsaSign(privateKey, message));
  } catch (error) {
    if (error instanceof CodecError) throw new CliError(error.message);
    throw error;
  } finally {
    privateKey.fill(0);
  }

  // Written beside the target and renamed into place, so a failed run leaves no half image.
  const out = values.out!;
  const temporary = `${out}.partial`;
  const fd = openSync(temporary, "w", 0o644);
  let copied = 0;
  try {
    writeFully(fd, header);
    const check = createSha256();
    readChunks(payloadPath, (chunk) => {
      check.update(chunk);
      writeFully(fd, chunk);
      copied += chunk.length;
    });
    if (copied !== payloadSize || toHex(check.digest()) !== toHex(payloadSha256)) {
      throw new CliError(`--payload '${payloadPath}' changed while the image was being written`);
    }
  } catch (error) {
    closeSync(fd);
    unlinkSync(temporary);
    throw error;
  }
  closeSync(fd);
  renameSync(temporary, out);
  console.log(`wrote ${out}: ${header.length + payloadSize} bytes (header ${header.length}, payload ${payloadSize}), version ${softwareVersion} "${versionString}", signed`);
  return 0;
}

/** A P-256 public key from SubjectPublicKeyInfo (PEM/DER), a private key (PEM/DER), or 65 bytes of hex. */
function readPublicKey(path: string): Uint8Array {
  const bytes = readInputFile(path, "--pubkey");
  if (isPem(bytes)) {
    const blocks = parsePem(Buffer.from(bytes).toString("latin1"), path);
    const spki = blocks.find((block) => block.label === "PUBLIC KEY");
    if (spki) return publicKeyFromSpki(spki.der, path);
    const privateBlock = blocks.find((block) => block.label === "EC PRIVATE KEY" || block.label === "PRIVATE KEY");
    if (privateBlock) return publicKeyFromPrivate(parsePrivateKeyDer(privateBlock.der, `--pubkey '${path}'`));
    throw new CliError(`--pubkey '${path}' has no PUBLIC KEY, EC PRIVATE KEY or PRIVATE KEY block`);
  }
  const text = Buffer.from(bytes).toString("latin1").trim();
  if (/^(04)?[0-9a-fA-F]{128}$/.test(text)) {
    const key = fromHex(text.length === 128 ? "04" + text : text);
    if (!isValidPublicKey(key)) throw new CliError(`--pubkey '${path}' is not a point on P-256`);
    return key;
  }
  try {
    return publicKeyFromSpki(bytes, path);
  } catch {
    return publicKeyFromPrivate(parsePrivateKeyDer(bytes, `--pubkey '${path}'`));
  }
}

function publicKeyFromSpki(der: Uint8Array, path: string): Uint8Array {
  try {
    return parseSubjectPublicKeyInfo(decodeDer(der));
  } catch (error) {
    throw new CliError(`--pubkey '${path}': ${(error as Error).message}`);
  }
}

function inspect(args: string[]): number {
  const { values, positionals } = parseCommandLine(args, { pubkey: { type: "string" }, help: { type: "boolean", short: "h" } }, true);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError("inspect takes one FILE");
  const path = positionals[0]!;
  if (!existsSync(path)) throw new CliError(`'${path}' does not exist`);
  const publicKey = values.pubkey !== undefined ? readPublicKey(values.pubkey) : undefined;

  const reader = new OtaImageReader();
  let summary: OtaImageSummary | undefined;
  let failure: OtaImageError | undefined;
  try {
    readChunks(path, (chunk) => reader.push(chunk));
  } catch (error) {
    if (!(error instanceof OtaImageError)) throw error;
    failure = error;
  }
  const header = reader.header;
  if (!header) {
    const reason = failure ? failure.message : `the file ends inside the header (${reader.bytesRead} bytes)`;
    console.log(`${path}: not a readable OTA image: ${reason}`);
    return 1;
  }
  const hex4 = (value: number) => `0x${value.toString(16).toUpperCase().padStart(4, "0")}`;
  const digestType = otaDigestType(header.imageDigestType);
  const lines = [
    `file:                      ${path} (${statSync(path).size} bytes)`,
    `total size:                ${header.totalSize}`,
    `header size:               ${header.headerSize} (+16 fixed)`,
    `vendor id:                 ${hex4(header.vendorId)} (${header.vendorId})`,
    `product id:                ${hex4(header.productId)} (${header.productId})`,
    `software version:          ${header.softwareVersion} (0x${header.softwareVersion.toString(16)})`,
    `software version string:   ${header.softwareVersionString}`,
    `payload size:              ${header.payloadSize}`,
    `min applicable version:    ${header.minApplicableVersion ?? "-"}`,
    `max applicable version:    ${header.maxApplicableVersion ?? "-"}`,
    `release notes URL:         ${header.releaseNotesUrl ?? "-"}`,
    `image digest type:         ${header.imageDigestType} (${digestType?.name ?? "unknown"})`,
    `image digest:              ${toHex(header.imageDigest)}`,
    `signature (tag 0x${OTA_SIGNATURE_TAG.toString(16)}):     ${header.signature ? toHex(header.signature) : "none"}`,
  ];
  let ok = true;
  if (!failure) {
    try {
      summary = reader.finish();
    } catch (error) {
      if (!(error instanceof OtaImageError)) throw error;
      failure = error;
    }
  }
  if (failure || !summary) {
    lines.push(`payload:                   BAD: ${failure?.message} (${otaFaultName(failure!.fault)})`);
    lines.push(`digest:                    not checked`);
    lines.push(`signature check:           not checked`);
    ok = false;
  } else {
    lines.push(`payload:                   ${summary.header.payloadSize} bytes, complete`);
    lines.push(`payload sha-256:           ${toHex(summary.payloadSha256)}`);
    lines.push(`digest:                    ${summary.digestMatches ? "OK" : `BAD (computed ${toHex(summary.payloadDigest)})`}`);
    ok &&= summary.digestMatches;
    if (!header.signature) {
      lines.push(`signature check:           ${publicKey ? "FAILED: the image is not signed" : "none (the image is not signed)"}`);
      ok &&= publicKey === undefined;
    } else if (!publicKey) {
      lines.push(`signature check:           not checked (give --pubkey)`);
    } else {
      const valid = verifyOtaSignature(summary.header, summary.payloadSha256, publicKey);
      lines.push(`signature check:           ${valid ? "OK" : "FAILED"} (key ${toHex(publicKey).slice(0, 16)}...)`);
      ok &&= valid;
    }
  }
  console.log(lines.join("\n"));
  return ok ? 0 : 1;
}

export async function run(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action === "create") return create(rest);
  if (action === "inspect") return inspect(rest);
  if (action === undefined || action === "--help" || action === "-h") {
    console.log(USAGE);
    return action ? 0 : 2;
  }
  throw new CliError(`unknown action '${action}' (create or inspect)`);
}
