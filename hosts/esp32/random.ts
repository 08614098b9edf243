// Entropy from Moddable's Math.random on ESP32. XS computes it as r / C_RAND_MAX with
// r = esp_random() & 0x7FFFFFFF, redrawn while r == C_RAND_MAX (INT32_MAX): r is uniform over
// [0, 2^31 - 2], which is 2^31 - 1 values, not a whole number of bits. Taking the low 24 bits
// only from r < 127 * 2^24 keeps every output byte exactly uniform (the rejected tail is 0.8%).

const RAND_MAX = 0x7fff_ffff;
const ACCEPT_BELOW = 127 * 0x100_0000;

/** Recovers the integer that Math.random() was computed from, or throws if it is not one. */
export function randomInteger(value: number): number {
  const integer = Math.round(value * RAND_MAX);
  if (!(integer >= 0 && integer < RAND_MAX) || integer / RAND_MAX !== value) {
    throw new Error(`Math.random() returned ${value}, which is not r / 0x7FFFFFFF: this host's Math.random is not the ESP32 hardware RNG`);
  }
  return integer;
}

/** Fills `target` from `random` (Math.random on ESP32), three uniform bytes per accepted draw. */
export function fillFromRandom(target: Uint8Array, random: () => number): void {
  let offset = 0;
  while (offset < target.length) {
    const integer = randomInteger(random());
    if (integer >= ACCEPT_BELOW) continue;
    for (let shift = 0; shift < 24 && offset < target.length; shift += 8) target[offset++] = (integer >>> shift) & 0xff;
  }
}
