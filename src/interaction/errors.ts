// The error that carries an Interaction Model status out of cluster code and request handling.
import { Status, statusName } from "./constants";

/**
 * Thrown by cluster code (or the engine) to answer with `status`; `clusterStatus` is a
 * cluster-specific code, sent with the status FAILURE as the spec requires (8.10.1).
 */
export class StatusError extends Error {
  override name = "StatusError";
  declare readonly status: number;
  declare readonly clusterStatus: number | undefined;

  constructor(status: number, message?: string, clusterStatus?: number) {
    super(message ?? statusName(status));
    this.status = clusterStatus !== undefined ? Status.Failure : status;
    this.clusterStatus = clusterStatus;
  }

  /** FAILURE with a cluster-specific status code. */
  static cluster(clusterStatus: number, message?: string): StatusError {
    return new StatusError(Status.Failure, message ?? `cluster status 0x${clusterStatus.toString(16)}`, clusterStatus);
  }
}
