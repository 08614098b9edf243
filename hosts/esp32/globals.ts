// The Web globals the firmware may use that Moddable ships as modules. Preloaded first, so they
// exist while the firmware's own modules are preloaded.
import TextDecoder from "text/decoder";
import TextEncoder from "text/encoder";

const global = globalThis as Record<string, unknown>;
global.TextEncoder ??= TextEncoder;
global.TextDecoder ??= TextDecoder;
