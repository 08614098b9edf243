// The wire format between the firmware running inside XS and the Node process that hosts it.
//
// The firmware's platform calls are synchronous: XS sends a request with issueCommand() and
// blocks for the reply. Events (datagrams, timers, BLE, control calls) go the other way as
// handleCommand() deliveries. Both directions are one opcode byte followed by fields; replies
// start with a status byte (0 ok, 1 error followed by a UTF-8 message). This module is bundled
// into XS too, so it uses nothing but typed arrays.

export const Request = {
  now: 0x01,
  setTimer: 0x02,
  clearTimer: 0x03,
  entropy: 0x04,
  kvLimits: 0x10,
  kvGet: 0x11,
  kvSet: 0x12,
  kvDelete: 0x13,
  kvKeys: 0x14,
  flashOpen: 0x20,
  flashRead: 0x21,
  flashWrite: 0x22,
  flashErase: 0x23,
  udpOpen: 0x30,
  udpSend: 0x31,
  udpClose: 0x32,
  interfaces: 0x33,
  bleAvailable: 0x40,
  bleAdvertise: 0x41,
  bleAdditionalData: 0x42,
  bleIndicate: 0x43,
  bleDisconnect: 0x44,
  bootAvailable: 0x50,
  bootRunningSlot: 0x51,
  bootUpdateSlot: 0x52,
  bootSetNext: 0x53,
  bootConfirm: 0x54,
  bootPending: 0x55,
  log: 0x60,
  reboot: 0x61,
  /** A JSON notification from the firmware to whoever runs the simulator (status, events). */
  notify: 0x70,
} as const;

export const Event = {
  timer: 0x81,
  udpMessage: 0x82,
  bleConnected: 0x90,
  bleDisconnected: 0x91,
  bleReceived: 0x92,
  bleSubscribed: 0x93,
  bleConfirmed: 0x94,
  /** A JSON request to the firmware's control handler; the reply is JSON. */
  control: 0xa0,
} as const;

export const Status = { ok: 0, error: 1 } as const;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

export class WireWriter {
  private buffer: Uint8Array;
  private view: DataView;
  private used = 0;

  constructor(capacity = 64) {
    this.buffer = new Uint8Array(capacity);
    this.view = new DataView(this.buffer.buffer);
  }

  private reserve(extra: number): void {
    if (this.used + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.used + extra) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.used));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }

  u8(value: number): this {
    this.reserve(1);
    this.buffer[this.used++] = value;
    return this;
  }

  u32(value: number): this {
    this.reserve(4);
    this.view.setUint32(this.used, value, true);
    this.used += 4;
    return this;
  }

  f64(value: number): this {
    this.reserve(8);
    this.view.setFloat64(this.used, value, true);
    this.used += 8;
    return this;
  }

  bytes(value: Uint8Array): this {
    this.u32(value.length);
    this.reserve(value.length);
    this.buffer.set(value, this.used);
    this.used += value.length;
    return this;
  }

  string(value: string): this {
    return this.bytes(utf8Encoder.encode(value));
  }

  json(value: unknown): this {
    return this.string(JSON.stringify(value) ?? "null");
  }

  finish(): Uint8Array {
    return this.buffer.slice(0, this.used);
  }
}

export class WireReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private need(length: number): void {
    if (this.offset + length > this.data.length) throw new Error("bridge message truncated");
  }

  u8(): number {
    this.need(1);
    return this.data[this.offset++]!;
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  f64(): number {
    this.need(8);
    const value = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return value;
  }

  bytes(): Uint8Array {
    const length = this.u32();
    this.need(length);
    const value = this.data.slice(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  string(): string {
    return utf8Decoder.decode(this.bytes());
  }

  json<T = unknown>(): T {
    return JSON.parse(this.string()) as T;
  }

  get done(): boolean {
    return this.offset >= this.data.length;
  }
}

export function okReply(write?: (writer: WireWriter) => void): Uint8Array {
  const writer = new WireWriter().u8(Status.ok);
  write?.(writer);
  return writer.finish();
}

export function errorReply(message: string): Uint8Array {
  return new WireWriter().u8(Status.error).string(message).finish();
}
