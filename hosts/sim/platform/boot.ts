// A/B boot control for the simulator, the way a bootloader with rollback does it: two slot
// partitions and a boot record naming the slot to start, whether that start is a trial, and how
// many trial starts it has had. The record is one small file replaced atomically (write, fsync,
// rename, fsync the directory), so a power cut leaves the old or the new record, never a mix.
//
// setNextBoot(slot) makes `slot` the next start, on trial. powerOn() (run at every simulated
// start, the constructor included) counts a trial start; a trial that was already started
// without confirmRunning() is rolled back: the previous slot starts again and the failed one is
// remembered in `record.rejected`. So an image that crashes, hangs or never confirms runs once.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { BootControl } from "../../../src/platform";

export interface BootRecord {
  /** The slot to start. */
  active: string;
  /** True while `active` is an update that has not confirmed itself. */
  trial: boolean;
  /** Trial starts so far. */
  trialBoots: number;
  /** The slot that ran before the trial (rolled back to). */
  previous?: string;
  /** The last slot whose trial was rolled back. */
  rejected?: string;
}

/** Where the boot record lives. */
export interface BootRecordStore {
  load(): BootRecord | undefined;
  save(record: BootRecord): void;
}

export class MemoryBootRecordStore implements BootRecordStore {
  private record: BootRecord | undefined;
  load(): BootRecord | undefined {
    return this.record ? { ...this.record } : undefined;
  }
  save(record: BootRecord): void {
    this.record = { ...record };
  }
}

/** The record as JSON in one file, replaced atomically. */
export class FileBootRecordStore implements BootRecordStore {
  constructor(readonly path: string) {}

  load(): BootRecord | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    const value = JSON.parse(text) as BootRecord;
    if (typeof value.active !== "string" || typeof value.trial !== "boolean" || !Number.isInteger(value.trialBoots)) {
      throw new Error(`boot record ${this.path} is malformed`);
    }
    return value;
  }

  save(record: BootRecord): void {
    const temporary = `${this.path}.tmp`;
    const fd = openSync(temporary, "w", 0o600);
    try {
      const bytes = Buffer.from(JSON.stringify(record));
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
    const directory = openSync(dirname(this.path), "r");
    try {
      fsyncSync(directory);
    } finally {
      closeSync(directory);
    }
  }
}

export interface SimBootControlOptions {
  store: BootRecordStore;
  /** The two slot partitions, in order; the first starts on a fresh device. Default ota_0, ota_1. */
  slots?: readonly [string, string];
  /** Starts an unconfirmed image gets before it is rolled back. Default 1. */
  maxTrialBoots?: number;
}

export class SimBootControl implements BootControl {
  readonly slots: readonly [string, string];
  private readonly store: BootRecordStore;
  private readonly maxTrialBoots: number;
  private running!: string;
  private record!: BootRecord;

  constructor(options: SimBootControlOptions) {
    this.store = options.store;
    this.slots = options.slots ?? ["ota_0", "ota_1"];
    if (this.slots[0] === this.slots[1]) throw new Error("the two boot slots must differ");
    this.maxTrialBoots = options.maxTrialBoots ?? 1;
    if (!Number.isInteger(this.maxTrialBoots) || this.maxTrialBoots < 1) throw new Error("maxTrialBoots must be at least 1");
    this.powerOn();
  }

  /**
   * What the bootloader does at every start: picks the slot, counts a trial start or rolls back
   * a trial that already had its starts. Returns the slot that runs.
   */
  powerOn(): string {
    let record = this.store.load() ?? { active: this.slots[0], trial: false, trialBoots: 0 };
    if (!this.slots.includes(record.active)) throw new Error(`boot record names unknown slot ${record.active}`);
    if (record.trial) {
      if (record.trialBoots >= this.maxTrialBoots && record.previous !== undefined) {
        record = { active: record.previous, trial: false, trialBoots: 0, rejected: record.active };
      } else {
        record = { ...record, trialBoots: record.trialBoots + 1 };
      }
      this.store.save(record);
    }
    this.record = record;
    this.running = record.active;
    return this.running;
  }

  /** A copy of the current boot record. */
  get bootRecord(): BootRecord {
    return { ...this.record };
  }

  runningSlot(): string {
    return this.running;
  }

  updateSlot(): string {
    return this.running === this.slots[0] ? this.slots[1] : this.slots[0];
  }

  setNextBoot(slot: string): void {
    if (slot !== this.updateSlot()) throw new Error(`only the update slot ${this.updateSlot()} can be selected, not ${JSON.stringify(slot)}`);
    const record: BootRecord = { active: slot, trial: true, trialBoots: 0, previous: this.running };
    this.store.save(record);
    this.record = record;
  }

  confirmRunning(): void {
    if (!this.pendingConfirmation()) return;
    const record: BootRecord = { active: this.running, trial: false, trialBoots: 0 };
    this.store.save(record);
    this.record = record;
  }

  pendingConfirmation(): boolean {
    return this.record.trial && this.record.active === this.running;
  }
}
