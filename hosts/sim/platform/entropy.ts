// Entropy from the operating system's CSPRNG.
import { randomFillSync } from "node:crypto";
import type { Entropy } from "../../../src/platform";

export class NodeEntropy implements Entropy {
  fill(target: Uint8Array): void {
    randomFillSync(target);
  }
}
