// Cluster servers: one file per cluster, each a constant definition plus a ClusterServer subclass.
export * from "./ids";
export * from "./descriptor";
export * from "./basic-information";
export * from "./identify";
export * from "./on-off";
export * from "./general-diagnostics";
