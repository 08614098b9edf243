// What CASE needs of a fabric (spec 4.14.2), and a small in-memory table of fabrics. The persistent
// fabric table (AddNOC, fail-safe, storage) will implement FabricLookup over its own records; this
// one lets a device be given a fabric directly, as tests and bring-up do.
import { bytesEqual, utf8Encode } from "../codec/bytes";
import { compressedFabricId, validateOperationalChain } from "../certs/chain";
import { constantTimeEqual, ecdsaSign, hkdfSha256, hmacSha256, publicKeyFromPrivate } from "../crypto";
import { SecureChannelError } from "./errors";

/** Spec 11.18.5.3 (SupportedFabrics) asks for at least 5; each fabric holds three certificates. */
export const DEFAULT_MAX_FABRICS = 5;
/** Fabric indices are 1..254 (spec 7.5.2). */
export const MAX_FABRIC_INDEX = 254;
export const IPK_LENGTH = 16;

const GROUP_KEY_INFO = "GroupKey v1.0";

/** One fabric as CASE sees it. The operational private key is not part of it: only `sign` reaches it. */
export interface CaseFabric {
  readonly fabricIndex: number;
  readonly fabricId: bigint;
  /** This node's operational node id on the fabric. */
  readonly nodeId: bigint;
  /** The trusted root's public key (65 bytes, uncompressed). */
  readonly rootPublicKey: Uint8Array;
  readonly compressedFabricId: Uint8Array;
  /** The Identity Protection Key: the fabric's operational group key derived from the IPK epoch key. */
  readonly ipk: Uint8Array;
  /** Trusted root certificate (Matter TLV) that peers' chains must lead to. */
  readonly rcac: Uint8Array;
  readonly icac: Uint8Array | undefined;
  readonly noc: Uint8Array;
  /** CASE Authenticated Tags of this node's NOC. */
  readonly caseAuthenticatedTags: readonly number[];
  /** ECDSA-SHA256 (raw r || s) with this node's operational key. */
  sign(message: Uint8Array): Uint8Array;
}

/** The fabrics a node answers CASE for. */
export interface FabricLookup {
  fabrics(): Iterable<CaseFabric>;
  fabric(fabricIndex: number): CaseFabric | undefined;
}

export interface FabricCredentials {
  rcac: Uint8Array;
  icac?: Uint8Array;
  noc: Uint8Array;
  /** The 32-byte operational private key the NOC certifies; it stays inside the fabric record. */
  operationalPrivateKey: Uint8Array;
  /** The IPK epoch key given with AddNOC (16 bytes). */
  ipkEpochKey: Uint8Array;
}

/** IPK = HKDF(epoch key, salt = compressed fabric id, "GroupKey v1.0", 16) (spec 4.17.2.1). */
export function deriveIpk(epochKey: Uint8Array, compressedId: Uint8Array): Uint8Array {
  if (epochKey.length !== IPK_LENGTH) throw new SecureChannelError(`IPK epoch key of ${epochKey.length} bytes`);
  return hkdfSha256(epochKey, compressedId, utf8Encode(GROUP_KEY_INFO), IPK_LENGTH);
}

/**
 * The destination identifier of Sigma1 (spec 4.14.2.4):
 * HMAC-SHA256(IPK, initiatorRandom || root public key || fabric id (u64 LE) || node id (u64 LE)).
 */
export function destinationIdentifier(ipk: Uint8Array, initiatorRandom: Uint8Array, rootPublicKey: Uint8Array, fabricId: bigint, nodeId: bigint): Uint8Array {
  const message = new Uint8Array(initiatorRandom.length + rootPublicKey.length + 16);
  message.set(initiatorRandom, 0);
  message.set(rootPublicKey, initiatorRandom.length);
  const view = new DataView(message.buffer);
  view.setBigUint64(initiatorRandom.length + rootPublicKey.length, fabricId, true);
  view.setBigUint64(initiatorRandom.length + rootPublicKey.length + 8, nodeId, true);
  return hmacSha256(ipk, message);
}

/** The fabric whose IPK, root, fabric id and our node id produce `destinationId`, if any. */
export function findFabricByDestinationId(lookup: FabricLookup, destinationId: Uint8Array, initiatorRandom: Uint8Array): CaseFabric | undefined {
  let found: CaseFabric | undefined;
  // Every fabric is tried, so the time taken does not tell which one matched.
  for (const fabric of lookup.fabrics()) {
    const candidate = destinationIdentifier(fabric.ipk, initiatorRandom, fabric.rootPublicKey, fabric.fabricId, fabric.nodeId);
    if (constantTimeEqual(candidate, destinationId) && !found) found = fabric;
  }
  return found;
}

export type FabricRemovedListener = (fabric: CaseFabric) => void;

/** A bounded in-memory fabric table: fabrics are given directly with their credentials. */
export class FabricTable implements FabricLookup {
  readonly maxFabrics: number;
  private readonly entries = new Map<number, CaseFabric>();
  private readonly forgetKeys = new Map<number, () => void>();
  private readonly listeners: FabricRemovedListener[] = [];

  constructor(options: { maxFabrics?: number } = {}) {
    this.maxFabrics = options.maxFabrics ?? DEFAULT_MAX_FABRICS;
    if (!Number.isInteger(this.maxFabrics) || this.maxFabrics < 1 || this.maxFabrics > MAX_FABRIC_INDEX) {
      throw new RangeError(`maxFabrics must be 1..${MAX_FABRIC_INDEX}`);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  fabrics(): Iterable<CaseFabric> {
    return this.entries.values();
  }

  fabric(fabricIndex: number): CaseFabric | undefined {
    return this.entries.get(fabricIndex);
  }

  /**
   * Checks the chain (RCAC → ICAC → NOC), that the private key belongs to the NOC and that no
   * fabric with the same root and fabric id exists, then adds the fabric under the lowest free index.
   * CertificateError or SecureChannelError when a check fails.
   */
  add(credentials: FabricCredentials): CaseFabric {
    if (this.entries.size >= this.maxFabrics) throw new SecureChannelError(`fabric table full (${this.maxFabrics})`);
    const chain = validateOperationalChain({
      rcac: credentials.rcac,
      noc: credentials.noc,
      ...(credentials.icac ? { icac: credentials.icac } : {}),
    });
    const privateKey = credentials.operationalPrivateKey.slice();
    if (!bytesEqual(publicKeyFromPrivate(privateKey), chain.nocPublicKey)) {
      privateKey.fill(0);
      throw new SecureChannelError("operational key does not match the NOC");
    }
    for (const existing of this.entries.values()) {
      if (existing.fabricId === chain.fabricId && bytesEqual(existing.rootPublicKey, chain.rootPublicKey)) {
        privateKey.fill(0);
        throw new SecureChannelError(`fabric 0x${chain.fabricId.toString(16)} already present`);
      }
    }
    let fabricIndex = 1;
    while (this.entries.has(fabricIndex)) fabricIndex++;
    const compressedId = compressedFabricId(chain.rootPublicKey, chain.fabricId);
    const fabric: CaseFabric = Object.freeze({
      fabricIndex,
      fabricId: chain.fabricId,
      nodeId: chain.nodeId,
      rootPublicKey: chain.rootPublicKey.slice(),
      compressedFabricId: compressedId,
      ipk: deriveIpk(credentials.ipkEpochKey, compressedId),
      rcac: credentials.rcac.slice(),
      icac: credentials.icac?.slice(),
      noc: credentials.noc.slice(),
      caseAuthenticatedTags: Object.freeze([...chain.cats]),
      // The key lives only in this closure.
      sign: (message: Uint8Array) => ecdsaSign(privateKey, message),
    });
    this.entries.set(fabricIndex, fabric);
    this.forgetKeys.set(fabricIndex, () => privateKey.fill(0));
    return fabric;
  }

  /** Removes a fabric; listeners (sessions, resumption records) drop what belonged to it. */
  remove(fabricIndex: number): boolean {
    const fabric = this.entries.get(fabricIndex);
    if (!fabric) return false;
    this.entries.delete(fabricIndex);
    this.forgetKeys.get(fabricIndex)?.();
    this.forgetKeys.delete(fabricIndex);
    fabric.ipk.fill(0);
    for (const listener of [...this.listeners]) listener(fabric);
    return true;
  }

  onRemoved(listener: FabricRemovedListener): () => void {
    this.listeners.push(listener);
    return () => {
      const index = this.listeners.indexOf(listener);
      if (index >= 0) this.listeners.splice(index, 1);
    };
  }
}
