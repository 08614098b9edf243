// `matter-xs mfg`: factory provisioning. Issues each device a DAC with a fresh key under a given or
// generated PAI, signs a Certification Declaration, derives the SPAKE2+ verifier of a random (or
// given) passcode, and writes the factory partition image the device reads at boot, the
// certificates as PEM, the onboarding QR payload and manual code, the ESP32 partition table line
// and the flash command. Inconsistent inputs stop it with exit code 2 before anything is written.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bytesEqual, toHex } from "../../src/codec/bytes";
import { generateKeyPair, publicKeyFromPrivate, spake2pComputeVerifier, type KeyPair } from "../../src/crypto";
import {
  CertificateError,
  checkAttestationProfile,
  issueAttestationCertificate,
  keyIdentifier,
  NO_EXPIRATION_UNIX,
  parseAttestationCertificate,
  parseX509,
  signCertificationDeclaration,
  validateAttestationChain,
  validateDacAgainstPai,
  validatePaiAgainstPaa,
  verifyCertificationDeclaration,
  type AttestationCertificate,
  type CertificationDeclaration,
} from "../../src/certs";
import {
  encodeFactoryImage,
  FACTORY_PARTITION_SIZE,
  FactoryDataError,
  isValidSetupPasscode,
  padFactoryImage,
  type FactoryDataInput,
} from "../../src/factory";
import { encodeManualCode, encodeQrPayload, OnboardingError, Rendezvous } from "../../src/discovery/onboarding";
import { CliError, integerOption, parseCommandLine } from "./args";
import { privateKeyPem, readCertificateFile, readPrivateKeyFile, systemRandom, toPem } from "./keys";

const OPTIONS = {
  out: { type: "string" },
  vid: { type: "string" },
  pid: { type: "string" },
  "paa-cert": { type: "string" },
  "paa-key": { type: "string" },
  "pai-cert": { type: "string" },
  "pai-key": { type: "string" },
  "cd-cert": { type: "string" },
  "cd-key": { type: "string" },
  "firmware-key": { type: "string" },
  passcode: { type: "string" },
  discriminator: { type: "string" },
  serial: { type: "string" },
  iterations: { type: "string" },
  count: { type: "string" },
  "store-passcode": { type: "boolean" },
  "vendor-name": { type: "string" },
  "product-name": { type: "string" },
  "hardware-version": { type: "string" },
  "hardware-version-string": { type: "string" },
  "device-type": { type: "string" },
  "certificate-id": { type: "string" },
  rendezvous: { type: "string" },
  "partition-name": { type: "string" },
  "partition-offset": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const USAGE = `usage: matter-xs mfg --out DIR [options]

Provisions devices: a DAC per device under the given or a generated PAI, a signed Certification
Declaration, the SPAKE2+ verifier of each device's passcode, and the factory partition image.

  --out DIR                      output folder (created)
  --vid ID --pid ID              vendor and product id (default: the PAI's, else 0xFFF1 / 0x8000)
  --paa-cert FILE --paa-key FILE issue a PAI under this PAA
  --pai-cert FILE --pai-key FILE issue DACs under this PAI (add --paa-cert to check it and write paa.pem)
                                 (neither: a development PAA and PAI are generated)
  --cd-cert FILE --cd-key FILE   CD signing certificate and key (default: a generated one)
  --firmware-key FILE            P-256 private key whose public half OTA images must verify with
                                 (default: generated, written as firmware-signing-key.pem)
  --passcode N                   setup passcode (default: random; one device only)
  --discriminator N              12-bit discriminator (default: random per device)
  --serial TEXT                  serial number (with --count: a prefix; default: random)
  --iterations N                 PBKDF2 iterations, 1000..100000 (default 1000)
  --count N                      provision N devices; writes devices.csv
  --store-passcode               also store the passcode in the image (the simulator prints it)
  --vendor-name TEXT --product-name TEXT --hardware-version N --hardware-version-string TEXT
  --device-type ID               CD device type (default 0x0100, On/Off Light)
  --certificate-id TEXT          CD certificate id, 19 characters (default CSA00000SWC00000-01)
  --rendezvous N                 QR rendezvous bits: 2 BLE, 4 on-network (default 6)
  --partition-name NAME          ESP32 partition name (default factory)
  --partition-offset ADDR        its flash offset (default 0x11000, as in hosts/esp32/partitions.csv)

Files and keys may be PEM or DER; private keys SEC1 or PKCS#8.`;

interface Authority {
  certificate: AttestationCertificate;
  der: Uint8Array;
  privateKey: Uint8Array;
}

function hex4(value: number): string {
  return "0x" + value.toString(16).toUpperCase().padStart(4, "0");
}

/** A certificate and the private key that goes with it; refuses a key that is not the certificate's. */
function loadAuthority(certPath: string, keyPath: string, kind: "paa" | "pai", certFlag: string, keyFlag: string): Authority {
  const der = readCertificateFile(certPath, certFlag);
  let certificate: AttestationCertificate;
  try {
    certificate = parseAttestationCertificate(der);
    checkAttestationProfile(certificate, kind);
  } catch (error) {
    throw new CliError(`--${certFlag} '${certPath}' is not a usable ${kind.toUpperCase()}: ${(error as Error).message}`);
  }
  const privateKey = readPrivateKeyFile(keyPath, `--${keyFlag}`);
  if (!bytesEqual(publicKeyFromPrivate(privateKey), certificate.x509.publicKey)) {
    throw new CliError(`--${keyFlag} '${keyPath}' does not match the public key in --${certFlag} '${certPath}'`);
  }
  return { certificate, der, privateKey };
}

function randomSerialNumber(): Uint8Array {
  const serial = systemRandom.bytes(8);
  serial[0] = (serial[0]! & 0x3f) | 0x40; // positive and minimally encoded
  return serial;
}

function randomPasscode(): number {
  for (;;) {
    const bytes = systemRandom.bytes(4);
    const candidate = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 5; // 27 bits
    if (isValidSetupPasscode(candidate)) return candidate;
  }
}

function randomDiscriminator(): number {
  const bytes = systemRandom.bytes(2);
  return ((bytes[0]! << 8) | bytes[1]!) & 0xfff;
}

function writeSecret(path: string, contents: string): void {
  writeFileSync(path, contents, { mode: 0o600 });
  chmodSync(path, 0o600);
}

interface DeviceRecord {
  serial: string;
  qr: string;
  manual: string;
  discriminator: number;
  passcode: number;
  image: string;
}

async function provision(args: string[]): Promise<number> {
  const { values } = parseCommandLine(args, OPTIONS);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.out) throw new CliError("--out DIR is required");
  const count = integerOption("count", values.count, 1, 100000) ?? 1;
  const givenPasscode = integerOption("passcode", values.passcode, 0, 0xffffffff);
  if (givenPasscode !== undefined && !isValidSetupPasscode(givenPasscode)) {
    throw new CliError(
      `--passcode ${values.passcode} is not allowed: passcodes are 00000001..99999998 and not 00000000, 11111111, ..., 99999999, 12345678 or 87654321`,
    );
  }
  if (givenPasscode !== undefined && count > 1) throw new CliError("--passcode gives one device's passcode; a --count batch draws one per device");
  const givenDiscriminator = integerOption("discriminator", values.discriminator, 0, 0xfff);
  const iterations = integerOption("iterations", values.iterations, 1000, 100000) ?? 1000;
  const hardwareVersion = integerOption("hardware-version", values["hardware-version"], 0, 0xffff) ?? 1;
  const deviceType = integerOption("device-type", values["device-type"], 0, 0xffffffff) ?? 0x0100;
  const rendezvous = integerOption("rendezvous", values.rendezvous, 0, 0xff) ?? Rendezvous.BLE | Rendezvous.OnNetwork;
  // The factory partition of hosts/esp32/partitions.csv, unless the board's table puts it elsewhere.
  const partitionOffset = integerOption("partition-offset", values["partition-offset"], 0, 0xffffffff) ?? 0x11000;
  const partitionName = values["partition-name"] ?? "factory";
  if (!/^[A-Za-z0-9_]{1,16}$/.test(partitionName)) throw new CliError("--partition-name must be 1 to 16 letters, digits or '_'");
  if (partitionOffset % 0x1000 !== 0) throw new CliError("--partition-offset must be 4 KiB aligned");
  const certificateId = values["certificate-id"] ?? "CSA00000SWC00000-01";
  if (certificateId.length !== 19) throw new CliError(`--certificate-id must be 19 characters, got ${certificateId.length}`);
  if (values.serial !== undefined && (values.serial.length === 0 || values.serial.length + (count > 1 ? 6 : 0) > 32)) {
    throw new CliError("--serial must be 1 to 32 characters (26 with --count)");
  }
  let vendorId = integerOption("vid", values.vid, 1, 0xfffe);
  let productId = integerOption("pid", values.pid, 1, 0xffff);

  const now = Math.floor(Date.now() / 1000) - 3600; // an hour of slack for clocks behind ours
  const out = values.out;
  // Shared files are staged until every input has been checked, so a refused run writes nothing.
  const staged: { name: string; contents: string | Uint8Array; secret: boolean }[] = [];
  const stage = (name: string, contents: string | Uint8Array, secret = false) => staged.push({ name, contents, secret });
  const written: string[] = [];
  const write = (name: string, contents: string | Uint8Array) => {
    writeFileSync(join(out, name), contents);
    written.push(name);
  };

  // --- the attestation authority: PAI (given, or issued under a given or generated PAA)
  if (values["paa-key"] && !values["paa-cert"]) throw new CliError("--paa-key needs --paa-cert");
  if (values["pai-cert"] !== undefined && values["pai-key"] === undefined) throw new CliError("--pai-cert needs --pai-key");
  if (values["pai-key"] !== undefined && values["pai-cert"] === undefined) throw new CliError("--pai-key needs --pai-cert");
  if (values["pai-cert"] && values["paa-key"]) throw new CliError("give either --paa-cert/--paa-key (a PAI is issued) or --pai-cert/--pai-key, not both keys");

  let paaDer: Uint8Array | undefined;
  let pai: Authority;
  if (values["pai-cert"]) {
    pai = loadAuthority(values["pai-cert"], values["pai-key"]!, "pai", "pai-cert", "pai-key");
    const paiVendor = pai.certificate.vendorId!;
    if (vendorId !== undefined && vendorId !== paiVendor) {
      throw new CliError(`--pai-cert is a PAI of vendor ${hex4(paiVendor)}, not of --vid ${hex4(vendorId)}`);
    }
    vendorId = paiVendor;
    const paiProduct = pai.certificate.productId;
    if (paiProduct !== undefined) {
      if (productId !== undefined && productId !== paiProduct) {
        throw new CliError(`--pai-cert only covers product ${hex4(paiProduct)}, not --pid ${hex4(productId)}`);
      }
      productId = paiProduct;
    }
    if (values["paa-cert"]) {
      paaDer = readCertificateFile(values["paa-cert"], "--paa-cert");
      try {
        validatePaiAgainstPaa(pai.certificate, paaDer);
      } catch (error) {
        throw new CliError(`--pai-cert does not chain to --paa-cert: ${(error as Error).message}`);
      }
    }
  } else {
    vendorId ??= 0xfff1;
    let paa: Authority;
    if (values["paa-cert"]) {
      if (!values["paa-key"]) throw new CliError("--paa-cert needs --paa-key to issue a PAI (or give --pai-cert/--pai-key)");
      paa = loadAuthority(values["paa-cert"], values["paa-key"], "paa", "paa-cert", "paa-key");
      if (paa.certificate.vendorId !== undefined && paa.certificate.vendorId !== vendorId) {
        throw new CliError(`--paa-cert is a PAA of vendor ${hex4(paa.certificate.vendorId)}, not of --vid ${hex4(vendorId)}`);
      }
    } else {
      const keys = generateKeyPair(systemRandom);
      const der = issueAttestationCertificate(
        { kind: "paa", commonName: `matter-xs Development PAA ${hex4(vendorId)}`, vendorId, serialNumber: randomSerialNumber(), notBefore: now, notAfter: NO_EXPIRATION_UNIX, publicKey: keys.publicKey },
        keys.privateKey,
      );
      paa = { certificate: parseAttestationCertificate(der), der, privateKey: keys.privateKey };
      stage("paa-key.pem", privateKeyPem(keys.privateKey), true);
    }
    paaDer = paa.der;
    const keys = generateKeyPair(systemRandom);
    const der = issueAttestationCertificate(
      { kind: "pai", commonName: `matter-xs PAI ${hex4(vendorId)}`, vendorId, serialNumber: randomSerialNumber(), notBefore: Math.max(now, paa.certificate.x509.notBefore), notAfter: NO_EXPIRATION_UNIX, publicKey: keys.publicKey, issuer: paa.certificate.x509 },
      paa.privateKey,
    );
    pai = { certificate: parseAttestationCertificate(der), der, privateKey: keys.privateKey };
    stage("pai-key.pem", privateKeyPem(keys.privateKey), true);
  }
  productId ??= 0x8000;
  if (paaDer) stage("paa.pem", toPem("CERTIFICATE", paaDer));
  stage("pai.pem", toPem("CERTIFICATE", pai.der));

  // --- the Certification Declaration
  let cdSigner: { der: Uint8Array; privateKey: Uint8Array };
  if (values["cd-cert"] || values["cd-key"]) {
    if (!values["cd-cert"] || !values["cd-key"]) throw new CliError("--cd-cert and --cd-key go together");
    const der = readCertificateFile(values["cd-cert"], "--cd-cert");
    const privateKey = readPrivateKeyFile(values["cd-key"], "--cd-key");
    let publicKey: Uint8Array;
    try {
      publicKey = parseX509(der).publicKey;
    } catch (error) {
      throw new CliError(`--cd-cert '${values["cd-cert"]}': ${(error as Error).message}`);
    }
    if (!bytesEqual(publicKeyFromPrivate(privateKey), publicKey)) {
      throw new CliError(`--cd-key '${values["cd-key"]}' does not match the public key in --cd-cert '${values["cd-cert"]}'`);
    }
    cdSigner = { der, privateKey };
  } else {
    const keys = generateKeyPair(systemRandom);
    const der = issueAttestationCertificate(
      { kind: "paa", commonName: "matter-xs Development CD Signing Authority", serialNumber: randomSerialNumber(), notBefore: now, notAfter: NO_EXPIRATION_UNIX, publicKey: keys.publicKey },
      keys.privateKey,
    );
    cdSigner = { der, privateKey: keys.privateKey };
    stage("cd-signing-key.pem", privateKeyPem(keys.privateKey), true);
  }
  stage("cd-signing-cert.pem", toPem("CERTIFICATE", cdSigner.der));
  const cdSignerCertificate = parseX509(cdSigner.der);
  const declaration: CertificationDeclaration = {
    formatVersion: 1,
    vendorId,
    productIds: [productId],
    deviceTypeId: deviceType,
    certificateId,
    securityLevel: 0,
    securityInformation: 0,
    versionNumber: 1,
    certificationType: 0,
  };
  const cd = signCertificationDeclaration(declaration, cdSignerCertificate.subjectKeyId ?? keyIdentifier(cdSignerCertificate.publicKey), cdSigner.privateKey);
  verifyCertificationDeclaration(cd, cdSignerCertificate.publicKey);
  stage("cd.der", cd);

  // --- the firmware signing key (shared by the batch)
  let firmwarePublicKey: Uint8Array;
  if (values["firmware-key"]) {
    firmwarePublicKey = publicKeyFromPrivate(readPrivateKeyFile(values["firmware-key"], "--firmware-key"));
  } else {
    const keys: KeyPair = generateKeyPair(systemRandom);
    firmwarePublicKey = keys.publicKey;
    stage("firmware-signing-key.pem", privateKeyPem(keys.privateKey), true);
  }

  // Flagged encrypted as in hosts/esp32/partitions.csv: with flash encryption on, the bootloader
  // encrypts it in place on first boot, like the app.
  const partitionLine = `${partitionName}, data, undefined, 0x${partitionOffset.toString(16)}, 0x${FACTORY_PARTITION_SIZE.toString(16)}, encrypted`;
  stage("partitions.csv", `# Name, Type, SubType, Offset, Size, Flags  (add this line to the board's partition table)\n${partitionLine}\n`);
  mkdirSync(out, { recursive: true });
  for (const file of staged) {
    if (file.secret) writeSecret(join(out, file.name), file.contents as string);
    else writeFileSync(join(out, file.name), file.contents);
    written.push(file.name);
  }
  const flashCommand = (image: string) => `esptool.py write_flash 0x${partitionOffset.toString(16)} "${image}"`;

  // --- the devices
  const devices: DeviceRecord[] = [];
  const serialWidth = String(count).length;
  for (let index = 0; index < count; index++) {
    const serial =
      values.serial === undefined
        ? toHex(systemRandom.bytes(8)).toUpperCase()
        : count === 1
          ? values.serial
          : values.serial + String(index + 1).padStart(serialWidth, "0");
    const passcode = givenPasscode ?? randomPasscode();
    const discriminator = givenDiscriminator ?? randomDiscriminator();
    const salt = systemRandom.bytes(32);
    const verifier = spake2pComputeVerifier(passcode, salt, iterations);
    const dacKeys = generateKeyPair(systemRandom);
    const dac = issueAttestationCertificate(
      {
        kind: "dac",
        commonName: `matter-xs DAC ${serial}`.slice(0, 64),
        vendorId,
        productId,
        serialNumber: randomSerialNumber(),
        notBefore: Math.max(now, pai.certificate.x509.notBefore),
        notAfter: NO_EXPIRATION_UNIX,
        publicKey: dacKeys.publicKey,
        issuer: pai.certificate.x509,
      },
      pai.privateKey,
    );
    if (paaDer) validateAttestationChain({ paa: paaDer, pai: pai.der, dac });
    else validateDacAgainstPai(dac, pai.der);

    const input: FactoryDataInput = {
      vendorId,
      productId,
      vendorName: values["vendor-name"] ?? "matter-xs",
      productName: values["product-name"] ?? "matter-xs device",
      hardwareVersion,
      hardwareVersionString: values["hardware-version-string"] ?? String(hardwareVersion),
      serialNumber: serial,
      discriminator,
      pbkdfIterations: iterations,
      pbkdfSalt: salt,
      spake2pW0: verifier.w0,
      spake2pL: verifier.L,
      rotatingDeviceIdUniqueId: systemRandom.bytes(16),
      dacCertificate: dac,
      dacPrivateKey: dacKeys.privateKey,
      paiCertificate: pai.der,
      certificationDeclaration: cd,
      firmwareSigningKey: firmwarePublicKey,
    };
    if (values["store-passcode"]) input.passcode = passcode;
    const image = padFactoryImage(encodeFactoryImage(input));
    dacKeys.privateKey.fill(0);

    const payload = { version: 0, vendorId, productId, commissioningFlow: 0, rendezvousInformation: rendezvous, discriminator, passcode };
    const qr = encodeQrPayload(payload);
    const manual = encodeManualCode(payload);
    const folder = count === 1 ? "" : serial;
    if (folder) mkdirSync(join(out, folder), { recursive: true });
    const imagePath = join(folder, "factory.bin");
    write(imagePath, image);
    write(join(folder, "dac.pem"), toPem("CERTIFICATE", dac));
    write(
      join(folder, "onboarding.txt"),
      [
        `serial number:      ${serial}`,
        `vendor / product:   ${hex4(vendorId)} / ${hex4(productId)}`,
        `QR payload:         ${qr}`,
        `manual pairing code: ${manual.slice(0, 4)}-${manual.slice(4, 7)}-${manual.slice(7)}`,
        `discriminator:      ${discriminator}`,
        `passcode:           ${String(passcode).padStart(8, "0")}`,
        `flash:              ${flashCommand(join(out, imagePath))}`,
        "",
      ].join("\n"),
    );
    devices.push({ serial, qr, manual, discriminator, passcode, image: imagePath });
  }
  if (count > 1) {
    write("devices.csv", ["serial,qr_payload,manual_code,discriminator,passcode,image", ...devices.map((d) => `${d.serial},${d.qr},${d.manual},${d.discriminator},${String(d.passcode).padStart(8, "0")},${d.image}`)].join("\n") + "\n");
  }

  console.log(`provisioned ${count} device${count === 1 ? "" : "s"} (vendor ${hex4(vendorId)}, product ${hex4(productId)}) into ${out}`);
  for (const device of devices.slice(0, 10)) {
    console.log(`  ${device.serial}  ${device.qr}  ${device.manual}  ${join(out, device.image)}`);
  }
  if (devices.length > 10) console.log(`  ... ${devices.length - 10} more in ${join(out, "devices.csv")}`);
  console.log(`partition table line: ${partitionLine}`);
  console.log(`flash:                ${flashCommand(join(out, devices[0]!.image))}`);
  if (!paaDer) console.log("note: no --paa-cert given, so paa.pem is not written and the chain was checked up to the PAI only");
  console.log(`files: ${written.filter((name) => !name.includes("/")).join(", ")}${count > 1 ? ", and a folder per device" : ""}`);
  return 0;
}

export async function run(args: string[]): Promise<number> {
  try {
    return await provision(args);
  } catch (error) {
    // Inputs that passed the option checks but fail certificate or factory rules are still the user's to fix.
    if (error instanceof CertificateError || error instanceof FactoryDataError || error instanceof OnboardingError) {
      throw new CliError(error.message);
    }
    throw error;
  }
}
