// Cluster servers: one file per cluster, each a constant definition plus a ClusterServer subclass.
export * from "./ids";
export * from "./descriptor";
export * from "./basic-information";
export * from "./identify";
export * from "./on-off";
export * from "./general-diagnostics";
export * from "./access-control";
export * from "./general-commissioning";
export * from "./network-commissioning";
export * from "./operational-credentials";
export * from "./administrator-commissioning";
export * from "./group-key-management";
