// Entropy from the ESP32 hardware RNG, which Moddable's Math.random reads (esp_random()).
// ESP-IDF: the RNG output is true random only while Wi-Fi or Bluetooth is running (or another
// entropy source is enabled); seed the DRBG after the radio is up.
import type { Entropy } from "../../src/platform";
import { fillFromRandom } from "./random";

export class Esp32Entropy implements Entropy {
  fill(target: Uint8Array): void {
    fillFromRandom(target, Math.random);
  }
}
