// Access control (Matter Core spec 6.6): who a request comes from (the subject descriptor of its
// session) and whether the Access Control entries of that subject's fabric grant a privilege on
// an endpoint and cluster.
//
// - PASE: while commissioning, the commissioner holds Administer on the root endpoint (endpoint
//   0) and nothing elsewhere; once commissioning is over a PASE session is granted nothing.
// - CASE: the entries of the session's fabric whose auth mode is CASE, whose subjects include the
//   peer's node id or one of its CASE Authenticated Tags (same identifier, version at least the
//   entry's), and whose targets match the endpoint, cluster or a device type on the endpoint.
// - Group: the same with the group's node id; Administer is never granted to a group.
// An entry with no subjects matches every subject of its auth mode; one with no targets matches
// everything on the node. Privileges imply lower ones: Administer > Manage > Operate > View,
// ProxyView > View, and Administer implies ProxyView (CHIP's CheckRequestPrivilegeAgainstEntryPrivilege).
//
// The entries come from whoever owns the Access Control cluster, through AccessControlEntries.
import { AuthMode, Privilege, type AuthModeValue, type PrivilegeLevel, freeze } from "./constants";

/** Who is asking (spec 6.6.2.1, the Incoming Subject Descriptor). */
export interface SubjectDescriptor {
  authMode: AuthModeValue;
  /** CASE: the peer's operational node id; Group: the group node id; PASE: 0. */
  subject: bigint;
  /** CASE Authenticated Tags of the peer's NOC (32-bit identifier << 16 | version). */
  cats: readonly number[];
  /** The accessing fabric; 0 when there is none (PASE before AddNOC). */
  fabricIndex: number;
  /** PASE only: the node is being commissioned over this session. */
  isCommissioning: boolean;
}

export interface AccessControlTarget {
  cluster: number | null;
  endpoint: number | null;
  deviceType: number | null;
}

/** One entry of the Access Control cluster's ACL attribute. */
export interface AccessControlEntry {
  fabricIndex: number;
  privilege: PrivilegeLevel;
  authMode: AuthModeValue;
  /** Node ids, CAT subjects (0xFFFFFFFD_IIII_VVVV) or group node ids; null or empty: any subject. */
  subjects: readonly bigint[] | null;
  /** null or empty: the whole node. */
  targets: readonly AccessControlTarget[] | null;
}

/** The ACL as the Access Control cluster keeps it. */
export interface AccessControlEntries {
  /** Entries of one fabric, in order. */
  entriesOf(fabricIndex: number): Iterable<AccessControlEntry>;
}

/** What access is asked for: a cluster on an endpoint (spec 6.6.2.2, the Request Path). */
export interface RequestPath {
  endpoint: number;
  cluster: number;
}

// The 64-bit prefixes are literals inside the functions, not module constants: Moddable's XS 8.2.3
// finds a preloaded (module-level) BigInt unequal to an equal one computed at run time.

export function isOperationalNodeId(id: bigint): boolean {
  return id >= 1n && id <= 0xffff_ffef_ffff_ffffn;
}

export function isCatSubject(id: bigint): boolean {
  return (id & 0xffff_ffff_0000_0000n) === 0xffff_fffd_0000_0000n;
}

/** A CASE subject an ACL entry or AddNOC may name: an operational node id or a CAT with a non-zero version. */
export function isCaseSubject(id: bigint): boolean {
  return isOperationalNodeId(id) || (isCatSubject(id) && (id & 0xffffn) !== 0n);
}

export function isGroupSubject(id: bigint): boolean {
  return (id & 0xffff_ffff_ffff_0000n) === 0xffff_ffff_ffff_0000n && (id & 0xffffn) !== 0n;
}

/** The subject id of a CASE Authenticated Tag (spec 6.6.2.1.2). */
export function catSubject(cat: number): bigint {
  return 0xffff_fffd_0000_0000n | BigInt(cat >>> 0);
}

export function groupSubject(groupId: number): bigint {
  return 0xffff_ffff_ffff_0000n | BigInt(groupId & 0xffff);
}

/** Whether a CAT of the subject satisfies a CAT subject of an entry: same identifier, version at least the entry's. */
export function catMatches(entrySubject: bigint, cats: readonly number[]): boolean {
  const wanted = Number(entrySubject & 0xffff_ffffn);
  const identifier = wanted >>> 16;
  const version = wanted & 0xffff;
  if (version === 0) return false; // version 0 is not a valid CAT
  for (const cat of cats) {
    if (cat >>> 16 === identifier && (cat & 0xffff) >= version && (cat & 0xffff) !== 0) return true;
  }
  return false;
}

/** Whether holding `granted` satisfies a request for `requested`. */
export function privilegeImplies(granted: PrivilegeLevel, requested: PrivilegeLevel): boolean {
  if (granted === requested) return true;
  switch (granted) {
    case Privilege.Administer:
      return true;
    case Privilege.Manage:
      return requested === Privilege.Operate || requested === Privilege.View;
    case Privilege.Operate:
    case Privilege.ProxyView:
      return requested === Privilege.View;
    default:
      return false;
  }
}

const ROOT_ENDPOINT = 0;

export interface AccessControlOptions {
  entries: AccessControlEntries;
  /** Device types on an endpoint (for targets by device type). */
  deviceTypesOn: (endpoint: number) => readonly number[];
}

export class AccessControl {
  private declare readonly entries: AccessControlEntries;
  private declare readonly deviceTypesOn: (endpoint: number) => readonly number[];

  constructor(options: AccessControlOptions) {
    this.entries = options.entries;
    this.deviceTypesOn = options.deviceTypesOn;
  }

  /** True when `subject` holds `privilege` (or one implying it) on `path`. */
  allows(subject: SubjectDescriptor, path: RequestPath, privilege: PrivilegeLevel): boolean {
    if (subject.authMode === AuthMode.Pase) return subject.isCommissioning && path.endpoint === ROOT_ENDPOINT;
    if (subject.fabricIndex === 0) return false;
    for (const entry of this.entries.entriesOf(subject.fabricIndex)) {
      if (entry.fabricIndex !== subject.fabricIndex || entry.authMode !== subject.authMode) continue;
      // A group is never an administrator, whatever an entry says (spec 6.6.2.1.3).
      if (entry.authMode === AuthMode.Group && entry.privilege === Privilege.Administer) continue;
      if (!privilegeImplies(entry.privilege, privilege)) continue;
      if (!this.subjectMatches(entry, subject)) continue;
      if (!this.targetMatches(entry, path)) continue;
      return true;
    }
    return false;
  }

  private subjectMatches(entry: AccessControlEntry, subject: SubjectDescriptor): boolean {
    if (!entry.subjects || entry.subjects.length === 0) return true;
    for (const candidate of entry.subjects) {
      if (subject.authMode === AuthMode.Case) {
        if (isOperationalNodeId(candidate) && candidate === subject.subject) return true;
        if (isCatSubject(candidate) && catMatches(candidate, subject.cats)) return true;
      } else if (isGroupSubject(candidate) && candidate === subject.subject) {
        return true;
      }
    }
    return false;
  }

  private targetMatches(entry: AccessControlEntry, path: RequestPath): boolean {
    if (!entry.targets || entry.targets.length === 0) return true;
    for (const target of entry.targets) {
      // A target naming nothing, or both an endpoint and a device type, is invalid: it matches nothing.
      if (target.cluster === null && target.endpoint === null && target.deviceType === null) continue;
      if (target.endpoint !== null && target.deviceType !== null) continue;
      if (target.cluster !== null && target.cluster !== path.cluster) continue;
      if (target.endpoint !== null && target.endpoint !== path.endpoint) continue;
      if (target.deviceType !== null && !this.deviceTypesOn(path.endpoint).includes(target.deviceType)) continue;
      return true;
    }
    return false;
  }
}

/** An ACL with no entries (a node not yet commissioned). */
export const NO_ACCESS_CONTROL_ENTRIES: AccessControlEntries = freeze({ entriesOf: () => [] });
