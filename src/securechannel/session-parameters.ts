// The session parameter structure both handshakes carry (spec 4.12.8 / 4.13.1.x "session-parameter-struct"):
//   1 SESSION_IDLE_INTERVAL u32 ms, 2 SESSION_ACTIVE_INTERVAL u32 ms, 3 SESSION_ACTIVE_THRESHOLD u16 ms,
//   4 DATA_MODEL_REVISION u16, 5 INTERACTION_MODEL_REVISION u16, 6 SPECIFICATION_VERSION u32,
//   7 MAX_PATHS_PER_INVOKE u16 (8 SUPPORTED_TRANSPORTS and 9 MAX_TCP_MESSAGE_SIZE concern TCP, which
//   this node does not offer, so it never sends them and ignores them).
import type { TlvStruct, TlvWriter } from "../codec/tlv";
import { DEFAULT_SESSION_PARAMETERS, checkSessionParameters, type SessionParameters } from "../transport/session";

/** What this node says about itself in PBKDFParamResponse and Sigma2 (and Sigma1 as initiator). */
export interface LocalSessionParameters extends SessionParameters {
  dataModelRevision: number;
  interactionModelRevision: number;
  specificationVersion: number;
  maxPathsPerInvoke: number;
}

/** What a peer said; the revision fields are absent when it sent none (a node before Matter 1.3). */
export interface PeerSessionParameters {
  /** SII/SAI/SAT, with the spec's defaults for the ones the peer left out. */
  mrp: SessionParameters;
  dataModelRevision?: number;
  interactionModelRevision?: number;
  specificationVersion?: number;
  maxPathsPerInvoke?: number;
}

/**
 * Revisions of a Matter 1.4.1 node (connectedhomeip SpecificationDefinedRevisions.h: data model 18,
 * interaction model 12, specification 0x01040100); one path per invoke, as CHIP devices announce.
 */
export const DEFAULT_DATA_MODEL_REVISION = 18;
export const DEFAULT_INTERACTION_MODEL_REVISION = 12;
export const DEFAULT_SPECIFICATION_VERSION = 0x01040100;
export const DEFAULT_MAX_PATHS_PER_INVOKE = 1;

const TAG_IDLE_INTERVAL = 1;
const TAG_ACTIVE_INTERVAL = 2;
const TAG_ACTIVE_THRESHOLD = 3;
const TAG_DATA_MODEL_REVISION = 4;
const TAG_INTERACTION_MODEL_REVISION = 5;
const TAG_SPECIFICATION_VERSION = 6;
const TAG_MAX_PATHS_PER_INVOKE = 7;

export function localSessionParameters(mrp: SessionParameters = DEFAULT_SESSION_PARAMETERS, overrides: Partial<LocalSessionParameters> = {}): LocalSessionParameters {
  const parameters: LocalSessionParameters = {
    ...checkSessionParameters(mrp),
    dataModelRevision: DEFAULT_DATA_MODEL_REVISION,
    interactionModelRevision: DEFAULT_INTERACTION_MODEL_REVISION,
    specificationVersion: DEFAULT_SPECIFICATION_VERSION,
    maxPathsPerInvoke: DEFAULT_MAX_PATHS_PER_INVOKE,
    ...overrides,
  };
  checkSessionParameters(parameters);
  for (const [name, value, max] of [
    ["data model revision", parameters.dataModelRevision, 0xffff],
    ["interaction model revision", parameters.interactionModelRevision, 0xffff],
    ["specification version", parameters.specificationVersion, 0xffffffff],
    ["max paths per invoke", parameters.maxPathsPerInvoke, 0xffff],
  ] as const) {
    if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${name} ${value} is outside 0..${max}`);
  }
  if (parameters.maxPathsPerInvoke < 1) throw new RangeError("max paths per invoke 0");
  return parameters;
}

export function writeSessionParameters(writer: TlvWriter, tag: number, parameters: LocalSessionParameters): void {
  writer
    .startStructure(tag)
    .uint(TAG_IDLE_INTERVAL, parameters.idleIntervalMs)
    .uint(TAG_ACTIVE_INTERVAL, parameters.activeIntervalMs)
    .uint(TAG_ACTIVE_THRESHOLD, parameters.activeThresholdMs)
    .uint(TAG_DATA_MODEL_REVISION, parameters.dataModelRevision)
    .uint(TAG_INTERACTION_MODEL_REVISION, parameters.interactionModelRevision)
    .uint(TAG_SPECIFICATION_VERSION, parameters.specificationVersion)
    .uint(TAG_MAX_PATHS_PER_INVOKE, parameters.maxPathsPerInvoke)
    .end();
}

function optionalBounded(struct: TlvStruct, tag: number, max: number, what: string): number | undefined {
  const value = struct.optionalUint(tag);
  if (value !== undefined && value > max) throw new RangeError(`${what} ${value} over ${max}`);
  return value;
}

/**
 * Reads a peer's parameters. Field types and widths are checked (CodecError / RangeError), and
 * SII/SAI/SAT must be within the spec's limits; absent MRP fields take the spec's defaults.
 */
export function readSessionParameters(struct: TlvStruct): PeerSessionParameters {
  const idle = optionalBounded(struct, TAG_IDLE_INTERVAL, 0xffffffff, "idle interval");
  const active = optionalBounded(struct, TAG_ACTIVE_INTERVAL, 0xffffffff, "active interval");
  const threshold = optionalBounded(struct, TAG_ACTIVE_THRESHOLD, 0xffff, "active threshold");
  const mrp = checkSessionParameters({
    idleIntervalMs: idle ?? DEFAULT_SESSION_PARAMETERS.idleIntervalMs,
    activeIntervalMs: active ?? DEFAULT_SESSION_PARAMETERS.activeIntervalMs,
    activeThresholdMs: threshold ?? DEFAULT_SESSION_PARAMETERS.activeThresholdMs,
  });
  const result: PeerSessionParameters = { mrp };
  const dataModelRevision = optionalBounded(struct, TAG_DATA_MODEL_REVISION, 0xffff, "data model revision");
  const interactionModelRevision = optionalBounded(struct, TAG_INTERACTION_MODEL_REVISION, 0xffff, "interaction model revision");
  const specificationVersion = optionalBounded(struct, TAG_SPECIFICATION_VERSION, 0xffffffff, "specification version");
  const maxPathsPerInvoke = optionalBounded(struct, TAG_MAX_PATHS_PER_INVOKE, 0xffff, "max paths per invoke");
  if (dataModelRevision !== undefined) result.dataModelRevision = dataModelRevision;
  if (interactionModelRevision !== undefined) result.interactionModelRevision = interactionModelRevision;
  if (specificationVersion !== undefined) result.specificationVersion = specificationVersion;
  if (maxPathsPerInvoke !== undefined) result.maxPathsPerInvoke = maxPathsPerInvoke;
  return result;
}
