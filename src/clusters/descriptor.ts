// Descriptor cluster (0x001D, Core spec 9.5, revision 2): what an endpoint is and holds. Every
// value is derived from the node's composition when read; nothing is stored.
import { ClusterServer, attribute, defineCluster, type AttributeDefinition, type ReadContext } from "../interaction/model";
import { clusterId, deviceTypeId, endpointNo, field, list, struct, uint } from "../interaction/schema";
import { ClusterId } from "./ids";

const DeviceTypeStruct = struct(field(0, "deviceType", deviceTypeId), field(1, "revision", uint(16, 1)));

export enum DescriptorAttribute { DeviceTypeList = 0x0000, ServerList = 0x0001, ClientList = 0x0002, PartsList = 0x0003 }

export const Descriptor = defineCluster({
  id: ClusterId.Descriptor,
  name: "Descriptor",
  revision: 2,
  attributes: [
    attribute(DescriptorAttribute.DeviceTypeList, "deviceTypeList", list(DeviceTypeStruct), { fixed: true }),
    attribute(DescriptorAttribute.ServerList, "serverList", list(clusterId), { fixed: true }),
    attribute(DescriptorAttribute.ClientList, "clientList", list(clusterId), { fixed: true }),
    attribute(DescriptorAttribute.PartsList, "partsList", list(endpointNo)),
  ],
});

export class DescriptorServer extends ClusterServer {
  constructor(private readonly clientClusters: readonly number[] = []) {
    super(Descriptor);
  }

  override readAttribute(attribute: AttributeDefinition, context: ReadContext): unknown {
    const endpoint = this.node.endpoint(this.endpointId);
    if (!endpoint) return super.readAttribute(attribute, context);
    switch (attribute.id) {
      case DescriptorAttribute.DeviceTypeList:
        return endpoint.deviceTypes.map((d) => ({ deviceType: d.type, revision: d.revision }));
      case DescriptorAttribute.ServerList:
        return endpoint.clusters.map((c) => c.definition.id);
      case DescriptorAttribute.ClientList:
        return [...this.clientClusters];
      case DescriptorAttribute.PartsList:
        return this.node.partsOf(this.endpointId);
      default:
        return super.readAttribute(attribute, context);
    }
  }
}
