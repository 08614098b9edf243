// The ESP32 application: builds the Platform, runs the boot self-test, then starts the device
// from the module `src/device` (its exported `start(platform)`) when the image contains one.
import "./globals";
import Modules from "modules";
import type { Platform } from "../../src/platform";
import config from "mc/config";
import { createEsp32Platform, type Esp32Platform } from "./platform";
import { runSelfTest } from "./selftest";

const DEVICE_MODULE = "src/device";

function banner(platform: Platform): void {
  if (config.production === true || config.production === "true") return;
  const line = "!".repeat(64);
  for (const text of [line, "!!  matter-xs DEBUG BUILD: NOT FOR PRODUCTION", "!!  no secure boot, flash or NVS encryption; JTAG open", line]) {
    platform.log("warn", text);
  }
}

interface ImageVersion {
  softwareVersion: number;
  softwareVersionString: string;
}

/**
 * The version this image was built as, which OTA compares with an update's and which the updated
 * image must report to confirm itself: mcconfig's config (manifest defaults; an update is built
 * with `mcconfig ... softwareVersion=2 softwareVersionString=2.0`).
 */
function imageVersion(): ImageVersion {
  const softwareVersion = Number(config.softwareVersion ?? 1);
  if (!Number.isInteger(softwareVersion) || softwareVersion < 0 || softwareVersion > 0xffffffff) {
    throw new Error(`config softwareVersion ${String(config.softwareVersion)} is not a 32-bit unsigned integer`);
  }
  return { softwareVersion, softwareVersionString: String(config.softwareVersionString ?? softwareVersion) };
}

/**
 * A development build's network: `mcconfig ... ssid=NAME password=SECRET` joins it at boot, for
 * commissioning on that network. Networks given by a commissioner through Network Commissioning
 * are the device's own and are joined by it.
 */
function joinBuildNetwork(platform: Esp32Platform): void {
  if (typeof config.ssid !== "string" || config.ssid === "") return;
  const encoder = new TextEncoder();
  const password = typeof config.password === "string" ? config.password : "";
  platform.wifi.connect(encoder.encode(config.ssid), encoder.encode(password), (outcome) => {
    platform.log(outcome.status === "connected" ? "info" : "error", `Wi-Fi ${config.ssid}: ${outcome.status}`);
  });
}

export default function main(): void {
  const platform = createEsp32Platform();
  banner(platform);
  joinBuildNetwork(platform);
  const results = runSelfTest(platform);
  for (const result of results) platform.log(result.passed ? "info" : "error", `self-test ${result.name}: ${result.passed ? "ok" : "FAILED"} (${result.detail})`);
  const passed = results.every((result) => result.passed);

  if (Modules.has(DEVICE_MODULE)) {
    const device = Modules.importNow(DEVICE_MODULE) as { start?: (platform: Platform, options?: ImageVersion) => void };
    if (typeof device.start !== "function") throw new Error(`${DEVICE_MODULE} does not export start(platform)`);
    device.start(platform, imageVersion());
    return;
  }
  // No device in this image: the self-test is all it does, so a passing self-test is what
  // confirms a freshly updated image (otherwise the bootloader rolls it back on the next reset).
  if (passed && platform.boot?.pendingConfirmation()) {
    platform.boot.confirmRunning();
    platform.log("info", `confirmed ${platform.boot.runningSlot()}`);
  }
  platform.log(passed ? "info" : "error", passed ? "self-test passed" : "self-test FAILED");
}
