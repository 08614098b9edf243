// Commissioning state: the transactional store, the fail-safe context, the fabric table and the
// commissioning window.
export * from "./transactional-store";
export * from "./fail-safe";
export * from "./fabric-table";
export * from "./commissioning-window";
