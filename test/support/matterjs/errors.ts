// Turns an error thrown inside a matter.js child into what the test needs to tell failures apart:
// the attestation check that failed, or the Matter status of a status response, found anywhere
// in the error's cause chain (matter.js wraps commissioning errors, discovery aggregates them).
import type { WireError } from "./wire";

/** Thrown by the controller's attestation policy; lists every finding it refused. */
export class AttestationRejectedError extends Error {
  constructor(readonly checks: string[], message: string) {
    super(message);
    this.name = "AttestationRejectedError";
  }
}

function* causes(error: unknown, depth = 0): Generator<unknown> {
  if (error === undefined || error === null || depth > 8) return;
  yield error;
  if (typeof error !== "object") return;
  const record = error as { cause?: unknown; errors?: unknown };
  if (Array.isArray(record.errors)) for (const inner of record.errors) yield* causes(inner, depth + 1);
  yield* causes(record.cause, depth + 1);
}

export function describeError(error: unknown): WireError {
  const top = error instanceof Error ? error : new Error(String(error));
  const described: WireError = { name: top.name, message: top.message, stack: top.stack?.split("\n").slice(1, 12).join("\n") };
  for (const cause of causes(error)) {
    if (!(cause instanceof Error)) continue;
    if (cause instanceof AttestationRejectedError) {
      described.check ??= cause.checks[0];
      if (cause !== top) described.message += ` (${cause.message})`;
    }
    // matter.js's DeviceAttestationError carries the failed check as `failure`.
    const failure = (cause as { failure?: unknown }).failure;
    if (typeof failure === "string") described.check ??= failure;
    // matter.js's StatusResponseError carries the Matter status as `code`.
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "number" && cause.name.includes("Status")) described.status ??= code;
  }
  return described;
}
