// Streams an OTA image into the update slot and decides whether it may run.
//
// Only the payload (the firmware) goes to flash, from the slot's first byte, so the slot holds
// what the bootloader (or the simulator) starts. The header is parsed on the way in and checked
// before any payload byte is written: VID/PID from the factory data, a newer version whose
// applicable range includes the running one, a size that fits, a signature to check. The payload
// is hashed as it streams (its ImageDigestType and SHA-256), and finish() accepts the image only
// when its size, digest and matter-xs signature (by the factory's firmware-signing key) all hold.
// Anything else erases what was written and throws OtaImageError naming the fault; the running
// slot is never touched.
//
// Flash is erased block by block just ahead of the writes (NOR: a write needs erased bytes), and
// written strictly in order, which is all ESP32's `ota` allows.
//
// Interrupted downloads: a progress record in the key-value store (one key, so each update is
// atomic) holds the header and how many payload bytes are safely in flash, advanced every
// `checkpointBytes`. After a power cut, begin() re-reads those bytes from flash to rebuild the
// hashes (a hash state cannot be saved portably), and the download resumes at the file offset it
// returns; bytes written after the last checkpoint are erased and received again. A partition that
// cannot continue an image where it stopped (ESP32's `ota` after a restart refuses even an empty
// write there) makes begin() start over from 0, as does any doubt about the record.
import { ByteReader, ByteWriter, CodecError, utf8Decode, utf8Encode } from "../codec/bytes";
import type { FlashPartition, KeyValueStore } from "../platform";
import { OtaFault, OtaImageError } from "./errors";
import { decodeOtaHeader, OtaImageReader, verifyOtaSignature, type OtaImageHeader } from "./image";

/** What the device accepts: from its factory data and the running firmware. */
export interface OtaAcceptance {
  vendorId: number;
  productId: number;
  /** SoftwareVersion of the running image. */
  runningVersion: number;
  /** The factory partition's firmware-signing public key (65-byte uncompressed P-256). */
  signingKey: Uint8Array;
}

/**
 * The header checks that need no payload. `offeredVersion` is the version the provider announced
 * in QueryImageResponse, when known.
 */
export function checkOtaHeader(header: OtaImageHeader, acceptance: OtaAcceptance, offeredVersion?: number): void {
  const hex = (value: number) => `0x${value.toString(16).toUpperCase().padStart(4, "0")}`;
  if (header.vendorId !== acceptance.vendorId) {
    throw new OtaImageError(OtaFault.wrongVendor, `OTA image for vendor ${hex(header.vendorId)}`);
  }
  if (header.productId !== acceptance.productId) {
    throw new OtaImageError(OtaFault.wrongProduct, `OTA image for product ${hex(header.productId)}`);
  }
  if (offeredVersion !== undefined && header.softwareVersion !== offeredVersion) {
    throw new OtaImageError(OtaFault.unexpectedVersion, `OTA image version ${header.softwareVersion}, offered ${offeredVersion}`);
  }
  if (header.softwareVersion <= acceptance.runningVersion) {
    throw new OtaImageError(OtaFault.notNewer, `OTA image version ${header.softwareVersion} not newer`);
  }
  if (header.minApplicableVersion !== undefined && acceptance.runningVersion < header.minApplicableVersion) {
    throw new OtaImageError(OtaFault.notApplicable, `OTA image needs version ${header.minApplicableVersion} or later`);
  }
  if (header.maxApplicableVersion !== undefined && acceptance.runningVersion > header.maxApplicableVersion) {
    throw new OtaImageError(OtaFault.notApplicable, `OTA image needs version ${header.maxApplicableVersion} or earlier`);
  }
  if (!header.signature) throw new OtaImageError(OtaFault.unsigned, "OTA image not signed");
}

export interface OtaSlotWriterOptions {
  /** The update slot (never the running one). */
  partition: FlashPartition;
  /** Its name, recorded so that progress is only ever resumed into the same slot. */
  slot: string;
  storage: KeyValueStore;
  acceptance: OtaAcceptance;
  /** Progress is recorded each time this many more payload bytes are in flash (rounded up to blocks). Default 64 KiB. */
  checkpointBytes?: number;
  /** Key of the progress record. Default "ota.progress". */
  recordKey?: string;
}

export const DEFAULT_CHECKPOINT_BYTES = 64 * 1024;
const RECORD_FORMAT = 1;
const Stage = Object.freeze({ downloading: 1, verified: 2, discarding: 3 } as const);
/** Reads of already written payload when resuming. */
const REHASH_CHUNK = 4096;

interface ProgressRecord {
  stage: number;
  committed: number;
  slot: string;
  headerBytes: Uint8Array;
}

function encodeRecord(record: ProgressRecord): Uint8Array {
  const slot = utf8Encode(record.slot);
  return new ByteWriter(8 + slot.length + record.headerBytes.length)
    .u8(RECORD_FORMAT)
    .u8(record.stage)
    .u32le(record.committed)
    .u8(slot.length)
    .bytes(slot)
    .bytes(record.headerBytes)
    .finish();
}

function decodeRecord(bytes: Uint8Array): ProgressRecord {
  const reader = new ByteReader(bytes);
  if (reader.u8() !== RECORD_FORMAT) throw new CodecError("unknown OTA progress format");
  const stage = reader.u8();
  if (stage !== Stage.downloading && stage !== Stage.verified && stage !== Stage.discarding) throw new CodecError(`unknown OTA progress stage ${stage}`);
  const committed = reader.u32le();
  const slot = utf8Decode(reader.bytes(reader.u8()));
  return { stage, committed, slot, headerBytes: reader.rest().slice() };
}

type WriterState = "idle" | "writing" | "verified" | "failed";

export class OtaSlotWriter {
  private readonly partition: FlashPartition;
  private readonly storage: KeyValueStore;
  private readonly acceptance: OtaAcceptance;
  private readonly recordKey: string;
  private readonly checkpointBytes: number;
  private readonly slot: string;
  private state: WriterState = "idle";
  private reader = new OtaImageReader();
  private offeredVersion: number | undefined;
  /** Payload bytes in flash. */
  private written = 0;
  /** Payload bytes the progress record vouches for. */
  private committed = 0;
  /** Flash below this offset has been erased since this image started (block aligned). */
  private erasedUpTo = 0;
  /** How far an interrupted download this one continues may have written. */
  private mayBeDirtyUpTo = 0;

  constructor(options: OtaSlotWriterOptions) {
    this.partition = options.partition;
    this.storage = options.storage;
    this.acceptance = options.acceptance;
    this.slot = options.slot;
    this.recordKey = options.recordKey ?? "ota.progress";
    const block = this.partition.blockSize;
    const requested = options.checkpointBytes ?? DEFAULT_CHECKPOINT_BYTES;
    if (!Number.isInteger(requested) || requested < 1) throw new RangeError(`checkpointBytes ${requested}`);
    this.checkpointBytes = Math.ceil(requested / block) * block;
  }

  /** The image header, once received. */
  get header(): OtaImageHeader | undefined {
    return this.reader.header;
  }

  /** Bytes of the file accounted for so far (resumed bytes included). */
  get bytesReceived(): number {
    return this.reader.bytesRead;
  }

  /**
   * Starts (or resumes) a download of the image the provider offered as `offeredVersion`. Returns
   * the file offset the transfer should start at: 0, or past the header and the payload bytes kept
   * from an interrupted download of the same image. Equal to the file size when a complete image
   * waits in the slot; finish() then checks it again.
   */
  begin(offeredVersion?: number): number {
    if (this.state === "writing" || this.state === "verified") throw new Error("OTA slot writer already started");
    this.reset();
    this.offeredVersion = offeredVersion;
    this.state = "writing";
    const record = this.loadRecord();
    if (!record) return 0;
    if (record.slot !== this.slot) {
      // Progress for the other slot: that slot now runs (the image was applied). Forget, never erase.
      this.storage.delete(this.recordKey);
      return 0;
    }
    let header: OtaImageHeader | undefined;
    try {
      header = decodeOtaHeader(record.headerBytes);
    } catch {
      header = undefined;
    }
    // What the interrupted download may have written: up to its payload size (bytes after the last
    // checkpoint are not accounted for), the whole slot when even that is unknown.
    this.mayBeDirtyUpTo = header ? Math.min(header.payloadSize, this.partition.size) : this.partition.size;
    if (!header || record.stage === Stage.discarding) return this.startOver();
    try {
      checkOtaHeader(header, this.acceptance, offeredVersion);
      if (header.payloadSize > this.partition.size) return this.startOver();
    } catch {
      return this.startOver();
    }
    const resumeAt = Math.min(record.committed, header.payloadSize);
    const aligned = resumeAt % this.partition.blockSize === 0 || resumeAt === header.payloadSize;
    if (resumeAt === 0 || !aligned || !this.canContinueAt(resumeAt)) return this.startOver();
    try {
      this.reader.push(header.headerBytes);
      for (let offset = 0; offset < resumeAt; offset += REHASH_CHUNK) {
        this.reader.push(this.partition.read(offset, Math.min(REHASH_CHUNK, resumeAt - offset)));
      }
    } catch {
      return this.startOver();
    }
    this.written = resumeAt;
    this.committed = resumeAt;
    this.erasedUpTo = resumeAt;
    return header.headerBytes.length + resumeAt;
  }

  /**
   * The next bytes of the file, in order from the offset begin() returned. Throws OtaImageError
   * (after erasing the slot) when the image is refused.
   */
  write(chunk: Uint8Array): void {
    if (this.state !== "writing") throw new Error(`OTA slot writer is ${this.state}, not writing`);
    const hadHeader = this.reader.header !== undefined;
    let payload: Uint8Array;
    try {
      payload = this.reader.push(chunk);
    } catch (error) {
      throw this.reject(error);
    }
    const header = this.reader.header;
    if (!header) return;
    if (!hadHeader) {
      try {
        checkOtaHeader(header, this.acceptance, this.offeredVersion);
        if (header.payloadSize > this.partition.size) {
          throw new OtaImageError(OtaFault.tooLarge, `OTA payload of ${header.payloadSize} bytes over slot ${this.slot}`);
        }
        this.saveRecord(Stage.downloading, 0);
      } catch (error) {
        throw this.reject(error);
      }
    }
    if (payload.length === 0) return;
    try {
      const end = this.written + payload.length;
      const block = this.partition.blockSize;
      if (end > this.erasedUpTo) {
        const eraseEnd = Math.ceil(end / block) * block;
        this.partition.erase(this.erasedUpTo, eraseEnd - this.erasedUpTo);
        this.erasedUpTo = eraseEnd;
      }
      this.partition.write(this.written, payload);
      this.written = end;
      const checkpoint = Math.floor(end / this.checkpointBytes) * this.checkpointBytes;
      if (checkpoint > this.committed) this.saveRecord(Stage.downloading, checkpoint);
    } catch (error) {
      throw this.reject(error);
    }
  }

  /**
   * Ends the download: the payload must be complete, its digest and signature right. Returns the
   * accepted header; the slot then holds the payload, ready for BootControl.setNextBoot.
   */
  finish(): OtaImageHeader {
    if (this.state !== "writing") throw new Error(`OTA slot writer is ${this.state}, not writing`);
    try {
      const summary = this.reader.finish();
      if (!summary.digestMatches) throw new OtaImageError(OtaFault.digestMismatch, "OTA payload digest mismatch");
      if (!verifyOtaSignature(summary.header, summary.payloadSha256, this.acceptance.signingKey)) {
        throw new OtaImageError(OtaFault.badSignature, "OTA image signature does not verify");
      }
      this.saveRecord(Stage.verified, summary.header.payloadSize);
      this.state = "verified";
      return summary.header;
    } catch (error) {
      throw this.reject(error);
    }
  }

  /** Gives up on the image (cancelled download, provider gone): erases what was written. */
  discard(): void {
    if (this.state === "idle") return;
    this.state = "failed";
    this.eraseImage();
  }

  /** After the image was handed to the boot control: the record has served. */
  forget(): void {
    this.storage.delete(this.recordKey);
    this.state = "idle";
  }

  private reset(): void {
    this.reader = new OtaImageReader();
    this.written = 0;
    this.committed = 0;
    this.erasedUpTo = 0;
    this.mayBeDirtyUpTo = 0;
  }

  /** Erases what an interrupted download left, then lets the transfer start from byte 0. */
  private startOver(): number {
    const offered = this.offeredVersion;
    this.eraseImage();
    this.reset();
    this.offeredVersion = offered;
    this.state = "writing";
    return 0;
  }

  /** Erases the slot and the record, and returns the error to throw (an OtaImageError). */
  private reject(error: unknown): OtaImageError {
    this.state = "failed";
    const refusal =
      error instanceof OtaImageError ? error : new OtaImageError(OtaFault.flashError, `OTA slot ${this.slot}: ${(error as Error)?.message ?? String(error)}`);
    try {
      this.eraseImage();
    } catch {
      // Reported through the refusal; a later begin() erases again from the record.
    }
    return refusal;
  }

  /**
   * Erases everything this image (and an interrupted download it resumed) may have written, then
   * deletes the record. The record first says the slot is being discarded, so that an erase cut
   * short by a power cut is finished by the next begin() rather than resumed.
   */
  private eraseImage(): void {
    const extent = Math.max(this.erasedUpTo, this.mayBeDirtyUpTo);
    if (extent > 0) {
      const record = this.storage.get(this.recordKey);
      if (record && record.length > 1 && record[1] !== Stage.discarding) {
        const marked = record.slice();
        marked[1] = Stage.discarding;
        this.storage.set(this.recordKey, marked);
      }
      const block = this.partition.blockSize;
      this.partition.erase(0, Math.min(this.partition.size, Math.ceil(extent / block) * block));
    }
    this.erasedUpTo = 0;
    this.mayBeDirtyUpTo = 0;
    this.storage.delete(this.recordKey);
  }

  private canContinueAt(offset: number): boolean {
    try {
      this.partition.write(offset, new Uint8Array(0));
      return true;
    } catch {
      return false;
    }
  }

  private loadRecord(): ProgressRecord | undefined {
    const bytes = this.storage.get(this.recordKey);
    if (!bytes) return undefined;
    try {
      return decodeRecord(bytes);
    } catch {
      // Unreadable: nothing says which slot it was for, so only the record goes.
      this.storage.delete(this.recordKey);
      return undefined;
    }
  }

  private saveRecord(stage: number, committed: number): void {
    const header = this.reader.header!;
    this.storage.set(this.recordKey, encodeRecord({ stage, committed, slot: this.slot, headerBytes: header.headerBytes }));
    this.committed = committed;
  }
}
