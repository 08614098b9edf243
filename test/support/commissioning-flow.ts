// The tests' own commissioner driving the commissioning clusters: PASE (the independent
// TestCommissioner), then ArmFailSafe, SetRegulatoryConfig, AttestationRequest,
// CertificateChainRequest, CSRRequest, AddTrustedRootCertificate, AddNOC, CASE on the new fabric and
// CommissioningComplete, each as a separate step so that tests can stop, repeat or break any of
// them. Requests and responses go through matter.js's cluster schemas (ImClient).
import { AccessControl } from "@matter/types/clusters/access-control";
import { GeneralCommissioning } from "@matter/types/clusters/general-commissioning";
import { OperationalCredentials } from "@matter/types/clusters/operational-credentials";
import { TlvObject, TlvField, TlvByteString, TlvUInt32, TlvOptionalField } from "@matter/types";
import { TestCommissioner, type ControllerIdentity, type PaseResult } from "./commissioner";
import { FabricAuthority } from "./credentials";
import { ImClient, type ClusterModel } from "./im-client";
import { concat, random, verifySignature } from "./node-crypto";
import type { Endpoint, SecureContext, TestPeer } from "./test-peer";

export const GeneralCommissioningCluster = GeneralCommissioning as unknown as ClusterModel;
export const OperationalCredentialsCluster = OperationalCredentials as unknown as ClusterModel;
export const AccessControlCluster = AccessControl as unknown as ClusterModel;

/** Attestation elements (spec 11.18.4.7) as a commissioner reads them. */
const TlvAttestationElements = TlvObject({
  certificationDeclaration: TlvField(1, TlvByteString),
  attestationNonce: TlvField(2, TlvByteString),
  timestamp: TlvField(3, TlvUInt32),
  firmwareInformation: TlvOptionalField(4, TlvByteString),
});
/** NOCSR elements (spec 11.18.4.9). */
const TlvNocsrElements = TlvObject({ csr: TlvField(1, TlvByteString), csrNonce: TlvField(2, TlvByteString) });

export interface FabricSetup {
  fabricId: bigint;
  deviceNodeId: bigint;
  adminNodeId: bigint;
  adminVendorId?: number;
}

export class CommissioningFlow {
  readonly commissioner: TestCommissioner;
  pase: PaseResult | undefined;
  paseClient: ImClient | undefined;
  authority: FabricAuthority | undefined;
  controller: ControllerIdentity | undefined;
  caseSession: SecureContext | undefined;
  caseClient: ImClient | undefined;
  fabricIndex: number | undefined;
  csrPublicKey: Uint8Array | undefined;

  constructor(
    readonly peer: TestPeer,
    readonly device: Endpoint,
    readonly setup: FabricSetup,
  ) {
    this.commissioner = new TestCommissioner(peer, device);
  }

  get pc(): ImClient {
    if (!this.paseClient) throw new Error("no PASE session");
    return this.paseClient;
  }

  async openPase(passcode: number): Promise<PaseResult> {
    this.pase = await this.commissioner.pase({ passcode, timeoutMs: 10_000 });
    this.paseClient = new ImClient(this.peer, this.pase.session);
    return this.pase;
  }

  armFailSafe(seconds: number, breadcrumb = 1n, client: ImClient = this.pc) {
    return client.invoke(0, GeneralCommissioningCluster, "armFailSafe", { expiryLengthSeconds: seconds, breadcrumb });
  }

  setRegulatoryConfig(config = 2, countryCode = "XX", breadcrumb = 2n) {
    return this.pc.invoke(0, GeneralCommissioningCluster, "setRegulatoryConfig", { newRegulatoryConfig: config, countryCode, breadcrumb });
  }

  /** AttestationRequest with a fresh nonce; decodes the elements and checks the signature with `dacPublicKey`. */
  async attest(dacPublicKey: Uint8Array) {
    const nonce = random(32);
    const outcome = await this.pc.invoke(0, OperationalCredentialsCluster, "attestationRequest", { attestationNonce: nonce });
    const response = outcome.response as { attestationElements: Uint8Array; attestationSignature: Uint8Array };
    const elements = TlvAttestationElements.decode(response.attestationElements);
    const signedOver = concat(response.attestationElements, this.pase!.attestationChallenge);
    return { nonce, elements, signatureValid: verifySignature(dacPublicKey, signedOver, response.attestationSignature), response };
  }

  async certificate(type: number): Promise<Uint8Array> {
    const outcome = await this.pc.invoke(0, OperationalCredentialsCluster, "certificateChainRequest", { certificateType: type });
    return new Uint8Array((outcome.response as { certificate: Uint8Array }).certificate);
  }

  /** CSRRequest; decodes the NOCSR elements and checks their signature with `dacPublicKey`. */
  async csr(dacPublicKey: Uint8Array, client: ImClient = this.pc, challenge: Uint8Array = this.pase!.attestationChallenge, isForUpdateNoc?: boolean) {
    const nonce = random(32);
    const outcome = await client.invoke(0, OperationalCredentialsCluster, "csrRequest", { csrNonce: nonce, ...(isForUpdateNoc !== undefined ? { isForUpdateNoc } : {}) });
    if (!outcome.response) return { outcome, nonce };
    const response = outcome.response as { nocsrElements: Uint8Array; attestationSignature: Uint8Array };
    const elements = TlvNocsrElements.decode(response.nocsrElements);
    const signatureValid = verifySignature(dacPublicKey, concat(response.nocsrElements, challenge), response.attestationSignature);
    return { outcome, nonce, elements, signatureValid };
  }

  async makeAuthority(): Promise<FabricAuthority> {
    this.authority ??= await FabricAuthority.create(this.setup.fabricId);
    return this.authority;
  }

  async addTrustedRoot(client: ImClient = this.pc) {
    const authority = await this.makeAuthority();
    return client.invoke(0, OperationalCredentialsCluster, "addTrustedRootCertificate", { rootCaCertificate: authority.rcac });
  }

  /** AddNOC with a NOC the authority issues for `publicKey` (the CSR's). */
  async addNoc(publicKey: Uint8Array, client: ImClient = this.pc) {
    const authority = await this.makeAuthority();
    const noc = await authority.issueForKey(publicKey, this.setup.deviceNodeId);
    const outcome = await client.invoke(0, OperationalCredentialsCluster, "addNoc", {
      nocValue: noc,
      ...(authority.icac ? { icacValue: authority.icac } : {}),
      ipkValue: authority.ipkEpochKey,
      caseAdminSubject: this.setup.adminNodeId,
      adminVendorId: this.setup.adminVendorId ?? 0xfff1,
    });
    const response = outcome.response as { statusCode: number; fabricIndex?: number } | undefined;
    if (response?.statusCode === 0) this.fabricIndex = response.fabricIndex;
    return outcome;
  }

  /** The administrator's identity on the fabric (made once). */
  async adminIdentity(): Promise<ControllerIdentity> {
    if (!this.controller) {
      const authority = await this.makeAuthority();
      this.controller = { authority, credentials: await authority.issue(this.setup.adminNodeId), resumption: new Map() };
    }
    return this.controller;
  }

  /** CASE to the device on the fabric as the administrator; returns an IM client over it. */
  async openCase(identity?: ControllerIdentity): Promise<ImClient> {
    const controller = identity ?? (await this.adminIdentity());
    const result = await this.commissioner.case({ controller, deviceNodeId: this.setup.deviceNodeId, resume: false, timeoutMs: 10_000 });
    const client = new ImClient(this.peer, result.session);
    if (!identity) {
      this.caseSession = result.session;
      this.caseClient = client;
    }
    return client;
  }

  commissioningComplete(client: ImClient) {
    return client.invoke(0, GeneralCommissioningCluster, "commissioningComplete");
  }

  /** Every step, each required to succeed; returns the administrator's CASE client. */
  async run(passcode: number, dacPublicKey: Uint8Array): Promise<ImClient> {
    await this.openPase(passcode);
    return this.commission(dacPublicKey);
  }

  /** The steps after PASE: ArmFailSafe through CommissioningComplete, each required to succeed. */
  async commission(dacPublicKey: Uint8Array, options: { regulatoryConfig?: number; countryCode?: string } = {}): Promise<ImClient> {
    expectOk(await this.armFailSafe(120), "ArmFailSafe");
    expectOk(await this.setRegulatoryConfig(options.regulatoryConfig ?? 2, options.countryCode ?? "XX"), "SetRegulatoryConfig");
    const csr = await this.csr(dacPublicKey);
    if (!csr.signatureValid || !csr.elements) throw new Error("CSRResponse signature does not verify");
    this.csrPublicKey = publicKeyOfCsr(new Uint8Array(csr.elements.csr));
    const root = await this.addTrustedRoot();
    if (root.status !== 0) throw new Error(`AddTrustedRootCertificate: status ${root.status}`);
    expectOk(await this.addNoc(this.csrPublicKey), "AddNOC");
    const client = await this.openCase();
    expectOk(await this.commissioningComplete(client), "CommissioningComplete");
    return client;
  }
}

/** Fails unless a General Commissioning or NOC response says OK. */
export function expectOk(outcome: { status: number; response?: any }, what: string): void {
  if (outcome.status !== 0) throw new Error(`${what}: IM status 0x${outcome.status.toString(16)}`);
  const code = outcome.response?.errorCode ?? outcome.response?.statusCode;
  if (code !== undefined && code !== 0) throw new Error(`${what}: error ${code} ${outcome.response?.debugText ?? ""}`);
}

/** The public key of a PKCS#10 CSR (the uncompressed point in its SubjectPublicKeyInfo). */
export function publicKeyOfCsr(csr: Uint8Array): Uint8Array {
  // The EC point follows the BIT STRING header 03 42 00 04 of a P-256 SubjectPublicKeyInfo.
  for (let i = 0; i + 68 <= csr.length; i++) {
    if (csr[i] === 0x03 && csr[i + 1] === 0x42 && csr[i + 2] === 0x00 && csr[i + 3] === 0x04) return csr.slice(i + 3, i + 68);
  }
  throw new Error("no P-256 public key in the CSR");
}
