// What Moddable's linker does after preloading, and so what the firmware meets on a device: the
// built-in constructors, their prototypes and the namespace objects are frozen. Assigning over an
// inherited read-only property (Error.prototype.name, Object.prototype.toString) then throws, so
// the simulator and the XS test runs evaluate this first to meet the same failures the device would.
export const FREEZE_BUILTINS_AS_MODDABLE = `(() => {
  const frozen = [Math, JSON, Reflect, Object.getPrototypeOf(Uint8Array), Object.getPrototypeOf(Uint8Array.prototype)];
  for (const name of Object.getOwnPropertyNames(globalThis)) {
    const value = globalThis[name];
    if (typeof value === "function" && /^[A-Z]/.test(name)) frozen.push(value, value.prototype);
  }
  for (const object of frozen) if (object) Object.freeze(object);
})();`;
