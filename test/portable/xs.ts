// Runs portable suites inside the real XS engine and registers each result with node:test, so
// a failure inside XS fails `npm test`.
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import { dirname, relative } from "node:path";
import { bundleForXs } from "../../hosts/sim/engine/bundle";
import { FREEZE_BUILTINS_AS_MODDABLE } from "../../hosts/sim/engine/freeze-builtins";
import { XsWorker } from "../../hosts/sim/engine/xsnap";
import { vectorPath } from "./vectors";
import type { XsTestResult } from "./xs-entry";

const here = dirname(new URL(import.meta.url).pathname);

export interface XsSuiteRun {
  results: XsTestResult[];
  finished: boolean;
  bundleBytes: number;
}

/** Bundles `suiteModule` (default export: PortableSuite or PortableSuite[]) and runs it in XS. */
export async function runSuiteModuleInXs(suiteModule: string): Promise<XsSuiteRun> {
  const specifier = "./" + relative(here, suiteModule).replace(/\\/g, "/");
  const source = await bundleForXs({
    resolveDir: here,
    contents: `import { installXsRunner } from "./xs-entry";\nimport suites from ${JSON.stringify(specifier)};\ninstallXsRunner(Array.isArray(suites) ? suites : [suites]);\n`,
  });
  const worker = new XsWorker({
    parserBufferKB: Math.max(8192, Math.ceil(source.length / 1024) * 2),
    handleCommand: (request) => {
      const command = JSON.parse(new TextDecoder().decode(request)) as { op: string; path?: string };
      if (command.op === "vector") return new Uint8Array(readFileSync(vectorPath(command.path!)));
      throw new Error(`unknown test host command ${command.op}`);
    },
  });
  try {
    await worker.evaluate(FREEZE_BUILTINS_AS_MODDABLE);
    await worker.evaluate(source);
    await worker.evaluate("portableRun()");
    const { result } = await worker.evaluate("portableResults()");
    const report = JSON.parse(new TextDecoder().decode(result)) as { finished: boolean; results: XsTestResult[] };
    return { ...report, bundleBytes: source.length };
  } finally {
    await worker.close();
  }
}

/** Registers one node:test test per XS result of each suite module. */
export async function registerInXs(suiteModules: string[]): Promise<void> {
  for (const module of suiteModules) {
    let run: XsSuiteRun | undefined;
    let failure: Error | undefined;
    try {
      run = await runSuiteModuleInXs(module);
    } catch (error) {
      failure = error as Error;
    }
    const label = relative(here + "/..", module);
    describe(`${label} [xs]`, () => {
      if (!run) {
        it("runs in the XS engine", () => {
          throw failure;
        });
        return;
      }
      it("completes every test in the XS engine", () => {
        if (!run!.finished) throw new Error("the suite did not finish: a promise never settled inside XS");
      });
      for (const result of run.results) {
        it(`${result.suite}: ${result.name}`, () => {
          if (!result.passed) throw new Error(result.error);
        });
      }
    });
  }
}
