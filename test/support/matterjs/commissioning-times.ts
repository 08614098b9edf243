// Wall time of full commissioning (PASE, attestation, CSR, AddNOC, CASE, CommissioningComplete)
// by one matter.js controller, of the matter.js On/Off light and, in the same run, of any other
// device started by a command (the XS simulator), all inside a private network namespace.
//
//   npx tsx test/support/matterjs/commissioning-times.ts [--runs 3] [--port 5550]
//       [--discriminator 3840] [--passcode 20202021] [--ready <regex>] [-- <device command...>]
//
// The device command runs inside the namespace from the repository root, once per run (it must
// start uncommissioned each time). It is commissioned by 127.0.0.1:<port> when --port is given,
// otherwise by its discriminator over DNS-SD; --ready waits for a line of its output first.
// Prints one JSON object: per device, the controller's own measurement of commission() for each run.
import { MatterJsController } from "./controller";
import { sharedTestTrust } from "./credentials";
import { MatterJsDevice } from "./device";
import { NamespaceProcess } from "./namespace-process";
import { namespaceName, withNetworkNamespace } from "./netns";

interface Options {
  runs: number;
  port?: number;
  discriminator: number;
  passcode: number;
  ready?: RegExp;
  command: string[];
}

function parseOptions(argv: string[]): Options {
  const separator = argv.indexOf("--");
  const own = separator < 0 ? argv : argv.slice(0, separator);
  const options: Options = { runs: 1, discriminator: 3840, passcode: 20202021, command: separator < 0 ? [] : argv.slice(separator + 1) };
  for (let index = 0; index < own.length; index += 2) {
    const [flag, value] = [own[index], own[index + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    switch (flag) {
      case "--runs":
        options.runs = Number(value);
        break;
      case "--port":
        options.port = Number(value);
        break;
      case "--discriminator":
        options.discriminator = Number(value);
        break;
      case "--passcode":
        options.passcode = Number(value);
        break;
      case "--ready":
        options.ready = new RegExp(value);
        break;
      default:
        throw new Error(`unknown option ${flag}`);
    }
  }
  if (!Number.isInteger(options.runs) || options.runs < 1) throw new Error("--runs needs a positive integer");
  return options;
}

const options = parseOptions(process.argv.slice(2));
const times: { matterJs: number[]; command?: number[] } = { matterJs: [] };

await withNetworkNamespace(namespaceName("mxs-ct"), async (namespace) => {
  const controller = await MatterJsController.start(namespace, { ...sharedTestTrust(), interface: "lo", label: "timing" });
  try {
    for (let run = 0; run < options.runs; run++) {
      // The matter.js light gets its own discriminator and port so that it never answers for the other device.
      const light = await MatterJsDevice.start(namespace, { port: 5600, discriminator: 3999 });
      try {
        times.matterJs.push((await controller.commission({ discriminator: 3999, passcode: 20202021 })).commissioningMs);
      } finally {
        await light.stop();
      }
      if (options.command.length === 0) continue;
      const [command, ...args] = options.command as [string, ...string[]];
      const device = NamespaceProcess.start(namespace, command, args, { label: "device under test" });
      try {
        if (options.ready) await device.waitForOutput(options.ready, 120_000);
        const target =
          options.port === undefined
            ? { discriminator: options.discriminator, passcode: options.passcode, timeoutMs: 120_000 }
            : { address: "127.0.0.1", port: options.port, passcode: options.passcode, timeoutMs: 120_000 };
        (times.command ??= []).push((await controller.commission(target)).commissioningMs);
      } catch (error) {
        process.stderr.write(`--- device output ---\n${device.output}\n--- controller log ---\n${controller.log}\n`);
        throw error;
      } finally {
        await device.stop();
      }
    }
  } finally {
    await controller.stop();
  }
});

const round = (values: number[]) => values.map((value) => Math.round(value));
process.stdout.write(
  JSON.stringify({ fullCommissioningMs: { matterJsDevice: round(times.matterJs), ...(times.command ? { commandDevice: round(times.command) } : {}) } }) + "\n",
);
