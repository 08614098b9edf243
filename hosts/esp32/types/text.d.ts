// TextEncoder and TextDecoder as globals: Moddable ships them as the modules text/encoder and
// text/decoder (@moddable/typings declares those), and hosts/esp32/globals.ts installs them on
// globalThis, so firmware and suites can use them as they do on Node.
declare class TextEncoder {
  encode(input?: string): Uint8Array;
  encodeInto(source: string, destination: Uint8Array): { read: number; written: number };
}

declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: ArrayBuffer | ArrayBufferView, options?: { stream?: boolean }): string;
}
