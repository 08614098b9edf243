// Moddable SDK 8.2.3, build/devices/esp32/modules/ota (ota.js, ota.c); @moddable/typings has none.
declare module "ota" {
  /** One esp_ota_begin session on esp_ota_get_next_update_partition(), in sequential-write mode. */
  export default class OTA {
    /** esp_ota_begin; throws "begin failed" (for example while the running image is still on trial). */
    constructor();
    /** esp_ota_write: appends; each sector is erased just before the first write into it. */
    write(data: ArrayBuffer | ArrayBufferView): void;
    /** esp_ota_end without selecting the image. */
    cancel(): void;
    /** esp_ota_end (verifies the image) then esp_ota_set_boot_partition. */
    complete(): void;
  }
}
