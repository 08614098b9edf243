// Runs portable suites inside the XS engine. The host evaluates the bundle, then calls
// globalThis.portableRun() and, once the engine's job queue has drained, portableResults().
import type { PortableSuite, TestContext, VectorSource } from "./harness";

declare function issueCommand(request: ArrayBuffer): ArrayBuffer;

export interface XsTestResult {
  suite: string;
  name: string;
  passed: boolean;
  error?: string;
  milliseconds: number;
}

function ask(request: object): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify(request));
  return new Uint8Array(issueCommand(bytes.buffer as ArrayBuffer));
}

const hostVectors: VectorSource = {
  bytes: (path) => ask({ op: "vector", path }),
  text: (path) => new TextDecoder().decode(ask({ op: "vector", path })),
  json: (path) => JSON.parse(new TextDecoder().decode(ask({ op: "vector", path }))),
};

export function installXsRunner(suites: PortableSuite[]): void {
  const results: XsTestResult[] = [];
  let finished = false;
  const context: TestContext = { vectors: hostVectors, engine: "xs" };
  const global = globalThis as Record<string, unknown>;
  global.portableRun = () => {
    (async () => {
      for (const portable of suites) {
        for (const test of portable.tests) {
          const started = Date.now();
          try {
            await test.body(context);
            results.push({ suite: portable.name, name: test.name, passed: true, milliseconds: Date.now() - started });
          } catch (error) {
            const message = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ""}` : String(error);
            results.push({ suite: portable.name, name: test.name, passed: false, error: message, milliseconds: Date.now() - started });
          }
        }
      }
      finished = true;
    })();
  };
  global.portableResults = () => {
    const report = JSON.stringify({ finished, results });
    return new TextEncoder().encode(report).buffer;
  };
}
