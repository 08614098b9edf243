// Operational credentials for tests, made by matter.js's CertificateAuthority (an independent
// issuer): a root (and intermediate) per fabric, NOCs for the device and for test controllers, the
// IPK derived the way the spec says, with Node's HKDF.
import { LogLevel, Logger } from "@matter/general";
import { NodeJsCrypto } from "@matter/nodejs";
import { CertificateAuthority, Rcac } from "@matter/protocol";
import { SigningKey, hkdf, random, u64be } from "./node-crypto";

Logger.level = LogLevel.WARN;

export interface NodeCredentials {
  nodeId: bigint;
  key: SigningKey;
  noc: Uint8Array;
  icac: Uint8Array | undefined;
  cats: number[];
}

/** One fabric's certificate authority and group key. */
export class FabricAuthority {
  readonly rootPublicKey: Uint8Array;
  readonly compressedFabricId: Uint8Array;
  readonly ipk: Uint8Array;

  private constructor(
    private readonly ca: CertificateAuthority,
    readonly fabricId: bigint,
    readonly ipkEpochKey: Uint8Array,
  ) {
    this.rootPublicKey = new Uint8Array(Rcac.fromTlv(ca.rootCert).cert.ellipticCurvePublicKey);
    // Spec 4.3.2.2 and 4.17.2.1, computed here with Node's HKDF.
    this.compressedFabricId = hkdf(this.rootPublicKey.subarray(1), u64be(fabricId), "CompressedFabric", 8);
    this.ipk = hkdf(ipkEpochKey, this.compressedFabricId, "GroupKey v1.0", 16);
  }

  static async create(fabricId: bigint, options: { icac?: boolean; ipkEpochKey?: Uint8Array } = {}): Promise<FabricAuthority> {
    const ca = await CertificateAuthority.create(new NodeJsCrypto(), options.icac ?? true);
    return new FabricAuthority(ca, fabricId, options.ipkEpochKey ?? random(16));
  }

  get rcac(): Uint8Array {
    return new Uint8Array(this.ca.rootCert);
  }

  get icac(): Uint8Array | undefined {
    const icac = this.ca.icacCert;
    return icac ? new Uint8Array(icac) : undefined;
  }

  /** A NOC on this fabric for a public key made elsewhere (a device's CSRRequest). */
  async issueForKey(publicKey: Uint8Array, nodeId: bigint, cats: number[] = []): Promise<Uint8Array> {
    return new Uint8Array((await this.ca.generateNoc(publicKey, this.fabricId as never, nodeId as never, cats as never)) as Uint8Array);
  }

  /** A fresh operational key and its NOC on this fabric. */
  async issue(nodeId: bigint, cats: number[] = [], fabricId: bigint = this.fabricId): Promise<NodeCredentials> {
    const key = new SigningKey();
    const noc = new Uint8Array(
      (await this.ca.generateNoc(key.publicKey, fabricId as never, nodeId as never, cats as never)) as Uint8Array,
    );
    return { nodeId, key, noc, icac: this.icac, cats };
  }
}
