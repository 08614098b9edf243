// Entry of the `matter-xs` command line. Each subcommand lives in its own module and is loaded
// only when used. Usage errors and bad input exit with code 2 and a message naming the problem.
import { CliError } from "./args";

interface Subcommand {
  summary: string;
  load: () => Promise<{ run(args: string[]): Promise<number> | number }>;
}

const subcommands: Record<string, Subcommand> = {
  sim: { summary: "run the simulated device (the firmware on the XS engine) until Ctrl-C", load: () => import("./sim") },
  selftest: { summary: "run the conformance vector suites inside the XS engine", load: () => import("./selftest") },
  payload: { summary: "encode or decode onboarding payloads (QR code, manual pairing code)", load: () => import("./payload") },
  mfg: { summary: "provision devices: DAC, CD, passcode verifier, factory partition image", load: () => import("./mfg") },
  cert: { summary: "convert (X.509 DER/PEM <-> Matter TLV) and inspect certificates", load: () => import("./cert") },
  ota: { summary: "create and inspect signed OTA images", load: () => import("./ota") },
  firmware: { summary: "build the simulator's firmware image (the payload of an OTA image for it)", load: () => import("./firmware") },
};

function usage(): string {
  const lines = ["usage: matter-xs <command> [options]", "", "commands:"];
  for (const [name, command] of Object.entries(subcommands)) lines.push(`  ${name.padEnd(10)} ${command.summary}`);
  lines.push("", "matter-xs <command> --help shows a command's options.");
  return lines.join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = subcommands[name];
  if (!command) {
    console.error(`matter-xs: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    const module = await command.load();
    return await module.run(rest);
  } catch (error) {
    if (error instanceof CliError) {
      console.error(`matter-xs ${name}: ${error.message}`);
      return 2;
    }
    throw error;
  }
}
