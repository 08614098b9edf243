// The commissioning window (Matter Core spec 5.4.2.3, 5.5; Administrator Commissioning 11.19):
// while it is open the node takes PASE handshakes for one verifier and advertises itself as
// commissionable (DNS-SD, and BLE where the platform has it). A basic window uses the factory
// verifier and discriminator; an enhanced one (OpenCommissioningWindow) the verifier and
// discriminator an administrator supplied.
//
// As CHIP's CommissioningWindowManager does, the window stops taking PASE and stops advertising
// as soon as a PASE session is established (one commissioner at a time), and resumes both if that
// session goes away before the window closes. It closes on its timeout (at most 15 minutes), on
// CommissioningComplete, on RevokeCommissioning, or after 20 failed PASE attempts.
import type { Clock, LogLevel, TimerHandle } from "../platform";
import type { PaseVerifier } from "../securechannel/pase";

/** CommissioningWindowStatusEnum (spec 11.19.5.1). */
export enum CommissioningWindowStatus { WindowNotOpen = 0, EnhancedWindowOpen = 1, BasicWindowOpen = 2 }

/** Spec 5.4.2.3.1 and 11.19.8.1: a window stays open 3 to 15 minutes. */
export const MIN_COMMISSIONING_TIMEOUT_SECONDS = 180;
export const MAX_COMMISSIONING_TIMEOUT_SECONDS = 900;

export type CommissioningWindowKind = "basic" | "enhanced";
export type WindowCloseReason = "timeout" | "commissioned" | "revoked" | "too-many-failures" | "factory-reset" | "shutdown" | "closed";

/** The PASE responder's window (the secure channel stack). */
export interface PaseWindowControl {
  openCommissioningWindow(verifier: PaseVerifier): void;
  closeCommissioningWindow(): void;
}

/** What the device shows while commissionable (discovery's CommissioningAdvertisement). */
export interface CommissionableAdvertiser {
  openWindow(info: { discriminator: number; commissioningMode: 1 | 2 }): void;
  closeWindow(): void;
}

export interface CommissioningWindowOpening {
  kind: CommissioningWindowKind;
  verifier: PaseVerifier;
  discriminator: number;
  timeoutSeconds: number;
  /** The administrator that opened it (null for a window the device opened itself). */
  admin?: { fabricIndex: number; vendorId: number };
}

export interface CommissioningWindowManagerOptions {
  clock: Clock;
  pase: PaseWindowControl;
  advertiser?: CommissionableAdvertiser;
  log?: (level: LogLevel, message: string) => void;
  onOpened?: (opening: CommissioningWindowOpening) => void;
  onClosed?: (reason: WindowCloseReason) => void;
  /** WindowStatus, AdminFabricIndex or AdminVendorId changed. */
  onChange?: () => void;
}

interface OpenWindow {
  kind: CommissioningWindowKind;
  verifier: PaseVerifier;
  discriminator: number;
  timer: TimerHandle;
  /** False while a PASE session it admitted is alive. */
  listening: boolean;
}

export class CommissioningWindowManager {
  adminFabricIndex: number | null = null;
  adminVendorId: number | null = null;
  private declare readonly options: CommissioningWindowManagerOptions;
  private declare readonly log: (level: LogLevel, message: string) => void;
  private declare window: OpenWindow | undefined;
  /** Set while we close the PASE responder's window ourselves, so its callback is ours to ignore. */
  private closingPase = false;

  constructor(options: CommissioningWindowManagerOptions) {
    this.options = options;
    this.log = options.log ?? (() => {});
  }

  get isOpen(): boolean {
    return this.window !== undefined;
  }

  get kind(): CommissioningWindowKind | undefined {
    return this.window?.kind;
  }

  /** Taking PASE handshakes right now (open, and no PASE session admitted yet). */
  get listening(): boolean {
    return this.window?.listening === true;
  }

  get status(): number {
    if (!this.window) return CommissioningWindowStatus.WindowNotOpen;
    return this.window.kind === "enhanced" ? CommissioningWindowStatus.EnhancedWindowOpen : CommissioningWindowStatus.BasicWindowOpen;
  }

  /** Opens the window (closing any open one first). The verifier is copied. */
  open(opening: CommissioningWindowOpening): void {
    if (this.window) this.close("closed");
    const verifier = { ...opening.verifier, w0: opening.verifier.w0.slice(), L: opening.verifier.L.slice(), salt: opening.verifier.salt.slice() };
    // Checked (and refused) by the PASE responder before anything else changes.
    this.options.pase.openCommissioningWindow(verifier);
    const timeoutMs = opening.timeoutSeconds * 1000;
    const timer = this.options.clock.setTimer(timeoutMs, () => {
      if (this.window?.timer === timer) this.close("timeout");
    });
    this.window = { kind: opening.kind, verifier, discriminator: opening.discriminator, timer, listening: true };
    this.adminFabricIndex = opening.admin?.fabricIndex ?? null;
    this.adminVendorId = opening.admin?.vendorId ?? null;
    this.advertise();
    this.log("info", `window opened: ${opening.kind}, ${opening.discriminator}, ${opening.timeoutSeconds} s`);
    this.options.onOpened?.(opening);
    this.options.onChange?.();
  }

  close(reason: WindowCloseReason): void {
    const window = this.window;
    if (!window) return;
    this.window = undefined;
    this.options.clock.clearTimer(window.timer);
    this.stopPase();
    this.options.advertiser?.closeWindow();
    window.verifier.w0.fill(0);
    this.adminFabricIndex = null;
    this.adminVendorId = null;
    this.log("info", `commissioning window closed (${reason})`);
    this.options.onClosed?.(reason);
    this.options.onChange?.();
  }

  /** A PASE session was established: no more handshakes or advertising while it lives. */
  paseSessionEstablished(): void {
    const window = this.window;
    if (!window || !window.listening) return;
    window.listening = false;
    this.stopPase();
    this.options.advertiser?.closeWindow();
    this.log("info", "window paused: PASE session in use");
  }

  /** That session went away without commissioning: the still-open window takes handshakes again. */
  paseSessionEnded(): void {
    const window = this.window;
    if (!window || window.listening) return;
    window.listening = true;
    this.options.pase.openCommissioningWindow(window.verifier);
    this.advertise();
    this.log("info", "commissioning window takes PASE handshakes again");
  }

  /** The PASE responder closed its window itself (too many failed attempts). */
  paseWindowClosed(reason: string): void {
    if (this.closingPase) return;
    this.close(reason === "too-many-failures" ? "too-many-failures" : "closed");
  }

  /** The fabric that opened the window is gone (spec 11.19.7.2: AdminFabricIndex becomes null). */
  fabricRemoved(fabricIndex: number): void {
    if (this.adminFabricIndex !== fabricIndex) return;
    this.adminFabricIndex = null;
    this.options.onChange?.();
  }

  private advertise(): void {
    const window = this.window;
    if (!window) return;
    try {
      this.options.advertiser?.openWindow({ discriminator: window.discriminator, commissioningMode: window.kind === "enhanced" ? 2 : 1 });
    } catch (error) {
      this.log("warn", `commissionable advertisement failed: ${(error as Error).message}`);
    }
  }

  private stopPase(): void {
    this.closingPase = true;
    try {
      this.options.pase.closeCommissioningWindow();
    } finally {
      this.closingPase = false;
    }
  }
}
