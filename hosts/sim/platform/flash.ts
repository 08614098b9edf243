// Flash partitions for the simulator, with NOR semantics: erase sets whole blocks to 0xFF, and a
// write may only program bytes that are erased. Backed by one file per partition, or by memory.
import { closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { FlashPartition, FlashStore } from "../../../src/platform";

export interface PartitionLayout {
  /** Partition name ("factory", "ota_0", "ota_1", ...) to size in bytes (a multiple of the block size). */
  [name: string]: number;
}

/** ESP32 SPI flash erases 4 KB sectors. */
export const DEFAULT_FLASH_BLOCK_SIZE = 4096;

export class FlashError extends Error {
  override name = "FlashError";
}

interface Backing {
  read(offset: number, length: number): Uint8Array;
  write(offset: number, data: Uint8Array): void;
  close(): void;
}

class MemoryBacking implements Backing {
  private readonly bytes: Uint8Array;
  constructor(size: number) {
    this.bytes = new Uint8Array(size).fill(0xff);
  }
  read(offset: number, length: number): Uint8Array {
    return this.bytes.slice(offset, offset + length);
  }
  write(offset: number, data: Uint8Array): void {
    this.bytes.set(data, offset);
  }
  close(): void {}
}

class FileBacking implements Backing {
  private fd: number | undefined;
  constructor(
    private readonly path: string,
    size: number,
  ) {
    const fresh = !existsSync(path);
    this.fd = openSync(path, fresh ? "w+" : "r+", 0o600);
    const actual = fstatSync(this.fd).size;
    if (!fresh && actual !== size) {
      closeSync(this.fd);
      this.fd = undefined;
      throw new FlashError(`partition file ${path} is ${actual} bytes, the layout says ${size}`);
    }
    if (fresh) {
      ftruncateSync(this.fd, 0);
      const erased = new Uint8Array(Math.min(size, 65536)).fill(0xff);
      for (let offset = 0; offset < size; offset += erased.length) {
        this.writeFully(erased.subarray(0, Math.min(erased.length, size - offset)), offset);
      }
    }
  }
  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const count = readSync(this.openFd(), out, done, length - done, offset + done);
      if (count === 0) throw new FlashError(`partition file ${this.path} ended early`);
      done += count;
    }
    return out;
  }
  write(offset: number, data: Uint8Array): void {
    this.writeFully(data, offset);
  }
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
  private writeFully(data: Uint8Array, position: number): void {
    let done = 0;
    while (done < data.length) done += writeSync(this.openFd(), data, done, data.length - done, position + done);
  }
  private openFd(): number {
    if (this.fd === undefined) throw new FlashError(`partition file ${this.path} is closed`);
    return this.fd;
  }
}

class SimulatedPartition implements FlashPartition {
  constructor(
    readonly name: string,
    readonly size: number,
    readonly blockSize: number,
    private readonly backing: Backing,
  ) {}

  read(offset: number, length: number): Uint8Array {
    this.checkRange("read", offset, length);
    return this.backing.read(offset, length);
  }

  write(offset: number, data: Uint8Array): void {
    this.checkRange("write", offset, data.length);
    const current = this.backing.read(offset, data.length);
    for (let i = 0; i < current.length; i++) {
      if (current[i] !== 0xff) {
        throw new FlashError(`${this.name}: write at ${offset + i} hits a byte that is not erased (0x${current[i]!.toString(16)})`);
      }
    }
    this.backing.write(offset, data);
  }

  erase(offset: number, length: number): void {
    this.checkRange("erase", offset, length);
    if (offset % this.blockSize !== 0 || length % this.blockSize !== 0) {
      throw new FlashError(`${this.name}: erase of ${length} bytes at ${offset} is not aligned to ${this.blockSize}-byte blocks`);
    }
    const erased = new Uint8Array(Math.min(length, 65536)).fill(0xff);
    for (let done = 0; done < length; done += erased.length) {
      this.backing.write(offset + done, erased.subarray(0, Math.min(erased.length, length - done)));
    }
  }

  close(): void {
    this.backing.close();
  }

  private checkRange(operation: string, offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new FlashError(`${this.name}: ${operation} of ${length} bytes at ${offset} is outside the ${this.size}-byte partition`);
    }
  }
}

export interface SimulatedFlashOptions {
  layout: PartitionLayout;
  /** Directory holding one `<name>.bin` file per partition; in memory when absent. */
  directory?: string;
  blockSize?: number;
}

export class SimulatedFlash implements FlashStore {
  private readonly partitions = new Map<string, SimulatedPartition>();
  private readonly blockSize: number;

  constructor(private readonly options: SimulatedFlashOptions) {
    this.blockSize = options.blockSize ?? DEFAULT_FLASH_BLOCK_SIZE;
    for (const [name, size] of Object.entries(options.layout)) {
      if (!/^[A-Za-z0-9_]{1,16}$/.test(name)) throw new FlashError(`invalid partition name "${name}"`);
      if (!Number.isInteger(size) || size <= 0 || size % this.blockSize !== 0) {
        throw new FlashError(`partition ${name}: size ${size} is not a positive multiple of ${this.blockSize}`);
      }
    }
    if (options.directory) mkdirSync(options.directory, { recursive: true });
  }

  open(name: string): FlashPartition | undefined {
    const existing = this.partitions.get(name);
    if (existing) return existing;
    if (!Object.prototype.hasOwnProperty.call(this.options.layout, name)) return undefined;
    const size = this.options.layout[name]!;
    const backing = this.options.directory
      ? new FileBacking(join(this.options.directory, `${name}.bin`), size)
      : new MemoryBacking(size);
    const partition = new SimulatedPartition(name, size, this.blockSize, backing);
    this.partitions.set(name, partition);
    return partition;
  }

  /** Closes the partition files. */
  close(): void {
    for (const partition of this.partitions.values()) partition.close();
    this.partitions.clear();
  }
}
