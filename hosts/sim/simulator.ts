// The simulated device: the firmware on the XS engine (or in-process on Node for fast tests),
// with Node providing UDP, flash and storage files under a state directory, and the clock.
//
// On the XS engine the firmware runs from a boot slot, as on a device: the slots hold application
// images (app-image.ts: a header with length, version and SHA-256, then the firmware bundle), the
// boot record (platform/boot.ts) picks the slot, and every start — the first, a power cut's
// restart, or the reboot the firmware asks for after an OTA update — evaluates the image found in
// that slot in a fresh XS machine. The firmware built from source is "flashed" into ota_0 the way
// a cable would (boot record reset to ota_0) when the state has never been flashed or the build
// differs from the last one flashed; an OTA update's payload is such an image, written to the
// other slot by the firmware itself. An image that cannot start (damaged, throws while loading,
// fails to boot the device, or takes longer than bootTimeoutMs) while on trial makes the simulator
// reset, as a watchdog would, and the boot record then rolls back to the previous slot. The Node
// engine runs the firmware from source in-process and does not boot from slots.
//
// State directory layout:
//   storage/     the key-value store (one file per key, replaced atomically)
//   flash/       partitions: factory.bin (the identity), ota_0.bin, ota_1.bin (application images)
//   boot.json    the A/B boot record
//   flashed.json which build was last flashed into ota_0 (SHA-256 and version of its firmware)
//   identity/    what `matter-xs mfg` wrote when the simulator provisioned itself (PAA, PAI, CD
//                signing certificate, keys): a controller under test trusts paa.pem and
//                cd-signing-cert.pem
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { DeviceEvent, DeviceOptions, DeviceStatus, OtaTuning } from "../../src/device";
import { startDevice, type Device } from "../../src/device";
import { FREEZE_BUILTINS_AS_MODDABLE } from "./engine/freeze-builtins";
import { decodeFactoryImage, type FactoryData, FACTORY_PARTITION_SIZE } from "../../src/factory/partition";
import { CommissioningFlow, Rendezvous, encodeManualCode, encodeQrPayload } from "../../src/discovery/onboarding";
import type { LogLevel } from "../../src/platform";
import { encodeSimulatorApp, readSimulatorApp, type SimulatorApp } from "./app-image";
import { XsHost } from "./bridge/host";
import { bundleForXs } from "./engine/bundle";
import type { HeapStats, XsCreation } from "./engine/xsnap";
import { NodePlatform } from "./platform/node";

const here = dirname(fileURLToPath(import.meta.url));

export type Engine = "xs" | "node";

export interface SimulatorOptions {
  /** Where the device keeps its state between runs. */
  stateDir: string;
  engine?: Engine;
  /** UDP port for Matter (5540 by default; 0 picks a free one). */
  port?: number;
  /** Interface whose multicast groups mDNS joins. */
  interfaceName?: string;
  /** A factory partition image to use instead of the simulator's own identity. */
  factoryFile?: string;
  /** Passcode and discriminator for a newly provisioned identity. */
  passcode?: number;
  discriminator?: number;
  /** Factory-reset the device before it starts. */
  reset?: boolean;
  /** XS heap sizes (for memory budgets). */
  xsCreation?: XsCreation;
  /** The version of the firmware built from source (baked into the image flashed into ota_0). */
  softwareVersion?: number;
  softwareVersionString?: string;
  /** OTA Requestor tuning for the firmware (tests shorten its timeouts). */
  ota?: OtaTuning;
  /** How long an image may take to load and boot the device before it counts as failed. Default 60 s. */
  bootTimeoutMs?: number;
  log?: (level: LogLevel, message: string) => void;
  onEvent?: (event: DeviceEvent) => void;
  /** Every start from a slot (XS engine): which slot and image run. */
  onBoot?: (boot: SimulatorBoot) => void;
}

/** One start of the XS engine from a boot slot. */
export interface SimulatorBoot {
  slot: string;
  /** A freshly applied image that has not confirmed itself yet. */
  trial: boolean;
  softwareVersion: number;
  softwareVersionString: string;
  /** SHA-256 of the firmware, hex. */
  sha256: string;
}

/** The slot the simulator flashes the firmware built from source into (the bootloader's first slot). */
export const FACTORY_SLOT = "ota_0";

/** How a person or a controller finds and commissions this device. */
export interface SimulatorIdentity {
  vendorId: number;
  productId: number;
  discriminator: number;
  passcode: number | undefined;
  qrPayload: string | undefined;
  manualCode: string | undefined;
  serialNumber: string;
  /** Trust anchors for a controller: set when the simulator provisioned the identity itself. */
  paaCertificatePath: string | undefined;
  cdSigningCertificatePath: string | undefined;
}

export const DEFAULT_SOFTWARE_VERSION = 1;
export const DEFAULT_SOFTWARE_VERSION_STRING = "1.0.0";

export class Simulator {
  readonly identity: SimulatorIdentity;
  private platform: NodePlatform | undefined;
  private host: XsHost | undefined;
  private device: Device | undefined;
  private running = false;
  /** The image running now (XS engine). */
  private app: SimulatorBoot | undefined;

  private constructor(
    private readonly options: SimulatorOptions,
    identity: SimulatorIdentity,
  ) {
    this.identity = identity;
  }

  /** Prepares the state directory, provisioning a development identity on first use. */
  static async create(options: SimulatorOptions): Promise<Simulator> {
    mkdirSync(options.stateDir, { recursive: true });
    const factory = await prepareFactoryPartition(options);
    if ((options.engine ?? "xs") === "xs") await flashFirmwareFromSource(options);
    return new Simulator(options, identityOf(factory, options.stateDir));
  }

  get engine(): Engine {
    return this.options.engine ?? "xs";
  }

  /** Boots the firmware; resolves once the device is running. */
  async start(): Promise<DeviceStatus> {
    if (this.running) throw new Error("the simulator is already running");
    const deviceOptions: Omit<DeviceOptions, "softwareVersion" | "softwareVersionString" | "log" | "onEvent"> = {
      port: this.options.port ?? 5540,
      ...(this.options.interfaceName ? { mdnsInterface: this.options.interfaceName } : {}),
      networkFeature: "ethernet",
      ...(this.options.ota ? { ota: this.options.ota } : {}),
    };
    let status: DeviceStatus;
    if (this.engine === "node") {
      const platform = this.powerOn();
      this.device = startDevice(platform, {
        ...deviceOptions,
        softwareVersion: this.options.softwareVersion ?? DEFAULT_SOFTWARE_VERSION,
        softwareVersionString: this.options.softwareVersionString ?? DEFAULT_SOFTWARE_VERSION_STRING,
        log: (level, message) => this.log(level, message),
        onEvent: (event) => this.options.onEvent?.(event),
      });
      status = this.device.status();
    } else {
      status = await this.bootFromSlot(deviceOptions);
    }
    if (this.options.reset) {
      this.options.reset = false;
      status = (await this.control({ op: "factory-reset" })) as DeviceStatus;
    }
    this.running = true;
    return status;
  }

  /** The image running now (XS engine), as the last boot found it. */
  get runningImage(): SimulatorBoot | undefined {
    return this.app;
  }

  /** A fresh platform: opening the boot record is the bootloader's choice of slot (and its rollback). */
  private powerOn(): NodePlatform {
    const platform = new NodePlatform({
      directory: this.options.stateDir,
      boot: true,
      ...(this.options.interfaceName ? { network: { interfaceNames: [this.options.interfaceName] } } : {}),
      log: (level, message) => this.log(level, message),
      onReboot: () => this.rebootSoon(),
    });
    this.platform = platform;
    return platform;
  }

  /**
   * Loads the active slot's image into a new XS machine and boots the device. An image on trial
   * that fails to start resets the simulator (the boot record then rolls back) and the previous
   * image boots instead; an image that is not on trial and fails is an error for the caller.
   */
  private async bootFromSlot(deviceOptions: Omit<DeviceOptions, "softwareVersion" | "softwareVersionString" | "log" | "onEvent">): Promise<DeviceStatus> {
    for (let resets = 0; ; resets++) {
      const platform = this.powerOn();
      const boot = platform.boot!;
      const slot = boot.runningSlot();
      const trial = boot.pendingConfirmation();
      try {
        const partition = platform.flash.open(slot);
        if (!partition) throw new Error(`the simulator has no ${slot} partition`);
        const app = readSimulatorApp(partition);
        this.app = { slot, trial, softwareVersion: app.softwareVersion, softwareVersionString: app.softwareVersionString, sha256: app.sha256 };
        this.log("info", `boot: ${slot} holds ${app.softwareVersionString} (version ${app.softwareVersion}, ${app.length} bytes)${trial ? ", on trial" : ""}`);
        this.options.onBoot?.(this.app);
        const host = new XsHost({
          platform,
          log: (level, message) => this.log(level, message),
          onNotify: (message: { event?: DeviceEvent }) => {
            if (message.event) this.options.onEvent?.(message.event);
          },
          onReboot: () => this.rebootSoon(),
          onFirmwareError: (error) => this.log("error", `firmware exception: ${error.message}`),
          engine: { ...(this.options.xsCreation ? { creation: this.options.xsCreation } : {}) },
        });
        this.host = host;
        const timeoutMs = this.options.bootTimeoutMs ?? 60_000;
        await host.evaluate(FREEZE_BUILTINS_AS_MODDABLE);
        await withTimeout(host.evaluate(app.script), timeoutMs, `loading the image in ${slot}`);
        return await withTimeout(host.control<DeviceStatus>({ op: "boot", options: deviceOptions }), timeoutMs, `booting the device from ${slot}`);
      } catch (error) {
        const reason = (error as Error).message;
        await this.powerCut();
        this.app = undefined;
        if (!trial || resets > 0) throw new Error(`the image in ${slot} does not start: ${reason}`);
        this.log("error", `boot: the image in ${slot} failed to start (${reason}); resetting, and the boot record rolls it back`);
      }
    }
  }

  /** Sends a control request to the device (status, factory reset, test hooks). */
  async control<T = unknown>(request: { op: string; [key: string]: unknown }): Promise<T> {
    if (this.device) return this.device.control(request) as T;
    if (this.host) return this.host.control<T>(request);
    throw new Error("the simulator is not running");
  }

  async status(): Promise<DeviceStatus> {
    if (this.device) return this.device.status();
    return this.control<DeviceStatus>({ op: "status" });
  }

  /** XS heap figures of the running engine (undefined on the Node engine). */
  async heapStats(): Promise<HeapStats | undefined> {
    return this.host?.worker.heapStats();
  }

  async resetHeapPeaks(): Promise<HeapStats | undefined> {
    return this.host?.worker.resetHeapPeaks({ gc: true });
  }

  /** From the live heap on, XS may take at most `bytes` more (XsWorker.limitHeapGrowth). */
  async limitHeapGrowth(bytes: number): Promise<HeapStats | undefined> {
    return this.host?.worker.limitHeapGrowth(bytes);
  }

  /** Evaluates a script in the running XS engine beside the firmware (heap measurements). */
  async evaluate(source: string): Promise<void> {
    if (!this.host) throw new Error("evaluate needs the simulator running on the XS engine");
    await this.host.evaluate(source);
  }

  /** Shuts the firmware down cleanly (goodbye records, sockets closed, state saved). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    try {
      if (this.device) this.device.shutdown();
      else if (this.host) await this.host.control({ op: "shutdown" });
    } catch (error) {
      this.log("warn", `shutdown: ${(error as Error).message}`);
    }
    await this.host?.stop();
    this.platform?.close();
    this.device = undefined;
    this.host = undefined;
    this.platform = undefined;
  }

  /** Stops at once, as a power cut would: nothing is flushed or said goodbye. */
  async powerCut(): Promise<void> {
    this.running = false;
    this.host?.kill();
    this.platform?.close();
    this.device = undefined;
    this.host = undefined;
    this.platform = undefined;
  }

  /** A firmware-requested restart: the engine is stopped and the (possibly new) image booted. */
  async reboot(): Promise<DeviceStatus> {
    await this.powerCut();
    return this.start();
  }

  /** The firmware asked for a restart: done once its call has returned, as a hardware reset would be. */
  private rebootSoon(): void {
    setImmediate(() => {
      this.reboot().catch((error: Error) => this.log("error", `reboot failed: ${error.message}`));
    });
  }

  private log(level: LogLevel, message: string): void {
    if (this.options.log) this.options.log(level, message);
    else if (level !== "debug") process.stderr.write(`[${level}] ${message}\n`);
  }
}

/** Bundles the simulator's firmware (src/ plus the XS bridge) into one script with its version baked in. */
export async function buildFirmwareImage(version: { softwareVersion: number; softwareVersionString: string }, minify = false): Promise<string> {
  return bundleForXs({
    resolveDir: here,
    contents: `import "./firmware";`,
    minify,
    define: {
      MATTER_XS_SOFTWARE_VERSION: String(version.softwareVersion),
      MATTER_XS_SOFTWARE_VERSION_STRING: JSON.stringify(version.softwareVersionString),
    },
  });
}

/**
 * The firmware built from source as an application image (app-image.ts): what the simulator
 * flashes into ota_0, and what an OTA image for the simulator carries as its payload.
 */
export async function buildFirmwareApp(version: { softwareVersion: number; softwareVersionString: string }, minify = false): Promise<Uint8Array> {
  return encodeSimulatorApp({ ...version, script: await buildFirmwareImage(version, minify) });
}

/** What flashed.json records. */
interface FlashedBuild {
  sha256: string;
  softwareVersion: number;
  softwareVersionString: string;
}

/**
 * Flashes the firmware built from source into ota_0 and resets the boot record to it, as a cable
 * would — unless this very build was the last one flashed, so that a restarted simulator keeps
 * running whatever OTA updates installed since.
 */
async function flashFirmwareFromSource(options: SimulatorOptions): Promise<void> {
  const version = {
    softwareVersion: options.softwareVersion ?? DEFAULT_SOFTWARE_VERSION,
    softwareVersionString: options.softwareVersionString ?? DEFAULT_SOFTWARE_VERSION_STRING,
  };
  const image = await buildFirmwareApp(version);
  const built: SimulatorApp = readSimulatorApp(image);
  const recordPath = join(options.stateDir, "flashed.json");
  let last: FlashedBuild | undefined;
  try {
    last = JSON.parse(readFileSync(recordPath, "utf8")) as FlashedBuild;
  } catch {
    last = undefined;
  }
  if (last?.sha256 === built.sha256) return;
  const platform = new NodePlatform({ directory: options.stateDir, log: () => {} });
  try {
    const slot = platform.flash.open(FACTORY_SLOT);
    if (!slot) throw new Error(`the simulator has no ${FACTORY_SLOT} partition`);
    if (image.length > slot.size) throw new Error(`the firmware image of ${image.length} bytes exceeds the ${slot.size}-byte ${FACTORY_SLOT}`);
    slot.erase(0, slot.size);
    slot.write(0, image);
  } finally {
    platform.close();
  }
  rmSync(join(options.stateDir, "boot.json"), { force: true });
  const record: FlashedBuild = { sha256: built.sha256, ...version };
  writeFileSync(recordPath, JSON.stringify(record) + "\n");
  (options.log ?? ((_level: LogLevel, message: string) => process.stderr.write(`${message}\n`)))(
    "info",
    `flashed the firmware built from source (${version.softwareVersionString}, version ${version.softwareVersion}) into ${FACTORY_SLOT}`,
  );
}

/** `work`, or a rejection once `ms` have passed. */
function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Makes sure the state's factory partition holds an identity; returns it decoded. */
async function prepareFactoryPartition(options: SimulatorOptions): Promise<FactoryData> {
  const platform = new NodePlatform({ directory: options.stateDir, log: () => {} });
  try {
    const partition = platform.flash.open("factory");
    if (!partition) throw new Error("the simulator has no factory partition");
    const current = partition.read(0, partition.size);
    let image: Uint8Array | undefined;
    if (options.factoryFile) {
      image = new Uint8Array(readFileSync(options.factoryFile));
      decodeFactoryImage(image); // refuse a bad file before it replaces anything
    } else if (!isProvisioned(current) || wantsOtherIdentity(current, options)) {
      image = await provisionDevelopmentIdentity(options);
    }
    if (image && !sameBytes(image, current.subarray(0, image.length))) {
      if (image.length > partition.size) throw new Error(`factory image of ${image.length} bytes exceeds the ${partition.size}-byte partition`);
      partition.erase(0, partition.size);
      partition.write(0, image);
    }
    return decodeFactoryImage(partition.read(0, partition.size));
  } finally {
    platform.close();
  }
}

function isProvisioned(image: Uint8Array): boolean {
  try {
    decodeFactoryImage(image);
    return true;
  } catch {
    return false;
  }
}

function wantsOtherIdentity(image: Uint8Array, options: SimulatorOptions): boolean {
  const factory = decodeFactoryImage(image);
  return (
    (options.passcode !== undefined && factory.passcode !== options.passcode) ||
    (options.discriminator !== undefined && factory.discriminator !== options.discriminator)
  );
}

/** Runs the provisioning tool, exactly as a manufacturer would, into <state>/identity. */
async function provisionDevelopmentIdentity(options: SimulatorOptions): Promise<Uint8Array> {
  const { run } = await import("../cli/mfg");
  const identityDir = join(options.stateDir, "identity");
  const staging = mkdtempSync(join(tmpdir(), "matter-xs-identity-"));
  try {
    const args = ["--out", staging, "--store-passcode", "--rendezvous", String(Rendezvous.OnNetwork)];
    if (options.passcode !== undefined) args.push("--passcode", String(options.passcode));
    if (options.discriminator !== undefined) args.push("--discriminator", String(options.discriminator));
    // The tool reports into the staging folder; the simulator says where the identity ended up.
    const printed: string[] = [];
    const consoleLog = console.log;
    console.log = (...parts: unknown[]) => void printed.push(parts.join(" "));
    let code: number;
    try {
      code = await run(args);
    } finally {
      console.log = consoleLog;
    }
    if (code !== 0) throw new Error(`provisioning the development identity failed (mfg exited with ${code}): ${printed.join("\n")}`);
    (options.log ?? ((_level: LogLevel, message: string) => process.stderr.write(`${message}\n`)))("info", `provisioned a development identity into ${identityDir}`);
    rmSync(identityDir, { recursive: true, force: true });
    try {
      renameSync(staging, identityDir);
    } catch {
      cpSync(staging, identityDir, { recursive: true });
    }
    return new Uint8Array(readFileSync(join(identityDir, "factory.bin"))).subarray(0, FACTORY_PARTITION_SIZE);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function identityOf(factory: FactoryData, stateDir: string): SimulatorIdentity {
  const passcode = factory.passcode;
  const payload = {
    version: 0,
    vendorId: factory.vendorId,
    productId: factory.productId,
    commissioningFlow: CommissioningFlow.Standard,
    rendezvousInformation: Rendezvous.OnNetwork,
    discriminator: factory.discriminator,
    passcode: passcode ?? 0,
  };
  const identityDir = join(stateDir, "identity");
  const paa = join(identityDir, "paa.pem");
  const cdSigner = join(identityDir, "cd-signing-cert.pem");
  return {
    vendorId: factory.vendorId,
    productId: factory.productId,
    discriminator: factory.discriminator,
    passcode,
    qrPayload: passcode !== undefined ? encodeQrPayload(payload) : undefined,
    manualCode: passcode !== undefined ? encodeManualCode(payload) : undefined,
    serialNumber: factory.serialNumber,
    paaCertificatePath: existsSync(paa) ? paa : undefined,
    cdSigningCertificatePath: existsSync(cdSigner) ? cdSigner : undefined,
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
