// The node's fabric table (Matter Core spec 11.18, CHIP's FabricTable): the fabrics it belongs to,
// each with its trusted root, optional ICAC, NOC, operational key pair, IPK, admin vendor id and
// label, kept in the transactional store. It is what CASE looks fabrics up in (FabricLookup).
//
// Commissioning changes are pending while the fail-safe is armed (fail-safe.ts): the root of
// AddTrustedRootCertificate, the key pair of CSRRequest, the fabric AddNOC creates and the new
// NOC of UpdateNOC live in memory only, yet CASE already answers for them (the commissioner
// opens CASE before CommissioningComplete), until the fail-safe commits or reverts them.
//
// Storage, one record per fabric plus one for the index allocator:
//   "f/<index>"  TLV { 0: format 1, 1: fabric index, 2: RCAC, 3: ICAC?, 4: NOC, 5: operational
//                private key, 6: IPK (the derived operational group key, never the epoch key),
//                7: IPK epoch start time, 8: admin vendor id, 9: label }
//   "f/next"     TLV { 0: the next fabric index to hand out }
// Fabric indices count up from 1 and wrap after 254, skipping those in use (as CHIP does), so a
// removed fabric's index is not handed to the next commissioner at once.
//
// Limits: 5 fabrics (SupportedFabrics; the spec's minimum), each record about 1.4 KB.
// The operational private key leaves this module only as a signature; it is wiped when its
// fabric goes or a pending key is dropped, and is never logged.
import { TlvStruct, TlvWriter } from "../codec/tlv";
import { bytesEqual } from "../codec/bytes";
import { compressedFabricId, isOperationalNodeId, validateOperationalChain, validateRcac } from "../certs/chain";
import { buildCsr } from "../certs/csr";
import { CertificateError } from "../certs/errors";
import { DnTag, decodeMatterCertificate } from "../certs/opcert";
import { ecdsaSign, generateKeyPair, publicKeyFromPrivate, type Random } from "../crypto";
import type { LogLevel } from "../platform";
import { IPK_LENGTH, deriveIpk, type CaseFabric, type FabricLookup } from "../securechannel/fabric";
import type { FailSafeParticipant } from "./fail-safe";
import type { TransactionalStore } from "./transactional-store";

export const SUPPORTED_FABRICS = 5;
export const MAX_FABRIC_LABEL_LENGTH = 32;
const MAX_FABRIC_INDEX = 254;
const RECORD_PREFIX = "f/";
const NEXT_INDEX_KEY = "f/next";
const RECORD_FORMAT = 1;

/** NodeOperationalCertStatusEnum (spec 11.18.4.5). */
export enum OperationalCertStatus {
  Ok = 0,
  InvalidPublicKey = 1,
  InvalidNodeOpId = 2,
  InvalidNoc = 3,
  MissingCsr = 4,
  TableFull = 5,
  InvalidAdminSubject = 6,
  FabricConflict = 9,
  LabelConflict = 10,
  InvalidFabricIndex = 11,
}

/** A refusal of AddNOC, UpdateNOC, UpdateFabricLabel or RemoveFabric, with its NOCResponse status. */
export class OperationalCertError extends Error {
  override name = "OperationalCertError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** One fabric as the node sees it (a CaseFabric plus what the Operational Credentials cluster shows). */
export interface Fabric extends CaseFabric {
  readonly vendorId: number;
  readonly label: string;
  /** When the IPK's epoch key took effect (epoch-us; 0 for the key AddNOC gave). */
  readonly ipkEpochStartTime: bigint;
}

/** An operational key pair; the private half stays in this object. */
class OperationalKey {
  declare readonly publicKey: Uint8Array;
  #privateKey: Uint8Array;

  constructor(privateKey: Uint8Array) {
    this.#privateKey = privateKey.slice();
    this.publicKey = publicKeyFromPrivate(this.#privateKey);
  }

  sign(message: Uint8Array): Uint8Array {
    return ecdsaSign(this.#privateKey, message);
  }

  /** The PKCS#10 CSR of CSRRequest. */
  csr(): Uint8Array {
    return buildCsr(this.#privateKey);
  }

  /** The private key, for the fabric's storage record only. */
  exportForRecord(): Uint8Array {
    return this.#privateKey.slice();
  }

  wipe(): void {
    this.#privateKey.fill(0);
  }
}

interface FabricState {
  fabricIndex: number;
  rcac: Uint8Array;
  icac: Uint8Array | undefined;
  noc: Uint8Array;
  key: OperationalKey;
  ipk: Uint8Array;
  ipkEpochStartTime: bigint;
  vendorId: number;
  label: string;
}

/** Data other owners keep per fabric (ACL entries, ...), removed with the fabric in one commit. */
export interface FabricScopedData {
  stageFabricRemoval(fabricIndex: number): void;
  applyFabricRemoval(fabricIndex: number): void;
}

export interface FabricTableOptions {
  store: TransactionalStore;
  random: Random;
  maxFabrics?: number;
  log?: (level: LogLevel, message: string) => void;
}

export class OperationalFabricTable implements FabricLookup, FailSafeParticipant {
  declare readonly maxFabrics: number;
  private declare readonly store: TransactionalStore;
  private declare readonly random: Random;
  private declare readonly log: (level: LogLevel, message: string) => void;
  private readonly committed = new Map<number, Fabric>();
  private readonly states = new Map<number, FabricState>();
  private nextIndex = 1;
  private declare pendingRoot: Uint8Array | undefined;
  private declare pendingKey: { key: OperationalKey; forUpdate: boolean } | undefined;
  /** A fabric AddNOC created or UpdateNOC changed, not yet committed. */
  private declare pending: { kind: "add" | "update"; fabric: Fabric; state: FabricState; previousNextIndex: number } | undefined;
  private readonly scopedData: FabricScopedData[] = [];
  private readonly changeListeners: (() => void)[] = [];

  constructor(options: FabricTableOptions) {
    this.store = options.store;
    this.random = options.random;
    this.maxFabrics = options.maxFabrics ?? SUPPORTED_FABRICS;
    this.log = options.log ?? (() => {});
    if (!Number.isInteger(this.maxFabrics) || this.maxFabrics < 1 || this.maxFabrics > MAX_FABRIC_INDEX) throw new RangeError(`maxFabrics must be 1..${MAX_FABRIC_INDEX}`);
  }

  /** Reads every fabric record; a record that no longer validates is reported and skipped. */
  load(): void {
    const next = this.store.get(NEXT_INDEX_KEY);
    if (next) {
      try {
        const index = TlvStruct.decode(next).uint(0);
        if (index >= 1 && index <= MAX_FABRIC_INDEX) this.nextIndex = index;
      } catch (error) {
        this.log("warn", `unreadable next-index record: ${(error as Error).message}`);
      }
    }
    for (const key of this.store.keys(RECORD_PREFIX)) {
      if (key === NEXT_INDEX_KEY) continue;
      const record = this.store.get(key);
      if (!record) continue;
      let state: FabricState | undefined;
      try {
        state = decodeFabricRecord(record);
        if (key !== recordKey(state.fabricIndex)) throw new Error(`record under ${key} is for fabric ${state.fabricIndex}`);
        const fabric = makeFabric(state);
        this.states.set(state.fabricIndex, state);
        this.committed.set(state.fabricIndex, fabric);
      } catch (error) {
        state?.key.wipe();
        this.log("error", `fabric record ${key} is unusable: ${(error as Error).message}`);
      } finally {
        record.fill(0); // it holds the private key
      }
    }
  }

  registerScopedData(owner: FabricScopedData): void {
    this.scopedData.push(owner);
  }

  /** Called after every change of what fabrics() shows (and of the pending trusted root). */
  onChanged(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  // -------------------------------------------------------------------------------------------
  // What CASE and the clusters see: committed fabrics, with the pending one in its place.

  fabrics(): Iterable<Fabric> {
    const list: Fabric[] = [];
    for (const [index, fabric] of this.committed) list.push(this.pending?.fabric.fabricIndex === index ? this.pending.fabric : fabric);
    if (this.pending?.kind === "add") list.push(this.pending.fabric);
    return list.sort((a, b) => a.fabricIndex - b.fabricIndex);
  }

  fabric(fabricIndex: number): Fabric | undefined {
    if (this.pending?.fabric.fabricIndex === fabricIndex) return this.pending.fabric;
    return this.committed.get(fabricIndex);
  }

  /** Fabrics that are committed (the pending one excluded). */
  committedFabrics(): Fabric[] {
    return [...this.committed.values()].sort((a, b) => a.fabricIndex - b.fabricIndex);
  }

  get committedCount(): number {
    return this.committed.size;
  }

  /** The root of AddTrustedRootCertificate, before AddNOC used it. */
  get pendingTrustedRoot(): Uint8Array | undefined {
    return this.pendingRoot;
  }

  // -------------------------------------------------------------------------------------------
  // Commissioning steps (all pending; the fail-safe commits or reverts them)

  /** CSRRequest: a new operational key pair replaces any earlier pending one; returns its CSR. */
  createOperationalKey(forUpdate: boolean): { csr: Uint8Array; publicKey: Uint8Array } {
    this.dropPendingKey();
    const pair = generateKeyPair(this.random);
    const key = new OperationalKey(pair.privateKey);
    pair.privateKey.fill(0);
    this.pendingKey = { key, forUpdate };
    return { csr: key.csr(), publicKey: key.publicKey };
  }

  /** AddTrustedRootCertificate: CertificateError when the certificate is not a valid RCAC. */
  addTrustedRoot(rcac: Uint8Array): void {
    validateRcac(rcac);
    this.pendingRoot = rcac.slice();
    this.notify();
  }

  /** AddNOC (spec 11.18.6.8): validates and adds the fabric, pending. OperationalCertError on refusal. */
  addFabric(request: { noc: Uint8Array; icac: Uint8Array | undefined; ipkEpochKey: Uint8Array; vendorId: number }): Fabric {
    this.checkNoPending();
    const pendingKey = this.csrKey(false);
    const rcac = this.pendingRoot;
    if (!rcac) throw new OperationalCertError(OperationalCertStatus.InvalidNoc, "no AddTrustedRootCertificate before AddNOC");
    this.checkRoom();
    const state = this.newState({ ...request, rcac, label: "" }, pendingKey.key, this.committed.values());
    const previousNextIndex = this.nextIndex;
    this.nextIndex = indexAfter(state.fabricIndex);
    this.pendingRoot = undefined;
    return this.setPending({ kind: "add", fabric: makeFabric(state), state, previousNextIndex });
  }

  /** UpdateNOC (spec 11.18.6.9): the fabric's new NOC (and ICAC) under its existing root, pending. */
  updateFabric(fabricIndex: number, request: { noc: Uint8Array; icac: Uint8Array | undefined }): Fabric {
    this.checkNoPending();
    const existing = this.states.get(fabricIndex);
    if (!existing) throw noFabric(fabricIndex);
    const pendingKey = this.csrKey(true);
    const chain = this.validateChain(existing.rcac, request.icac, request.noc, pendingKey.key);
    if (chain.fabricId !== this.committed.get(fabricIndex)!.fabricId) throw new OperationalCertError(OperationalCertStatus.InvalidNoc, "the new NOC is for another fabric id");
    const state: FabricState = { ...existing, icac: request.icac?.slice(), noc: request.noc.slice(), key: pendingKey.key };
    return this.setPending({ kind: "update", fabric: makeFabric(state), state, previousNextIndex: this.nextIndex });
  }

  /** AddNOC and UpdateNOC: one per fail-safe. */
  private checkNoPending(): void {
    if (this.pending) throw new OperationalCertError(OperationalCertStatus.InvalidNoc, "a NOC was already added or updated");
  }

  /** The key of the CSRRequest that must precede AddNOC and UpdateNOC, for the same purpose. */
  private csrKey(forUpdate: boolean): { key: OperationalKey } {
    const pendingKey = this.pendingKey;
    if (pendingKey?.forUpdate !== forUpdate) throw new OperationalCertError(OperationalCertStatus.MissingCsr, `no CSRRequest (for ${forUpdate ? "update" : "a new fabric"}) before`);
    return pendingKey;
  }

  private setPending(pending: NonNullable<OperationalFabricTable["pending"]>): Fabric {
    this.pendingKey = undefined;
    this.pending = pending;
    this.notify();
    return pending.fabric;
  }

  private checkRoom(): void {
    if (this.committed.size >= this.maxFabrics) throw new OperationalCertError(OperationalCertStatus.TableFull, `the fabric table is full (${this.maxFabrics})`);
  }

  /** A new fabric's state, with the next free index: its chain validated, refused when one of `others` has its root and fabric id. */
  private newState(request: { rcac: Uint8Array; icac?: Uint8Array | undefined; noc: Uint8Array; ipkEpochKey: Uint8Array; vendorId: number; label: string }, key: OperationalKey, others: Iterable<Fabric>): FabricState {
    const { rcac, icac, noc } = request;
    const { fabricId, rootPublicKey } = this.validateChain(rcac, icac, noc, key);
    for (const existing of others) {
      if (existing.fabricId === fabricId && bytesEqual(existing.rootPublicKey, rootPublicKey)) {
        throw new OperationalCertError(OperationalCertStatus.FabricConflict, `fabric 0x${fabricId.toString(16)} is fabric ${existing.fabricIndex}`);
      }
    }
    return {
      fabricIndex: this.allocateIndex(),
      rcac: rcac.slice(),
      icac: icac?.slice(),
      noc: noc.slice(),
      key,
      ipk: deriveIpk(request.ipkEpochKey, compressedFabricId(rootPublicKey, fabricId)),
      ipkEpochStartTime: 0n,
      vendorId: request.vendorId,
      label: request.label,
    };
  }

  /**
   * UpdateFabricLabel: a pending fabric's label changes with it; a committed one's is written now.
   * OperationalCertError LabelConflict when another fabric already has this label.
   */
  setLabel(fabricIndex: number, label: string): void {
    for (const other of this.fabrics()) {
      if (other.fabricIndex !== fabricIndex && label !== "" && other.label === label) {
        throw new OperationalCertError(OperationalCertStatus.LabelConflict, `fabric ${other.fabricIndex} is already labelled "${label}"`);
      }
    }
    this.modify(fabricIndex, (state) => ({ ...state, label }));
  }

  /** KeySetWrite of group key set 0: a new IPK from its epoch key. */
  setIpk(fabricIndex: number, epochKey: Uint8Array, epochStartTime: bigint): void {
    const fabric = this.fabric(fabricIndex);
    if (!fabric) throw noFabric(fabricIndex);
    const ipk = deriveIpk(epochKey, fabric.compressedFabricId);
    this.modify(fabricIndex, (state) => ({ ...state, ipk, ipkEpochStartTime: epochStartTime }));
  }

  /**
   * RemoveFabric: the fabric's record and every owner's data for it go in one commit. A fabric
   * that is still pending cannot be removed this way (the fail-safe's expiry removes it).
   */
  remove(fabricIndex: number): Fabric {
    const fabric = this.committed.get(fabricIndex);
    if (!fabric) throw noFabric(fabricIndex);
    const store = this.store;
    store.atomically(() => {
      store.delete(recordKey(fabricIndex));
      for (const owner of this.scopedData) owner.stageFabricRemoval(fabricIndex);
    });
    if (this.pending?.fabric.fabricIndex === fabricIndex) this.dropPending();
    this.committed.delete(fabricIndex);
    this.states.get(fabricIndex)?.key.wipe();
    this.states.delete(fabricIndex);
    for (const owner of this.scopedData) owner.applyFabricRemoval(fabricIndex);
    this.log("info", `fabric ${fabricIndex} removed`);
    this.notify();
    return fabric;
  }

  /** Adds a committed fabric directly (bring-up and tests), with its record written now. */
  install(request: { rcac: Uint8Array; icac?: Uint8Array; noc: Uint8Array; operationalPrivateKey: Uint8Array; ipkEpochKey: Uint8Array; vendorId: number; label?: string }, alsoStage?: (fabric: Fabric) => void): Fabric {
    this.checkRoom();
    const key = new OperationalKey(request.operationalPrivateKey);
    let state: FabricState;
    try {
      validateRcac(request.rcac);
      state = this.newState({ ...request, label: request.label ?? "" }, key, this.fabrics());
    } catch (error) {
      key.wipe();
      throw error;
    }
    const fabric = makeFabric(state);
    const { fabricIndex } = state;
    const nextIndex = indexAfter(fabricIndex);
    const store = this.store;
    store.atomically(() => {
      store.set(recordKey(fabricIndex), encodeFabricRecord(state));
      store.set(NEXT_INDEX_KEY, encodeNextIndex(nextIndex));
      alsoStage?.(fabric);
    });
    this.nextIndex = nextIndex;
    this.states.set(fabricIndex, state);
    this.committed.set(fabricIndex, fabric);
    this.notify();
    return fabric;
  }

  // -------------------------------------------------------------------------------------------
  // FailSafeParticipant

  stageCommit(): void {
    const pending = this.pending;
    if (!pending) return;
    this.store.set(recordKey(pending.state.fabricIndex), encodeFabricRecord(pending.state));
    if (pending.kind === "add") this.store.set(NEXT_INDEX_KEY, encodeNextIndex(this.nextIndex));
  }

  applyCommit(): void {
    const pending = this.pending;
    this.pending = undefined;
    this.dropPendingKey();
    this.pendingRoot = undefined;
    if (!pending) return;
    const index = pending.state.fabricIndex;
    const previous = this.states.get(index);
    if (previous && previous.key !== pending.state.key) previous.key.wipe();
    this.states.set(index, pending.state);
    this.committed.set(index, pending.fabric);
    this.notify();
  }

  revert(): void {
    const changed = this.pending !== undefined || this.pendingRoot !== undefined;
    this.dropPending();
    this.dropPendingKey();
    this.pendingRoot = undefined;
    if (changed) this.notify();
  }

  /** Shutdown: every key in memory is wiped. */
  close(): void {
    this.revert();
    for (const state of this.states.values()) state.key.wipe();
    this.states.clear();
    this.committed.clear();
  }

  // -------------------------------------------------------------------------------------------

  private dropPending(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    if (pending.kind === "add") this.nextIndex = pending.previousNextIndex;
    // The pending state's key is the CSRRequest's; the committed state keeps its own.
    if (this.states.get(pending.state.fabricIndex)?.key !== pending.state.key) pending.state.key.wipe();
  }

  private dropPendingKey(): void {
    this.pendingKey?.key.wipe();
    this.pendingKey = undefined;
  }

  /** Applies `change` to a fabric: into the pending version if it has one, else written now. */
  private modify(fabricIndex: number, change: (state: FabricState) => FabricState): void {
    const pending = this.pending;
    if (pending && pending.fabric.fabricIndex === fabricIndex) {
      pending.state = change(pending.state);
      pending.fabric = makeFabric(pending.state);
      this.notify();
      return;
    }
    const state = this.states.get(fabricIndex);
    if (!state) throw noFabric(fabricIndex);
    const next = change(state);
    this.store.set(recordKey(fabricIndex), encodeFabricRecord(next));
    this.states.set(fabricIndex, next);
    this.committed.set(fabricIndex, makeFabric(next));
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.changeListeners]) {
      try {
        listener();
      } catch (error) {
        this.log("error", `fabric listener failed: ${(error as Error).message}`);
      }
    }
  }

  private allocateIndex(): number {
    const used = (index: number) => this.committed.has(index) || this.pending?.fabric.fabricIndex === index;
    let index = this.nextIndex;
    for (let tries = 0; tries < MAX_FABRIC_INDEX; tries++) {
      if (!used(index)) return index;
      index = indexAfter(index);
    }
    throw new OperationalCertError(OperationalCertStatus.TableFull, "no free fabric index");
  }

  private validateChain(rcac: Uint8Array, icac: Uint8Array | undefined, noc: Uint8Array, key: OperationalKey) {
    let nodeId: bigint | undefined;
    try {
      const subject = decodeMatterCertificate(noc).subject;
      const entry = subject.find((candidate) => candidate.tag === DnTag.nodeId);
      nodeId = typeof entry?.value === "bigint" ? entry.value : undefined;
    } catch (error) {
      throw new OperationalCertError(OperationalCertStatus.InvalidNoc, `the NOC does not decode: ${(error as Error).message}`);
    }
    if (nodeId === undefined || !isOperationalNodeId(nodeId)) throw new OperationalCertError(OperationalCertStatus.InvalidNodeOpId, "the NOC's node id is not an operational node id");
    let chain;
    try {
      chain = validateOperationalChain({ rcac, noc, ...(icac ? { icac } : {}) });
    } catch (error) {
      if (error instanceof CertificateError) throw new OperationalCertError(OperationalCertStatus.InvalidNoc, `the chain does not validate: ${error.message}`);
      throw error;
    }
    if (!bytesEqual(chain.nocPublicKey, key.publicKey)) throw new OperationalCertError(OperationalCertStatus.InvalidPublicKey, "the NOC's public key is not the one of the CSR");
    return chain;
  }
}

function indexAfter(index: number): number {
  return index >= MAX_FABRIC_INDEX ? 1 : index + 1;
}

function noFabric(fabricIndex: number): OperationalCertError {
  return new OperationalCertError(OperationalCertStatus.InvalidFabricIndex, `no fabric ${fabricIndex}`);
}

function recordKey(fabricIndex: number): string {
  return `${RECORD_PREFIX}${fabricIndex}`;
}

/** The fabric a state describes; throws when its chain does not validate or the key is not the NOC's. */
function makeFabric(state: FabricState): Fabric {
  const chain = validateOperationalChain({ rcac: state.rcac, noc: state.noc, ...(state.icac ? { icac: state.icac } : {}) });
  const key = state.key;
  if (!bytesEqual(chain.nocPublicKey, key.publicKey)) throw new Error("the operational key does not match the NOC");
  return Object.freeze({
    fabricIndex: state.fabricIndex,
    fabricId: chain.fabricId,
    nodeId: chain.nodeId,
    rootPublicKey: chain.rootPublicKey,
    compressedFabricId: compressedFabricId(chain.rootPublicKey, chain.fabricId),
    ipk: state.ipk.slice(),
    rcac: state.rcac,
    icac: state.icac,
    noc: state.noc,
    caseAuthenticatedTags: Object.freeze([...chain.cats]),
    vendorId: state.vendorId,
    label: state.label,
    ipkEpochStartTime: state.ipkEpochStartTime,
    sign: (message: Uint8Array) => key.sign(message),
  });
}

function encodeFabricRecord(state: FabricState): Uint8Array {
  const w = new TlvWriter().startStructure(undefined).uint(0, RECORD_FORMAT).uint(1, state.fabricIndex).bytes(2, state.rcac);
  if (state.icac) w.bytes(3, state.icac);
  const privateKey = state.key.exportForRecord();
  try {
    w.bytes(4, state.noc).bytes(5, privateKey).bytes(6, state.ipk).uint(7, state.ipkEpochStartTime).uint(8, state.vendorId).utf8(9, state.label);
    return w.end().finish();
  } finally {
    privateKey.fill(0);
  }
}

function decodeFabricRecord(record: Uint8Array): FabricState {
  const fields = TlvStruct.decode(record, { maxDepth: 2 });
  const format = fields.uint(0);
  if (format !== RECORD_FORMAT) throw new Error(`record format ${format} is not supported`);
  const fabricIndex = fields.uint(1);
  if (fabricIndex < 1 || fabricIndex > MAX_FABRIC_INDEX) throw new Error(`fabric index ${fabricIndex} is out of range`);
  const rest = {
    fabricIndex,
    rcac: fields.bytes(2).slice(),
    icac: fields.optionalBytes(3)?.slice(),
    noc: fields.bytes(4).slice(),
    ipk: fields.bytes(6, IPK_LENGTH).slice(),
    ipkEpochStartTime: fields.uint64(7),
    vendorId: fields.uint(8),
    label: fields.utf8(9, MAX_FABRIC_LABEL_LENGTH),
  };
  // Last, so that a malformed record leaves no copy of the key behind.
  return { ...rest, key: new OperationalKey(fields.bytes(5, 32)) };
}

function encodeNextIndex(index: number): Uint8Array {
  return new TlvWriter().startStructure(undefined).uint(0, index).end().finish();
}
