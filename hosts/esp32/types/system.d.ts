// Moddable SDK 8.2.3, modules/io/system/system.js (module "system" in the ESP32 IO manifest).
declare module "system" {
  export default class System {
    /** esp_restart(); does not return. */
    static restart(): never;
  }
}
