// Signed OTA end to end on the XS simulator: `matter-xs sim` (the firmware on the XS engine,
// booting from its A/B slots) and a matter.js controller that commissions it and serves updates
// with matter.js's own OTA Provider (OtaSoftwareUpdateProviderServer), both inside a private
// network namespace. The images are made the way a maker would: `matter-xs firmware` builds the
// simulator firmware at a higher version, `matter-xs ota create` signs it with the firmware key
// that `matter-xs mfg` put in the device's factory partition.
//
// Proved here, in order, on one device:
//   - an image signed by another key is downloaded and refused: DownloadError (badSignature), the
//     update slot erased, version 1 still running from ota_0;
//   - a power cut (the sim process killed) at a random point of a download leaves version 1
//     running; after the restart the download resumes and the update completes: progress, apply,
//     reboot into ota_1, version 2 in Basic Information, NotifyUpdateApplied at the provider over
//     a CASE session the device opened to the address DNS-SD gave for the provider;
//   - a power cut at a random point of applying version 3 (ApplyUpdateRequest, selecting the
//     slot, the reboot, the trial start before it confirms) leaves a device that runs exactly what
//     its boot record names, and the update then completes;
//   - an image that throws while loading (correctly signed) is applied, fails to start, and the
//     simulator comes back on the previous slot; the requestor reports the rollback; a restarted
//     simulator process still runs the updated image.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import type { ChildProcess } from "node:child_process";
import { readCertificateFile } from "../hosts/cli/keys";
import { run as runFirmwareTool } from "../hosts/cli/firmware";
import { run as runOtaTool } from "../hosts/cli/ota";
import { encodeSimulatorApp } from "../hosts/sim/app-image";
import { Simulator } from "../hosts/sim/simulator";
import { OtaFault } from "../src/ota/errors";
import { ChangeReason, UpdateState } from "../src/ota/requestor";
import { MatterJsController, type MatterJsPeer } from "./support/matterjs/controller";
import { namespaceName, NetworkNamespace } from "./support/matterjs/netns";
import { repositoryRoot } from "./portable/vectors";

const PASSCODE = 20231108;
const DISCRIMINATOR = 2345;
const VENDOR_ID = 0xfff1;
const PRODUCT_ID = 0x8000;

type DeviceEvent = { type: string; [field: string]: any };

/** `matter-xs sim` inside the namespace, its log parsed into device events and boots. */
class SimProcess {
  readonly events: DeviceEvent[] = [];
  readonly boots: { slot: string; version: number; trial: boolean }[] = [];
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private output = "";
  private readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(namespace: NetworkNamespace, stateDir: string) {
    this.child = namespace.spawn(process.execPath, ["hosts/cli/matter-xs.mjs", "sim", "--engine", "xs", "--state", stateDir, "--interface", "lo", "--port", "5540"], {
      cwd: repositoryRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const take = (line: string) => {
      this.output = (this.output + line + "\n").slice(-60_000);
      this.lines.push(line);
      if (process.env.MXS_MATTERJS_LOG) process.stderr.write(`[sim] ${line}\n`);
      const event = /\binfo\s+event (\{.*\})$/.exec(line);
      if (event) this.events.push(JSON.parse(event[1]!));
      const boot = /\bboot: (ota_\d) holds .* \(version (\d+), \d+ bytes\)(, on trial)?/.exec(line);
      if (boot) this.boots.push({ slot: boot[1]!, version: Number(boot[2]), trial: boot[3] !== undefined });
      for (const wake of this.waiters) wake();
    };
    createInterface({ input: this.child.stdout! }).on("line", take);
    createInterface({ input: this.child.stderr! }).on("line", take);
    this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Everything the process printed. */
  get log(): string {
    return this.lines.join("\n");
  }

  /** Waits until `found()` returns something. */
  async waitFor<T>(found: () => T | undefined, what: string, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = found();
      if (value !== undefined) return value;
      if (!this.running) assert.fail(`the simulator exited before ${what}\n${this.output.slice(-4000)}`);
      if (Date.now() > deadline) assert.fail(`no ${what} within ${timeoutMs} ms\n${this.output.slice(-4000)}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          resolve();
        };
        this.waiters.add(wake);
        setTimeout(wake, 200);
      });
    }
  }

  /** The first event from index `from` on that matches. */
  event(from: number, matches: (event: DeviceEvent) => boolean): DeviceEvent | undefined {
    return this.events.slice(from).find(matches);
  }

  async ready(): Promise<void> {
    await this.waitFor(() => (/^status: /m.test(this.output) ? true : undefined), "the device to start");
  }

  /** A power cut: SIGKILL, nothing flushed. */
  async kill(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.exited;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

describe("signed OTA on the XS simulator with matter.js's OTA provider", { timeout: 300_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "matter-xs-ota-sim-"));
  const stateDir = join(work, "state");
  const images: Record<string, string> = {};
  let namespace: NetworkNamespace | undefined;
  let sim: SimProcess | undefined;
  let controller: MatterJsController | undefined;
  let peer: MatterJsPeer;

  const startSim = async () => {
    sim = new SimProcess(namespace!, stateDir);
    await sim.ready();
    return sim;
  };
  // No boot.json yet means the bootloader's default: ota_0, not on trial.
  const bootRecord = (): { active: string; trial: boolean; rejected?: string } =>
    existsSync(join(stateDir, "boot.json")) ? JSON.parse(readFileSync(join(stateDir, "boot.json"), "utf8")) : { active: "ota_0", trial: false };
  const slotErased = (slot: string) => readFileSync(join(stateDir, "flash", `${slot}.bin`)).every((byte) => byte === 0xff);
  const quietly = async (work: () => Promise<number>) => {
    const log = console.log;
    console.log = () => {};
    try {
      assert.equal(await work(), 0);
    } finally {
      console.log = log;
    }
  };

  /** matter.js's forceUpdate (consent, then AnnounceOTAProvider); a failure carries both sides' logs. */
  async function forceUpdate(version: number): Promise<void> {
    try {
      await peer.otaForceUpdate(VENDOR_ID, PRODUCT_ID, version);
    } catch (error) {
      (error as Error).message += `\n--- controller ---\n${controller!.log.slice(-6000)}\n--- simulator ---\n${sim!.log.slice(-6000)}`;
      throw error;
    }
  }

  /** An OTA file for the simulator: `matter-xs ota create` over `payload`, signed with `key`. */
  async function otaImage(name: string, version: number, payload: string, key: string): Promise<string> {
    const out = join(work, `${name}.ota`);
    const args = ["create", "--vid", `0x${VENDOR_ID.toString(16)}`, "--pid", `0x${PRODUCT_ID.toString(16)}`, "--version", String(version), "--version-string", `${version}.0`];
    await quietly(async () => runOtaTool([...args, "--payload", payload, "--key", key, "--out", out]));
    return out;
  }

  before(async () => {
    // Provisions the identity (with its firmware-signing key) and flashes version 1, built from source, into ota_0.
    const simulator = await Simulator.create({ stateDir, passcode: PASSCODE, discriminator: DISCRIMINATOR, log: () => {} });
    const { paaCertificatePath, cdSigningCertificatePath } = simulator.identity;
    const trust = { paaCerts: [readCertificateFile(paaCertificatePath!, "PAA")], cdSigningCerts: [readCertificateFile(cdSigningCertificatePath!, "CD signing certificate")] };
    const firmwareKey = join(stateDir, "identity", "firmware-signing-key.pem");
    const otherKey = join(work, "other-key.pem");
    writeFileSync(otherKey, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }));

    const firmware2 = join(work, "firmware-2.bin");
    await quietly(() => runFirmwareTool(["--version", "2", "--version-string", "2.0", "--out", firmware2, "--minify"]));
    const firmware3 = join(work, "firmware-3.bin");
    await quietly(() => runFirmwareTool(["--version", "3", "--version-string", "3.0", "--out", firmware3, "--minify"]));
    const crashing = join(work, "firmware-4.bin");
    writeFileSync(crashing, encodeSimulatorApp({ softwareVersion: 4, softwareVersionString: "4.0", script: `throw new Error("version 4 crashes while loading");` }));
    images.otherKey = await otaImage("v2-other-key", 2, firmware2, otherKey);
    images.v2 = await otaImage("v2", 2, firmware2, firmwareKey);
    images.v3 = await otaImage("v3", 3, firmware3, firmwareKey);
    images.crashing = await otaImage("v4-crashing", 4, crashing, firmwareKey);

    namespace = NetworkNamespace.create(namespaceName("mxs-ota"));
    [sim, controller] = await Promise.all([startSim(), MatterJsController.start(namespace, { ...trust, interface: "lo", label: "OTA provider", otaProvider: true })]);
    peer = await controller.commission({ discriminator: DISCRIMINATOR, passcode: PASSCODE, subscribe: true });
  });

  after(async () => {
    await Promise.allSettled([controller?.stop(), sim?.stop()]);
    await namespace?.delete();
    rmSync(work, { recursive: true, force: true });
  });

  it("refuses an image signed by another key: DownloadError, slot erased, version 1 keeps running", async () => {
    const from = sim!.events.length;
    await controller!.otaStore(images.otherKey!);
    await forceUpdate(2);
    const error = await sim!.waitFor(() => sim!.event(from, (e) => e.type === "ota-download-error"), "a DownloadError");
    assert.equal(error.fault, "badSignature");
    assert.equal(error.platformCode, OtaFault.badSignature);
    const last = await sim!.waitFor(() => sim!.events.slice(from).filter((e) => e.type === "ota-state").at(-1)?.newState === UpdateState.Idle ? true : undefined, "Idle");
    assert.ok(last);
    assert.ok(slotErased("ota_1"), "the update slot is erased");
    assert.deepEqual([bootRecord().active, bootRecord().trial], ["ota_0", false]);
    assert.equal((await peer.read(0, "BasicInformation", ["softwareVersion"])).values.softwareVersion, 1);
  });

  it("a power cut mid-download leaves version 1; after the restart the update completes and NotifyUpdateApplied arrives", async (t) => {
    await controller!.otaStore(images.v2!);
    let from = sim!.events.length;
    await forceUpdate(2);
    const cutAt = 15 + Math.floor(Math.random() * 70);
    const started = Date.now();
    await sim!.waitFor(() => sim!.event(from, (e) => e.type === "ota-progress" && e.percent >= cutAt), `download progress ${cutAt}%`);
    t.diagnostic(`power cut at ${cutAt}% after ${Date.now() - started} ms`);
    await sim!.kill();
    assert.deepEqual([bootRecord().active, bootRecord().trial], ["ota_0", false], "the boot record still names the old image");

    await startSim();
    assert.deepEqual(sim!.boots.at(-1), { slot: "ota_0", version: 1, trial: false });
    await peer.reconnect();
    assert.equal((await peer.read(0, "BasicInformation", ["softwareVersion"])).values.softwareVersion, 1);

    from = sim!.events.length;
    const downloadStarted = Date.now();
    await forceUpdate(2);
    const applying = await sim!.waitFor(() => sim!.event(from, (e) => e.type === "ota-state" && e.newState === UpdateState.Applying), "Applying", 120_000);
    t.diagnostic(`download after the restart: ${Date.now() - downloadStarted} ms`);
    assert.equal(applying.targetSoftwareVersion, 2);
    const progress = sim!.events.slice(from).filter((e) => e.type === "ota-progress" && e.percent !== null).map((e) => e.percent as number);
    assert.ok(progress.length >= 10, `progress reported (${progress.length} updates)`);
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b), "progress only grows");
    assert.equal(progress.at(-1), 100);

    // The reboot: a new XS machine, from ota_1, on trial until the image confirms itself.
    const outputBeforeReboot = sim!.log.length;
    await sim!.waitFor(() => (sim!.boots.at(-1)?.slot === "ota_1" ? true : undefined), "the boot into ota_1");
    assert.deepEqual(sim!.boots.at(-1), { slot: "ota_1", version: 2, trial: true });
    const applied = await sim!.waitFor(() => sim!.event(from, (e) => e.type === "ota-version-applied"), "VersionApplied");
    assert.equal(applied.softwareVersion, 2);
    const notified = await controller!.waitForEvent((e) => e.event === "ota-notify-update-applied", 60_000, "NotifyUpdateApplied");
    assert.equal(notified.softwareVersion, 2);
    assert.equal(notified.nodeId, peer.nodeId);
    // The new image started with no session: it found the provider's operational record itself.
    const afterReboot = sim!.log.slice(outputBeforeReboot);
    assert.match(afterReboot, /node 0x[0-9A-F]{16} \(fabric 1\) found over DNS-SD: udp:/);
    assert.match(afterReboot, /CASE session \d+ opened to node 0x[0-9A-F]{16} at udp:/);
    assert.deepEqual([bootRecord().active, bootRecord().trial], ["ota_1", false], "confirmed");
    await peer.reconnect();
    assert.equal((await peer.read(0, "BasicInformation", ["softwareVersion"])).values.softwareVersion, 2);
    assert.equal((await peer.read(0, "BasicInformation", ["softwareVersionString"])).values.softwareVersionString, "2.0");
  });

  it("a power cut at a random point of applying leaves what the boot record names running; the update then completes", async (t) => {
    await controller!.otaStore(images.v3!);
    const from = sim!.events.length;
    await forceUpdate(3);
    await sim!.waitFor(() => sim!.event(from, (e) => e.type === "ota-state" && e.newState === UpdateState.Applying), "Applying", 120_000);
    // From ApplyUpdateRequest to the new image confirming itself takes well under a second here.
    const delayMs = Math.floor(Math.random() * 1000);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    const boots = sim!.boots.slice(-1)[0];
    await sim!.kill();
    const record = bootRecord();
    t.diagnostic(`power cut ${delayMs} ms into applying; last boot ${JSON.stringify(boots)}; boot record ${JSON.stringify(record)}`);

    await startSim();
    const running = sim!.boots.at(-1)!;
    const slotVersion = { ota_1: 2, ota_0: 3 } as Record<string, number>;
    // A trial that was cut before it confirmed is rolled back: the record names what runs now.
    assert.equal(running.slot, bootRecord().active, "the boot record names the running slot");
    assert.equal(running.version, slotVersion[running.slot], "the slot holds the version that runs");
    await peer.reconnect();
    assert.equal((await peer.read(0, "BasicInformation", ["softwareVersion"])).values.softwareVersion, running.version);
    if (running.version !== 3) {
      const again = sim!.events.length;
      await forceUpdate(3);
      await sim!.waitFor(() => sim!.event(again, (e) => e.type === "ota-version-applied"), "version 3 applied", 120_000);
      await peer.reconnect();
    }
    await sim!.waitFor(() => (bootRecord().trial === false && bootRecord().active === "ota_0" ? true : undefined), "version 3 confirmed");
    assert.equal((await peer.read(0, "BasicInformation", ["softwareVersion"])).values.softwareVersion, 3);
  });

  it("an image that fails to start is rolled back: version 3 runs again, the requestor reports it, a restart keeps it", async () => {
    await controller!.otaStore(images.crashing!);
    const from = sim!.events.length;
    const boots = sim!.boots.length;
    await forceUpdate(4);
    await sim!.waitFor(() => (sim!.boots.length >= boots + 2 ? true : undefined), "the trial boot and the boot after the reset", 120_000);
    assert.deepEqual(sim!.boots.slice(boots), [
      { slot: "ota_1", version: 4, trial: true },
      { slot: "ota_0", version: 3, trial: false },
    ]);
    const rollback = await sim!.waitFor(() => sim!.event(from, (e) => e.type === "ota-state" && e.previousState === UpdateState.RollingBack), "the rollback report");
    assert.deepEqual([rollback.newState, rollback.reason, rollback.targetSoftwareVersion], [UpdateState.Idle, ChangeReason.Failure, 4]);
    assert.equal(sim!.event(from, (e) => e.type === "ota-version-applied"), undefined);
    assert.deepEqual([bootRecord().active, bootRecord().trial, bootRecord().rejected], ["ota_0", false, "ota_1"]);
    await peer.reconnect();
    assert.equal((await peer.read(0, "BasicInformation", ["softwareVersion"])).values.softwareVersion, 3);

    // A new simulator process boots the slot again; it does not flash the build from source over it.
    await sim!.kill();
    await startSim();
    assert.deepEqual(sim!.boots.at(-1), { slot: "ota_0", version: 3, trial: false });
  });
});
