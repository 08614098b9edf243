// Factory data: the per-device identity written at manufacturing and read at boot.
export * from "./partition";
