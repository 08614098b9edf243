// Administrator Commissioning cluster (0x003C, Core spec 11.19, revision 1) with the Basic feature:
// an administrator opens a commissioning window for another commissioner, with a verifier of its
// own (OpenCommissioningWindow, the enhanced window) or the factory one
// (OpenBasicCommissioningWindow), or revokes it. The commands need Administer and a timed invoke.
//
// Refusals (StatusCodeEnum, as cluster-specific FAILURE statuses): Busy when a window is already
// open or the fail-safe is armed; PAKEParameterError for a verifier that is not w0 (32 bytes) ||
// L (65 bytes, a point), or iterations or salt out of range; WindowNotOpen for RevokeCommissioning
// without a window (after its clean-up, which always runs). A timeout outside 180..900 s is
// INVALID_COMMAND.
import { isValidPublicKey } from "../crypto";
import {
  MAX_COMMISSIONING_TIMEOUT_SECONDS,
  MIN_COMMISSIONING_TIMEOUT_SECONDS,
  type CommissioningWindowManager,
} from "../commissioning/commissioning-window";
import type { FailSafeContext } from "../commissioning/fail-safe";
import { Privilege, Status } from "../interaction/constants";
import { StatusError } from "../interaction/errors";
import { ClusterServer, attribute, command, defineCluster, type AttributeDefinition, type CommandDefinition, type InvokeContext, type ReadContext } from "../interaction/model";
import { empty, enum8, fabricIndex, field, nullable, octets, struct, uint, uint16, uint32, vendorId } from "../interaction/schema";
import { PBKDF_MAX_ITERATIONS, PBKDF_MAX_SALT_LENGTH, PBKDF_MIN_ITERATIONS, PBKDF_MIN_SALT_LENGTH } from "../securechannel/messages";
import type { PaseVerifier } from "../securechannel/pase";
import { ClusterId } from "./ids";

export enum AdministratorCommissioningAttribute { WindowStatus = 0x00, AdminFabricIndex = 0x01, AdminVendorId = 0x02 }
export enum AdministratorCommissioningCommand { OpenCommissioningWindow = 0x00, OpenBasicCommissioningWindow = 0x01, RevokeCommissioning = 0x02 }
export enum AdministratorCommissioningStatus { Busy = 2, PakeParameterError = 3, WindowNotOpen = 4 }
export enum AdministratorCommissioningFeature { Basic = 1 << 0 }

/** PAKE passcode verifier of OpenCommissioningWindow: w0 (32 bytes) || L (65 bytes). */
export const PAKE_VERIFIER_LENGTH = 97;

const timedAdmin = { privilege: Privilege.Administer, timed: true };

export const AdministratorCommissioning = defineCluster({
  id: ClusterId.AdministratorCommissioning,
  name: "AdministratorCommissioning",
  revision: 1,
  featureMap: AdministratorCommissioningFeature.Basic,
  attributes: [
    attribute(AdministratorCommissioningAttribute.WindowStatus, "windowStatus", enum8),
    attribute(AdministratorCommissioningAttribute.AdminFabricIndex, "adminFabricIndex", nullable(fabricIndex)),
    attribute(AdministratorCommissioningAttribute.AdminVendorId, "adminVendorId", nullable(vendorId)),
  ],
  commands: [
    command(
      AdministratorCommissioningCommand.OpenCommissioningWindow,
      "openCommissioningWindow",
      struct(
        field(0, "commissioningTimeout", uint16),
        field(1, "pakePasscodeVerifier", octets(256)),
        field(2, "discriminator", uint(16, 0, 0xfff)),
        field(3, "iterations", uint32),
        field(4, "salt", octets(64)),
      ),
      timedAdmin,
    ),
    command(AdministratorCommissioningCommand.OpenBasicCommissioningWindow, "openBasicCommissioningWindow", struct(field(0, "commissioningTimeout", uint16)), timedAdmin),
    command(AdministratorCommissioningCommand.RevokeCommissioning, "revokeCommissioning", empty, timedAdmin),
  ],
});

export interface AdministratorCommissioningOptions {
  window: CommissioningWindowManager;
  failSafe: FailSafeContext;
  /** The factory verifier and discriminator, for the basic window. */
  basicWindow: () => { verifier: PaseVerifier; discriminator: number };
  /** The admin vendor id of a fabric (the AdminVendorId its AddNOC gave). */
  vendorIdOf: (fabricIndex: number) => number | undefined;
  /** RevokeCommissioning: end the PASE session of the commissioner. */
  endPaseSessions: () => void;
}

export class AdministratorCommissioningServer extends ClusterServer {
  private declare readonly options: AdministratorCommissioningOptions;

  constructor(options: AdministratorCommissioningOptions) {
    super(AdministratorCommissioning);
    this.options = options;
  }

  /** The window manager changed what these attributes show. */
  windowChanged(): void {
    if (!this.isAttached) return;
    for (const id of [AdministratorCommissioningAttribute.WindowStatus, AdministratorCommissioningAttribute.AdminFabricIndex, AdministratorCommissioningAttribute.AdminVendorId]) this.attributeChanged(id);
  }

  override readAttribute(attribute: AttributeDefinition, context: ReadContext): unknown {
    const { window } = this.options;
    switch (attribute.id) {
      case AdministratorCommissioningAttribute.WindowStatus:
        return window.status;
      case AdministratorCommissioningAttribute.AdminFabricIndex:
        return window.isOpen ? window.adminFabricIndex : null;
      case AdministratorCommissioningAttribute.AdminVendorId:
        return window.isOpen ? window.adminVendorId : null;
      default:
        return super.readAttribute(attribute, context);
    }
  }

  override invoke(command: CommandDefinition, request: unknown, context: InvokeContext): unknown {
    switch (command.id) {
      case AdministratorCommissioningCommand.OpenCommissioningWindow:
        return this.openEnhanced(request as { commissioningTimeout: number; pakePasscodeVerifier: Uint8Array; discriminator: number; iterations: number; salt: Uint8Array }, context);
      case AdministratorCommissioningCommand.OpenBasicCommissioningWindow: {
        const { verifier, discriminator } = this.options.basicWindow();
        return this.openWindow("basic", verifier, discriminator, (request as { commissioningTimeout: number }).commissioningTimeout, context);
      }
      case AdministratorCommissioningCommand.RevokeCommissioning:
        return this.revoke(context);
      default:
        return super.invoke(command, request, context);
    }
  }

  private openEnhanced(request: { commissioningTimeout: number; pakePasscodeVerifier: Uint8Array; discriminator: number; iterations: number; salt: Uint8Array }, context: InvokeContext): undefined {
    const pakeError = (why: string) => StatusError.cluster(AdministratorCommissioningStatus.PakeParameterError, why);
    const verifierBytes = request.pakePasscodeVerifier;
    if (verifierBytes.length !== PAKE_VERIFIER_LENGTH) throw pakeError(`the PAKE verifier is ${verifierBytes.length} bytes, not ${PAKE_VERIFIER_LENGTH}`);
    if (request.iterations < PBKDF_MIN_ITERATIONS || request.iterations > PBKDF_MAX_ITERATIONS) throw pakeError(`${request.iterations} PBKDF iterations are out of range`);
    if (request.salt.length < PBKDF_MIN_SALT_LENGTH || request.salt.length > PBKDF_MAX_SALT_LENGTH) throw pakeError(`a ${request.salt.length}-byte salt is out of range`);
    const L = verifierBytes.slice(32);
    if (!isValidPublicKey(L)) throw pakeError("L is not a P-256 point");
    const verifier: PaseVerifier = { w0: verifierBytes.slice(0, 32), L, salt: request.salt, iterations: request.iterations };
    try {
      return this.openWindow("enhanced", verifier, request.discriminator, request.commissioningTimeout, context);
    } finally {
      verifier.w0.fill(0);
    }
  }

  private openWindow(kind: "basic" | "enhanced", verifier: PaseVerifier, discriminator: number, timeout: number, context: InvokeContext): undefined {
    const { window, failSafe } = this.options;
    if (window.isOpen) throw StatusError.cluster(AdministratorCommissioningStatus.Busy, "a commissioning window is already open");
    if (failSafe.armed) throw StatusError.cluster(AdministratorCommissioningStatus.Busy, "the fail-safe is armed: commissioning is in progress");
    if (timeout < MIN_COMMISSIONING_TIMEOUT_SECONDS || timeout > MAX_COMMISSIONING_TIMEOUT_SECONDS) {
      throw new StatusError(Status.InvalidCommand, `a commissioning timeout of ${timeout} s is outside ${MIN_COMMISSIONING_TIMEOUT_SECONDS}..${MAX_COMMISSIONING_TIMEOUT_SECONDS}`);
    }
    const vendor = this.options.vendorIdOf(context.fabricIndex);
    try {
      window.open({ kind, verifier, discriminator, timeoutSeconds: timeout, ...(vendor !== undefined ? { admin: { fabricIndex: context.fabricIndex, vendorId: vendor } } : {}) });
    } catch (error) {
      throw StatusError.cluster(AdministratorCommissioningStatus.PakeParameterError, (error as Error).message);
    }
    return undefined;
  }

  private revoke(context: InvokeContext): undefined {
    const { window, failSafe } = this.options;
    // Spec 11.19.8.3: the fail-safe expires and the PASE session ends whether or not a window is open.
    failSafe.expire("revoked", context.afterResponse);
    context.afterResponse(() => this.options.endPaseSessions());
    if (!window.isOpen) throw StatusError.cluster(AdministratorCommissioningStatus.WindowNotOpen, "no commissioning window is open");
    window.close("revoked");
    return undefined;
  }
}
