// `matter-xs cert convert IN --to x509|tlv --out FILE` and `matter-xs cert inspect IN`: operational
// certificates between Matter TLV and X.509 (DER or PEM), and a readable dump of certificates
// (operational or attestation), Certification Declarations and CSRs.
import { writeFileSync } from "node:fs";
import { extname } from "node:path";
import { CodecError, fromHex, toHex } from "../../src/codec/bytes";
import { Der, decodeDer, derReadOid } from "../../src/codec/der";
import {
  CertificateError,
  checkAttestationProfile,
  decodeMatterCertificate,
  DN_ATTRIBUTE_TYPES,
  encodeMatterCertificate,
  findExtension,
  formatName,
  KEY_PURPOSE_OIDS,
  KeyUsage,
  matterCertificateToX509,
  matterTimeToUnix,
  NO_EXPIRATION_UNIX,
  Oid,
  parseAttestationCertificate,
  parseCsr,
  parseSignedCd,
  decodeCdContent,
  parseX509,
  readOperationalSubject,
  verifyCsr,
  verifyMatterCertificateSignature,
  verifyX509Signature,
  x509ToMatterCertificate,
  type DnEntry,
  type MatterCertificate,
  type X509Certificate,
} from "../../src/certs";
import { CliError, parseCommandLine } from "./args";
import { isPem, parsePem, readInputFile, toPem } from "./keys";

const USAGE = `usage: matter-xs cert convert IN --to x509|tlv --out FILE [--format der|pem]
       matter-xs cert inspect IN

IN may be Matter TLV (binary, hex or base64 text), X.509 DER or PEM. convert --to x509 writes DER,
or PEM when --format pem is given or FILE ends in .pem; --to tlv writes the binary TLV.
inspect also reads Certification Declarations (CMS) and CSRs.`;

type Input =
  | { kind: "tlv"; bytes: Uint8Array }
  | { kind: "der"; bytes: Uint8Array; pemLabel?: string };

/** Reads IN and tells Matter TLV (starts with an anonymous structure, 0x15) from DER (0x30). */
function readInput(path: string): Input {
  const raw = readInputFile(path, "input");
  if (isPem(raw)) {
    const [block] = parsePem(Buffer.from(raw).toString("latin1"), path);
    return { kind: "der", bytes: block!.der, pemLabel: block!.label };
  }
  let bytes = raw;
  const text = Buffer.from(raw).toString("latin1").trim();
  if (text.length > 0 && /^[\s0-9a-fA-F]+$/.test(text) && text.replace(/\s/g, "").length % 2 === 0) {
    bytes = fromHex(text.replace(/\s/g, ""));
  } else if (text.length > 0 && /^[\sA-Za-z0-9+/]+={0,2}$/.test(text) && raw[0] !== 0x15 && raw[0] !== 0x30) {
    bytes = new Uint8Array(Buffer.from(text.replace(/\s/g, ""), "base64"));
  }
  if (bytes[0] === 0x15) return { kind: "tlv", bytes };
  if (bytes[0] === 0x30) return { kind: "der", bytes };
  throw new CliError(`${path}: neither Matter TLV nor DER/PEM`);
}

function certificateError(error: unknown): never {
  if (error instanceof CertificateError || error instanceof CodecError) throw new CliError(error.message);
  throw error;
}

function convert(args: string[]): number {
  const { values, positionals } = parseCommandLine(
    args,
    { to: { type: "string" }, out: { type: "string" }, format: { type: "string" }, help: { type: "boolean", short: "h" } },
    true,
  );
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError("convert takes one input file");
  if (values.to !== "x509" && values.to !== "tlv") throw new CliError("--to must be x509 or tlv");
  if (!values.out) throw new CliError("--out FILE is required");
  if (values.format !== undefined && values.format !== "der" && values.format !== "pem") throw new CliError("--format must be der or pem");
  if (values.to === "tlv" && values.format !== undefined) throw new CliError("--format applies to --to x509 only");
  const input = readInput(positionals[0]!);
  try {
    if (values.to === "x509") {
      const der = input.kind === "tlv" ? matterCertificateToX509(input.bytes) : parseX509(input.bytes).der;
      const pem = values.format === "pem" || (values.format === undefined && extname(values.out).toLowerCase() === ".pem");
      writeFileSync(values.out, pem ? toPem("CERTIFICATE", der) : der);
      console.log(`wrote X.509 ${pem ? "PEM" : "DER"} (${der.length} bytes DER) to ${values.out}`);
    } else {
      const tlv = input.kind === "tlv" ? encodeMatterCertificate(decodeMatterCertificate(input.bytes)) : encodeMatterCertificate(x509ToMatterCertificate(input.bytes));
      writeFileSync(values.out, tlv);
      console.log(`wrote Matter TLV (${tlv.length} bytes) to ${values.out}`);
    }
  } catch (error) {
    certificateError(error);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// inspect

const iso = (unix: number) => (unix === NO_EXPIRATION_UNIX ? "no expiration (99991231235959Z)" : new Date(unix * 1000).toISOString().replace(".000", ""));
const hexId = (value: bigint, digits: number) => "0x" + value.toString(16).toUpperCase().padStart(digits, "0");

function formatDn(dn: DnEntry[]): string {
  return dn
    .map((entry) => {
      const type = DN_ATTRIBUTE_TYPES[entry.tag & 0x7f];
      const name = type?.name ?? `tag-${entry.tag}`;
      if (typeof entry.value === "bigint") return `${name}=${hexId(entry.value, type?.kind === "id32" ? 8 : 16)}`;
      return `${name}=${entry.value}${entry.tag & 0x80 ? " (printable)" : ""}`;
    })
    .join(", ");
}

function formatKeyUsage(flags: number): string {
  const names = Object.entries(KeyUsage)
    .filter(([, bit]) => flags & bit)
    .map(([name]) => name);
  return names.length ? names.join(", ") : "(none)";
}

function purposeName(oid: string): string {
  const names = ["", "serverAuth", "clientAuth", "codeSigning", "emailProtection", "timeStamping", "OCSPSigning"];
  const index = KEY_PURPOSE_OIDS.indexOf(oid);
  return index > 0 ? names[index]! : oid;
}

function line(label: string, value: string): string {
  return `  ${(label + ":").padEnd(22)} ${value}`;
}

function inspectOperational(certificate: MatterCertificate, tlvLength: number, derLength: number): string[] {
  const lines: string[] = [];
  let kind = "operational certificate";
  let identity: string | undefined;
  try {
    const subject = readOperationalSubject(certificate.subject);
    kind = { rcac: "root CA (RCAC)", icac: "intermediate CA (ICAC)", noc: "node operational certificate (NOC)", "firmware-signing": "firmware signing certificate" }[subject.kind];
    identity = [
      `${subject.kind === "noc" ? "node id" : "id"} ${hexId(subject.id, 16)}`,
      subject.fabricId !== undefined ? `fabric id ${hexId(subject.fabricId, 16)}` : undefined,
      subject.cats.length ? `CATs ${subject.cats.map((cat) => hexId(BigInt(cat), 8)).join(" ")}` : undefined,
    ]
      .filter(Boolean)
      .join(", ");
  } catch (error) {
    identity = `subject is not a valid Matter subject: ${(error as Error).message}`;
  }
  lines.push(`Matter ${kind}: ${tlvLength} bytes as Matter TLV, ${derLength} bytes as X.509 DER`);
  lines.push(line("serial number", toHex(certificate.serialNumber).toUpperCase()));
  lines.push(line("issuer", formatDn(certificate.issuer)));
  lines.push(line("subject", formatDn(certificate.subject)));
  lines.push(line("not before", iso(matterTimeToUnix(certificate.notBefore))));
  lines.push(line("not after", iso(matterTimeToUnix(certificate.notAfter))));
  lines.push(line("public key", toHex(certificate.publicKey)));
  for (const extension of certificate.extensions) {
    switch (extension.kind) {
      case "basic-constraints":
        lines.push(line("basic constraints", `CA:${extension.ca ? "TRUE" : "FALSE"}${extension.pathLength !== undefined ? `, path length ${extension.pathLength}` : ""}`));
        break;
      case "key-usage":
        lines.push(line("key usage", formatKeyUsage(extension.flags)));
        break;
      case "extended-key-usage":
        lines.push(line("extended key usage", extension.purposes.map((purpose) => purposeName(KEY_PURPOSE_OIDS[purpose]!)).join(", ")));
        break;
      case "subject-key-id":
        lines.push(line("subject key id", toHex(extension.keyId).toUpperCase()));
        break;
      case "authority-key-id":
        lines.push(line("authority key id", toHex(extension.keyId).toUpperCase()));
        break;
      case "future":
        lines.push(line("other extension", derReadOid(decodeDer(extension.der).children[0]!)));
        break;
    }
  }
  lines.push(line("identity", identity));
  const selfIssued = findExtension(certificate, "subject-key-id") && toHex(findExtension(certificate, "subject-key-id")!.keyId) === toHex(findExtension(certificate, "authority-key-id")?.keyId ?? new Uint8Array());
  if (selfIssued) lines.push(line("self-signature", verifyMatterCertificateSignature(certificate, certificate.publicKey) ? "verifies" : "DOES NOT VERIFY"));
  lines.push(line("signature", toHex(certificate.signature)));
  return lines;
}

function guessAttestationKind(x509: X509Certificate): "paa" | "pai" | "dac" {
  if (!x509.basicConstraints?.ca) return "dac";
  return toHex(x509.issuerDer) === toHex(x509.subjectDer) ? "paa" : "pai";
}

function inspectX509(der: Uint8Array): string[] {
  const x509 = parseX509(der);
  try {
    const matter = x509ToMatterCertificate(der);
    return inspectOperational(matter, encodeMatterCertificate(matter).length, der.length);
  } catch {
    // not an operational certificate: read it as an attestation (or other) certificate
  }
  const attestation = parseAttestationCertificate(der);
  const kind = guessAttestationKind(x509);
  const lines = [`X.509 certificate, ${der.length} bytes DER; by its constraints a ${kind.toUpperCase()}`];
  lines.push(line("serial number", toHex(x509.serialNumber).toUpperCase()));
  lines.push(line("issuer", formatName(x509.issuer)));
  lines.push(line("subject", formatName(x509.subject)));
  lines.push(line("not before", iso(x509.notBefore)));
  lines.push(line("not after", iso(x509.notAfter)));
  lines.push(line("public key", toHex(x509.publicKey)));
  if (x509.basicConstraints) {
    lines.push(line("basic constraints", `CA:${x509.basicConstraints.ca ? "TRUE" : "FALSE"}${x509.basicConstraints.pathLength !== undefined ? `, path length ${x509.basicConstraints.pathLength}` : ""}`));
  }
  if (x509.keyUsage !== undefined) lines.push(line("key usage", formatKeyUsage(x509.keyUsage)));
  if (x509.extendedKeyUsage) lines.push(line("extended key usage", x509.extendedKeyUsage.map(purposeName).join(", ")));
  if (x509.subjectKeyId) lines.push(line("subject key id", toHex(x509.subjectKeyId).toUpperCase()));
  if (x509.authorityKeyId) lines.push(line("authority key id", toHex(x509.authorityKeyId).toUpperCase()));
  const known = [Oid.basicConstraints, Oid.keyUsage, Oid.extendedKeyUsage, Oid.subjectKeyIdentifier, Oid.authorityKeyIdentifier] as string[];
  for (const extension of x509.extensions) if (!known.includes(extension.oid)) lines.push(line("other extension", `${extension.oid}${extension.critical ? " (critical)" : ""}`));
  const ids = [attestation.vendorId !== undefined ? `VID 0x${attestation.vendorId.toString(16).toUpperCase().padStart(4, "0")}` : "no VID", attestation.productId !== undefined ? `PID 0x${attestation.productId.toString(16).toUpperCase().padStart(4, "0")}` : "no PID"];
  lines.push(line("vendor / product", ids.join(", ")));
  let profile = "conforms";
  try {
    checkAttestationProfile(attestation, kind);
  } catch (error) {
    profile = (error as Error).message;
  }
  lines.push(line(`${kind.toUpperCase()} profile (6.2.2)`, profile));
  if (kind === "paa") lines.push(line("self-signature", verifyX509Signature(x509, x509.publicKey) ? "verifies" : "DOES NOT VERIFY"));
  lines.push(line("signature", toHex(x509.signature)));
  return lines;
}

function inspectCd(der: Uint8Array): string[] {
  const parts = parseSignedCd(der);
  const cd = decodeCdContent(parts.content);
  const hex4 = (value: number) => "0x" + value.toString(16).toUpperCase().padStart(4, "0");
  const lines = [`Certification Declaration: CMS SignedData ${der.length} bytes, content ${parts.content.length} bytes (signature not checked: no signer certificate given)`];
  lines.push(line("signer key id", toHex(parts.signerKeyId).toUpperCase()));
  lines.push(line("format version", String(cd.formatVersion)));
  lines.push(line("vendor id", hex4(cd.vendorId)));
  lines.push(line("product ids", cd.productIds.map(hex4).join(" ")));
  lines.push(line("device type", "0x" + cd.deviceTypeId.toString(16).toUpperCase().padStart(4, "0")));
  lines.push(line("certificate id", cd.certificateId));
  lines.push(line("security level / info", `${cd.securityLevel} / ${cd.securityInformation}`));
  lines.push(line("version number", hex4(cd.versionNumber)));
  lines.push(line("certification type", `${cd.certificationType} (${["development and test", "provisional", "official"][cd.certificationType] ?? "unknown"})`));
  if (cd.dacOriginVendorId !== undefined) lines.push(line("DAC origin", `${hex4(cd.dacOriginVendorId)} / ${hex4(cd.dacOriginProductId!)}`));
  if (cd.authorizedPaaList) lines.push(line("authorized PAAs", cd.authorizedPaaList.map((keyId) => toHex(keyId).toUpperCase()).join(" ")));
  return lines;
}

function inspectCsr(der: Uint8Array): string[] {
  const csr = parseCsr(der);
  let signature = "verifies";
  try {
    verifyCsr(der);
  } catch {
    signature = "DOES NOT VERIFY";
  }
  return [`PKCS#10 certificate signing request, ${der.length} bytes`, line("subject", formatName(csr.subject)), line("public key", toHex(csr.publicKey)), line("self-signature", signature)];
}

function inspect(args: string[]): number {
  const { values, positionals } = parseCommandLine(args, { help: { type: "boolean", short: "h" } }, true);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError("inspect takes one input file");
  const input = readInput(positionals[0]!);
  let lines: string[];
  try {
    if (input.kind === "tlv") {
      const certificate = decodeMatterCertificate(input.bytes);
      lines = inspectOperational(certificate, input.bytes.length, matterCertificateToX509(certificate).length);
    } else {
      const root = decodeDer(input.bytes);
      const first = root.children[0];
      if (first?.tag === Der.OID && derReadOid(first) === Oid.pkcs7SignedData) lines = inspectCd(input.bytes);
      else if (input.pemLabel === "CERTIFICATE REQUEST" || first?.children[0]?.tag === Der.INTEGER && first.children.length === 4) lines = inspectCsr(input.bytes);
      else lines = inspectX509(input.bytes);
    }
  } catch (error) {
    certificateError(error);
  }
  console.log(lines.join("\n"));
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action === "convert") return convert(rest);
  if (action === "inspect") return inspect(rest);
  if (action === "--help" || action === "-h") {
    console.log(USAGE);
    return 0;
  }
  throw new CliError(`expected 'convert' or 'inspect'\n\n${USAGE}`);
}
