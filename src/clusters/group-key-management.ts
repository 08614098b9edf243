// Group Key Management cluster (0x003F, Core spec 11.2, revision 2 as in Matter 1.4), as far as a
// node without group messaging needs it: group key set 0 is each fabric's IPK (given by AddNOC,
// kept by the fabric table as the derived operational key, never as its epoch key), which
// KeySetWrite may replace and KeySetRead / KeySetReadAllIndices report. The node has no Groups
// cluster and no group transport, so MaxGroupsPerFabric is 0 and MaxGroupKeysPerFabric 1 (the
// IPK): GroupKeyMap and GroupTable stay empty, another key set is RESOURCE_EXHAUSTED.
//
// KeySetWrite is validated as the spec's rules read (and matter.js and CHIP check): EpochKey0 and
// its start time present, later epochs after earlier ones, keys 16 bytes (CONSTRAINT_ERROR
// otherwise), TrustFirst security policy; the IPK takes only EpochKey0.
import { OperationalCertError, type OperationalFabricTable } from "../commissioning/fabric-table";
import { Privilege, Status } from "../interaction/constants";
import { StatusError } from "../interaction/errors";
import { ClusterServer, attribute, command, defineCluster, type AttributeDefinition, type CommandDefinition, type InvokeContext, type WriteContext } from "../interaction/model";
import { empty, endpointNo, enum8, fabricIndexField, field, list, nullable, octets, string, struct, uint16, uint64 } from "../interaction/schema";
import { ClusterId } from "./ids";

export enum GroupKeyManagementAttribute { GroupKeyMap = 0x00, GroupTable = 0x01, MaxGroupsPerFabric = 0x02, MaxGroupKeysPerFabric = 0x03 }
export enum GroupKeyManagementCommand {
  KeySetWrite = 0x00,
  KeySetRead = 0x01,
  KeySetReadResponse = 0x02,
  KeySetRemove = 0x03,
  KeySetReadAllIndices = 0x04,
  KeySetReadAllIndicesResponse = 0x05,
}
export enum GroupKeySecurityPolicy { TrustFirst = 0, CacheAndSync = 1 }

/** Group key set 0 is the IPK (spec 4.17.3.5.1). */
export const IPK_KEY_SET_ID = 0;
const EPOCH_KEY_LENGTH = 16;

const sensitive = { fabricSensitive: true };
export const GroupKeySetStruct = struct(
  field(0, "groupKeySetId", uint16),
  field(1, "groupKeySecurityPolicy", enum8, sensitive),
  // EpochKey0..2 (tags 2, 4, 6) each followed by its EpochStartTime (3, 5, 7).
  ...[0, 1, 2].flatMap((n) => [field(2 + 2 * n, `epochKey${n}`, nullable(octets(32)), sensitive), field(3 + 2 * n, `epochStartTime${n}`, nullable(uint64), sensitive)]),
);
const keySetIdRequest = struct(field(0, "groupKeySetId", uint16));
const GroupKeyMapStruct = struct(field(1, "groupId", uint16), field(2, "groupKeySetId", uint16), fabricIndexField);
const GroupInfoMapStruct = struct(field(1, "groupId", uint16), field(2, "endpoints", list(endpointNo)), field(3, "groupName", string(16), { optional: true }), fabricIndexField);

const admin = { privilege: Privilege.Administer, fabricScoped: true };

export const GroupKeyManagement = defineCluster({
  id: ClusterId.GroupKeyManagement,
  name: "GroupKeyManagement",
  revision: 2,
  attributes: [
    attribute(GroupKeyManagementAttribute.GroupKeyMap, "groupKeyMap", list(GroupKeyMapStruct), { write: Privilege.Manage, fabricScoped: true }),
    attribute(GroupKeyManagementAttribute.GroupTable, "groupTable", list(GroupInfoMapStruct), { fabricScoped: true }),
    attribute(GroupKeyManagementAttribute.MaxGroupsPerFabric, "maxGroupsPerFabric", uint16, { fixed: true }),
    attribute(GroupKeyManagementAttribute.MaxGroupKeysPerFabric, "maxGroupKeysPerFabric", uint16, { fixed: true }),
  ],
  commands: [
    command(GroupKeyManagementCommand.KeySetWrite, "keySetWrite", struct(field(0, "groupKeySet", GroupKeySetStruct)), admin),
    command(GroupKeyManagementCommand.KeySetRead, "keySetRead", keySetIdRequest, { ...admin, response: { id: GroupKeyManagementCommand.KeySetReadResponse, schema: struct(field(0, "groupKeySet", GroupKeySetStruct)) } }),
    command(GroupKeyManagementCommand.KeySetRemove, "keySetRemove", keySetIdRequest, admin),
    command(GroupKeyManagementCommand.KeySetReadAllIndices, "keySetReadAllIndices", empty, { ...admin, response: { id: GroupKeyManagementCommand.KeySetReadAllIndicesResponse, schema: struct(field(0, "groupKeySetIDs", list(uint16))) } }),
  ],
});

interface GroupKeySet {
  groupKeySetId: number;
  groupKeySecurityPolicy: number;
  epochKey0: Uint8Array | null;
  epochStartTime0: bigint | null;
  epochKey1: Uint8Array | null;
  epochStartTime1: bigint | null;
  epochKey2: Uint8Array | null;
  epochStartTime2: bigint | null;
}

export class GroupKeyManagementServer extends ClusterServer {
  readonly groupKeyMap: unknown[] = [];
  readonly groupTable: unknown[] = [];
  readonly maxGroupsPerFabric = 0;
  readonly maxGroupKeysPerFabric = 1;

  constructor(private readonly fabrics: OperationalFabricTable) {
    super(GroupKeyManagement);
  }

  override writeAttribute(attribute: AttributeDefinition, value: unknown, context: WriteContext): void {
    if (attribute.id !== GroupKeyManagementAttribute.GroupKeyMap) return super.writeAttribute(attribute, value, context);
    const entries = value as { groupId: number; groupKeySetId: number }[];
    for (const entry of entries) {
      if (entry.groupKeySetId === IPK_KEY_SET_ID) throw new StatusError(Status.ConstraintError, "group key set 0 is the IPK and maps no group");
      if (entry.groupId === 0) throw new StatusError(Status.ConstraintError, "group id 0 is not a group");
    }
    if (entries.length > this.maxGroupsPerFabric) throw new StatusError(Status.ResourceExhausted, "this node keeps no groups (MaxGroupsPerFabric is 0)");
  }

  override invoke(command: CommandDefinition, request: unknown, context: InvokeContext): unknown {
    switch (command.id) {
      case GroupKeyManagementCommand.KeySetWrite:
        return this.keySetWrite((request as { groupKeySet: GroupKeySet }).groupKeySet, context);
      case GroupKeyManagementCommand.KeySetRead:
        return this.keySetRead((request as { groupKeySetId: number }).groupKeySetId, context);
      case GroupKeyManagementCommand.KeySetRemove: {
        const id = (request as { groupKeySetId: number }).groupKeySetId;
        if (id === IPK_KEY_SET_ID) throw new StatusError(Status.InvalidCommand, "the IPK key set cannot be removed");
        throw new StatusError(Status.NotFound, `no group key set ${id}`);
      }
      case GroupKeyManagementCommand.KeySetReadAllIndices:
        return { groupKeySetIDs: [IPK_KEY_SET_ID] };
      default:
        return super.invoke(command, request, context);
    }
  }

  private keySetWrite(set: GroupKeySet, context: InvokeContext): undefined {
    const invalid = (why: string) => new StatusError(Status.InvalidCommand, why);
    for (const key of [set.epochKey0, set.epochKey1, set.epochKey2]) {
      if (key !== null && key.length !== EPOCH_KEY_LENGTH) throw new StatusError(Status.ConstraintError, `epoch keys are ${EPOCH_KEY_LENGTH} bytes, got ${key.length}`);
    }
    if (set.groupKeySecurityPolicy !== GroupKeySecurityPolicy.TrustFirst) throw invalid("only the TrustFirst security policy is supported");
    if (set.epochKey0 === null || set.epochStartTime0 === null) throw invalid("EpochKey0 and EpochStartTime0 are required");
    if ((set.epochKey1 === null) !== (set.epochStartTime1 === null)) throw invalid("EpochKey1 and EpochStartTime1 go together");
    if ((set.epochKey2 === null) !== (set.epochStartTime2 === null)) throw invalid("EpochKey2 and EpochStartTime2 go together");
    if (set.epochKey2 !== null && set.epochKey1 === null) throw invalid("EpochKey2 needs EpochKey1");
    if (set.epochStartTime1 !== null && set.epochStartTime1 <= set.epochStartTime0) throw invalid("EpochStartTime1 must follow EpochStartTime0");
    if (set.epochStartTime2 !== null && set.epochStartTime1 !== null && set.epochStartTime2 <= set.epochStartTime1) throw invalid("EpochStartTime2 must follow EpochStartTime1");
    if (set.groupKeySetId !== IPK_KEY_SET_ID) throw new StatusError(Status.ResourceExhausted, "this node keeps only the IPK key set (MaxGroupKeysPerFabric is 1)");
    if (set.epochKey1 !== null) throw invalid("the IPK key set takes only EpochKey0");
    try {
      this.fabrics.setIpk(context.fabricIndex, set.epochKey0, set.epochStartTime0);
    } catch (error) {
      if (error instanceof OperationalCertError) throw new StatusError(Status.NotFound, error.message);
      throw error;
    }
    return undefined;
  }

  private keySetRead(id: number, context: InvokeContext): { groupKeySet: GroupKeySet } {
    const fabric = this.fabrics.fabric(context.fabricIndex);
    if (id !== IPK_KEY_SET_ID || !fabric) throw new StatusError(Status.NotFound, `no group key set ${id}`);
    // Spec 11.2.7.3: the keys themselves are never read back.
    return {
      groupKeySet: {
        groupKeySetId: IPK_KEY_SET_ID,
        groupKeySecurityPolicy: GroupKeySecurityPolicy.TrustFirst,
        epochKey0: null,
        epochStartTime0: fabric.ipkEpochStartTime,
        epochKey1: null,
        epochStartTime1: null,
        epochKey2: null,
        epochStartTime2: null,
      },
    };
  }
}
