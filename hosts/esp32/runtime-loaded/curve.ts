// Stands in for src/crypto/curve on the device: the real module, the manifest's
// "src/crypto/curve-runtime", builds noble's P-256 and its tables into RAM at the first use,
// because noble writes state into them on every use (see src/crypto/curve.ts). Everything that
// imports src/crypto/curve is preloaded against this proxy, which forwards each property read.
import Modules from "modules";
import type { p256 as RuntimeP256 } from "../../../src/crypto/curve";

const RUNTIME_MODULE = "src/crypto/curve-runtime";

export const p256: typeof RuntimeP256 = new Proxy(Object.freeze({}) as typeof RuntimeP256, {
  get: (_target, key) => (Modules.importNow(RUNTIME_MODULE) as { p256: typeof RuntimeP256 }).p256[key as keyof typeof RuntimeP256],
});
