// The OTA Requestor (spec 11.20.7): the OTA Software Update Requestor cluster (0x002A) and the
// device's side of an update, from query to confirmation:
//
//   Idle -> Querying    QueryImage to a provider (AnnounceOTAProvider's, else DefaultOTAProviders)
//        -> Downloading BDX from the ImageURI into the update slot (slot-writer.ts checks the image)
//        -> Applying    ApplyUpdateRequest; on Proceed the slot is selected and the device restarts
//   next start:         the new image confirms itself with the boot control, emits VersionApplied
//                       and sends NotifyUpdateApplied; if instead the old image runs again (the new
//                       one never confirmed), the attempt is reported as failed.
//
// Every failure leaves the running image alone, erases the update slot, emits DownloadError (with
// the OtaFault code as PlatformCode) and StateTransition back to Idle. The provider is reached
// over a CASE session the device opens: `connect` (from the device's wiring) resolves the
// provider's operational address and establishes or reuses the session.
import { TlvStruct, TlvWriter } from "../codec/tlv";
import { utf8Encode } from "../codec/bytes";
import { Privilege, Status } from "../interaction/constants";
import { StatusError } from "../interaction/errors";
import { EventPriority } from "../interaction/events";
import { ClusterServer, attribute, command, defineCluster, event, type AttributeDefinition, type CommandDefinition, type InvokeContext, type WriteContext } from "../interaction/model";
import { bool, endpointNo, enum8, fabricIndexField, field, int64, list, nodeId, nullable, octets, struct, uint, uint16, uint32, uint64, vendorId } from "../interaction/schema";
import type { BootControl, Clock, FlashStore, KeyValueStore, LogLevel, TimerHandle } from "../platform";
import type { ExchangeManager } from "../transport/exchange";
import type { SecureSession } from "../transport/session";
import { BdxError, BdxStatus, receiveBdx } from "./bdx";
import { OtaFault, OtaImageError, otaFaultName } from "./errors";
import { ApplyAction, DownloadProtocol, QueryStatus, applyUpdateRequest, notifyUpdateApplied, parseBdxImageUri, queryImage, type ProviderTarget } from "./provider-client";
import { OtaSlotWriter } from "./slot-writer";

export const OTA_REQUESTOR_CLUSTER_ID = 0x002a;

export const UpdateState = Object.freeze({
  Unknown: 0,
  Idle: 1,
  Querying: 2,
  DelayedOnQuery: 3,
  Downloading: 4,
  Applying: 5,
  DelayedOnApply: 6,
  RollingBack: 7,
  DelayedOnUserConsent: 8,
});

export const ChangeReason = Object.freeze({ Unknown: 0, Success: 1, Failure: 2, TimeOut: 3, DelayByProvider: 4 });
export const AnnouncementReason = Object.freeze({ SimpleAnnouncement: 0, UpdateAvailable: 1, UrgentUpdateAvailable: 2 });
export const RequestorAttribute = Object.freeze({ DefaultOtaProviders: 0x00, UpdatePossible: 0x01, UpdateState: 0x02, UpdateStateProgress: 0x03 });
export const RequestorEvent = Object.freeze({ StateTransition: 0x00, VersionApplied: 0x01, DownloadError: 0x02 });

const ProviderLocation = struct(field(1, "providerNodeId", nodeId), field(2, "endpoint", endpointNo), fabricIndexField);

export const OtaSoftwareUpdateRequestor = defineCluster({
  id: OTA_REQUESTOR_CLUSTER_ID,
  name: "OtaSoftwareUpdateRequestor",
  revision: 1,
  attributes: [
    attribute(RequestorAttribute.DefaultOtaProviders, "defaultOtaProviders", list(ProviderLocation), { write: Privilege.Administer, fabricScoped: true, persistent: true }),
    attribute(RequestorAttribute.UpdatePossible, "updatePossible", bool),
    attribute(RequestorAttribute.UpdateState, "updateState", enum8),
    attribute(RequestorAttribute.UpdateStateProgress, "updateStateProgress", nullable(uint(8, 0, 100))),
  ],
  commands: [
    command(
      0x00,
      "announceOtaProvider",
      struct(
        field(0, "providerNodeId", nodeId),
        field(1, "vendorId", vendorId),
        field(2, "announcementReason", enum8),
        field(3, "metadataForNode", octets(512), { optional: true }),
        field(4, "endpoint", endpointNo),
      ),
      { privilege: Privilege.Administer, fabricScoped: true },
    ),
  ],
  events: [
    event(
      RequestorEvent.StateTransition,
      "stateTransition",
      struct(field(0, "previousState", enum8), field(1, "newState", enum8), field(2, "reason", enum8), field(3, "targetSoftwareVersion", nullable(uint32))),
      EventPriority.Info,
    ),
    event(RequestorEvent.VersionApplied, "versionApplied", struct(field(0, "softwareVersion", uint32), field(1, "productId", uint16)), EventPriority.Critical),
    event(
      RequestorEvent.DownloadError,
      "downloadError",
      struct(field(0, "softwareVersion", uint32), field(1, "bytesDownloaded", uint64), field(2, "progressPercent", nullable(uint(8, 0, 100))), field(3, "platformCode", nullable(int64))),
      EventPriority.Info,
    ),
  ],
});

export interface ProviderLocationValue {
  providerNodeId: bigint;
  endpoint: number;
  fabricIndex: number;
}

export interface OtaRequestorOptions {
  exchanges: ExchangeManager;
  /** A CASE session to `nodeId` of fabric `fabricIndex` (resolved and established, or reused). */
  connect(fabricIndex: number, nodeId: bigint): Promise<SecureSession>;
  clock: Clock;
  storage: KeyValueStore;
  flash: FlashStore;
  boot: BootControl;
  /** Restarts the device into the selected slot. */
  reboot(): void;
  log?: (level: LogLevel, message: string) => void;
  /** From the factory data. */
  vendorId: number;
  productId: number;
  hardwareVersion?: number;
  /** The factory partition's firmware-signing public key. */
  signingKey: Uint8Array;
  /** The running image's SoftwareVersion. */
  softwareVersion: number;
  /** Basic Information's Location, sent with QueryImage (read at each query when a function). */
  location?: string | (() => string);
  /** How long the provider may take to answer a command. Default 10 s. */
  commandTimeoutMs?: number;
  /** How long to wait for each BDX answer. Default 30 s. */
  transferTimeoutMs?: number;
  /** Largest BDX block asked for. Default 1024. */
  maxBlockSize?: number;
  /** Time between periodic queries; 0 turns them off. Default 24 h (CHIP's default). */
  queryIntervalMs?: number;
  /** Wait after an AnnounceOTAProvider before querying. Default 1 s. */
  announceDelayMs?: number;
  /** Longest delay a provider may impose (Busy, AwaitNextAction, Proceed with a delay). Default 1 h. */
  maxProviderDelayMs?: number;
  /** ApplyUpdateRequests answered with AwaitNextAction before the update is given up. Default 5. */
  maxApplyAttempts?: number;
  /** NotifyUpdateApplied attempts after an update. Default 3. */
  maxNotifyAttempts?: number;
}

/** How a check for updates ended. */
export type OtaOutcome = "busy" | "no-provider" | "not-available" | "applying" | "failed" | "discontinued";

/** What the requestor remembers across the restart into a new image. */
interface AppliedRecord {
  updateToken: Uint8Array;
  targetVersion: number;
  previousVersion: number;
  fabricIndex: number;
  providerNodeId: bigint;
  endpoint: number;
}

const APPLIED_KEY = "ota.applied";
const DAY_MS = 24 * 60 * 60 * 1000;

function encodeApplied(record: AppliedRecord): Uint8Array {
  return new TlvWriter()
    .startStructure(undefined)
    .bytes(0, record.updateToken)
    .uint(1, record.targetVersion)
    .uint(2, record.previousVersion)
    .uint(3, record.fabricIndex)
    .uint(4, record.providerNodeId)
    .uint(5, record.endpoint)
    .end()
    .finish();
}

function decodeApplied(bytes: Uint8Array): AppliedRecord {
  const f = TlvStruct.decode(bytes, { maxDepth: 1, maxElements: 8 });
  return {
    updateToken: f.bytes(0, { min: 8, max: 32 }).slice(),
    targetVersion: f.uint(1),
    previousVersion: f.uint(2),
    fabricIndex: f.uint(3),
    providerNodeId: f.uint64(4),
    endpoint: f.uint(5),
  };
}

/** Thrown inside an attempt to end it with a reason and a fault code. */
class AttemptFailure extends Error {
  constructor(
    message: string,
    readonly fault: number = OtaFault.transferFailed,
    readonly reason: number = ChangeReason.Failure,
  ) {
    super(message);
  }
}

export class OtaRequestor extends ClusterServer {
  defaultOtaProviders: ProviderLocationValue[] = [];
  readonly updatePossible = true;
  updateState: number = UpdateState.Idle;
  updateStateProgress: number | null = null;

  private readonly options: OtaRequestorOptions;
  private readonly log: (level: LogLevel, message: string) => void;
  private announced: ProviderLocationValue | undefined;
  private busy: Promise<OtaOutcome> | undefined;
  private periodic: TimerHandle | undefined;
  private announceTimer: TimerHandle | undefined;
  private startupTimer: TimerHandle | undefined;
  private startupDone: (() => void) | undefined;
  private readonly sleeping = new Set<{ handle: TimerHandle; resolve: () => void }>();
  private stoppedFlag = false;
  /** Completes once the start-up work (confirmation, NotifyUpdateApplied) is done. */
  afterStart: Promise<void> = Promise.resolve();

  constructor(options: OtaRequestorOptions) {
    super(OtaSoftwareUpdateRequestor);
    this.options = options;
    this.log = options.log ?? (() => {});
  }

  override started(): void {
    this.stoppedFlag = false;
    // Confirmation waits until the start-up that called this has returned: an image whose node
    // fails to come up (the rest of the boot throws) must not confirm itself.
    this.afterStart = new Promise<void>((resolve) => {
      this.startupDone = resolve;
      this.startupTimer = this.options.clock.setTimer(0, () => {
        this.startupTimer = undefined;
        this.finishAppliedUpdate()
          .catch((error) => this.log("error", `OTA: after the update: ${(error as Error).message}`))
          .finally(() => this.endStartup());
      });
    });
    const interval = this.options.queryIntervalMs ?? DAY_MS;
    if (interval > 0) this.schedulePeriodic(interval);
  }

  override stopped(): void {
    this.stoppedFlag = true;
    const clock = this.options.clock;
    if (this.startupTimer !== undefined) {
      clock.clearTimer(this.startupTimer);
      this.startupTimer = undefined;
      this.endStartup();
    }
    if (this.periodic !== undefined) clock.clearTimer(this.periodic);
    if (this.announceTimer !== undefined) clock.clearTimer(this.announceTimer);
    this.periodic = this.announceTimer = undefined;
    for (const sleeper of this.sleeping) {
      clock.clearTimer(sleeper.handle);
      sleeper.resolve();
    }
    this.sleeping.clear();
  }

  private endStartup(): void {
    const done = this.startupDone;
    this.startupDone = undefined;
    done?.();
  }

  override writeAttribute(attribute: AttributeDefinition, value: unknown, context: WriteContext): void {
    if (attribute.id !== RequestorAttribute.DefaultOtaProviders) return super.writeAttribute(attribute, value, context);
    const mine = value as ProviderLocationValue[];
    // Spec 11.20.7.5.1: at most one default provider per fabric.
    if (mine.length > 1) throw new StatusError(Status.ConstraintError, "one default OTA provider per fabric");
    const others = this.defaultOtaProviders.filter((entry) => entry.fabricIndex !== context.fabricIndex);
    this.set("defaultOtaProviders", [...others, ...mine]);
  }

  /**
   * A fabric is being removed: its DefaultOTAProviders entry and announcement go with it (its
   * fabric-scoped data, spec 7.5.2; CHIP clears them in OnFabricRemoved). Call inside the removal's
   * commit so that the persisted list changes with it.
   */
  removeFabric(fabricIndex: number): void {
    if (this.announced?.fabricIndex === fabricIndex) this.announced = undefined;
    if (this.defaultOtaProviders.some((entry) => entry.fabricIndex === fabricIndex)) {
      this.set("defaultOtaProviders", this.defaultOtaProviders.filter((entry) => entry.fabricIndex !== fabricIndex));
    }
  }

  override invoke(definition: CommandDefinition, request: unknown, context: InvokeContext): unknown {
    if (definition.id !== 0x00) return super.invoke(definition, request, context);
    const fields = request as { providerNodeId: bigint; vendorId: number; announcementReason: number; endpoint: number };
    if (fields.announcementReason > AnnouncementReason.UrgentUpdateAvailable) throw new StatusError(Status.ConstraintError, "unknown announcement reason");
    this.announced = { providerNodeId: fields.providerNodeId, endpoint: fields.endpoint, fabricIndex: context.fabricIndex };
    this.log("info", `OTA: provider ${fields.providerNodeId.toString(16)} announced, reason ${fields.announcementReason}`);
    if (this.announceTimer !== undefined) this.options.clock.clearTimer(this.announceTimer);
    this.announceTimer = this.options.clock.setTimer(this.options.announceDelayMs ?? 1000, () => {
      this.announceTimer = undefined;
      void this.checkForUpdate();
    });
    return undefined;
  }

  /**
   * Queries a provider and, when it offers a newer image, downloads, checks and applies it (the
   * device then restarts). One check runs at a time; a second call joins the running one.
   */
  checkForUpdate(provider?: ProviderLocationValue): Promise<OtaOutcome> {
    this.busy ??= this.attempt(provider)
      .catch((error): OtaOutcome => {
        this.log("error", `OTA: ${(error as Error).message}`);
        return "failed";
      })
      .finally(() => {
        this.busy = undefined;
      });
    return this.busy;
  }

  private providers(explicit?: ProviderLocationValue): ProviderLocationValue[] {
    const candidates = explicit ? [explicit] : [...(this.announced ? [this.announced] : []), ...this.defaultOtaProviders];
    const seen = new Set<string>();
    return candidates.filter((candidate) => {
      const key = `${candidate.fabricIndex}:${candidate.providerNodeId}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }

  private async attempt(explicit?: ProviderLocationValue): Promise<OtaOutcome> {
    const candidates = this.providers(explicit);
    if (candidates.length === 0) return "no-provider";
    const options = this.options;
    let target: ProviderTarget | undefined;
    let provider: ProviderLocationValue | undefined;
    this.transition(UpdateState.Querying, ChangeReason.Success, null);
    for (const candidate of candidates) {
      try {
        const session = await options.connect(candidate.fabricIndex, candidate.providerNodeId);
        target = { exchanges: options.exchanges, session, endpoint: candidate.endpoint, timeoutMs: options.commandTimeoutMs ?? 10_000 };
        provider = candidate;
        break;
      } catch (error) {
        this.log("warn", `OTA: provider ${candidate.providerNodeId.toString(16)} unreachable: ${(error as Error).message}`);
      }
    }
    // Nothing reachable, or no usable answer: back to Idle, failed.
    const queryFailed = (): OtaOutcome => {
      this.transition(UpdateState.Idle, ChangeReason.Failure, null);
      return "failed";
    };
    if (!target || !provider) return queryFailed();

    let answer;
    try {
      const query: Parameters<typeof queryImage>[1] = {
        vendorId: options.vendorId,
        productId: options.productId,
        softwareVersion: options.softwareVersion,
        protocolsSupported: [DownloadProtocol.BdxSynchronous],
        requestorCanConsent: false,
      };
      if (options.hardwareVersion !== undefined) query.hardwareVersion = options.hardwareVersion;
      const location = typeof options.location === "function" ? options.location() : options.location;
      if (location !== undefined && location.length === 2) query.location = location;
      answer = await queryImage(target, query);
    } catch (error) {
      this.log("warn", `OTA: QueryImage failed: ${(error as Error).message}`);
      return queryFailed();
    }
    if (answer.status === QueryStatus.Busy) {
      this.transition(UpdateState.DelayedOnQuery, ChangeReason.DelayByProvider, null);
      this.scheduleRetry(answer.delayedActionTime);
      return "busy";
    }
    if (answer.status !== QueryStatus.UpdateAvailable) {
      this.transition(UpdateState.Idle, answer.status === QueryStatus.NotAvailable ? ChangeReason.Success : ChangeReason.Failure, null);
      return "not-available";
    }

    const version = answer.softwareVersion!;
    const token = answer.updateToken!;
    let bytes = 0;
    try {
      const { nodeId, fileDesignator } = parseBdxImageUri(answer.imageUri!);
      if (nodeId !== provider.providerNodeId) throw new AttemptFailure(`image on node ${nodeId.toString(16)}, not the provider`);
      if (version <= options.softwareVersion) throw new AttemptFailure(`offered version ${version} not newer`, OtaFault.notNewer);
      this.transition(UpdateState.Downloading, ChangeReason.Success, version);
      const writer = await this.download(target, fileDesignator, version, (received) => (bytes = received));
      return await this.apply(target, provider, writer, token, version);
    } catch (error) {
      const failure = this.describeFailure(error);
      this.log("warn", `OTA: update to ${version} failed (${otaFaultName(failure.fault)}): ${failure.message}`);
      this.emitEvent(RequestorEvent.DownloadError, {
        softwareVersion: version,
        bytesDownloaded: BigInt(bytes),
        progressPercent: this.updateStateProgress,
        platformCode: BigInt(failure.fault),
      });
      this.transition(UpdateState.Idle, failure.reason, version);
      return "failed";
    }
  }

  private describeFailure(error: unknown): AttemptFailure {
    if (error instanceof AttemptFailure) return error;
    if (error instanceof OtaImageError) return new AttemptFailure(error.message, error.fault);
    if (error instanceof BdxError) {
      const timeout = !error.byPeer && error.status === BdxStatus.transferFailedUnknownError;
      return new AttemptFailure(error.message, OtaFault.transferFailed, timeout ? ChangeReason.TimeOut : ChangeReason.Failure);
    }
    return new AttemptFailure((error as Error)?.message ?? String(error));
  }

  /** BDX into the update slot; resumes an interrupted download of the same image where it can. */
  private async download(target: ProviderTarget, fileDesignator: string, version: number, onBytes: (received: number) => void): Promise<OtaSlotWriter> {
    const options = this.options;
    const slot = options.boot.updateSlot();
    const partition = options.flash.open(slot);
    if (!partition) throw new AttemptFailure(`no update partition ${slot}`, OtaFault.flashError);
    const writer = new OtaSlotWriter({
      partition,
      slot,
      storage: options.storage,
      acceptance: { vendorId: options.vendorId, productId: options.productId, runningVersion: options.softwareVersion, signingKey: options.signingKey },
    });
    let offset = writer.begin(version);
    if (offset > 0) this.log("info", `OTA: resuming ${version} at ${offset}`);
    for (let attempt = 0; ; attempt++) {
      const header = writer.header;
      if (header && offset >= header.totalSize) break; // complete and verified before the restart
      let total = header?.totalSize ?? 0;
      const exchange = options.exchanges.initiate(target.session);
      try {
        await receiveBdx({
          exchange,
          fileDesignator: utf8Encode(fileDesignator),
          maxBlockSize: options.maxBlockSize ?? 1024,
          ...(offset > 0 ? { startOffset: offset } : {}),
          timeoutMs: options.transferTimeoutMs ?? 30_000,
          onAccept: (accept) => {
            if (accept.length !== undefined) total = offset + accept.length;
          },
          onBlock: (data) => {
            writer.write(data);
            const received = writer.bytesReceived;
            total = writer.header?.totalSize ?? total;
            onBytes(received);
            if (total > 0) this.setProgress(Math.min(100, Math.floor((received * 100) / total)));
          },
        });
        break;
      } catch (error) {
        // A provider that cannot start mid-file: erase what was kept and download it all.
        if (offset > 0 && attempt === 0 && error instanceof BdxError && error.byPeer && writer.bytesReceived === offset) {
          this.log("info", `OTA: cannot resume (${error.message}); restarting`);
          writer.discard();
          offset = writer.begin(version);
          continue;
        }
        writer.discard();
        throw error;
      } finally {
        exchange.close();
      }
    }
    writer.finish();
    return writer;
  }

  private async apply(target: ProviderTarget, provider: ProviderLocationValue, writer: OtaSlotWriter, token: Uint8Array, version: number): Promise<OtaOutcome> {
    const options = this.options;
    this.transition(UpdateState.Applying, ChangeReason.Success, version);
    const maxDelay = options.maxProviderDelayMs ?? 60 * 60 * 1000;
    for (let attempt = 1; ; attempt++) {
      let answer;
      try {
        answer = await applyUpdateRequest(target, token, version);
      } catch (error) {
        writer.discard();
        throw error;
      }
      const delayMs = Math.min(answer.delayedActionTime * 1000, maxDelay);
      if (answer.action === ApplyAction.Proceed) {
        if (delayMs > 0) await this.sleep(delayMs);
        break;
      }
      if (answer.action === ApplyAction.Discontinue) {
        writer.discard();
        this.transition(UpdateState.Idle, ChangeReason.Success, version);
        this.setProgress(null);
        return "discontinued";
      }
      if (answer.action !== ApplyAction.AwaitNextAction || attempt >= (options.maxApplyAttempts ?? 5)) {
        writer.discard();
        throw new AttemptFailure(`ApplyUpdateResponse action ${answer.action} after ${attempt} requests`);
      }
      this.transition(UpdateState.DelayedOnApply, ChangeReason.DelayByProvider, version);
      await this.sleep(Math.max(delayMs, 1000));
      if (this.stoppedFlag) return "failed";
      this.transition(UpdateState.Applying, ChangeReason.Success, version);
    }
    if (this.stoppedFlag) return "failed";
    // The record first: whatever happens after the slot is selected, the next start finds it.
    options.storage.set(
      APPLIED_KEY,
      encodeApplied({ updateToken: token, targetVersion: version, previousVersion: options.softwareVersion, fabricIndex: provider.fabricIndex, providerNodeId: provider.providerNodeId, endpoint: provider.endpoint }),
    );
    options.boot.setNextBoot(options.boot.updateSlot());
    writer.forget();
    this.log("info", `OTA: version ${version} selected; restarting`);
    options.reboot();
    return "applying";
  }

  /** At start-up after an update: confirm the new image and tell the provider, or report the rollback. */
  private async finishAppliedUpdate(): Promise<void> {
    const options = this.options;
    const stored = options.storage.get(APPLIED_KEY);
    if (!stored) return;
    let record: AppliedRecord;
    try {
      record = decodeApplied(stored);
    } catch {
      options.storage.delete(APPLIED_KEY);
      return;
    }
    if (options.softwareVersion !== record.targetVersion) {
      // The new image did not confirm itself: the boot control went back to this one.
      this.log("warn", `OTA: version ${record.targetVersion} did not start`);
      options.storage.delete(APPLIED_KEY);
      this.transition(UpdateState.Idle, ChangeReason.Failure, record.targetVersion, UpdateState.RollingBack);
      return;
    }
    if (options.boot.pendingConfirmation()) options.boot.confirmRunning();
    this.emitEvent(RequestorEvent.VersionApplied, { softwareVersion: options.softwareVersion, productId: options.productId });
    this.transition(UpdateState.Idle, ChangeReason.Success, record.targetVersion, UpdateState.Applying);
    const attempts = options.maxNotifyAttempts ?? 3;
    for (let attempt = 1; attempt <= attempts && !this.stoppedFlag; attempt++) {
      try {
        const session = await options.connect(record.fabricIndex, record.providerNodeId);
        await notifyUpdateApplied({ exchanges: options.exchanges, session, endpoint: record.endpoint, timeoutMs: options.commandTimeoutMs ?? 10_000 }, record.updateToken, record.targetVersion);
        this.log("info", `OTA: NotifyUpdateApplied for ${record.targetVersion} sent`);
        break;
      } catch (error) {
        this.log("warn", `OTA: NotifyUpdateApplied ${attempt}: ${(error as Error).message}`);
        if (attempt < attempts) await this.sleep(5000 * attempt);
      }
    }
    options.storage.delete(APPLIED_KEY);
  }

  private transition(newState: number, reason: number, targetVersion: number | null, previousOverride?: number): void {
    const previousState = previousOverride ?? this.updateState;
    if (newState !== UpdateState.Downloading && newState !== UpdateState.Applying && newState !== UpdateState.DelayedOnApply) this.setProgress(null);
    if (newState === UpdateState.Downloading) this.setProgress(0);
    if (previousState === newState && previousOverride === undefined) return;
    this.set("updateState", newState);
    this.emitEvent(RequestorEvent.StateTransition, { previousState, newState, reason, targetSoftwareVersion: targetVersion });
  }

  private setProgress(percent: number | null): void {
    this.set("updateStateProgress", percent);
  }

  private scheduleRetry(delaySeconds: number | undefined): void {
    const delay = Math.min(Math.max((delaySeconds ?? 120) * 1000, 1000), this.options.maxProviderDelayMs ?? 60 * 60 * 1000);
    void this.sleep(delay).then(() => {
      if (this.stoppedFlag) return;
      if (this.updateState === UpdateState.DelayedOnQuery) void this.checkForUpdate();
    });
  }

  private schedulePeriodic(interval: number): void {
    this.periodic = this.options.clock.setTimer(interval, () => {
      this.periodic = undefined;
      if (this.stoppedFlag) return;
      void this.checkForUpdate();
      this.schedulePeriodic(interval);
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const sleeper = { handle: 0 as TimerHandle, resolve };
      sleeper.handle = this.options.clock.setTimer(ms, () => {
        this.sleeping.delete(sleeper);
        resolve();
      });
      this.sleeping.add(sleeper);
    });
  }
}
