// Argument parsing for the matter-xs subcommands, on node:util's parseArgs. Every problem the
// user can fix (unknown flag, bad number, missing file) is a CliError: exit code 2.
import { parseArgs, type ParseArgsConfig } from "node:util";

export class CliError extends Error {
  override name = "CliError";
}

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

export function parseCommandLine<T extends OptionSpec>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

/** Parses a decimal or 0x-prefixed integer option within [min, max]. */
export function integerOption(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new CliError(`--${name} must be an integer from ${min} to ${max} (got '${text}')`);
  }
  return value;
}
