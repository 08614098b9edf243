// The Node platform of the simulator: clock, entropy, key-value stores, NOR flash, UDP.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DirectoryStore, FlashError, MemoryStore, NodeClock, NodeEntropy, NodeNetwork, NodePlatform, SimulatedFlash } from "../hosts/sim/platform/node";
import type { UdpEndpoint } from "../src/platform";
import { repositoryRoot } from "./portable/vectors";

function temporaryDirectory(): string {
  return mkdtempSync(join(tmpdir(), "matter-xs-platform-"));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("NodeClock", () => {
  it("is monotonic and fires timers after their delay, unless cleared", async () => {
    const clock = new NodeClock();
    const start = clock.now();
    let previous = start;
    for (let i = 0; i < 1000; i++) {
      const now = clock.now();
      assert.ok(now >= previous);
      previous = now;
    }
    const fired: number[] = [];
    clock.setTimer(30, () => fired.push(clock.now() - start));
    const cancelled = clock.setTimer(10, () => fired.push(-1));
    clock.clearTimer(cancelled);
    await sleep(80);
    assert.equal(fired.length, 1);
    assert.ok(fired[0]! >= 29, `timer fired after ${fired[0]} ms`);
    assert.throws(() => clock.setTimer(-1, () => {}), RangeError);
  });
});

describe("NodeEntropy", () => {
  it("fills buffers with fresh random bytes", () => {
    const entropy = new NodeEntropy();
    const a = new Uint8Array(32);
    const b = new Uint8Array(32);
    entropy.fill(a);
    entropy.fill(b);
    assert.notDeepEqual(a, new Uint8Array(32));
    assert.notDeepEqual(a, b);
  });
});

describe("key-value stores", () => {
  for (const kind of ["memory", "directory"] as const) {
    it(`${kind}: set, get, delete, keys by prefix, values copied`, () => {
      const directory = temporaryDirectory();
      try {
        const store = kind === "memory" ? new MemoryStore() : new DirectoryStore(directory);
        assert.equal(store.get("missing"), undefined);
        const value = new Uint8Array([1, 2, 3]);
        store.set("fabric/1", value);
        value[0] = 99;
        assert.deepEqual(store.get("fabric/1"), new Uint8Array([1, 2, 3]));
        const read = store.get("fabric/1")!;
        read[1] = 77;
        assert.deepEqual(store.get("fabric/1"), new Uint8Array([1, 2, 3]));
        store.set("fabric/2", new Uint8Array(0));
        store.set("..", new Uint8Array([5]));
        store.set("ünï", new Uint8Array([6]));
        store.set("counter", new Uint8Array([7]));
        assert.deepEqual(store.keys("fabric/"), ["fabric/1", "fabric/2"]);
        assert.deepEqual(store.keys(""), ["..", "counter", "fabric/1", "fabric/2", "ünï"]);
        assert.deepEqual(store.get("fabric/2"), new Uint8Array(0));
        assert.deepEqual(store.get(".."), new Uint8Array([5]));
        assert.deepEqual(store.get("ünï"), new Uint8Array([6]));
        store.set("counter", new Uint8Array([8, 9]));
        assert.deepEqual(store.get("counter"), new Uint8Array([8, 9]));
        store.delete("counter");
        store.delete("counter");
        assert.equal(store.get("counter"), undefined);
        assert.deepEqual(store.keys("c"), []);
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    });

    it(`${kind}: enforces NVS-sized limits`, () => {
      const directory = temporaryDirectory();
      try {
        const store = kind === "memory" ? new MemoryStore() : new DirectoryStore(directory);
        assert.equal(store.maxKeyLength, 15);
        assert.equal(store.maxValueLength, 4000);
        assert.throws(() => store.set("a".repeat(16), new Uint8Array(1)), /longer than 15/);
        assert.throws(() => store.set("", new Uint8Array(1)), /non-empty/);
        assert.throws(() => store.set("big", new Uint8Array(4001)), /4001 bytes/);
        store.set("a".repeat(15), new Uint8Array(4000));
        assert.equal(store.get("a".repeat(15))!.length, 4000);
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    });
  }

  it("directory: survives reopening, keeps one file per key, drops uncommitted temporary files", () => {
    const directory = temporaryDirectory();
    try {
      const first = new DirectoryStore(directory);
      first.set("a/b", new Uint8Array([1]));
      first.set("k", new Uint8Array([2]));
      assert.deepEqual(readdirSync(directory).sort(), ["a%2fb", "k"]);
      // A crash between writing the temporary file and renaming it leaves the old value in place.
      writeFileSync(join(directory, "k.tmp"), new Uint8Array([9, 9, 9]));
      const second = new DirectoryStore(directory);
      assert.deepEqual(second.get("k"), new Uint8Array([2]));
      assert.deepEqual(second.get("a/b"), new Uint8Array([1]));
      assert.equal(existsSync(join(directory, "k.tmp")), false);
      assert.deepEqual(second.keys(""), ["a/b", "k"]);
      // Stray files that no key maps to are not reported as keys.
      writeFileSync(join(directory, "README.txt"), "x");
      assert.deepEqual(second.keys(""), ["a/b", "k"]);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe("SimulatedFlash", () => {
  for (const kind of ["memory", "files"] as const) {
    it(`${kind}: NOR semantics — erased reads 0xFF, writes only to erased bytes, block-aligned erase`, () => {
      const directory = temporaryDirectory();
      try {
        const flash = new SimulatedFlash({ layout: { factory: 8192, ota_0: 16384 }, ...(kind === "files" ? { directory } : {}) });
        assert.equal(flash.open("nvs"), undefined);
        const partition = flash.open("ota_0")!;
        assert.equal(partition.size, 16384);
        assert.equal(partition.blockSize, 4096);
        assert.deepEqual(partition.read(100, 4), new Uint8Array([0xff, 0xff, 0xff, 0xff]));
        partition.write(100, new Uint8Array([1, 2, 3]));
        assert.deepEqual(partition.read(99, 5), new Uint8Array([0xff, 1, 2, 3, 0xff]));
        assert.throws(() => partition.write(102, new Uint8Array([0, 0])), FlashError);
        assert.deepEqual(partition.read(102, 2), new Uint8Array([3, 0xff]), "a refused write changes nothing");
        assert.throws(() => partition.erase(100, 4096), /aligned/);
        assert.throws(() => partition.erase(0, 100), /aligned/);
        assert.throws(() => partition.read(16380, 5), /outside/);
        assert.throws(() => partition.write(-1, new Uint8Array(1)), /outside/);
        partition.write(4096, new Uint8Array([0x42]));
        partition.erase(0, 4096);
        assert.deepEqual(partition.read(100, 3), new Uint8Array([0xff, 0xff, 0xff]));
        assert.deepEqual(partition.read(4096, 1), new Uint8Array([0x42]), "erase stays within its blocks");
        partition.write(100, new Uint8Array([4]));
        flash.close();
        if (kind === "files") {
          const reopened = new SimulatedFlash({ layout: { factory: 8192, ota_0: 16384 }, directory });
          const again = reopened.open("ota_0")!;
          assert.deepEqual(again.read(100, 1), new Uint8Array([4]));
          assert.deepEqual(again.read(4096, 1), new Uint8Array([0x42]));
          assert.equal(readFileSync(join(directory, "ota_0.bin")).length, 16384);
          reopened.close();
          const resized = new SimulatedFlash({ layout: { ota_0: 8192 }, directory });
          assert.throws(() => resized.open("ota_0"), /16384 bytes/);
        }
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    });
  }

  it("rejects layouts that are not block multiples", () => {
    assert.throws(() => new SimulatedFlash({ layout: { factory: 1000 } }), FlashError);
    assert.throws(() => new SimulatedFlash({ layout: { "../x": 4096 } }), FlashError);
  });
});

describe("NodeNetwork UDP", () => {
  for (const [family, address] of [
    [4, "127.0.0.1"],
    [6, "::1"],
  ] as const) {
    it(`IPv${family} loopback: bind on port 0, exchange datagrams both ways`, async () => {
      const network = new NodeNetwork();
      try {
        const received: { data: Uint8Array; from: UdpEndpoint; at: string }[] = [];
        const b = network.openUdp({ family, port: 0 }, (data, from) => received.push({ data, from, at: "b" }));
        await b.ready;
        const a = network.openUdp({ family, port: 0 }, (data, from) => received.push({ data, from, at: "a" }));
        // Sent before a's bind completes: queued by dgram, not lost.
        a.send(new Uint8Array([1, 2, 3]), { address, port: b.port, family });
        await network.ready();
        assert.ok(a.port > 0 && b.port > 0 && a.port !== b.port);
        for (let i = 0; i < 50 && received.length < 1; i++) await sleep(10);
        assert.equal(received.length, 1);
        assert.equal(received[0]!.at, "b");
        assert.deepEqual(received[0]!.data, new Uint8Array([1, 2, 3]));
        assert.equal(received[0]!.from.port, a.port);
        assert.equal(received[0]!.from.family, family);
        b.send(new Uint8Array([4]), received[0]!.from);
        for (let i = 0; i < 50 && received.length < 2; i++) await sleep(10);
        assert.equal(received[1]!.at, "a");
        assert.deepEqual(received[1]!.data, new Uint8Array([4]));
        assert.throws(() => a.send(new Uint8Array(1), { address: "127.0.0.1", port: 1, family: family === 4 ? 6 : 4 }), /cannot send/);
      } finally {
        network.close();
      }
    });
  }

  it("an IPv4 and an IPv6 socket share one port; a second bind of a taken port fails visibly", async () => {
    const network = new NodeNetwork({ onError: () => {} });
    try {
      const v6 = network.openUdp({ family: 6, port: 0 }, () => {});
      await v6.ready;
      const v4 = network.openUdp({ family: 4, port: v6.port }, () => {});
      await v4.ready;
      assert.equal(v4.port, v6.port);
      const clash = network.openUdp({ family: 4, port: v6.port }, () => {});
      await assert.rejects(clash.ready, /bind/);
      clash.close();
    } finally {
      network.close();
    }
  });

  it("reports interfaces with their addresses", () => {
    const loopbackOnly = new NodeNetwork({ interfaceNames: ["lo"] }).interfaces();
    assert.equal(loopbackOnly.length, 1);
    assert.ok(loopbackOnly[0]!.addresses.some((entry) => entry.address === "127.0.0.1" && entry.family === 4));
  });

  it("joins multicast groups on a named interface (inside a private network namespace)", { timeout: 60000 }, () => {
    const namespace = `mxs-plat-${process.pid}`;
    const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });
    ip("netns", "add", namespace);
    try {
      // IPv6 multicast is not looped back on `lo`, so the namespace gets a veth pair (with an
      // IPv4 address and an immediately usable IPv6 link-local address) to join the groups on.
      const inside = (...args: string[]) => ip("netns", "exec", namespace, ...args);
      inside("sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0");
      inside("ip", "link", "set", "lo", "up");
      inside("ip", "link", "add", "mxa", "type", "veth", "peer", "name", "mxb");
      inside("ip", "addr", "add", "10.254.0.1/24", "dev", "mxa");
      inside("ip", "link", "set", "mxb", "up");
      inside("ip", "link", "set", "mxa", "up");
      const script = join(repositoryRoot, "test/fixtures/multicast-probe.ts");
      const run = spawnSync("ip", ["netns", "exec", namespace, process.execPath, "--import", "tsx", script, "mxa"], {
        cwd: repositoryRoot,
        encoding: "utf8",
        timeout: 30000,
      });
      assert.equal(run.status, 0, `probe failed: ${run.stdout}\n${run.stderr}`);
      assert.deepEqual(JSON.parse(run.stdout.trim()), { ipv4: "hello-224.0.0.251", ipv6: "hello-ff02::fb" });
    } finally {
      ip("netns", "del", namespace);
    }
  });
});

describe("NodePlatform", () => {
  it("keeps state in a directory across instances, calls the reboot callback, filters log levels", () => {
    const directory = temporaryDirectory();
    try {
      const lines: string[] = [];
      let reboots = 0;
      const platform = new NodePlatform({ directory, onReboot: () => reboots++, log: (level, message) => lines.push(`${level}:${message}`) });
      platform.storage.set("k", new Uint8Array([1]));
      platform.flash.open("factory")!.write(0, new Uint8Array([0x4d]));
      platform.reboot();
      assert.equal(reboots, 1);
      assert.equal(platform.rebootRequests, 1);
      assert.deepEqual(lines, ["info:reboot requested"]);
      platform.close();
      const again = new NodePlatform({ directory });
      assert.deepEqual(again.storage.get("k"), new Uint8Array([1]));
      assert.deepEqual(again.flash.open("factory")!.read(0, 2), new Uint8Array([0x4d, 0xff]));
      again.close();
      const volatile = new NodePlatform();
      assert.equal(volatile.storage.get("k"), undefined);
      volatile.close();
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
