// Interaction Model constants (Matter Core spec chapters 8 and 10): protocol opcodes, status
// codes, privileges and authentication modes, and the revisions this node claims.
// Checked against connectedhomeip src/protocols/interaction_model/StatusCodeList.h and matter.js
// @matter/types globals/Status.
import {
  DEFAULT_DATA_MODEL_REVISION,
  DEFAULT_INTERACTION_MODEL_REVISION,
  DEFAULT_SPECIFICATION_VERSION,
} from "../securechannel/session-parameters";

/** Object.freeze under a short name: the data model's tables are frozen constants. */
export const freeze = Object.freeze;

/** Opcodes of the Interaction Model protocol (protocol id 0x0001). */
export enum Opcode {
  StatusResponse = 0x01,
  ReadRequest = 0x02,
  SubscribeRequest = 0x03,
  SubscribeResponse = 0x04,
  ReportData = 0x05,
  WriteRequest = 0x06,
  WriteResponse = 0x07,
  InvokeRequest = 0x08,
  InvokeResponse = 0x09,
  TimedRequest = 0x0a,
}

/** Interaction Model status codes (spec 8.10). */
export enum Status {
  Success = 0x00,
  Failure = 0x01,
  InvalidSubscription = 0x7d,
  UnsupportedAccess = 0x7e,
  UnsupportedEndpoint = 0x7f,
  InvalidAction = 0x80,
  UnsupportedCommand = 0x81,
  InvalidCommand = 0x85,
  UnsupportedAttribute = 0x86,
  ConstraintError = 0x87,
  UnsupportedWrite = 0x88,
  ResourceExhausted = 0x89,
  NotFound = 0x8b,
  UnreportableAttribute = 0x8c,
  InvalidDataType = 0x8d,
  UnsupportedRead = 0x8f,
  DataVersionMismatch = 0x92,
  Timeout = 0x94,
  Busy = 0x9c,
  UnsupportedCluster = 0xc3,
  NoUpstreamSubscription = 0xc5,
  NeedsTimedInteraction = 0xc6,
  UnsupportedEvent = 0xc7,
  PathsExhausted = 0xc8,
  TimedRequestMismatch = 0xc9,
  FailsafeRequired = 0xca,
  InvalidInState = 0xcb,
  NoCommandResponse = 0xcc,
}

export type StatusCode = Status;

/** Name of a status code for logs ("UnsupportedAccess (0x7e)"). */
export function statusName(code: number): string {
  // The enum's reverse mapping: the name of a known code, undefined for any other.
  const name: string | undefined = Status[code];
  const hex = `0x${code.toString(16)}`;
  return name ? `${name} (${hex})` : `status ${hex}`;
}

/**
 * Access privileges (spec 6.6.2.1, the Access Control cluster's AccessControlEntryPrivilegeEnum).
 * ProxyView is not implied by Operate or Manage; Administer implies every other.
 */
export enum Privilege {
  View = 1,
  ProxyView = 2,
  Operate = 3,
  Manage = 4,
  Administer = 5,
}
export type PrivilegeLevel = Privilege;

/** Authentication modes of a subject (AccessControlEntryAuthModeEnum). */
export enum AuthMode {
  Pase = 1,
  Case = 2,
  Group = 3,
}
export type AuthModeValue = AuthMode;

/**
 * The revisions this node reports, in IM messages and Basic Information: the same ones its
 * handshakes announce in their session parameters (Matter 1.4.1).
 */
export const INTERACTION_MODEL_REVISION = DEFAULT_INTERACTION_MODEL_REVISION;
export const DATA_MODEL_REVISION = DEFAULT_DATA_MODEL_REVISION;
/** 0xMMmmpp00 (Basic Information SpecificationVersion). */
export const SPECIFICATION_VERSION = DEFAULT_SPECIFICATION_VERSION;

/** Context tag of InteractionModelRevision in every IM message. */
export const REVISION_TAG = 0xff;

/** Fabric index field of fabric-scoped structures (spec 7.13.6). */
export const FABRIC_INDEX_FIELD_ID = 0xfe;

/** Global attribute ids (spec 7.13). EventList (0xFFFA) is not served, as in CHIP's default build. */
export enum GlobalAttribute {
  GeneratedCommandList = 0xfff8,
  AcceptedCommandList = 0xfff9,
  AttributeList = 0xfffb,
  FeatureMap = 0xfffc,
  ClusterRevision = 0xfffd,
}

export function isGlobalAttributeId(id: number): boolean {
  return id >= 0xf000 && id <= 0xfffe;
}
