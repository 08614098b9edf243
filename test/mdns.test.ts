// Our mDNS responder against a querier this project did not write (matter.js's DNS-SD stack, see
// test/fixtures/mdns-querier.ts), across a real network stack: the device runs in one network
// namespace, the querier in another, joined by a veth pair. Multicast never leaves these
// namespaces; both are deleted afterwards, also on failure.
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { repositoryRoot } from "./portable/vectors";

const tag = `${process.pid % 100000}`;
const deviceNamespace = `mxs-mdns-d${tag}`;
const querierNamespace = `mxs-mdns-q${tag}`;
const deviceInterface = `mxd${tag}`;
const querierInterface = `mxq${tag}`;

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });

function createNetwork(): void {
  ip("netns", "add", deviceNamespace);
  ip("netns", "add", querierNamespace);
  ip("link", "add", deviceInterface, "type", "veth", "peer", "name", querierInterface);
  ip("link", "set", deviceInterface, "netns", deviceNamespace);
  ip("link", "set", querierInterface, "netns", querierNamespace);
  for (const [namespace, name, address] of [
    [deviceNamespace, deviceInterface, "10.254.41.1/24"],
    [querierNamespace, querierInterface, "10.254.41.2/24"],
  ] as const) {
    // Link-local IPv6 addresses usable at once: no duplicate address detection on a private link.
    ip("netns", "exec", namespace, "sysctl", "-qw", `net.ipv6.conf.${name}.accept_dad=0`);
    ip("-n", namespace, "link", "set", "lo", "up");
    ip("-n", namespace, "addr", "add", address, "dev", name);
    ip("-n", namespace, "link", "set", name, "up");
  }
}

function deleteNetwork(): void {
  for (const namespace of [deviceNamespace, querierNamespace]) {
    try {
      ip("netns", "del", namespace);
    } catch {
      // not created
    }
  }
}

/** A child process inside a namespace, spoken to one JSON line at a time. */
class LineProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly replies: unknown[] = [];
  private waiting: ((reply: unknown) => void) | undefined;
  private stderr = "";

  constructor(namespace: string, script: string, interfaceName: string) {
    this.child = spawn("ip", ["netns", "exec", namespace, process.execPath, "--import", "tsx", join(repositoryRoot, script)], {
      cwd: repositoryRoot,
      env: { ...process.env, MXS_INTERFACE: interfaceName },
    });
    this.child.stderr.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-20000);
    });
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      let reply: unknown;
      try {
        reply = JSON.parse(line);
      } catch {
        return;
      }
      if (this.waiting) {
        const resolve = this.waiting;
        this.waiting = undefined;
        resolve(reply);
      } else {
        this.replies.push(reply);
      }
    });
  }

  next(timeoutMs: number): Promise<any> {
    const queued = this.replies.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`no reply within ${timeoutMs} ms; stderr:\n${this.stderr}`));
      }, timeoutMs);
      this.waiting = (reply) => {
        clearTimeout(timer);
        resolve(reply);
      };
    });
  }

  async call(command: object, timeoutMs = 20000): Promise<any> {
    this.child.stdin.write(JSON.stringify(command) + "\n");
    return this.next(timeoutMs);
  }

  get log(): string {
    return this.stderr;
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}

const RI = "0A00D00561E77A68A9FD975057375B9283A8";
const COMMISSIONABLE = { discriminator: 3840, vendorId: 0xfff1, productId: 0x8000, commissioningMode: 1, port: 5540, deviceType: 257, rotatingId: RI };
const FABRIC = "2906C908D115D362";
const NODE = "8FC7772401CD0696";

describe("mDNS responder with matter.js as the querier, in private network namespaces", { timeout: 180_000 }, () => {
  let device: LineProcess;
  let querier: LineProcess;
  let deviceAddresses: string[] = [];

  before(async () => {
    deleteNetwork();
    createNetwork();
    device = new LineProcess(deviceNamespace, "test/fixtures/mdns-device.ts", deviceInterface);
    querier = new LineProcess(querierNamespace, "test/fixtures/mdns-querier.ts", querierInterface);
    const ready = await device.next(30000);
    assert.equal(ready.ready, true);
    deviceAddresses = ready.addresses.flatMap((entry: { addresses: { address: string }[] }) => entry.addresses.map((a) => a.address));
    assert.ok(deviceAddresses.includes("10.254.41.1"), JSON.stringify(ready));
  });

  after(() => {
    device?.kill();
    querier?.kill();
    deleteNetwork();
  });

  it("is found by long discriminator, short discriminator and vendor, with its TXT and addresses", async () => {
    await device.call({ op: "commissionable", info: COMMISSIONABLE });
    const byLong = await querier.call({ op: "find", by: { longDiscriminator: 3840 }, timeoutMs: 8000 });
    assert.equal(byLong.devices?.length, 1, `${JSON.stringify(byLong)}\n${device.log}`);
    const found = byLong.devices[0];
    assert.match(found.id, /^[0-9A-F]{16}$/);
    assert.equal(found.D, 3840);
    assert.equal(found.CM, 1);
    assert.equal(found.VP, "65521+32768");
    assert.equal(found.DT, 257);
    assert.equal(found.RI, RI);
    assert.equal(found.PH, 33);
    // Both families, and only the addresses of the device's interface.
    const addresses = found.addresses.map((address: string) => address.split("%")[0]);
    assert.ok(addresses.includes("10.254.41.1"), JSON.stringify(found));
    assert.ok(addresses.some((address: string) => address.startsWith("fe80:")), JSON.stringify(found));
    assert.ok(addresses.every((address: string) => deviceAddresses.includes(address)), `${addresses} not all in ${deviceAddresses}`);

    const byShort = await querier.call({ op: "find", by: { shortDiscriminator: 15 }, timeoutMs: 5000 });
    assert.deepEqual(byShort.devices.map((d: { id: string }) => d.id), [found.id]);
    const byVendor = await querier.call({ op: "find", by: { vendorId: 0xfff1 }, timeoutMs: 5000 });
    assert.deepEqual(byVendor.devices.map((d: { id: string }) => d.id), [found.id]);
    const otherDiscriminator = await querier.call({ op: "find", by: { longDiscriminator: 3841 }, timeoutMs: 3000 });
    assert.deepEqual(otherDiscriminator.devices, []);
  });

  it("after commissioning, is found by its operational instance name", async () => {
    await device.call({ op: "operational", fabric: FABRIC, node: NODE, port: 5540 });
    const resolved = await querier.call({ op: "operational", name: `${FABRIC}-${NODE}._matter._tcp.local`, timeoutMs: 10000 });
    assert.ok(resolved.addresses?.length > 0, `${JSON.stringify(resolved)}\n${device.log}`);
    assert.ok(resolved.addresses.some((address: string) => address.split("%")[0] === "10.254.41.1" || address.startsWith("fe80:")), JSON.stringify(resolved));
    assert.equal(resolved.port, 5540);
    assert.equal(resolved.txt.SII ?? resolved.txt.sii, "500");
  });

  it("when the window closes the advertisement is withdrawn with goodbye records", async () => {
    const before = await querier.call({ op: "known", by: { longDiscriminator: 3840 } });
    assert.equal(before.devices.length, 1);
    const instance = `${before.devices[0].id}._matterc._udp.local`;
    await device.call({ op: "withdrawCommissionable" });
    // matter.js drops a record one second after its goodbye (RFC 6762 10.1).
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const { goodbyes } = await querier.call({ op: "goodbyes" });
    const said = new Set<string>(goodbyes.map(([name, type]: [string, number]) => `${name.toLowerCase()}/${type}`));
    for (const expected of [`${instance.toLowerCase()}/33`, `${instance.toLowerCase()}/16`, "_matterc._udp.local/12", "_l3840._sub._matterc._udp.local/12", "_cm._sub._matterc._udp.local/12"]) {
      assert.ok(said.has(expected), `no goodbye for ${expected}: ${[...said].join(", ")}`);
    }
    // The host stays: the operational advertisement still needs it.
    assert.ok(![...said].some((entry) => entry.endsWith("/1") || entry.endsWith("/28")), "no goodbye for the host's addresses");
    const after = await querier.call({ op: "known", by: { longDiscriminator: 3840 } });
    assert.deepEqual(after.devices, []);
    const again = await querier.call({ op: "find", by: { longDiscriminator: 3840 }, timeoutMs: 3000 });
    assert.deepEqual(again.devices, []);
  });

  it("on shutdown the operational record and the host say goodbye too", async () => {
    await device.call({ op: "close" });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const { goodbyes } = await querier.call({ op: "goodbyes" });
    const said = new Set<string>(goodbyes.map(([name, type]: [string, number]) => `${name.toLowerCase()}/${type}`));
    assert.ok(said.has(`${FABRIC}-${NODE}._matter._tcp.local/33`.toLowerCase()), [...said].join(", "));
    assert.ok([...said].some((entry) => entry.endsWith("/1")), "host A goodbye");
  });
});
