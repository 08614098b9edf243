// General Commissioning cluster (0x0030, Core spec 11.10, revision 2 as in Matter 1.4, without the
// provisional Terms and Conditions feature): ArmFailSafe, SetRegulatoryConfig and
// CommissioningComplete over the fail-safe context, Breadcrumb, BasicCommissioningInfo,
// RegulatoryConfig, LocationCapability and SupportsConcurrentConnection.
//
// Answers follow the spec's CommissioningErrorEnum: BusyWithOtherAdmin when another fabric holds
// the fail-safe, or when a CASE session asks while the commissioning window is open and nothing is
// armed; NoFailSafe and InvalidAuthentication for CommissioningComplete outside an armed context
// or from anything but a CASE session of the context's fabric; ValueOutsideRange for a regulatory
// configuration the LocationCapability excludes.
//
// RegulatoryConfig is kept in the store ("reg" = TLV { 0: config }); a change made while the
// fail-safe is armed is pending until CommissioningComplete. The country code goes to Basic
// Information's Location at once, as CHIP does. Breadcrumb is not kept: it is 0 after a restart,
// an expiry and a CommissioningComplete (spec 11.10.6.1).
import { TlvStruct, TlvWriter } from "../codec/tlv";
import { DEFAULT_FAIL_SAFE_EXPIRY_SECONDS, MAX_CUMULATIVE_FAIL_SAFE_SECONDS, type FailSafeContext, type FailSafeParticipant } from "../commissioning/fail-safe";
import type { TransactionalStore } from "../commissioning/transactional-store";
import { Privilege, Status } from "../interaction/constants";
import { StatusError } from "../interaction/errors";
import { ClusterServer, attribute, command, defineCluster, type CommandDefinition, type InvokeContext } from "../interaction/model";
import { bool, empty, enum8, field, string, struct, uint16, uint64 } from "../interaction/schema";
import type { LogLevel } from "../platform";
import { ClusterId } from "./ids";

export enum GeneralCommissioningAttribute {
  Breadcrumb = 0x0000,
  BasicCommissioningInfo = 0x0001,
  RegulatoryConfig = 0x0002,
  LocationCapability = 0x0003,
  SupportsConcurrentConnection = 0x0004,
}

export enum GeneralCommissioningCommand {
  ArmFailSafe = 0x00,
  ArmFailSafeResponse = 0x01,
  SetRegulatoryConfig = 0x02,
  SetRegulatoryConfigResponse = 0x03,
  CommissioningComplete = 0x04,
  CommissioningCompleteResponse = 0x05,
}

export enum CommissioningError {
  Ok = 0,
  ValueOutsideRange = 1,
  InvalidAuthentication = 2,
  NoFailSafe = 3,
  BusyWithOtherAdmin = 4,
}

export enum RegulatoryLocation { Indoor = 0, Outdoor = 1, IndoorOutdoor = 2 }

const REGULATORY_KEY = "reg";
const administer = { privilege: Privilege.Administer };
const response = (id: number) => ({ id, schema: struct(field(0, "errorCode", enum8), field(1, "debugText", string(128))) });

export const GeneralCommissioning = defineCluster({
  id: ClusterId.GeneralCommissioning,
  name: "GeneralCommissioning",
  revision: 2,
  attributes: [
    attribute(GeneralCommissioningAttribute.Breadcrumb, "breadcrumb", uint64, { write: Privilege.Administer }),
    attribute(GeneralCommissioningAttribute.BasicCommissioningInfo, "basicCommissioningInfo", struct(field(0, "failSafeExpiryLengthSeconds", uint16), field(1, "maxCumulativeFailsafeSeconds", uint16)), { fixed: true }),
    attribute(GeneralCommissioningAttribute.RegulatoryConfig, "regulatoryConfig", enum8),
    attribute(GeneralCommissioningAttribute.LocationCapability, "locationCapability", enum8, { fixed: true }),
    attribute(GeneralCommissioningAttribute.SupportsConcurrentConnection, "supportsConcurrentConnection", bool, { fixed: true }),
  ],
  commands: [
    command(GeneralCommissioningCommand.ArmFailSafe, "armFailSafe", struct(field(0, "expiryLengthSeconds", uint16), field(1, "breadcrumb", uint64)), { ...administer, response: response(GeneralCommissioningCommand.ArmFailSafeResponse) }),
    command(GeneralCommissioningCommand.SetRegulatoryConfig, "setRegulatoryConfig", struct(field(0, "newRegulatoryConfig", enum8), field(1, "countryCode", string(2, 2)), field(2, "breadcrumb", uint64)), {
      ...administer,
      response: response(GeneralCommissioningCommand.SetRegulatoryConfigResponse),
    }),
    command(GeneralCommissioningCommand.CommissioningComplete, "commissioningComplete", empty, { ...administer, fabricScoped: true, response: response(GeneralCommissioningCommand.CommissioningCompleteResponse) }),
  ],
});

export interface GeneralCommissioningOptions {
  failSafe: FailSafeContext;
  store: TransactionalStore;
  /** Fixed by the manufacturer; IndoorOutdoor for devices without a radio (the spec's rule). */
  locationCapability?: number;
  /** False on devices that cannot keep the commissioning channel while joining the operational network. */
  supportsConcurrentConnection?: boolean;
  /** Whether a commissioning window is open (ArmFailSafe over CASE is refused then). */
  commissioningWindowOpen: () => boolean;
  /** The country code of SetRegulatoryConfig, for Basic Information's Location; throws to refuse it. */
  setLocation: (countryCode: string) => void;
  /** After a successful commit: close the window, end PASE sessions (spec 11.10.7.6 steps 2-4). */
  onCommissioningComplete: (fabricIndex: number, context: InvokeContext) => void;
  log?: (level: LogLevel, message: string) => void;
}

interface CommissioningResponse {
  errorCode: number;
  debugText: string;
}

export class GeneralCommissioningServer extends ClusterServer implements FailSafeParticipant {
  breadcrumb = 0n;
  readonly basicCommissioningInfo = { failSafeExpiryLengthSeconds: DEFAULT_FAIL_SAFE_EXPIRY_SECONDS, maxCumulativeFailsafeSeconds: MAX_CUMULATIVE_FAIL_SAFE_SECONDS };
  declare regulatoryConfig: number;
  declare readonly locationCapability: number;
  declare readonly supportsConcurrentConnection: boolean;
  private declare committedRegulatoryConfig: number;
  private declare pendingRegulatoryConfig: number | undefined;
  private declare readonly options: GeneralCommissioningOptions;
  private declare readonly log: (level: LogLevel, message: string) => void;

  constructor(options: GeneralCommissioningOptions) {
    super(GeneralCommissioning);
    this.options = options;
    this.log = options.log ?? (() => {});
    this.locationCapability = options.locationCapability ?? RegulatoryLocation.IndoorOutdoor;
    this.supportsConcurrentConnection = options.supportsConcurrentConnection ?? true;
    this.regulatoryConfig = this.locationCapability;
    this.committedRegulatoryConfig = this.regulatoryConfig;
    options.failSafe.addListener({ expired: () => this.set("breadcrumb", 0n) });
  }

  /** Reads the committed regulatory configuration. */
  load(): void {
    const record = this.options.store.get(REGULATORY_KEY);
    if (!record) return;
    try {
      const config = TlvStruct.decode(record).uint(0);
      if (this.acceptable(config)) this.regulatoryConfig = this.committedRegulatoryConfig = config;
    } catch (error) {
      this.log("warn", `unreadable regulatory record: ${(error as Error).message}`);
    }
  }

  override invoke(command: CommandDefinition, request: unknown, context: InvokeContext): unknown {
    switch (command.id) {
      case GeneralCommissioningCommand.ArmFailSafe:
        return this.armFailSafe(request as { expiryLengthSeconds: number; breadcrumb: bigint }, context);
      case GeneralCommissioningCommand.SetRegulatoryConfig:
        return this.setRegulatoryConfig(request as { newRegulatoryConfig: number; countryCode: string; breadcrumb: bigint }, context);
      case GeneralCommissioningCommand.CommissioningComplete:
        return this.commissioningComplete(context);
      default:
        return super.invoke(command, request, context);
    }
  }

  private armFailSafe(request: { expiryLengthSeconds: number; breadcrumb: bigint }, context: InvokeContext): CommissioningResponse {
    const { failSafe } = this.options;
    if (!failSafe.armed && context.session?.kind === "case" && this.options.commissioningWindowOpen()) {
      return answer(CommissioningError.BusyWithOtherAdmin, "a commissioning window is open: the fail-safe is kept for its commissioner");
    }
    const outcome = failSafe.arm(request.expiryLengthSeconds, context.fabricIndex, context.session, context.afterResponse);
    if (outcome === "busy-with-other-admin") return answer(CommissioningError.BusyWithOtherAdmin, `the fail-safe is armed for fabric ${failSafe.fabricIndex}`);
    this.set("breadcrumb", request.breadcrumb);
    return answer(CommissioningError.Ok);
  }

  private setRegulatoryConfig(request: { newRegulatoryConfig: number; countryCode: string; breadcrumb: bigint }, context: InvokeContext): CommissioningResponse {
    const config = request.newRegulatoryConfig;
    if (!this.acceptable(config)) return answer(CommissioningError.ValueOutsideRange, `regulatory configuration ${config} is not allowed by LocationCapability ${this.locationCapability}`);
    try {
      this.options.setLocation(request.countryCode);
    } catch (error) {
      return answer(CommissioningError.ValueOutsideRange, `country code "${request.countryCode}" refused: ${(error as Error).message}`);
    }
    const { failSafe } = this.options;
    if (failSafe.armed && failSafe.fabricIndex === context.fabricIndex) {
      this.pendingRegulatoryConfig = config;
    } else {
      this.options.store.set(REGULATORY_KEY, encodeRegulatory(config));
      this.committedRegulatoryConfig = config;
    }
    this.set("regulatoryConfig", config);
    this.set("breadcrumb", request.breadcrumb);
    return answer(CommissioningError.Ok);
  }

  private commissioningComplete(context: InvokeContext): CommissioningResponse {
    const { failSafe } = this.options;
    if (!failSafe.armed) return answer(CommissioningError.NoFailSafe, "no fail-safe is armed");
    if (context.session?.kind !== "case" || context.fabricIndex !== failSafe.fabricIndex) {
      return answer(CommissioningError.InvalidAuthentication, "CommissioningComplete must come over CASE from the fabric of the fail-safe");
    }
    const fabricIndex = failSafe.fabricIndex;
    try {
      failSafe.commit();
    } catch (error) {
      this.log("error", `commit of fabric ${fabricIndex} failed: ${(error as Error).message}`);
      throw new StatusError(Status.Failure, "commit failed");
    }
    this.set("breadcrumb", 0n);
    this.options.onCommissioningComplete(fabricIndex, context);
    return answer(CommissioningError.Ok);
  }

  // FailSafeParticipant: the regulatory configuration

  stageCommit(): void {
    if (this.pendingRegulatoryConfig !== undefined) this.options.store.set(REGULATORY_KEY, encodeRegulatory(this.pendingRegulatoryConfig));
  }

  applyCommit(): void {
    if (this.pendingRegulatoryConfig !== undefined) this.committedRegulatoryConfig = this.pendingRegulatoryConfig;
    this.pendingRegulatoryConfig = undefined;
  }

  revert(): void {
    if (this.pendingRegulatoryConfig === undefined) return;
    this.pendingRegulatoryConfig = undefined;
    this.set("regulatoryConfig", this.committedRegulatoryConfig);
  }

  private acceptable(config: number): boolean {
    if (config > RegulatoryLocation.IndoorOutdoor) return false;
    return this.locationCapability === RegulatoryLocation.IndoorOutdoor || config === this.locationCapability;
  }
}

function answer(errorCode: number, debugText = ""): CommissioningResponse {
  return { errorCode, debugText: debugText.slice(0, 128) };
}

function encodeRegulatory(config: number): Uint8Array {
  return new TlvWriter().startStructure(undefined).uint(0, config).end().finish();
}
