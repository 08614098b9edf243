// The OTA Requestor end to end: a device process (test/fixtures/ota-device.ts: secure channel,
// IM, Basic Information, OTA Requestor, A/B boot control, all on the Node platform, state on disk)
// and the spec-written test provider (test/support/ota-provider.ts) over CASE on UDP loopback.
// Proved here: download with progress, apply, restart into the new slot, the new version in Basic
// Information, the image confirming itself, NotifyUpdateApplied at the provider; every refusal
// leaving the old image running and the slot erased; a provider that stalls; kills (power cuts)
// during the download and during the apply; an image that never starts rolled back.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { concatBytes, toHex, utf8Encode } from "../src/codec/bytes";
import { TlvWriter, type TlvTag } from "../src/codec/tlv";
import { ecdsaSign, publicKeyFromPrivate, sha256 } from "../src/crypto";
import { Opcode } from "../src/interaction/constants";
import { decodeInvokeResponse, encodeInvokeRequest } from "../src/interaction/messages";
import { OtaFault } from "../src/ota/errors";
import { encodeOtaHeader } from "../src/ota/image";
import { ChangeReason, OtaRequestor, OtaSoftwareUpdateRequestor, RequestorAttribute, UpdateState } from "../src/ota/requestor";
import { StatusError } from "../src/interaction/errors";
import { NodePlatform } from "../hosts/sim/platform/node";
import { INTERACTION_MODEL_PROTOCOL_ID } from "../src/transport/exchange";
import { udpPeer } from "../src/transport/udp";
import { FabricAuthority, type NodeCredentials } from "./support/credentials";
import { TestOtaProvider, type ProviderImage } from "./support/ota-provider";
import type { DeviceConfig } from "./fixtures/ota-device";

const DEVICE_NODE_ID = 0x0000_0000_0000_0d01n;
const PROVIDER_NODE_ID = 0x0000_0000_0000_0e02n;
const VENDOR_ID = 0xfff1;
const PRODUCT_ID = 0x8000;
const fixture = join(import.meta.dirname, "fixtures/ota-device.ts");
const work = mkdtempSync(join(tmpdir(), "matter-xs-ota-requestor-"));
const signingKey = sha256(utf8Encode("requestor test firmware-signing key"));
const otherKey = sha256(utf8Encode("requestor test other key"));

let authority: FabricAuthority;
let device: NodeCredentials;
let provider: TestOtaProvider;

before(async () => {
  authority = await FabricAuthority.create(0x0000_0000_0000_0f0fn);
  device = await authority.issue(DEVICE_NODE_ID);
  provider = await TestOtaProvider.start(authority, await authority.issue(PROVIDER_NODE_ID), [DEVICE_NODE_ID]);
});
after(() => {
  // A failed assertion leaves its device running: end every one, or the test process never exits.
  for (const process of running) process.kill();
  provider?.close();
  rmSync(work, { recursive: true, force: true });
});

/** A simulator "firmware": its version line, then filler (see the fixture). */
function firmware(version: number, size: number, seed = version): Uint8Array {
  const line = utf8Encode(`MXSIM-FIRMWARE ${JSON.stringify({ softwareVersion: version, softwareVersionString: `${version}.0` })}\n`);
  const filler = new Uint8Array(size - line.length).map((_, i) => (i * 131 + seed * 17) & 0xff);
  return concatBytes(line, filler);
}

interface ImageOptions {
  headerVersion?: number;
  vendorId?: number;
  key?: Uint8Array;
  mutate?: (file: Uint8Array, headerLength: number) => Uint8Array;
}

function image(version: number, payload: Uint8Array, options: ImageOptions = {}): ProviderImage {
  const header = encodeOtaHeader(
    { vendorId: options.vendorId ?? VENDOR_ID, productId: PRODUCT_ID, softwareVersion: options.headerVersion ?? version, softwareVersionString: `${version}.0`, payloadSize: payload.length },
    sha256(payload),
    (message) => ecdsaSign(options.key ?? signingKey, message),
  );
  let file = concatBytes(header, payload);
  if (options.mutate) file = options.mutate(file, header.length);
  return { file, version, versionString: `${version}.0`, vendorId: VENDOR_ID, productId: PRODUCT_ID };
}

type Event = Record<string, any>;
const running = new Set<DeviceProcess>();

class DeviceProcess {
  readonly events: Event[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;
  private waiters: (() => void)[] = [];
  stderr = "";

  constructor(configPath: string) {
    this.child = spawn(process.execPath, ["--import", "tsx", fixture, configPath], { stdio: ["pipe", "pipe", "pipe"] });
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      this.events.push(JSON.parse(line));
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.child.stderr.on("data", (chunk) => {
      this.stderr += chunk;
      if (process.env.MXS_DEBUG) process.stderr.write(chunk);
    });
    running.add(this);
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => {
      running.delete(this);
      resolve(code);
      for (const wake of this.waiters.splice(0)) wake();
    }));
  }

  async waitFor(predicate: (event: Event) => boolean, what: string, timeoutMs = 60_000): Promise<Event> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(predicate);
      if (found) return found;
      if (this.child.exitCode !== null) assert.fail(`device exited (${this.child.exitCode}) before ${what}\n${this.stderr.slice(-3000)}`);
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}\n${this.stderr.slice(-3000)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  check(): void {
    this.child.stdin.write("check\n");
  }

  /** The outcome of the next check. */
  async checkOutcome(): Promise<Event> {
    const seen = this.events.length;
    this.check();
    return this.waitFor((event) => event.event === "outcome" && this.events.indexOf(event) >= seen, "a check's outcome");
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }

  eventsAfter(index: number, name: string): Event[] {
    return this.events.slice(index).filter((event) => event.event === name);
  }
}

function setup(name: string): { directory: string; configPath: string; start: () => Promise<DeviceProcess> } {
  const directory = join(work, name);
  const configPath = join(work, `${name}.json`);
  const config: DeviceConfig = {
    directory,
    providerPort: provider.port,
    providerNodeId: `0x${PROVIDER_NODE_ID.toString(16)}`,
    vendorId: VENDOR_ID,
    productId: PRODUCT_ID,
    signingKey: toHex(publicKeyFromPrivate(signingKey)),
    fabric: {
      rcac: toHex(authority.rcac),
      ...(device.icac ? { icac: toHex(device.icac) } : {}),
      noc: toHex(device.noc),
      key: toHex(device.key.privateKey),
      ipkEpochKey: toHex(authority.ipkEpochKey),
    },
    factoryFirmware: toHex(firmware(1, 4000)),
    transferTimeoutMs: 1500,
  };
  writeFileSync(configPath, JSON.stringify(config));
  return {
    directory,
    configPath,
    async start() {
      const process = new DeviceProcess(configPath);
      await process.waitFor((event) => event.event === "started" || event.event === "crashed", "the device to start");
      return process;
    },
  };
}

function slotErased(directory: string, slot: string): boolean {
  return readFileSync(join(directory, "flash", `${slot}.bin`)).every((byte) => byte === 0xff);
}

test("an update end to end: query, download with progress, apply, restart, confirm, NotifyUpdateApplied", async () => {
  const { directory, start } = setup("update");
  const payload = firmware(2, 200_000);
  provider.behave({});
  provider.offer(image(2, payload));
  const first = await start();
  const booted = first.events.find((e) => e.event === "booted")!;
  assert.deepEqual([booted.slot, booted.softwareVersion, booted.pending], ["ota_0", 1, false]);
  first.check();
  assert.equal(await first.exited, 3, "the device restarted itself");
  const progress = first.eventsAfter(0, "progress").map((e) => e.percent).filter((p) => p !== null);
  assert.ok(progress.length >= 10, `progress was reported (${progress.join(",")})`);
  assert.deepEqual(progress, [...progress].sort((a, b) => a - b), "progress only grows");
  assert.equal(progress[progress.length - 1], 100);
  const states = first.eventsAfter(0, "stateTransition").map((e) => [e.fields.previousState, e.fields.newState, e.fields.reason, e.fields.targetSoftwareVersion]);
  assert.deepEqual(states, [
    [UpdateState.Idle, UpdateState.Querying, ChangeReason.Success, null],
    [UpdateState.Querying, UpdateState.Downloading, ChangeReason.Success, 2],
    [UpdateState.Downloading, UpdateState.Applying, ChangeReason.Success, 2],
  ]);
  assert.equal(provider.applies.length, 1);
  assert.deepEqual(provider.applies[0]!.updateToken, provider.tokens[0]);
  assert.deepEqual(new Uint8Array(readFileSync(join(directory, "flash", "ota_1.bin")).subarray(0, payload.length)), payload);

  const second = await start();
  const rebooted = second.events.find((e) => e.event === "booted")!;
  assert.deepEqual([rebooted.slot, rebooted.softwareVersion, rebooted.pending], ["ota_1", 2, true], "the new image runs on trial");
  const started = second.events.find((e) => e.event === "started")!;
  assert.equal(started.pending, false, "it confirmed itself");
  const applied = second.eventsAfter(0, "versionApplied");
  assert.deepEqual(applied.map((e) => e.fields), [{ softwareVersion: 2, productId: PRODUCT_ID }]);
  assert.equal(provider.notified.length, 1);
  assert.deepEqual(provider.notified[0]!.updateToken, provider.tokens[0]);
  assert.equal(provider.notified[0]!.softwareVersion, 2);
  second.kill();
  await second.exited;

  const third = await start();
  const again = third.events.find((e) => e.event === "booted")!;
  assert.deepEqual([again.slot, again.softwareVersion, again.pending], ["ota_1", 2, false], "the update stays");
  assert.equal(third.eventsAfter(0, "versionApplied").length, 0);
  assert.equal(provider.notified.length, 1, "NotifyUpdateApplied once");
  assert.equal((await third.checkOutcome()).outcome, "not-available", "the provider has nothing newer than 2");
  third.kill();
  await third.exited;
  provider.notified.length = 0;
  provider.applies.length = 0;
});

test("refused images: the old image keeps running, the slot is erased, DownloadError says why", async () => {
  const { directory, start } = setup("refusals");
  const payload = firmware(2, 60_000);
  const truncate = (file: Uint8Array) => file.subarray(0, file.length - 5000);
  const flip = (at: (length: number, headerLength: number) => number) => (file: Uint8Array, headerLength: number) => {
    const changed = file.slice();
    changed[at(file.length, headerLength)]! ^= 0x20;
    return changed;
  };
  const headerSizeLie = (file: Uint8Array) => {
    const changed = file.slice();
    const view = new DataView(changed.buffer);
    view.setUint32(12, view.getUint32(12, true) - 2, true);
    return changed;
  };
  const cases: [string, ProviderImage, number][] = [
    ["bad signature", image(2, payload, { mutate: flip((_, headerLength) => headerLength - 20) }), OtaFault.badSignature],
    ["signature by another key", image(2, payload, { key: otherKey }), OtaFault.badSignature],
    ["wrong vendor in the image", image(2, payload, { vendorId: 0xfff2 }), OtaFault.wrongVendor],
    ["an older version than offered", image(2, payload, { headerVersion: 1 }), OtaFault.unexpectedVersion],
    ["truncated payload", image(2, payload, { mutate: truncate }), OtaFault.sizeMismatch],
    ["digest mismatch", image(2, payload, { mutate: flip((length) => length - 100) }), OtaFault.digestMismatch],
    ["header size lies", image(2, payload, { mutate: headerSizeLie }), OtaFault.malformedHeader],
  ];
  provider.behave({});
  const process = await start();
  for (const [name, offered, fault] of cases) {
    provider.offer(offered);
    const before = process.events.length;
    const outcome = await process.checkOutcome();
    assert.equal(outcome.outcome, "failed", name);
    assert.equal(outcome.updateState, UpdateState.Idle, name);
    const errors = process.eventsAfter(before, "downloadError");
    assert.equal(errors.length, 1, `${name}: one DownloadError`);
    assert.equal(Number(errors[0]!.fields.platformCode), fault, `${name}: PlatformCode`);
    assert.equal(errors[0]!.fields.softwareVersion, 2);
    const last = process.eventsAfter(before, "stateTransition").at(-1)!;
    assert.deepEqual([last.fields.newState, last.fields.reason], [UpdateState.Idle, ChangeReason.Failure], name);
    assert.ok(slotErased(directory, "ota_1"), `${name}: slot erased`);
  }
  // Offered versions that are not newer are refused before any download.
  const transfers = provider.transfers.length;
  provider.offer({ ...image(2, payload), version: 1 });
  assert.equal((await process.checkOutcome()).outcome, "not-available", "the provider itself sees nothing newer");
  assert.equal(provider.transfers.length, transfers);
  assert.equal(process.eventsAfter(0, "reboot").length, 0, "never restarted");
  assert.equal(provider.applies.length, 0, "never asked to apply");
  process.kill();
  await process.exited;
  const after = await start();
  assert.deepEqual([after.events[0]!.slot, after.events[0]!.softwareVersion], ["ota_0", 1], "still the old image");
  after.kill();
  await after.exited;
});

test("a provider that stalls mid-transfer: the requestor times out, the slot is erased", async () => {
  const { directory, start } = setup("stall");
  provider.offer(image(2, firmware(2, 80_000)));
  provider.behave({ stallAfterBytes: 30_000 });
  const process = await start();
  const before = process.events.length;
  assert.equal((await process.checkOutcome()).outcome, "failed");
  const error = process.eventsAfter(before, "downloadError")[0]!;
  assert.equal(Number(error.fields.platformCode), OtaFault.transferFailed);
  assert.ok(Number(error.fields.bytesDownloaded) >= 30_000 && Number(error.fields.bytesDownloaded) < 40_000, `bytes ${error.fields.bytesDownloaded}`);
  const last = process.eventsAfter(before, "stateTransition").at(-1)!;
  assert.equal(last.fields.reason, ChangeReason.TimeOut);
  assert.ok(slotErased(directory, "ota_1"));
  process.kill();
  await process.exited;
  provider.behave({});
});

test("killed during the download: the next start resumes where the record says, and the update completes", async () => {
  const { start } = setup("kill-download");
  const payload = firmware(2, 240_000);
  provider.offer(image(2, payload));
  provider.behave({ blockDelayMs: 3 });
  const first = await start();
  const transfersBefore = provider.transfers.length;
  first.check();
  const killAt = 90_000 + Math.floor(Math.random() * 90_000);
  const deadline = Date.now() + 60_000;
  while ((provider.transfers[transfersBefore]?.bytes ?? 0) < killAt && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  first.kill();
  await first.exited;
  provider.behave({});
  const second = await start();
  assert.equal(second.events.find((e) => e.event === "booted")!.softwareVersion, 1);
  second.check();
  assert.equal(await second.exited, 3);
  const resumed = provider.transfers[transfersBefore + 1]!;
  assert.ok(resumed.startOffset > 64 * 1024 && resumed.startOffset <= killAt + 200, `resumed at ${resumed.startOffset} after a kill at ~${killAt}`);
  assert.ok(resumed.completed);
  const third = await start();
  assert.deepEqual([third.events[0]!.slot, third.events[0]!.softwareVersion], ["ota_1", 2]);
  await third.waitFor((e) => e.event === "versionApplied", "VersionApplied");
  third.kill();
  await third.exited;
  provider.notified.length = 0;
  provider.applies.length = 0;
});

test("killed while the provider holds the apply: the next start applies the verified image without downloading it again", async () => {
  const { start } = setup("kill-apply");
  provider.offer(image(2, firmware(2, 50_000)));
  provider.behave({ holdApply: true });
  const first = await start();
  const transfers = provider.transfers.length;
  first.check();
  await first.waitFor((e) => e.event === "stateTransition" && e.fields.newState === UpdateState.Applying, "Applying");
  while (provider.applies.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  first.kill();
  await first.exited;
  provider.behave({});
  const second = await start();
  assert.equal(second.events[0]!.slot, "ota_0");
  second.check();
  assert.equal(await second.exited, 3);
  assert.equal(provider.transfers.length, transfers + 1, "no second transfer: the verified image was found in the slot");
  const third = await start();
  assert.deepEqual([third.events[0]!.slot, third.events[0]!.softwareVersion], ["ota_1", 2]);
  third.kill();
  await third.exited;
  provider.notified.length = 0;
  provider.applies.length = 0;
});

test("an image that never starts is rolled back on the next boot, and the attempt reported", async () => {
  const { start } = setup("rollback");
  // Correctly signed, but not a firmware the simulator can start.
  const broken = new Uint8Array(30_000).fill(0x42);
  provider.offer(image(2, broken));
  provider.behave({});
  const first = await start();
  first.check();
  assert.equal(await first.exited, 3);
  const crashed = await start();
  assert.equal(crashed.events.find((e) => e.event === "crashed")?.slot, "ota_1");
  assert.equal(await crashed.exited, 4);
  const back = await start();
  const booted = back.events.find((e) => e.event === "booted")!;
  assert.deepEqual([booted.slot, booted.softwareVersion, booted.pending, booted.record.rejected], ["ota_0", 1, false, "ota_1"]);
  const rollback = back.eventsAfter(0, "stateTransition");
  assert.deepEqual(rollback.map((e) => [e.fields.previousState, e.fields.newState, e.fields.reason, e.fields.targetSoftwareVersion]), [[UpdateState.RollingBack, UpdateState.Idle, ChangeReason.Failure, 2]]);
  assert.equal(back.eventsAfter(0, "versionApplied").length, 0);
  assert.equal(provider.notified.length, 0, "no NotifyUpdateApplied for an image that did not run");
  back.kill();
  await back.exited;
  provider.applies.length = 0;
});

test("AnnounceOTAProvider from the provider makes the device query it", async () => {
  const { start } = setup("announce");
  provider.offer(undefined);
  const process = await start();
  const port = process.events.find((e) => e.event === "started")!.port as number;
  const queries = provider.queries.length;
  const { session } = await provider.stack.establishCase({ fabricIndex: 1, peerNodeId: DEVICE_NODE_ID, peerAddress: udpPeer("127.0.0.1", port) });
  const exchange = provider.stack.exchanges.initiate(session);
  const fields = (w: TlvWriter, tag: TlvTag) => {
    w.startStructure(tag).uint(0, PROVIDER_NODE_ID).uint(1, VENDOR_ID).uint(2, 1).uint(4, 0).end();
  };
  exchange.send(INTERACTION_MODEL_PROTOCOL_ID, Opcode.InvokeRequest, encodeInvokeRequest({ suppressResponse: false, timedRequest: false, invokeRequests: [{ path: { endpoint: 0, cluster: 0x2a, command: 0 }, fields }] }));
  const reply = await exchange.nextMessage(10_000);
  exchange.close();
  assert.equal(reply.opcode, Opcode.InvokeResponse);
  const { invokeResponses } = decodeInvokeResponse(reply.payload);
  assert.equal(invokeResponses[0]!.status?.status.status, 0, "AnnounceOTAProvider succeeded");
  const deadline = Date.now() + 20_000;
  while (provider.queries.length === queries && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(provider.queries.length, queries + 1, "the device queried the announcing provider");
  const query = provider.queries.at(-1)!;
  assert.deepEqual([query.vendorId, query.productId, query.softwareVersion, query.protocolsSupported], [VENDOR_ID, PRODUCT_ID, 1, [0]]);
  process.kill();
  await process.exited;
});

test("the cluster: one default provider per fabric, other fabrics' entries kept; announcements checked", async () => {
  const platform = new NodePlatform({ boot: true });
  const requestor = new OtaRequestor({
    exchanges: undefined as never,
    connect: () => Promise.reject(new Error("offline")),
    clock: platform.clock,
    storage: platform.storage,
    flash: platform.flash,
    boot: platform.boot!,
    reboot: () => {},
    vendorId: VENDOR_ID,
    productId: PRODUCT_ID,
    signingKey: publicKeyFromPrivate(signingKey),
    softwareVersion: 1,
    queryIntervalMs: 0,
  });
  const providers = OtaSoftwareUpdateRequestor.attributes.find((a) => a.id === RequestorAttribute.DefaultOtaProviders)!;
  const context = (fabricIndex: number) => ({ fabricIndex, timed: false });
  const entry = (fabricIndex: number, node: bigint) => ({ providerNodeId: node, endpoint: 0, fabricIndex });
  requestor.writeAttribute(providers, [entry(1, 0x11n)], context(1));
  requestor.writeAttribute(providers, [entry(2, 0x22n)], context(2));
  requestor.writeAttribute(providers, [entry(1, 0x33n)], context(1));
  assert.deepEqual(requestor.defaultOtaProviders, [entry(2, 0x22n), entry(1, 0x33n)]);
  assert.throws(() => requestor.writeAttribute(providers, [entry(1, 0x44n), entry(1, 0x55n)], context(1)), (error) => error instanceof StatusError && error.status === 0x87);
  requestor.writeAttribute(providers, [], context(2));
  assert.deepEqual(requestor.defaultOtaProviders, [entry(1, 0x33n)]);
  // Removing a fabric removes its entry (fabric-scoped data), and only its own.
  requestor.writeAttribute(providers, [entry(2, 0x22n)], context(2));
  requestor.removeFabric(1);
  assert.deepEqual(requestor.defaultOtaProviders, [entry(2, 0x22n)]);
  requestor.removeFabric(1);
  assert.deepEqual(requestor.defaultOtaProviders, [entry(2, 0x22n)]);
  requestor.writeAttribute(providers, [entry(1, 0x33n)], context(1));
  requestor.writeAttribute(providers, [], context(2));
  const announce = OtaSoftwareUpdateRequestor.commands[0]!;
  const invokeContext = { fabricIndex: 1, timed: false, endpoint: 0, afterResponse: () => {} };
  assert.throws(() => requestor.invoke(announce, { providerNodeId: 1n, vendorId: 1, announcementReason: 3, endpoint: 0 }, invokeContext), (error) => error instanceof StatusError && error.status === 0x87);
  assert.equal(await requestor.checkForUpdate(), "failed", "no reachable provider");
  assert.equal(requestor.updateState, UpdateState.Idle);
  platform.close();
});
