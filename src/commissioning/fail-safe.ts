// The fail-safe context (Matter Core spec 11.10.6.2 ArmFailSafe, 11.10.7.6 CommissioningComplete;
// CHIP's FailSafeContext): while it is armed, every commissioning change (trusted root, NOC,
// ACL, IPK, network configuration, regulatory configuration) is pending, kept in memory by its
// owner. CommissioningComplete writes them all in one atomic commit of the transactional store;
// expiry (its timer, the 900 s cumulative limit, ArmFailSafe(0), RevokeCommissioning) forgets
// them. Nothing pending is ever written, so a power cut or a restart while armed behaves as an
// expiry, as the spec asks.
//
// The owners of pending state register as participants; the device listens for expiry to drop
// the PASE session and the sessions of a fabric that was never committed.
import type { Clock, LogLevel, TimerHandle } from "../platform";
import type { SecureSession } from "../transport/session";
import type { TransactionalStore } from "./transactional-store";

/** What BasicCommissioningInfo announces: the expiry commissioners should ask for, and the cap. */
export const DEFAULT_FAIL_SAFE_EXPIRY_SECONDS = 60;
export const MAX_CUMULATIVE_FAIL_SAFE_SECONDS = 900;

export interface FailSafeParticipant {
  /** Inside the commit's transaction: writes every record its pending changes make durable. */
  stageCommit(): void;
  /** Once the commit is durable: the pending changes become the committed state in memory. */
  applyCommit(): void;
  /** Forgets every pending change. */
  revert(): void;
}

export type FailSafeEndReason = "timeout" | "cumulative-limit" | "disarmed" | "revoked" | "shutdown";

export interface FailSafeExpiry {
  reason: FailSafeEndReason;
  /** The fabric AddNOC created in this fail-safe, now gone. */
  newFabricIndex: number | undefined;
  /** The fabric UpdateNOC changed in this fail-safe, now back to its old NOC. */
  updatedFabricIndex: number | undefined;
  /**
   * When a command ended the context (ArmFailSafe(0)), runs session clean-up once its response
   * has gone out, so that the commissioner's own session carries the answer; absent otherwise.
   */
  afterResponse?: (callback: () => void) => void;
}

export interface FailSafeListener {
  armed?(fabricIndex: number, expirySeconds: number): void;
  expired?(expiry: FailSafeExpiry): void;
  committed?(fabricIndex: number, newFabricIndex: number | undefined): void;
}

export type ArmOutcome = "armed" | "disarmed" | "not-armed" | "busy-with-other-admin";

export class FailSafeContext {
  private declare readonly clock: Clock;
  private declare readonly store: TransactionalStore;
  private declare readonly log: (level: LogLevel, message: string) => void;
  private readonly participants: FailSafeParticipant[] = [];
  private readonly listeners: FailSafeListener[] = [];
  private declare timer: TimerHandle | undefined;
  private cumulativeDeadline = 0;
  private armedFlag = false;
  private fabric = 0;
  /** Commands that may run once per fail-safe (spec 11.18.6). */
  addTrustedRootInvoked = false;
  addNocInvoked = false;
  updateNocInvoked = false;
  declare newFabricIndex: number | undefined;
  declare updatedFabricIndex: number | undefined;
  /** The session that armed it (a commissioner's PASE session, or an administrator's CASE session). */
  declare armingSession: SecureSession | undefined;

  constructor(options: { clock: Clock; store: TransactionalStore; log?: (level: LogLevel, message: string) => void }) {
    this.clock = options.clock;
    this.store = options.store;
    this.log = options.log ?? (() => {});
  }

  get armed(): boolean {
    return this.armedFlag;
  }

  /** The fabric the context belongs to: the arming fabric (0 for PASE), or the one AddNOC created. */
  get fabricIndex(): number {
    return this.fabric;
  }

  /** Whether changes by `fabricIndex` are pending (the context is armed for that fabric). */
  covers(fabricIndex: number): boolean {
    return this.armedFlag && fabricIndex !== 0 && fabricIndex === this.fabric;
  }

  addParticipant(participant: FailSafeParticipant): void {
    this.participants.push(participant);
  }

  addListener(listener: FailSafeListener): () => void {
    this.listeners.push(listener);
    return () => {
      const index = this.listeners.indexOf(listener);
      if (index >= 0) this.listeners.splice(index, 1);
    };
  }

  /**
   * ArmFailSafe's rules (spec 11.10.7.2) apart from the commissioning-window one, which the
   * caller checks: arm for `expirySeconds`, re-arm when the same fabric asks, expire at once on 0.
   */
  arm(expirySeconds: number, accessingFabric: number, session: SecureSession | undefined, afterResponse?: (callback: () => void) => void): ArmOutcome {
    if (this.armedFlag && accessingFabric !== this.fabric) return "busy-with-other-admin";
    if (expirySeconds === 0) {
      if (!this.armedFlag) return "not-armed";
      this.expire("disarmed", afterResponse);
      return "disarmed";
    }
    const now = this.clock.now();
    if (!this.armedFlag) {
      this.armedFlag = true;
      this.fabric = accessingFabric;
      this.cumulativeDeadline = now + MAX_CUMULATIVE_FAIL_SAFE_SECONDS * 1000;
      this.armingSession = session;
    }
    const remaining = this.cumulativeDeadline - now;
    const wanted = expirySeconds * 1000;
    this.startTimer(Math.min(wanted, remaining), wanted >= remaining ? "cumulative-limit" : "timeout");
    this.log("info", `fail-safe armed: ${Math.round(Math.min(wanted, remaining) / 1000)} s, fabric ${this.fabric}`);
    for (const listener of [...this.listeners]) listener.armed?.(this.fabric, Math.min(expirySeconds, Math.ceil(remaining / 1000)));
    return "armed";
  }

  /** AddNOC made fabric `fabricIndex`: the context now belongs to it (spec 11.18.6.8). */
  noteNewFabric(fabricIndex: number): void {
    this.addNocInvoked = true;
    this.newFabricIndex = fabricIndex;
    this.fabric = fabricIndex;
  }

  noteUpdatedFabric(fabricIndex: number): void {
    this.updateNocInvoked = true;
    this.updatedFabricIndex = fabricIndex;
  }

  /**
   * CommissioningComplete: writes every pending change in one atomic commit, then disarms. If the
   * commit fails nothing was written, the context stays armed, and the error propagates.
   */
  commit(): void {
    if (!this.armedFlag) throw new Error("the fail-safe is not armed");
    this.store.atomically(() => {
      for (const participant of this.participants) participant.stageCommit();
    });
    for (const participant of this.participants) participant.applyCommit();
    const fabric = this.fabric;
    const created = this.newFabricIndex;
    this.disarm();
    this.log("info", `fail-safe committed (fabric ${fabric})`);
    for (const listener of [...this.listeners]) listener.committed?.(fabric, created);
  }

  /** Ends the context and forgets every pending change; `afterResponse` when a command ends it. */
  expire(reason: FailSafeEndReason, afterResponse?: (callback: () => void) => void): void {
    if (!this.armedFlag) return;
    const expiry: FailSafeExpiry = { reason, newFabricIndex: this.newFabricIndex, updatedFabricIndex: this.updatedFabricIndex, ...(afterResponse ? { afterResponse } : {}) };
    for (const participant of this.participants) {
      try {
        participant.revert();
      } catch (error) {
        this.log("error", `revert failed: ${(error as Error).message}`);
      }
    }
    this.disarm();
    this.log("info", `fail-safe ${reason}: changes reverted`);
    for (const listener of [...this.listeners]) {
      try {
        listener.expired?.(expiry);
      } catch (error) {
        this.log("error", `fail-safe listener failed: ${(error as Error).message}`);
      }
    }
  }

  /** Shutdown: timers stop; pending changes are simply not written. */
  close(): void {
    this.stopTimer();
  }

  private disarm(): void {
    this.stopTimer();
    this.armedFlag = false;
    this.fabric = 0;
    this.addTrustedRootInvoked = false;
    this.addNocInvoked = false;
    this.updateNocInvoked = false;
    this.newFabricIndex = undefined;
    this.updatedFabricIndex = undefined;
    this.armingSession = undefined;
  }

  private startTimer(ms: number, reason: FailSafeEndReason): void {
    this.stopTimer();
    this.timer = this.clock.setTimer(Math.max(0, ms), () => {
      this.timer = undefined;
      this.expire(reason);
    });
  }

  private stopTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }
}
