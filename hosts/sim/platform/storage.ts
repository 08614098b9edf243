// Key-value stores for the simulator: in memory, or in a directory with one file per key.
//
// The limits default to those of ESP32 NVS (15-character keys, 4000-byte blobs) so that firmware
// that works here also fits on the device.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { KeyValueStore } from "../../../src/platform";

export interface StoreLimits {
  maxKeyLength?: number;
  maxValueLength?: number;
}

const NVS_MAX_KEY_LENGTH = 15;
const NVS_MAX_VALUE_LENGTH = 4000;

abstract class CheckedStore implements KeyValueStore {
  readonly maxKeyLength: number;
  readonly maxValueLength: number;

  constructor(limits: StoreLimits = {}) {
    this.maxKeyLength = limits.maxKeyLength ?? NVS_MAX_KEY_LENGTH;
    this.maxValueLength = limits.maxValueLength ?? NVS_MAX_VALUE_LENGTH;
  }

  protected checkKey(key: string): void {
    if (typeof key !== "string" || key.length === 0) throw new Error("storage key must be a non-empty string");
    if (key.length > this.maxKeyLength) {
      throw new Error(`storage key "${key}" is longer than ${this.maxKeyLength} characters`);
    }
  }

  protected checkValue(key: string, value: Uint8Array): void {
    if (!(value instanceof Uint8Array)) throw new Error(`storage value for "${key}" must be a Uint8Array`);
    if (value.length > this.maxValueLength) {
      throw new Error(`storage value for "${key}" is ${value.length} bytes, more than ${this.maxValueLength}`);
    }
  }

  abstract get(key: string): Uint8Array | undefined;
  abstract set(key: string, value: Uint8Array): void;
  abstract delete(key: string): void;
  abstract keys(prefix: string): string[];
}

export class MemoryStore extends CheckedStore {
  private readonly entries = new Map<string, Uint8Array>();

  get(key: string): Uint8Array | undefined {
    this.checkKey(key);
    const value = this.entries.get(key);
    return value ? value.slice() : undefined;
  }

  set(key: string, value: Uint8Array): void {
    this.checkKey(key);
    this.checkValue(key, value);
    this.entries.set(key, value.slice());
  }

  delete(key: string): void {
    this.checkKey(key);
    this.entries.delete(key);
  }

  keys(prefix: string): string[] {
    return [...this.entries.keys()].filter((key) => key.startsWith(prefix)).sort();
  }
}

// File names: characters outside [A-Za-z0-9_-] become %XX (UTF-8), so no key can name "." or "..",
// contain a path separator, or end in TEMP_SUFFIX.
const TEMP_SUFFIX = ".tmp";

function fileNameForKey(key: string): string {
  let name = "";
  for (const byte of new TextEncoder().encode(key)) {
    const char = String.fromCharCode(byte);
    name += /[A-Za-z0-9_-]/.test(char) ? char : "%" + byte.toString(16).padStart(2, "0");
  }
  return name;
}

function keyForFileName(name: string): string | undefined {
  if (!/^(?:[A-Za-z0-9_-]|%[0-9a-f]{2})+$/.test(name)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < name.length; ) {
    if (name[i] === "%") {
      bytes.push(parseInt(name.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      bytes.push(name.charCodeAt(i));
      i += 1;
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
}

/**
 * One file per key. `set` writes a temporary file, fsyncs it, renames it over the old file and
 * fsyncs the directory, so after a crash a key holds its old or its new value, never a torn one.
 */
export class DirectoryStore extends CheckedStore {
  constructor(
    readonly directory: string,
    limits: StoreLimits = {},
  ) {
    super(limits);
    mkdirSync(directory, { recursive: true });
    // A temporary file left by a crash between write and rename holds a value never committed.
    for (const name of readdirSync(directory)) {
      if (name.endsWith(TEMP_SUFFIX)) unlinkSync(join(directory, name));
    }
  }

  get(key: string): Uint8Array | undefined {
    this.checkKey(key);
    try {
      return new Uint8Array(readFileSync(this.pathOf(key)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  set(key: string, value: Uint8Array): void {
    this.checkKey(key);
    this.checkValue(key, value);
    const target = this.pathOf(key);
    const temporary = target + TEMP_SUFFIX;
    const fd = openSync(temporary, "w", 0o600);
    try {
      let written = 0;
      while (written < value.length) written += writeSync(fd, value, written, value.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, target);
    this.syncDirectory();
  }

  delete(key: string): void {
    this.checkKey(key);
    try {
      unlinkSync(this.pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    this.syncDirectory();
  }

  keys(prefix: string): string[] {
    const keys: string[] = [];
    for (const name of readdirSync(this.directory)) {
      const key = keyForFileName(name);
      if (key !== undefined && key.startsWith(prefix)) keys.push(key);
    }
    return keys.sort();
  }

  private pathOf(key: string): string {
    return join(this.directory, fileNameForKey(key));
  }

  private syncDirectory(): void {
    const fd = openSync(this.directory, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
