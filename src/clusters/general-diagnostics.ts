// General Diagnostics cluster (0x0033, Core spec 11.12, revision 2): the mandatory elements —
// network interfaces, RebootCount (kept in the attribute store and counted up at every start),
// UpTime, TestEventTriggersEnabled, the TestEventTrigger and TimeSnapshot commands and the
// BootReason event.
import type { NetworkInterfaceInfo } from "../platform";
import { Privilege, Status } from "../interaction/constants";
import { StatusError } from "../interaction/errors";
import { EventPriority } from "../interaction/events";
import { ClusterServer, attribute, command, defineCluster, event, type AttributeDefinition, type CommandDefinition, type InvokeContext, type ReadContext } from "../interaction/model";
import { bool, empty, enum8, field, list, nullable, octets, string, struct, uint16, uint64 } from "../interaction/schema";
import { ClusterId } from "./ids";

export enum BootReason {
  Unspecified = 0,
  PowerOnReboot = 1,
  BrownOutReset = 2,
  SoftwareWatchdogReset = 3,
  HardwareWatchdogReset = 4,
  SoftwareUpdateCompleted = 5,
  SoftwareReset = 6,
}

export enum InterfaceType { Unspecified = 0, WiFi = 1, Ethernet = 2, Cellular = 3, Thread = 4 }

export enum GeneralDiagnosticsAttribute { NetworkInterfaces = 0x00, RebootCount = 0x01, UpTime = 0x02, BootReason = 0x04, TestEventTriggersEnabled = 0x08 }
export enum GeneralDiagnosticsCommand { TestEventTrigger = 0x00, TimeSnapshot = 0x01, TimeSnapshotResponse = 0x02 }

/** One entry of NetworkInterfaces (NetworkInterface struct). */
export interface NetworkInterface {
  name: string;
  isOperational: boolean;
  offPremiseServicesReachableIPv4: boolean | null;
  offPremiseServicesReachableIPv6: boolean | null;
  /** 6 (MAC-48) or 8 (EUI-64) bytes. */
  hardwareAddress: Uint8Array;
  iPv4Addresses: Uint8Array[];
  iPv6Addresses: Uint8Array[];
  type: number;
}

const NetworkInterfaceStruct = struct(
  field(0, "name", string(32)),
  field(1, "isOperational", bool),
  field(2, "offPremiseServicesReachableIPv4", nullable(bool)),
  field(3, "offPremiseServicesReachableIPv6", nullable(bool)),
  field(4, "hardwareAddress", octets(8, 6)),
  field(5, "iPv4Addresses", list(octets(4, 4), 4)),
  field(6, "iPv6Addresses", list(octets(16, 16), 8)),
  field(7, "type", enum8),
);


export const GeneralDiagnostics = defineCluster({
  id: ClusterId.GeneralDiagnostics,
  name: "GeneralDiagnostics",
  revision: 2,
  diagnostics: true,
  attributes: [
    attribute(GeneralDiagnosticsAttribute.NetworkInterfaces, "networkInterfaces", list(NetworkInterfaceStruct, 8)),
    attribute(GeneralDiagnosticsAttribute.RebootCount, "rebootCount", uint16, { persistent: true }),
    attribute(GeneralDiagnosticsAttribute.UpTime, "upTime", uint64, { changesOmitted: true }),
    attribute(GeneralDiagnosticsAttribute.BootReason, "bootReason", enum8),
    attribute(GeneralDiagnosticsAttribute.TestEventTriggersEnabled, "testEventTriggersEnabled", bool),
  ],
  commands: [
    command(GeneralDiagnosticsCommand.TestEventTrigger, "testEventTrigger", struct(field(0, "enableKey", octets(16)), field(1, "eventTrigger", uint64)), { privilege: Privilege.Manage }),
    command(GeneralDiagnosticsCommand.TimeSnapshot, "timeSnapshot", empty, {
      privilege: Privilege.Operate,
      response: { id: GeneralDiagnosticsCommand.TimeSnapshotResponse, schema: struct(field(0, "systemTimeMs", uint64), field(1, "posixTimeMs", nullable(uint64))) },
    }),
  ],
  events: [event(0x03, "bootReason", struct(field(0, "bootReason", enum8)), EventPriority.Critical)],
});

export interface GeneralDiagnosticsOptions {
  bootReason?: number;
  /** The interfaces to show; by default none. See interfacesFromPlatform. */
  interfaces?: () => NetworkInterface[];
  /**
   * The 16-byte key that enables TestEventTrigger, and the handler of triggers (true when the
   * trigger is known). Without them TestEventTriggersEnabled is false and every trigger is refused.
   */
  testEventTriggers?: { enableKey: Uint8Array; handle: (trigger: bigint) => boolean };
}

export class GeneralDiagnosticsServer extends ClusterServer {
  rebootCount = 0;
  declare readonly bootReason: number;
  declare readonly testEventTriggersEnabled: boolean;

  constructor(private readonly options: GeneralDiagnosticsOptions = {}) {
    super(GeneralDiagnostics);
    this.bootReason = options.bootReason ?? BootReason.Unspecified;
    const key = options.testEventTriggers?.enableKey;
    // An all-zero key means "disabled" (spec 11.12.6.9).
    this.testEventTriggersEnabled = key !== undefined && key.length === 16 && key.some((b) => b !== 0);
  }

  override started(): void {
    this.set("rebootCount", Math.min(this.rebootCount + 1, 0xffff));
    this.emitEvent(0x03, { bootReason: this.bootReason });
  }

  override readAttribute(attribute: AttributeDefinition, context: ReadContext): unknown {
    if (attribute.id === GeneralDiagnosticsAttribute.UpTime) return BigInt(Math.floor(this.node.uptimeMs() / 1000));
    if (attribute.id === GeneralDiagnosticsAttribute.NetworkInterfaces) return this.options.interfaces?.() ?? [];
    return super.readAttribute(attribute, context);
  }

  override invoke(command: CommandDefinition, request: unknown, context: InvokeContext): unknown {
    if (command.id === GeneralDiagnosticsCommand.TimeSnapshot) {
      // No real-time clock in the platform: PosixTimeMs is null.
      return { systemTimeMs: BigInt(this.node.uptimeMs()), posixTimeMs: null };
    }
    if (command.id === GeneralDiagnosticsCommand.TestEventTrigger) {
      const { enableKey, eventTrigger } = request as { enableKey: Uint8Array; eventTrigger: bigint };
      const triggers = this.options.testEventTriggers;
      if (!this.testEventTriggersEnabled || !triggers || !sameBytes(enableKey, triggers.enableKey)) throw new StatusError(Status.ConstraintError, "test event triggers are not enabled with this key");
      if (!triggers.handle(eventTrigger)) throw new StatusError(Status.InvalidCommand, `unknown test event trigger 0x${eventTrigger.toString(16)}`);
      return undefined;
    }
    return super.invoke(command, request, context);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/** Parses a textual IPv4 address; undefined when it is not one. */
export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    out[i] = Number(part);
  }
  return out;
}

/** Parses a textual IPv6 address (with "::", an embedded IPv4 tail, a "%zone" ignored); undefined when it is not one. */
export function parseIPv6(text: string): Uint8Array | undefined {
  const address = text.split("%")[0]!;
  const halves = address.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const pieces = half.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIPv4(piece);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined;
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((group, i) => {
    out[i * 2] = group >> 8;
    out[i * 2 + 1] = group & 0xff;
  });
  return out;
}

/**
 * NetworkInterfaces from the platform's interface list. The platform does not tell hardware
 * addresses or the link type, so they come from `details` (zeros and Unspecified otherwise).
 */
export function interfacesFromPlatform(
  interfaces: NetworkInterfaceInfo[],
  details: (name: string) => { hardwareAddress?: Uint8Array; type?: number } = () => ({}),
): NetworkInterface[] {
  return interfaces.slice(0, 8).map((info) => {
    const extra = details(info.name);
    const v4 = info.addresses.filter((a) => a.family === 4).map((a) => parseIPv4(a.address)).filter((a): a is Uint8Array => a !== undefined);
    const v6 = info.addresses.filter((a) => a.family === 6).map((a) => parseIPv6(a.address)).filter((a): a is Uint8Array => a !== undefined);
    return {
      name: info.name.slice(0, 32),
      isOperational: info.addresses.length > 0,
      offPremiseServicesReachableIPv4: null,
      offPremiseServicesReachableIPv6: null,
      hardwareAddress: extra.hardwareAddress ?? new Uint8Array(6),
      iPv4Addresses: v4.slice(0, 4),
      iPv6Addresses: v6.slice(0, 8),
      type: extra.type ?? InterfaceType.Unspecified,
    };
  });
}
