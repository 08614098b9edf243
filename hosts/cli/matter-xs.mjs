#!/usr/bin/env node
// The `matter-xs` command: desktop tools and the simulator, written in TypeScript and run
// through tsx so that they share the firmware's own modules under src/.
import { register } from "tsx/esm/api";

register();
const { main } = await import("./main.ts");
process.exitCode = await main(process.argv.slice(2));
