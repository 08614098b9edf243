// `matter-xs sim`: runs the simulated device until Ctrl-C. What `npm start` runs.
import { resolve } from "node:path";
import type { DeviceEvent } from "../../src/device";
import type { LogLevel } from "../../src/platform";
import { Simulator, type Engine } from "../sim/simulator";
import { CliError, integerOption, parseCommandLine } from "./args";
import { drawQrCode, formatManualCode } from "./payload";

const usage = `usage: matter-xs sim [options]

Runs the firmware on the XS engine with this machine's network, files and clock. On first run it
provisions a development identity (matter-xs mfg) into the state directory and keeps it.

  --port N              Matter UDP port (default 5540; 0 picks a free one)
  --state DIR           state directory (default .state/sim)
  --factory FILE        use this factory partition image (from matter-xs mfg)
  --engine xs|node      run the firmware on the XS engine (default) or in-process on Node
  --interface NAME      network interface for mDNS multicast (default: every interface)
  --reset               factory reset before starting (fabrics, keys and ACLs are erased)
  --passcode N          setup passcode of a newly provisioned identity
  --discriminator N     discriminator of a newly provisioned identity
  --quiet               only warnings and errors
  --debug               also debug messages`;

const levelRank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export async function run(args: string[]): Promise<number> {
  const { values } = parseCommandLine(args, {
    port: { type: "string" },
    state: { type: "string" },
    factory: { type: "string" },
    engine: { type: "string" },
    interface: { type: "string" },
    reset: { type: "boolean" },
    passcode: { type: "string" },
    discriminator: { type: "string" },
    quiet: { type: "boolean" },
    debug: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const engine = (values.engine ?? "xs") as Engine;
  if (engine !== "xs" && engine !== "node") throw new CliError(`--engine must be xs or node (got '${values.engine}')`);
  const minimum: LogLevel = values.debug ? "debug" : values.quiet ? "warn" : "info";
  const log = (level: LogLevel, message: string) => {
    if (levelRank[level] < levelRank[minimum]) return;
    const time = new Date().toISOString().slice(11, 23);
    process.stderr.write(`${time} ${level.padEnd(5)} ${message}\n`);
  };

  const simulator = await Simulator.create({
    stateDir: resolve(values.state ?? ".state/sim"),
    engine,
    port: integerOption("port", values.port, 0, 65535) ?? 5540,
    ...(values.interface ? { interfaceName: values.interface } : {}),
    ...(values.factory ? { factoryFile: resolve(values.factory) } : {}),
    ...(values.reset ? { reset: true } : {}),
    ...optional("passcode", integerOption("passcode", values.passcode, 1, 99999998)),
    ...optional("discriminator", integerOption("discriminator", values.discriminator, 0, 0xfff)),
    log,
    onEvent: (event: DeviceEvent) => log("info", `event ${JSON.stringify(event)}`),
  }).catch((error: Error) => {
    throw new CliError(error.message);
  });

  const status = await simulator.start();
  const identity = simulator.identity;
  console.log(`matter-xs simulator (${engine === "xs" ? "XS engine" : "Node"}), state in ${resolve(values.state ?? ".state/sim")}`);
  console.log(`vendor 0x${hex(identity.vendorId)} product 0x${hex(identity.productId)}, serial ${identity.serialNumber}, discriminator ${identity.discriminator}`);
  if (identity.qrPayload && identity.manualCode && identity.passcode !== undefined) {
    console.log(`QR payload:    ${identity.qrPayload}`);
    console.log(`manual code:   ${formatManualCode(identity.manualCode)}`);
    console.log(`passcode:      ${identity.passcode}`);
    if (process.stdout.isTTY) console.log(await drawQrCode(identity.qrPayload, "ansi"));
  } else {
    console.log("the factory image does not store the passcode: use the QR code printed by matter-xs mfg");
  }
  console.log(`status: ${JSON.stringify(status)}`);

  await new Promise<void>((resolveStop) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log("info", `${signal}: shutting down`);
      simulator.stop().then(resolveStop, (error: Error) => {
        log("error", `shutdown failed: ${error.message}`);
        resolveStop();
      });
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
  return 0;
}

function hex(value: number): string {
  return value.toString(16).toUpperCase().padStart(4, "0");
}

function optional<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };
}
