// Basic Information cluster (0x0028, Core spec 11.1, revision 4): the node's identity from the
// factory data, its software version, its revisions and capability minima, and the two values a
// user may set (NodeLabel, Location), kept in the attribute store. UniqueID is made at the first
// start and kept until a factory reset erases the store (spec: it changes then).
//
// Events: StartUp at every start; ShutDown and Leave when the device calls shutDown()/leave().
import type { Random } from "../crypto";
import type { FactoryData } from "../factory";
import { DATA_MODEL_REVISION, Privilege, SPECIFICATION_VERSION, Status } from "../interaction/constants";
import { StatusError } from "../interaction/errors";
import { EventPriority } from "../interaction/events";
import { ClusterServer, attribute, defineCluster, event, type AttributeDefinition, type WriteContext } from "../interaction/model";
import { MAX_PATHS_PER_INVOKE, SUBSCRIPTIONS_PER_FABRIC } from "../interaction/server";
import { bool, empty, fabricIndex, field, string, struct, uint, uint16, uint32, vendorId } from "../interaction/schema";
import { ClusterId } from "./ids";

export enum BasicInformationAttribute {
  DataModelRevision = 0x00,
  VendorName = 0x01,
  VendorId = 0x02,
  ProductName = 0x03,
  ProductId = 0x04,
  NodeLabel = 0x05,
  Location = 0x06,
  HardwareVersion = 0x07,
  HardwareVersionString = 0x08,
  SoftwareVersion = 0x09,
  SoftwareVersionString = 0x0a,
  SerialNumber = 0x0f,
  LocalConfigDisabled = 0x10,
  UniqueId = 0x12,
  CapabilityMinima = 0x13,
  SpecificationVersion = 0x15,
  MaxPathsPerInvoke = 0x16,
}

export enum BasicInformationEvent { StartUp = 0x00, ShutDown = 0x01, Leave = 0x02 }

const CapabilityMinimaStruct = struct(field(0, "caseSessionsPerFabric", uint(16, 3)), field(1, "subscriptionsPerFabric", uint(16, 3)));
const fixed = { fixed: true };

export const BasicInformation = defineCluster({
  id: ClusterId.BasicInformation,
  name: "BasicInformation",
  revision: 4,
  attributes: [
    attribute(BasicInformationAttribute.DataModelRevision, "dataModelRevision", uint16, fixed),
    attribute(BasicInformationAttribute.VendorName, "vendorName", string(32), fixed),
    attribute(BasicInformationAttribute.VendorId, "vendorId", vendorId, fixed),
    attribute(BasicInformationAttribute.ProductName, "productName", string(32), fixed),
    attribute(BasicInformationAttribute.ProductId, "productId", uint16, fixed),
    attribute(BasicInformationAttribute.NodeLabel, "nodeLabel", string(32), { write: Privilege.Manage, persistent: true }),
    // Spec: an ISO 3166-1 alpha-2 code (or "XX"), so exactly two characters.
    attribute(BasicInformationAttribute.Location, "location", string(2, 2), { write: Privilege.Administer, persistent: true }),
    attribute(BasicInformationAttribute.HardwareVersion, "hardwareVersion", uint16, fixed),
    attribute(BasicInformationAttribute.HardwareVersionString, "hardwareVersionString", string(64, 1), fixed),
    attribute(BasicInformationAttribute.SoftwareVersion, "softwareVersion", uint32, fixed),
    attribute(BasicInformationAttribute.SoftwareVersionString, "softwareVersionString", string(64, 1), fixed),
    attribute(BasicInformationAttribute.SerialNumber, "serialNumber", string(32), fixed),
    attribute(BasicInformationAttribute.LocalConfigDisabled, "localConfigDisabled", bool, { write: Privilege.Manage, persistent: true }),
    attribute(BasicInformationAttribute.UniqueId, "uniqueId", string(32), { fixed: true, persistent: true }),
    attribute(BasicInformationAttribute.CapabilityMinima, "capabilityMinima", CapabilityMinimaStruct, fixed),
    attribute(BasicInformationAttribute.SpecificationVersion, "specificationVersion", uint32, fixed),
    attribute(BasicInformationAttribute.MaxPathsPerInvoke, "maxPathsPerInvoke", uint(16, 1), fixed),
  ],
  events: [
    event(BasicInformationEvent.StartUp, "startUp", struct(field(0, "softwareVersion", uint32)), EventPriority.Critical),
    event(BasicInformationEvent.ShutDown, "shutDown", empty, EventPriority.Critical),
    event(BasicInformationEvent.Leave, "leave", struct(field(0, "fabricIndex", fabricIndex)), EventPriority.Info),
  ],
});

/** Factory fields Basic Information shows. */
export type BasicInformationIdentity = Pick<
  FactoryData,
  "vendorId" | "vendorName" | "productId" | "productName" | "hardwareVersion" | "hardwareVersionString" | "serialNumber"
>;

export interface BasicInformationOptions {
  identity: BasicInformationIdentity;
  softwareVersion: number;
  softwareVersionString: string;
  /** Makes the UniqueID at the first start. */
  random: Random;
  /** CASE sessions the node guarantees each fabric (at least 3). */
  caseSessionsPerFabric?: number;
  subscriptionsPerFabric?: number;
  maxPathsPerInvoke?: number;
}

export class BasicInformationServer extends ClusterServer {
  readonly dataModelRevision = DATA_MODEL_REVISION;
  declare readonly vendorName: string;
  declare readonly vendorId: number;
  declare readonly productName: string;
  declare readonly productId: number;
  nodeLabel = "";
  location = "XX";
  declare readonly hardwareVersion: number;
  declare readonly hardwareVersionString: string;
  declare readonly softwareVersion: number;
  declare readonly softwareVersionString: string;
  declare readonly serialNumber: string;
  localConfigDisabled = false;
  uniqueId = "";
  declare readonly capabilityMinima: { caseSessionsPerFabric: number; subscriptionsPerFabric: number };
  readonly specificationVersion = SPECIFICATION_VERSION;
  declare readonly maxPathsPerInvoke: number;
  private declare readonly random: Random;

  constructor(options: BasicInformationOptions) {
    super(BasicInformation);
    const id = options.identity;
    this.vendorName = id.vendorName;
    this.vendorId = id.vendorId;
    this.productName = id.productName;
    this.productId = id.productId;
    this.hardwareVersion = id.hardwareVersion;
    this.hardwareVersionString = id.hardwareVersionString;
    this.serialNumber = id.serialNumber;
    this.softwareVersion = options.softwareVersion;
    this.softwareVersionString = options.softwareVersionString;
    this.capabilityMinima = {
      caseSessionsPerFabric: options.caseSessionsPerFabric ?? 3,
      subscriptionsPerFabric: options.subscriptionsPerFabric ?? SUBSCRIPTIONS_PER_FABRIC,
    };
    this.maxPathsPerInvoke = options.maxPathsPerInvoke ?? MAX_PATHS_PER_INVOKE;
    this.random = options.random;
  }

  override started(): void {
    if (this.uniqueId === "") {
      let hex = "";
      for (const byte of this.random.bytes(16)) hex += byte.toString(16).padStart(2, "0").toUpperCase();
      this.set("uniqueId", hex);
    }
    this.emitEvent(BasicInformationEvent.StartUp, { softwareVersion: this.softwareVersion });
  }

  override writeAttribute(attribute: AttributeDefinition, value: unknown, context: WriteContext): void {
    if (attribute.id === BasicInformationAttribute.Location && !/^[A-Z]{2}$/.test(value as string)) {
      throw new StatusError(Status.ConstraintError, "Location must be two upper-case letters");
    }
    super.writeAttribute(attribute, value, context);
  }

  /** Records the ShutDown event (an orderly shutdown or reboot is about to happen). */
  shutDown(): void {
    this.emitEvent(BasicInformationEvent.ShutDown, {});
  }

  /** Records the Leave event for a fabric being removed (before its data is gone). */
  leave(fabric: number): void {
    this.emitEvent(BasicInformationEvent.Leave, { fabricIndex: fabric }, fabric);
  }
}
