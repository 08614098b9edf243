// A matter.js device in a process of its own: a ServerNode with one On/Off light endpoint, the
// attestation credentials it is given (DAC, its key, PAI, Certification Declaration), and storage
// under MATTER_PATH_ROOT so that it keeps its fabrics across restarts. Driven by
// test/support/matterjs/device.ts over the line protocol of wire.ts; started inside a network
// namespace with MATTER_MDNS_NETWORKINTERFACE naming the interface it may advertise on. Closing
// stdin shuts it down cleanly; SIGKILL is a power cut.
//
// Requests: start {port, passcode, discriminator, vendorId, productId, credentials} -> {commissioned}
//           state                 -> {commissioned, fabrics, fabricsVersion, onOff}
//           setOnOff {value}      -> {onOff}
// Events:   fabrics {version, fabrics}
import { Logger, ServerNode, VendorId } from "@matter/main";
import { OnOffLightDevice } from "@matter/main/devices/on-off-light";
import { ParentLink } from "./channel";
import { describeError } from "./errors";
import type { WireRequest } from "./wire";

Logger.format = "plain";
Logger.level = process.env.MXS_MATTERJS_LOG_LEVEL ?? "info";
// stdout and stderr are the log; replies travel on file descriptor 3.
Logger.destinations.default!.write = (text: string) => process.stderr.write(text + "\n");

interface Credentials {
  dac: Uint8Array;
  dacPrivateKey: Uint8Array;
  pai: Uint8Array;
  certificationDeclaration: Uint8Array;
}

interface Light {
  readonly state: { onOff: { onOff: boolean } };
  set(values: { onOff: { onOff: boolean } }): Promise<void>;
}

class DeviceHost {
  readonly #link: ParentLink;
  #node: ServerNode | undefined;
  #light: Light | undefined;
  /** Counts fabric table changes, so that the test can tell a fresh event from one it already saw. */
  #fabricsVersion = 0;

  constructor(link: ParentLink) {
    this.#link = link;
  }

  get #running(): { node: ServerNode; light: Light } {
    if (!this.#node || !this.#light) throw new Error("device not started");
    return { node: this.#node, light: this.#light };
  }

  #fabrics(node: ServerNode) {
    return Object.values(node.state.commissioning.fabrics).map((fabric) => ({
      fabricIndex: fabric.fabricIndex,
      fabricId: fabric.fabricId,
      nodeId: fabric.nodeId,
      vendorId: fabric.rootVendorId,
      label: fabric.label,
    }));
  }

  async start(request: WireRequest) {
    if (this.#node) throw new Error("already started");
    const credentials = request.credentials as Credentials;
    const vendorId = VendorId(Number(request.vendorId));
    const productId = Number(request.productId);
    const node = await ServerNode.create({
      id: "device",
      network: { port: Number(request.port) },
      commissioning: { passcode: Number(request.passcode), discriminator: Number(request.discriminator) },
      productDescription: { name: "matter.js light", deviceType: OnOffLightDevice.deviceType, vendorId, productId },
      basicInformation: {
        vendorName: "matter-xs test",
        vendorId,
        productName: "matter.js On/Off light",
        productId,
        nodeLabel: "matter.js light",
        hardwareVersion: 1,
        softwareVersion: 1,
        softwareVersionString: "1.0",
        serialNumber: "MJS-0001",
        uniqueId: "matter-xs-matterjs-light",
      },
      operationalCredentials: {
        certification: {
          privateKey: credentials.dacPrivateKey,
          certificate: credentials.dac,
          intermediateCertificate: credentials.pai,
          declaration: credentials.certificationDeclaration,
        },
      },
    });
    const light = await node.add(OnOffLightDevice, { id: "light" });
    node.events.commissioning.fabricsChanged.on(() =>
      this.#link.emit({ event: "fabrics", version: ++this.#fabricsVersion, fabrics: this.#fabrics(node) }),
    );
    await node.start();
    this.#node = node;
    this.#light = light as unknown as Light;
    return { commissioned: node.state.commissioning.commissioned };
  }

  state() {
    const { node, light } = this.#running;
    return {
      commissioned: node.state.commissioning.commissioned,
      fabrics: this.#fabrics(node),
      fabricsVersion: this.#fabricsVersion,
      onOff: light.state.onOff.onOff,
    };
  }

  /** A local change, as a button on the device would make. */
  async setOnOff(request: WireRequest) {
    const { light } = this.#running;
    await light.set({ onOff: { onOff: request.value === true } });
    return { onOff: light.state.onOff.onOff };
  }

  async stop() {
    const node = this.#node;
    this.#node = undefined;
    await node?.close();
  }
}

const link = new ParentLink();
const host = new DeviceHost(link);
process.once("SIGTERM", () => void host.stop().finally(() => process.exit(0)));
await link.serve(
  {
    start: (request) => host.start(request),
    state: () => host.state(),
    setOnOff: (request) => host.setOnOff(request),
  },
  describeError,
);
await host.stop();
await link.close();
process.exit(0);
