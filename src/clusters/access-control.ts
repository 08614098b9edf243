// Access Control cluster (0x001F, Core spec 9.10, revision 2 as in Matter 1.4) with the Extension
// feature: the ACL and its extensions, both fabric-scoped lists, kept per fabric in the
// transactional store, and the AccessControlEntries the interaction model's AccessControl
// evaluates on every path.
//
// Writes by the fabric the fail-safe is armed for stay pending until CommissioningComplete (the
// first entry AddNOC grants is pending the same way); the fail-safe's expiry forgets them. Other
// writes are committed at once. An entry is validated as CHIP's AccessControl::IsValid does: auth
// mode CASE or Group (never PASE), no Administer for groups, subjects that fit the auth mode
// (operational node ids or CATs with a non-zero version for CASE, group ids for Group), targets
// naming something and never both an endpoint and a device type.
//
// Limits (the spec's minima): 4 subjects and 3 targets per entry, 4 entries and 1 extension per
// fabric; an extension holds at most 128 bytes. Storage: "acl/<fabric index>" = TLV { 0: [entries],
// 1: [extensions] }, each entry encoded as the attribute's AccessControlEntryStruct.
import { bytesEqual } from "../codec/bytes";
import { TlvStruct, TlvWriter, decodeTlv, type TlvElement } from "../codec/tlv";
import type { FabricScopedData } from "../commissioning/fabric-table";
import type { FailSafeContext, FailSafeParticipant } from "../commissioning/fail-safe";
import type { TransactionalStore } from "../commissioning/transactional-store";
import { groupSubject, isCaseSubject, type AccessControlEntries, type AccessControlEntry, type AccessControlTarget } from "../interaction/access-control";
import { AuthMode, Privilege, Status, type AuthModeValue, type PrivilegeLevel } from "../interaction/constants";
import { StatusError } from "../interaction/errors";
import { EventPriority } from "../interaction/events";
import { ClusterServer, attribute, defineCluster, event, type AttributeDefinition, type ReadContext, type WriteContext } from "../interaction/model";
import {
  clusterId,
  decodeValue,
  deviceTypeId,
  encodeStandalone,
  encodeValue,
  endpointNo,
  enum8,
  fabricIndexField,
  field,
  list,
  nodeId,
  nullable,
  octets,
  struct,
  uint16,
  uint64,
  type Schema,
} from "../interaction/schema";
import type { LogLevel } from "../platform";
import { ClusterId } from "./ids";

export enum AccessControlAttribute {
  Acl = 0x0000,
  Extension = 0x0001,
  SubjectsPerAccessControlEntry = 0x0002,
  TargetsPerAccessControlEntry = 0x0003,
  AccessControlEntriesPerFabric = 0x0004,
}
export enum AccessControlEvent { AccessControlEntryChanged = 0x00, AccessControlExtensionChanged = 0x01 }
export enum AccessControlFeature { Extension = 1 << 0 }
export enum ChangeType { Changed = 0, Added = 1, Removed = 2 }

export const SUBJECTS_PER_ENTRY = 4;
export const TARGETS_PER_ENTRY = 3;
export const ENTRIES_PER_FABRIC = 4;
export const EXTENSIONS_PER_FABRIC = 1;
export const MAX_EXTENSION_LENGTH = 128;
const RECORD_PREFIX = "acl/";

/** An ACL entry as the attribute carries it (group subjects are group ids). */
export interface AclEntry {
  privilege: number;
  authMode: number;
  subjects: bigint[] | null;
  targets: { cluster: number | null; endpoint: number | null; deviceType: number | null }[] | null;
  fabricIndex: number;
}

export interface AclExtension {
  data: Uint8Array;
  fabricIndex: number;
}

const sensitive = { fabricSensitive: true };
const TargetStruct = struct(field(0, "cluster", nullable(clusterId)), field(1, "endpoint", nullable(endpointNo)), field(2, "deviceType", nullable(deviceTypeId)));
export const AccessControlEntryStruct = struct(
  field(1, "privilege", enum8, sensitive),
  field(2, "authMode", enum8, sensitive),
  field(3, "subjects", nullable(list(uint64)), sensitive),
  field(4, "targets", nullable(list(TargetStruct)), sensitive),
  fabricIndexField,
);
export const AccessControlExtensionStruct = struct(field(1, "data", octets(MAX_EXTENSION_LENGTH), sensitive), fabricIndexField);
const changeEventFields = (latest: Schema) =>
  struct(
    field(1, "adminNodeId", nullable(nodeId)),
    field(2, "adminPasscodeId", nullable(uint16)),
    field(3, "changeType", enum8),
    field(4, "latestValue", nullable(latest)),
    fabricIndexField,
  );

const administer = { read: Privilege.Administer, write: Privilege.Administer, fabricScoped: true };

export const AccessControl = defineCluster({
  id: ClusterId.AccessControl,
  name: "AccessControl",
  revision: 2,
  featureMap: AccessControlFeature.Extension,
  attributes: [
    attribute(AccessControlAttribute.Acl, "acl", list(AccessControlEntryStruct), administer),
    attribute(AccessControlAttribute.Extension, "extension", list(AccessControlExtensionStruct), administer),
    attribute(AccessControlAttribute.SubjectsPerAccessControlEntry, "subjectsPerAccessControlEntry", uint16, { fixed: true }),
    attribute(AccessControlAttribute.TargetsPerAccessControlEntry, "targetsPerAccessControlEntry", uint16, { fixed: true }),
    attribute(AccessControlAttribute.AccessControlEntriesPerFabric, "accessControlEntriesPerFabric", uint16, { fixed: true }),
  ],
  events: [
    event(AccessControlEvent.AccessControlEntryChanged, "accessControlEntryChanged", changeEventFields(AccessControlEntryStruct), EventPriority.Info, { privilege: Privilege.Administer, fabricSensitive: true }),
    event(AccessControlEvent.AccessControlExtensionChanged, "accessControlExtensionChanged", changeEventFields(AccessControlExtensionStruct), EventPriority.Info, { privilege: Privilege.Administer, fabricSensitive: true }),
  ],
});

interface FabricAcl {
  acl: AclEntry[];
  extension: AclExtension[];
}

export interface AccessControlServerOptions {
  store: TransactionalStore;
  failSafe: FailSafeContext;
  log?: (level: LogLevel, message: string) => void;
}

export class AccessControlServer extends ClusterServer implements AccessControlEntries, FailSafeParticipant, FabricScopedData {
  readonly subjectsPerAccessControlEntry = SUBJECTS_PER_ENTRY;
  readonly targetsPerAccessControlEntry = TARGETS_PER_ENTRY;
  readonly accessControlEntriesPerFabric = ENTRIES_PER_FABRIC;
  private declare readonly store: TransactionalStore;
  private declare readonly failSafe: FailSafeContext;
  private declare readonly log: (level: LogLevel, message: string) => void;
  private readonly committed = new Map<number, FabricAcl>();
  private readonly pending = new Map<number, FabricAcl>();
  /** The evaluated form of each fabric's entries, rebuilt when they change. */
  private readonly evaluated = new Map<number, AccessControlEntry[]>();

  constructor(options: AccessControlServerOptions) {
    super(AccessControl);
    this.store = options.store;
    this.failSafe = options.failSafe;
    this.log = options.log ?? (() => {});
  }

  /** Reads every fabric's record from the store. */
  load(): void {
    for (const key of this.store.keys(RECORD_PREFIX)) {
      const fabricIndex = Number(key.slice(RECORD_PREFIX.length));
      const record = this.store.get(key);
      if (!record || !Number.isInteger(fabricIndex) || fabricIndex < 1 || fabricIndex > 254) continue;
      try {
        this.committed.set(fabricIndex, decodeRecord(record, fabricIndex));
        this.rebuild(fabricIndex);
      } catch (error) {
        this.log("error", `ACL record ${key} is unusable: ${(error as Error).message}`);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // AccessControlEntries

  entriesOf(fabricIndex: number): Iterable<AccessControlEntry> {
    return this.evaluated.get(fabricIndex) ?? [];
  }

  /** The fabrics that have entries or extensions (pending ones included). */
  fabricsWithEntries(): number[] {
    return this.fabricsInOrder();
  }

  /** A fabric's entries as the attribute shows them (pending ones while the fail-safe holds them). */
  aclOf(fabricIndex: number): readonly AclEntry[] {
    return this.current(fabricIndex)?.acl ?? [];
  }

  // -------------------------------------------------------------------------------------------
  // Attributes

  override readAttribute(attribute: AttributeDefinition, context: ReadContext): unknown {
    const list = listOf(attribute);
    if (list) return this.fabricsInOrder().flatMap((index): unknown[] => this.current(index)![list]);
    return super.readAttribute(attribute, context);
  }

  override writeAttribute(attribute: AttributeDefinition, value: unknown, context: WriteContext): void {
    const list = listOf(attribute);
    if (!list) return super.writeAttribute(attribute, value, context);
    const fabricIndex = context.fabricIndex;
    const before = this.current(fabricIndex) ?? { acl: [], extension: [] };
    const isAcl = list === "acl";
    const items = value as (AclEntry & AclExtension)[];
    const max = isAcl ? ENTRIES_PER_FABRIC : EXTENSIONS_PER_FABRIC;
    if (items.length > max) throw new StatusError(Status.ResourceExhausted, `at most ${max} ${list} items per fabric`);
    items.forEach(isAcl ? validateEntry : validateExtension);
    this.put(fabricIndex, { ...before, [list]: items.map((entry) => ({ ...entry, fabricIndex })) });
    this.reportChanges(isAcl, before[list], items, context);
  }

  // -------------------------------------------------------------------------------------------
  // Commissioning

  /** AddNOC: the CaseAdminSubject gets Administer on the whole node for the new (pending) fabric. */
  grantAdministrator(fabricIndex: number, subject: bigint): void {
    this.put(fabricIndex, { acl: [administratorEntry(fabricIndex, subject)], extension: [] });
  }

  /** For a fabric installed directly: writes its first entry inside the open transaction. */
  stageAdministrator(fabricIndex: number, subject: bigint): void {
    this.store.set(recordKey(fabricIndex), encodeRecord({ acl: [administratorEntry(fabricIndex, subject)], extension: [] }));
  }

  /** ...and takes it into memory once that transaction is durable. */
  adoptAdministrator(fabricIndex: number, subject: bigint): void {
    this.committed.set(fabricIndex, { acl: [administratorEntry(fabricIndex, subject)], extension: [] });
    this.rebuild(fabricIndex);
    this.attributeChanged(AccessControlAttribute.Acl);
  }

  stageCommit(): void {
    for (const [fabricIndex, data] of this.pending) this.store.set(recordKey(fabricIndex), encodeRecord(data));
  }

  applyCommit(): void {
    for (const [fabricIndex, data] of this.pending) this.committed.set(fabricIndex, data);
    this.pending.clear();
  }

  revert(): void {
    if (this.pending.size === 0) return;
    const fabrics = [...this.pending.keys()];
    this.pending.clear();
    for (const fabricIndex of fabrics) this.rebuild(fabricIndex);
    this.bothChanged();
  }

  private bothChanged(): void {
    this.attributeChanged(AccessControlAttribute.Acl);
    this.attributeChanged(AccessControlAttribute.Extension);
  }

  stageFabricRemoval(fabricIndex: number): void {
    if (this.committed.has(fabricIndex)) this.store.delete(recordKey(fabricIndex));
  }

  applyFabricRemoval(fabricIndex: number): void {
    this.committed.delete(fabricIndex);
    this.pending.delete(fabricIndex);
    this.rebuild(fabricIndex);
    this.bothChanged();
  }

  // -------------------------------------------------------------------------------------------

  private current(fabricIndex: number): FabricAcl | undefined {
    return this.pending.get(fabricIndex) ?? this.committed.get(fabricIndex);
  }

  private fabricsInOrder(): number[] {
    return [...new Set([...this.committed.keys(), ...this.pending.keys()])].sort((a, b) => a - b);
  }

  /** Takes a fabric's new lists: pending while the fail-safe holds the fabric, else committed now. */
  private put(fabricIndex: number, data: FabricAcl): void {
    if (fabricIndex < 1) throw new StatusError(Status.UnsupportedAccess, "ACL changes need an accessing fabric");
    if (this.failSafe.covers(fabricIndex)) {
      this.pending.set(fabricIndex, data);
    } else {
      // One key: the store's single set is atomic.
      this.store.set(recordKey(fabricIndex), encodeRecord(data));
      this.committed.set(fabricIndex, data);
    }
    this.rebuild(fabricIndex);
  }

  private rebuild(fabricIndex: number): void {
    const data = this.current(fabricIndex);
    if (!data) {
      this.evaluated.delete(fabricIndex);
      return;
    }
    this.evaluated.set(fabricIndex, data.acl.map(evaluationForm));
  }

  private reportChanges(isAcl: boolean, before: readonly unknown[], after: readonly unknown[], context: WriteContext): void {
    const eventId = isAcl ? AccessControlEvent.AccessControlEntryChanged : AccessControlEvent.AccessControlExtensionChanged;
    const schema = isAcl ? AccessControlEntryStruct : AccessControlExtensionStruct;
    const { subject, fabricIndex } = context;
    this.attributeChanged(isAcl ? AccessControlAttribute.Acl : AccessControlAttribute.Extension);
    const pase = subject?.authMode === AuthMode.Pase;
    const admin = { adminNodeId: pase ? null : (subject?.subject ?? null), adminPasscodeId: pase ? 0 : null };
    const count = Math.max(before.length, after.length);
    for (let index = 0; index < count; index++) {
      const old = before[index];
      const next = after[index];
      const latest = next === undefined ? old : { ...(next as object), fabricIndex };
      const changeType = old === undefined ? ChangeType.Added : next === undefined ? ChangeType.Removed : ChangeType.Changed;
      if (changeType === ChangeType.Changed && sameValue(schema, old, latest)) continue;
      this.emitEvent(eventId, { ...admin, changeType, latestValue: latest, fabricIndex }, fabricIndex);
    }
  }
}

/** The fabric-scoped list an attribute is (ACL or Extension), if it is one. */
function listOf(attribute: AttributeDefinition): keyof FabricAcl | undefined {
  return attribute.id === AccessControlAttribute.Acl ? "acl" : attribute.id === AccessControlAttribute.Extension ? "extension" : undefined;
}

function recordKey(fabricIndex: number): string {
  return `${RECORD_PREFIX}${fabricIndex}`;
}

function administratorEntry(fabricIndex: number, subject: bigint): AclEntry {
  return { privilege: Privilege.Administer, authMode: AuthMode.Case, subjects: [subject], targets: null, fabricIndex };
}

function evaluationForm(entry: AclEntry): AccessControlEntry {
  const subjects = entry.subjects === null ? null : entry.authMode === AuthMode.Group ? entry.subjects.map((id) => groupSubject(Number(id))) : [...entry.subjects];
  const targets: AccessControlTarget[] | null = entry.targets === null ? null : entry.targets.map((target) => ({ ...target }));
  return { fabricIndex: entry.fabricIndex, privilege: entry.privilege as PrivilegeLevel, authMode: entry.authMode as AuthModeValue, subjects, targets };
}

function validateEntry(entry: AclEntry): void {
  const invalid = (why: string) => new StatusError(Status.ConstraintError, `invalid ACL entry: ${why}`);
  if (entry.privilege < Privilege.View || entry.privilege > Privilege.Administer) throw invalid(`privilege ${entry.privilege}`);
  if (entry.authMode !== AuthMode.Case && entry.authMode !== AuthMode.Group) throw invalid(`auth mode ${entry.authMode}`);
  if (entry.authMode === AuthMode.Group && entry.privilege === Privilege.Administer) throw invalid("a group cannot hold Administer");
  const subjects = entry.subjects ?? [];
  if (subjects.length > SUBJECTS_PER_ENTRY) throw invalid(`more than ${SUBJECTS_PER_ENTRY} subjects`);
  for (const subject of subjects) {
    const isCase = entry.authMode === AuthMode.Case;
    if (isCase ? !isCaseSubject(subject) : subject < 1n || subject > 0xffffn) throw invalid(`subject 0x${subject.toString(16)} is not a ${isCase ? "node id or CAT" : "group id"}`);
  }
  const targets = entry.targets ?? [];
  if (targets.length > TARGETS_PER_ENTRY) throw invalid(`more than ${TARGETS_PER_ENTRY} targets`);
  for (const target of targets) {
    if (target.cluster === null && target.endpoint === null && target.deviceType === null) throw invalid("a target names nothing");
    if (target.endpoint !== null && target.deviceType !== null) throw invalid("a target names both an endpoint and a device type");
  }
}

function validateExtension(extension: AclExtension): void {
  if (extension.data.length > MAX_EXTENSION_LENGTH) throw new StatusError(Status.ConstraintError, `an ACL extension holds at most ${MAX_EXTENSION_LENGTH} bytes`);
  // An anonymous TLV list whose elements carry profile tags, nothing after it (CHIP's
  // CheckExtensionEntryDataFormat).
  let root: TlvElement;
  try {
    root = decodeTlv(extension.data, { maxDepth: 8 });
  } catch (error) {
    throw new StatusError(Status.ConstraintError, `ACL extension is not TLV: ${(error as Error).message}`);
  }
  if (root.type !== "list" || root.tag !== undefined) throw new StatusError(Status.ConstraintError, "ACL extension must be an anonymous TLV list");
  for (const element of root.value as TlvElement[]) {
    if (element.tag === undefined || typeof element.tag === "number") throw new StatusError(Status.ConstraintError, "ACL extension elements must carry profile tags");
  }
}

function sameValue(schema: Schema, a: unknown, b: unknown): boolean {
  try {
    return bytesEqual(encodeStandalone(schema, a), encodeStandalone(schema, b));
  } catch {
    return false;
  }
}

function encodeRecord(data: FabricAcl): Uint8Array {
  const w = new TlvWriter().startStructure(undefined).startArray(0);
  for (const entry of data.acl) encodeValue(w, undefined, AccessControlEntryStruct, entry);
  w.end().startArray(1);
  for (const extension of data.extension) encodeValue(w, undefined, AccessControlExtensionStruct, extension);
  return w.end().end().finish();
}

function decodeRecord(record: Uint8Array, fabricIndex: number): FabricAcl {
  const fields = TlvStruct.decode(record, { maxDepth: 6 });
  const acl = fields.array(0).map((element) => decodeValue(element, AccessControlEntryStruct, fabricIndex, "ACL entry") as AclEntry);
  const extension = fields.array(1).map((element) => decodeValue(element, AccessControlExtensionStruct, fabricIndex, "ACL extension") as AclExtension);
  for (const entry of acl) validateEntry(entry);
  return { acl, extension };
}
