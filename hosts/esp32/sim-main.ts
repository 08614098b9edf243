// The simulator (mcsim) application: runs every portable vector suite inside the Moddable SDK's
// own XS build, reading vectors from the directory given as `vectors=/path/to/shared/vectors` on
// the mcconfig command line. Prints a line per suite and a closing "N passed, N failed".
import "./globals";
import { File } from "file";
import Modules from "modules";
import config from "mc/config";
import TextDecoder from "text/decoder";
import type { PortableSuite, TestContext, VectorSource } from "../../test/portable/harness";

const SUITE_PREFIX = "test/suites/";
const SUITE_SUFFIX = ".suite";

function fileVectors(root: string): VectorSource {
  const bytes = (path: string): Uint8Array => {
    if (path.split("/").includes("..")) throw new Error(`vector path ${path} leaves the vectors directory`);
    const file = new File(`${root}/${path}`);
    try {
      return new Uint8Array(file.read(ArrayBuffer));
    } finally {
      file.close();
    }
  };
  return {
    bytes,
    text: (path) => new TextDecoder().decode(bytes(path)),
    json: (path) => JSON.parse(new TextDecoder().decode(bytes(path))),
  };
}

async function runSuites(): Promise<void> {
  const root = typeof config.vectors === "string" ? config.vectors.replace(/\/+$/, "") : "";
  if (!root) {
    trace("set the vectors directory: mcconfig ... vectors=/absolute/path/to/shared/vectors\n");
    return;
  }
  const context: TestContext = { vectors: fileVectors(root), engine: "xs" };
  const names = Modules.host.filter((name) => name.startsWith(SUITE_PREFIX) && name.endsWith(SUITE_SUFFIX)).sort();
  let passed = 0;
  let failed = 0;
  for (const name of names) {
    // Moddable's importNow answers a module's default export when it has one (every suite does).
    const exported = Modules.importNow(name) as PortableSuite | PortableSuite[];
    for (const suite of Array.isArray(exported) ? exported : [exported]) {
      let suitePassed = 0;
      for (const test of suite.tests) {
        try {
          await test.body(context);
          suitePassed++;
        } catch (error) {
          trace(`     ${suite.name}: ${test.name}\n       ${error instanceof Error ? error.message : String(error)}\n`);
        }
      }
      passed += suitePassed;
      failed += suite.tests.length - suitePassed;
      trace(`${suitePassed === suite.tests.length ? "ok  " : "FAIL"} ${name}: ${suitePassed}/${suite.tests.length} in mcsim\n`);
    }
  }
  trace(`${passed} passed, ${failed} failed\n`);
}

export default function main(): void {
  runSuites().catch((error: unknown) => trace(`self-test aborted: ${String(error)}\n`));
}
