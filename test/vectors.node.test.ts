// Every portable vector suite, on Node.
import { registerOnNode } from "./portable/node";
import { suiteModules } from "./portable/suites";
import type { PortableSuite } from "./portable/harness";

for (const module of suiteModules()) {
  const loaded = (await import(module)) as { default: PortableSuite | PortableSuite[] };
  registerOnNode(Array.isArray(loaded.default) ? loaded.default : [loaded.default]);
}
