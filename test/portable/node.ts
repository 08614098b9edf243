// Registers portable suites with node:test, reading vectors from the file system.
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import type { PortableSuite, TestContext, VectorSource } from "./harness";
import { vectorPath } from "./vectors";

export function fileVectors(): VectorSource {
  const bytes = (path: string) => new Uint8Array(readFileSync(vectorPath(path)));
  return {
    bytes,
    text: (path) => new TextDecoder().decode(bytes(path)),
    json: (path) => JSON.parse(new TextDecoder().decode(bytes(path))),
  };
}

export function registerOnNode(suites: PortableSuite[]): void {
  const context: TestContext = { vectors: fileVectors(), engine: "node" };
  for (const portable of suites) {
    describe(`${portable.name} [node]`, () => {
      for (const test of portable.tests) it(test.name, () => test.body(context));
    });
  }
}
