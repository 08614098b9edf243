// `matter-xs firmware`: builds the simulator's firmware from source, with a version baked in, as
// the application image a simulator boot slot holds (hosts/sim/app-image.ts). That file is the
// payload of an OTA image for the simulator: `matter-xs ota create --payload FILE ...`.
import { renameSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { buildFirmwareApp } from "../sim/simulator";
import { readSimulatorApp } from "../sim/app-image";
import { CliError, integerOption, parseCommandLine } from "./args";

const USAGE = `usage: matter-xs firmware --version N --version-string TEXT --out FILE [--minify]

Builds the simulator's firmware (src/ and the XS bridge, bundled for the XS engine) with
SoftwareVersion N and SoftwareVersionString TEXT baked in, and writes it as a simulator
application image: the payload of an OTA image that updates a simulated device
(matter-xs ota create --payload FILE ...). --minify makes it about half the size.`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseCommandLine(args, {
    version: { type: "string" },
    "version-string": { type: "string" },
    out: { type: "string" },
    minify: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const softwareVersion = integerOption("version", values.version, 0, 0xffffffff);
  const softwareVersionString = values["version-string"];
  if (softwareVersion === undefined || softwareVersionString === undefined || values.out === undefined) {
    throw new CliError(`--version, --version-string and --out are required\n\n${USAGE}`);
  }
  const length = new TextEncoder().encode(softwareVersionString).length;
  if (length < 1 || length > 64) throw new CliError(`--version-string must be 1 to 64 bytes (got ${length})`);
  const image = await buildFirmwareApp({ softwareVersion, softwareVersionString }, values.minify === true);
  const out = resolve(values.out);
  const temporary = `${out}.tmp`;
  writeFileSync(temporary, image);
  renameSync(temporary, out);
  const app = readSimulatorApp(image);
  console.log(`${out}: simulator firmware ${app.softwareVersionString} (version ${app.softwareVersion}), ${image.length} bytes, firmware SHA-256 ${app.sha256}`);
  return 0;
}
