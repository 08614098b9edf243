// The simulator's bridge between firmware inside XS and the Node platform: every platform call
// crosses it, and every event comes back through it.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleForXs } from "../hosts/sim/engine/bundle";
import { XsHost } from "../hosts/sim/bridge/host";
import { NodePlatform } from "../hosts/sim/platform/node";

const here = dirname(fileURLToPath(import.meta.url));

describe("XS bridge", () => {
  const notifications: any[] = [];
  const errors: Error[] = [];
  const platform = new NodePlatform({ logLevel: "error" });
  let host: XsHost;

  before(async () => {
    host = new XsHost({ platform, onNotify: (message) => notifications.push(message), onFirmwareError: (error) => errors.push(error) });
    await host.evaluate(await bundleForXs({ resolveDir: here, contents: `import "./fixtures/bridge-firmware";` }));
  });

  after(async () => {
    await host.stop();
    platform.close();
  });

  it("stores and reads key-value records, and reports the store's limits", async () => {
    const reply = await host.control({ op: "kv", key: "fabric1", value: [9, 8, 7] });
    assert.deepEqual(reply.value, [9, 8, 7]);
    assert.deepEqual(reply.keys, ["fabric1"]);
    assert.deepEqual(reply.limits, [platform.storage.maxKeyLength, platform.storage.maxValueLength]);
    assert.deepEqual(Array.from(platform.storage.get("fabric1")!), [9, 8, 7]);
  });

  it("turns a host-side failure into an exception inside the firmware", async () => {
    const reply = await host.control({ op: "kv-too-long" });
    assert.match(reply.error, /key/i);
  });

  it("reads, erases and writes flash partitions", async () => {
    const reply = await host.control({ op: "flash", name: "factory" });
    assert.equal(reply.size, 0x6000);
    assert.deepEqual(reply.read, [0xff, 1, 2, 3, 0xff]);
    assert.deepEqual(await host.control({ op: "flash", name: "nonexistent" }), { missing: true });
  });

  it("fills entropy from the host", async () => {
    const reply = await host.control({ op: "entropy", length: 64 });
    assert.equal(reply.length, 64);
    assert.ok(reply.distinct > 32, `64 random bytes should have many distinct values, got ${reply.distinct}`);
  });

  it("fires timers through the host clock and honours cancellation", async () => {
    await host.control({ op: "timer", ms: 40 });
    const deadline = Date.now() + 2000;
    while (!notifications.some((n) => n.fired === "timer") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const fired = notifications.find((n) => n.fired === "timer");
    assert.ok(fired, "the timer fired");
    assert.ok(fired.elapsed >= 39, `fired after ${fired.elapsed} ms`);
    assert.ok(!notifications.some((n) => n.fired === "cancelled"), "a cleared timer never fires");
  });

  it("receives and sends UDP datagrams on loopback", async () => {
    const { port } = await host.control({ op: "echo" });
    const client = createSocket("udp4");
    try {
      const reply = await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no echo")), 2000);
        client.on("message", (message) => {
          clearTimeout(timer);
          resolve(message);
        });
        client.send(Buffer.from("matter over xs"), port, "127.0.0.1");
      });
      assert.equal(reply.toString(), "MATTER OVER XS");
    } finally {
      client.close();
    }
  });

  it("reports an exception thrown by a firmware callback without stopping the engine", async () => {
    await host.control({ op: "throw-later" });
    const deadline = Date.now() + 2000;
    while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.match(errors[0]?.message ?? "", /firmware bug on purpose/);
    const reply = await host.control({ op: "entropy", length: 4 });
    assert.equal(reply.length, 4);
  });
});
