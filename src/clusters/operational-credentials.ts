// Operational Credentials cluster (0x003E, Core spec 11.18, revision 1 as in Matter 1.4): device
// attestation, the CSR of a new operational key, and the fabric table's commissioning steps.
//
// - AttestationRequest / CSRRequest: the elements (attestation: CD, nonce, timestamp 0 since the
//   node keeps no real time; NOCSR: CSR, nonce) signed with the DAC key over elements || the
//   session's attestation challenge (spec 11.18.4.7, 11.18.4.9).
// - CertificateChainRequest: the DAC (1) or the PAI (2), as DER.
// - AddTrustedRootCertificate, CSRRequest, AddNOC, UpdateNOC need the fail-safe armed for the
//   accessing fabric (FAILSAFE_REQUIRED otherwise) and run at most once in it (CONSTRAINT_ERROR),
//   as CHIP's OperationalCredentials server checks; AddNOC gives the CaseAdminSubject Administer
//   through the Access Control cluster, and both leave everything pending until
//   CommissioningComplete. Refusals of the NOC commands come as NOCResponse with a
//   NodeOperationalCertStatusEnum code.
// - RemoveFabric removes a committed fabric and its ACL in one commit; the device ends that
//   fabric's sessions once the response has been acknowledged.
// Attributes NOCs, Fabrics (fabric-scoped; the NOC and ICAC are fabric-sensitive), SupportedFabrics,
// CommissionedFabrics, TrustedRootCertificates and CurrentFabricIndex show the pending fabric too.
import { TlvWriter } from "../codec/tlv";
import { concatBytes } from "../codec/bytes";
import { encodeNocsrElements } from "../certs/csr";
import type { FailSafeContext } from "../commissioning/fail-safe";
import { OperationalCertError, OperationalCertStatus, type Fabric, type OperationalFabricTable } from "../commissioning/fabric-table";
import type { DeviceAttestation } from "../factory";
import { isCaseSubject } from "../interaction/access-control";
import { Privilege, Status } from "../interaction/constants";
import { StatusError } from "../interaction/errors";
import { ClusterServer, attribute, command, defineCluster, type AttributeDefinition, type CommandDefinition, type InvokeContext, type ReadContext } from "../interaction/model";
import {
  bool,
  enum8,
  fabricIndex,
  fabricIndexField,
  field,
  list,
  nodeId,
  nullable,
  octets,
  string,
  struct,
  uint64,
  uint8,
  vendorId,
} from "../interaction/schema";
import type { LogLevel } from "../platform";
import type { AccessControlServer } from "./access-control";
import { ClusterId } from "./ids";

export enum OperationalCredentialsAttribute {
  Nocs = 0x0000,
  Fabrics = 0x0001,
  SupportedFabrics = 0x0002,
  CommissionedFabrics = 0x0003,
  TrustedRootCertificates = 0x0004,
  CurrentFabricIndex = 0x0005,
}

export enum OperationalCredentialsCommand {
  AttestationRequest = 0x00,
  AttestationResponse = 0x01,
  CertificateChainRequest = 0x02,
  CertificateChainResponse = 0x03,
  CsrRequest = 0x04,
  CsrResponse = 0x05,
  AddNoc = 0x06,
  UpdateNoc = 0x07,
  NocResponse = 0x08,
  UpdateFabricLabel = 0x09,
  RemoveFabric = 0x0a,
  AddTrustedRootCertificate = 0x0b,
}

export enum CertificateChainType { Dac = 1, Pai = 2 }

/** Attestation elements (spec 11.18.4.7): CD [1], nonce [2], timestamp [3], firmware information [4]. */
export function encodeAttestationElements(certificationDeclaration: Uint8Array, nonce: Uint8Array, timestamp = 0): Uint8Array {
  return new TlvWriter().startStructure(undefined).bytes(1, certificationDeclaration).bytes(2, nonce).uint(3, timestamp).end().finish();
}

const admin = { privilege: Privilege.Administer };
const MAX_CERT = 400;
const certificate = octets(MAX_CERT);
const optional = { optional: true };
const sensitive = { fabricSensitive: true };
const signature = field(1, "attestationSignature", octets(64, 64));
const nonce = (name: string) => field(0, name, octets(32, 32));
const nocCommand = { ...admin, response: { id: OperationalCredentialsCommand.NocResponse, schema: struct(field(0, "statusCode", enum8), field(1, "fabricIndex", fabricIndex, optional), field(2, "debugText", string(128), optional)) } };
const fabricNocCommand = { ...nocCommand, fabricScoped: true };
const nocFields = [field(0, "nocValue", certificate), field(1, "icacValue", certificate, optional)];

const NocStruct = struct(field(1, "noc", certificate, sensitive), field(2, "icac", nullable(certificate), sensitive), fabricIndexField);
const FabricDescriptorStruct = struct(
  field(1, "rootPublicKey", octets(65, 65)),
  field(2, "vendorId", vendorId),
  field(3, "fabricId", uint64),
  field(4, "nodeId", nodeId),
  field(5, "label", string(32)),
  fabricIndexField,
);

export const OperationalCredentials = defineCluster({
  id: ClusterId.OperationalCredentials,
  name: "OperationalCredentials",
  revision: 1,
  attributes: [
    attribute(OperationalCredentialsAttribute.Nocs, "nocs", list(NocStruct), { read: Privilege.Administer, fabricScoped: true, changesOmitted: true }),
    attribute(OperationalCredentialsAttribute.Fabrics, "fabrics", list(FabricDescriptorStruct), { fabricScoped: true }),
    attribute(OperationalCredentialsAttribute.SupportedFabrics, "supportedFabrics", uint8, { fixed: true }),
    attribute(OperationalCredentialsAttribute.CommissionedFabrics, "commissionedFabrics", uint8),
    attribute(OperationalCredentialsAttribute.TrustedRootCertificates, "trustedRootCertificates", list(certificate), { changesOmitted: true }),
    attribute(OperationalCredentialsAttribute.CurrentFabricIndex, "currentFabricIndex", uint8),
  ],
  commands: [
    command(OperationalCredentialsCommand.AttestationRequest, "attestationRequest", struct(nonce("attestationNonce")), {
      ...admin,
      response: { id: OperationalCredentialsCommand.AttestationResponse, schema: struct(field(0, "attestationElements", octets(900)), signature) },
    }),
    command(OperationalCredentialsCommand.CertificateChainRequest, "certificateChainRequest", struct(field(0, "certificateType", enum8)), {
      ...admin,
      response: { id: OperationalCredentialsCommand.CertificateChainResponse, schema: struct(field(0, "certificate", octets(600))) },
    }),
    command(OperationalCredentialsCommand.CsrRequest, "csrRequest", struct(nonce("csrNonce"), field(1, "isForUpdateNoc", bool, optional)), {
      ...admin,
      response: { id: OperationalCredentialsCommand.CsrResponse, schema: struct(field(0, "nocsrElements", octets(900)), signature) },
    }),
    command(OperationalCredentialsCommand.AddNoc, "addNoc", struct(...nocFields, field(2, "ipkValue", octets(16, 16)), field(3, "caseAdminSubject", uint64), field(4, "adminVendorId", vendorId)), nocCommand),
    command(OperationalCredentialsCommand.UpdateNoc, "updateNoc", struct(...nocFields), fabricNocCommand),
    command(OperationalCredentialsCommand.UpdateFabricLabel, "updateFabricLabel", struct(field(0, "label", string(32))), fabricNocCommand),
    command(OperationalCredentialsCommand.RemoveFabric, "removeFabric", struct(field(0, "fabricIndex", fabricIndex)), nocCommand),
    command(OperationalCredentialsCommand.AddTrustedRootCertificate, "addTrustedRootCertificate", struct(field(0, "rootCaCertificate", certificate)), admin),
  ],
});

export interface OperationalCredentialsOptions {
  fabrics: OperationalFabricTable;
  failSafe: FailSafeContext;
  attestation: DeviceAttestation;
  accessControl: AccessControlServer;
  /** AddNOC created (pending) fabric `fabric`. */
  onFabricAdded?: (fabric: Fabric) => void;
  /** RemoveFabric is about to remove `fabric` (Basic Information's Leave event). */
  onFabricRemoving?: (fabric: Fabric) => void;
  /** `fabric` is gone; its sessions are to end after the response (`context.afterResponse`). */
  onFabricRemoved?: (fabric: Fabric, context: InvokeContext) => void;
  log?: (level: LogLevel, message: string) => void;
}

interface NocAnswer {
  statusCode: number;
  fabricIndex?: number;
  debugText?: string;
}

export class OperationalCredentialsServer extends ClusterServer {
  declare readonly supportedFabrics: number;
  private declare readonly options: OperationalCredentialsOptions;
  private declare readonly log: (level: LogLevel, message: string) => void;

  constructor(options: OperationalCredentialsOptions) {
    super(OperationalCredentials);
    this.options = options;
    this.supportedFabrics = options.fabrics.maxFabrics;
    this.log = options.log ?? (() => {});
    options.fabrics.onChanged(() => {
      if (!this.isAttached) return;
      for (const id of [OperationalCredentialsAttribute.Nocs, OperationalCredentialsAttribute.Fabrics, OperationalCredentialsAttribute.CommissionedFabrics, OperationalCredentialsAttribute.TrustedRootCertificates]) this.attributeChanged(id);
    });
  }

  override readAttribute(attribute: AttributeDefinition, context: ReadContext): unknown {
    const fabrics = [...this.options.fabrics.fabrics()];
    switch (attribute.id) {
      case OperationalCredentialsAttribute.Nocs:
        return fabrics.map(({ noc, icac, fabricIndex }) => ({ noc, icac: icac ?? null, fabricIndex }));
      case OperationalCredentialsAttribute.Fabrics:
        return fabrics.map(({ rootPublicKey, vendorId, fabricId, nodeId, label, fabricIndex }) => ({ rootPublicKey, vendorId, fabricId, nodeId, label, fabricIndex }));
      case OperationalCredentialsAttribute.CommissionedFabrics:
        return fabrics.length;
      case OperationalCredentialsAttribute.TrustedRootCertificates: {
        const roots = fabrics.map((fabric) => fabric.rcac);
        const pendingRoot = this.options.fabrics.pendingTrustedRoot;
        if (pendingRoot) roots.push(pendingRoot);
        return roots;
      }
      case OperationalCredentialsAttribute.CurrentFabricIndex:
        return context.fabricIndex;
      default:
        return super.readAttribute(attribute, context);
    }
  }

  override invoke(command: CommandDefinition, request: unknown, context: InvokeContext): unknown {
    switch (command.id) {
      case OperationalCredentialsCommand.AttestationRequest:
        return this.attestationRequest(request as { attestationNonce: Uint8Array }, context);
      case OperationalCredentialsCommand.CertificateChainRequest:
        return this.certificateChain((request as { certificateType: number }).certificateType);
      case OperationalCredentialsCommand.CsrRequest:
        return this.csrRequest(request as { csrNonce: Uint8Array; isForUpdateNoc?: boolean }, context);
      case OperationalCredentialsCommand.AddTrustedRootCertificate:
        return this.addTrustedRoot((request as { rootCaCertificate: Uint8Array }).rootCaCertificate, context);
      case OperationalCredentialsCommand.AddNoc:
        return this.addNoc(request as { nocValue: Uint8Array; icacValue?: Uint8Array; ipkValue: Uint8Array; caseAdminSubject: bigint; adminVendorId: number }, context);
      case OperationalCredentialsCommand.UpdateNoc:
        return this.updateNoc(request as { nocValue: Uint8Array; icacValue?: Uint8Array }, context);
      case OperationalCredentialsCommand.UpdateFabricLabel:
        return this.updateFabricLabel((request as { label: string }).label, context);
      case OperationalCredentialsCommand.RemoveFabric:
        return this.removeFabric((request as { fabricIndex: number }).fabricIndex, context);
      default:
        return super.invoke(command, request, context);
    }
  }

  private challengeOf(context: InvokeContext): Uint8Array {
    const session = context.session;
    if (!session) throw new StatusError(Status.Failure, "attestation needs a secure session");
    return session.attestationChallenge;
  }

  /** Elements signed with the DAC key over elements || the session's attestation challenge. */
  private signed(elements: Uint8Array, context: InvokeContext): Uint8Array {
    return this.options.attestation.signWithDac(concatBytes(elements, this.challengeOf(context)));
  }

  private attestationRequest(request: { attestationNonce: Uint8Array }, context: InvokeContext) {
    const elements = encodeAttestationElements(this.options.attestation.certificationDeclaration, request.attestationNonce);
    return { attestationElements: elements, attestationSignature: this.signed(elements, context) };
  }

  private certificateChain(type: number) {
    const { attestation } = this.options;
    if (type === CertificateChainType.Dac) return { certificate: attestation.dacCertificate };
    if (type === CertificateChainType.Pai) return { certificate: attestation.paiCertificate };
    throw new StatusError(Status.InvalidCommand, `certificate type ${type}`);
  }

  /**
   * The fail-safe must be armed for the accessing fabric (0 for a PASE commissioner before AddNOC)
   * and not have seen AddNOC or UpdateNOC (nor, with `orRoot`, AddTrustedRootCertificate).
   */
  private requireNoNoc(context: InvokeContext, orRoot = false): void {
    const { failSafe } = this.options;
    if (!failSafe.armed || failSafe.fabricIndex !== context.fabricIndex) throw new StatusError(Status.FailsafeRequired, "fail-safe not armed by this fabric");
    if (failSafe.addNocInvoked || failSafe.updateNocInvoked || (orRoot && failSafe.addTrustedRootInvoked)) {
      throw new StatusError(Status.ConstraintError, `a NOC${orRoot ? " or root" : ""} was already added in this fail-safe`);
    }
  }

  private csrRequest(request: { csrNonce: Uint8Array; isForUpdateNoc?: boolean }, context: InvokeContext) {
    this.requireNoNoc(context);
    const forUpdate = request.isForUpdateNoc === true;
    if (forUpdate && context.fabricIndex === 0) throw new StatusError(Status.InvalidCommand, "a CSR for UpdateNOC needs an accessing fabric");
    const { csr } = this.options.fabrics.createOperationalKey(forUpdate);
    const elements = encodeNocsrElements({ csr, csrNonce: request.csrNonce });
    return { nocsrElements: elements, attestationSignature: this.signed(elements, context) };
  }

  private addTrustedRoot(rcac: Uint8Array, context: InvokeContext): undefined {
    this.requireNoNoc(context, true);
    const { failSafe, fabrics } = this.options;
    try {
      fabrics.addTrustedRoot(rcac);
    } catch (error) {
      throw new StatusError(Status.InvalidCommand, `not a valid root certificate: ${(error as Error).message}`);
    }
    failSafe.addTrustedRootInvoked = true;
    return undefined;
  }

  private addNoc(request: { nocValue: Uint8Array; icacValue?: Uint8Array; ipkValue: Uint8Array; caseAdminSubject: bigint; adminVendorId: number }, context: InvokeContext): NocAnswer {
    this.requireNoNoc(context);
    const { failSafe, fabrics } = this.options;
    if (!failSafe.addTrustedRootInvoked) return refusal(OperationalCertStatus.InvalidNoc, "AddTrustedRootCertificate must precede AddNOC");
    const subject = request.caseAdminSubject;
    if (!isCaseSubject(subject)) return refusal(OperationalCertStatus.InvalidAdminSubject, `CaseAdminSubject 0x${subject.toString(16)} is neither a node id nor a CAT`);
    return answering(() => {
      const fabric = fabrics.addFabric({ noc: request.nocValue, icac: presentIcac(request.icacValue), ipkEpochKey: request.ipkValue, vendorId: request.adminVendorId });
      const { fabricIndex } = fabric;
      failSafe.noteNewFabric(fabricIndex);
      this.options.accessControl.grantAdministrator(fabricIndex, subject);
      this.log("info", `AddNOC: fabric ${fabricIndex} (id 0x${fabric.fabricId.toString(16)}, node 0x${fabric.nodeId.toString(16)}) pending`);
      this.options.onFabricAdded?.(fabric);
      return ok(fabricIndex);
    }, (error) => this.log("warn", `AddNOC refused: ${error.message}`));
  }

  private updateNoc(request: { nocValue: Uint8Array; icacValue?: Uint8Array }, context: InvokeContext): NocAnswer {
    this.requireNoNoc(context, true);
    const { failSafe, fabrics } = this.options;
    return answering(() => {
      const { fabricIndex, nodeId } = fabrics.updateFabric(context.fabricIndex, { noc: request.nocValue, icac: presentIcac(request.icacValue) });
      failSafe.noteUpdatedFabric(fabricIndex);
      this.log("info", `UpdateNOC: fabric ${fabricIndex} (node 0x${nodeId.toString(16)}) pending`);
      return ok(fabricIndex);
    });
  }

  private updateFabricLabel(label: string, { fabricIndex }: InvokeContext): NocAnswer {
    return answering(() => {
      this.options.fabrics.setLabel(fabricIndex, label);
      return ok(fabricIndex);
    });
  }

  private removeFabric(index: number, context: InvokeContext): NocAnswer {
    const { fabrics, failSafe } = this.options;
    const fabric = fabrics.committedFabrics().find((candidate) => candidate.fabricIndex === index);
    if (!fabric) return refusal(OperationalCertStatus.InvalidFabricIndex, `no fabric ${index}`);
    // Pending changes of the fabric going away go first (CHIP expires its fail-safe too).
    if (failSafe.armed && failSafe.fabricIndex === index) failSafe.expire("disarmed", context.afterResponse);
    this.options.onFabricRemoving?.(fabric);
    try {
      fabrics.remove(index);
    } catch (error) {
      if (error instanceof OperationalCertError) return refusal(error.status, error.message);
      this.log("error", `removing fabric ${index} failed: ${(error as Error).message}`);
      throw new StatusError(Status.Failure, "removal failed");
    }
    this.options.onFabricRemoved?.(fabric, context);
    return ok(index);
  }
}

function ok(fabricIndex: number): NocAnswer {
  return { statusCode: OperationalCertStatus.Ok, fabricIndex };
}

/** Runs a NOC command; the fabric table's refusals become NOCResponse statuses. */
function answering(run: () => NocAnswer, refused?: (error: OperationalCertError) => void): NocAnswer {
  try {
    return run();
  } catch (error) {
    if (!(error instanceof OperationalCertError)) throw error;
    refused?.(error);
    return refusal(error.status, error.message);
  }
}

function refusal(statusCode: number, debugText: string): NocAnswer {
  return { statusCode, debugText: debugText.slice(0, 128) };
}

/** Controllers without an intermediate send ICACValue as an empty string (matter.js does): no ICAC. */
function presentIcac(icac: Uint8Array | undefined): Uint8Array | undefined {
  return icac && icac.length > 0 ? icac : undefined;
}
