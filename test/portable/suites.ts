// The portable vector suites: every test/suites/*.suite.ts, run on Node and inside XS.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { repositoryRoot } from "./vectors";

export function suiteModules(): string[] {
  const folder = join(repositoryRoot, "test/suites");
  return readdirSync(folder)
    .filter((name) => name.endsWith(".suite.ts"))
    .sort()
    .map((name) => join(folder, name));
}
