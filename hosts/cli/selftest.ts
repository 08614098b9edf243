// `matter-xs selftest`: runs every conformance vector suite inside the XS engine and prints a
// line per suite. It is what `npm start` shows until there is a device to run.
import { relative } from "node:path";
import { runSuiteModuleInXs } from "../../test/portable/xs";
import { suiteModules } from "../../test/portable/suites";
import { repositoryRoot } from "../../test/portable/vectors";
import { parseCommandLine } from "./args";

export async function run(args: string[]): Promise<number> {
  parseCommandLine(args, {});
  let passed = 0;
  let failed = 0;
  for (const module of suiteModules()) {
    const run = await runSuiteModuleInXs(module);
    const failures = run.results.filter((result) => !result.passed);
    passed += run.results.length - failures.length;
    failed += failures.length + (run.finished ? 0 : 1);
    console.log(`${failures.length === 0 && run.finished ? "ok  " : "FAIL"} ${relative(repositoryRoot, module)}: ${run.results.length - failures.length}/${run.results.length} in XS`);
    for (const failure of failures) console.log(`     ${failure.suite}: ${failure.name}\n       ${failure.error?.split("\n")[0]}`);
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}
