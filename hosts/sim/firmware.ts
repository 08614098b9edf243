// The firmware image the simulator runs inside XS: the device from src/device on the bridged
// platform. The host evaluates this bundle, then sends {op: "boot", options} as a control
// request; every later control request goes to the device's own control hook.
import { installXsBridge } from "./bridge/xs-platform";
import { startDevice, type Device } from "../../src/device";
import { warmUpCurve } from "../../src/crypto";

// Baked into each image by the bundler, so that an OTA update really changes the version.
declare const MATTER_XS_SOFTWARE_VERSION: number;
declare const MATTER_XS_SOFTWARE_VERSION_STRING: string;

function installFirmware(): void {
  const platform = installXsBridge();
  let device: Device | undefined;
  platform.onControl((request: { op?: string; options?: Record<string, unknown> }) => {
    if (request.op === "boot") {
      if (device) throw new Error("the device is already running");
      device = startDevice(platform, {
        ...request.options,
        softwareVersion: MATTER_XS_SOFTWARE_VERSION,
        softwareVersionString: MATTER_XS_SOFTWARE_VERSION_STRING,
        log: (level, message) => platform.log(level, message),
        onEvent: (event) => platform.notify({ event }),
      });
      return device.status();
    }
    // Builds the P-256 base-point tables now: the idle device that memory figures start from.
    if (request.op === "warm-up-curve") {
      warmUpCurve();
      return {};
    }
    if (!device) throw new Error("the device has not booted");
    if (request.op === "shutdown") {
      device.shutdown();
      device = undefined;
      return {};
    }
    return device.control(request);
  });
}

installFirmware();
