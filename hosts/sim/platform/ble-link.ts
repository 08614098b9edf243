// A simulated BLE link for the simulator: the Node platform's BlePeripheral served on a loopback
// TCP port, and a test central that connects to it. Each TCP connection is one BLE connection;
// frames carry what a GATT client and server exchange for the Matter service:
//   frame = type (1 byte) | length (2 bytes, big-endian) | payload
//   central → peripheral: CONNECT (ATT MTU, u16), WRITE (a C1 write), SUBSCRIBE (1/0 on C2),
//                         CONFIRM (of the last C2 indication), READ_C3, SCAN, DISCONNECT
//   peripheral → central: INDICATION (C2), C3_VALUE, ADVERTISEMENT (service data; empty when
//                         not advertising), WRITE_RESPONSE (a C1 write was taken)
// As in GATT, one indication is in flight at a time: the next waits for the central's CONFIRM.
// A malformed or oversized frame ends that connection, nothing else.
import { createConnection, createServer, type Server, type Socket } from "node:net";
import type { BleConnection, BleEvents, BlePeripheral } from "../../../src/platform";

export const BleFrame = {
  Connect: 0x01,
  Write: 0x02,
  Subscribe: 0x03,
  Confirm: 0x04,
  ReadC3: 0x05,
  Scan: 0x06,
  Disconnect: 0x07,
  WriteResponse: 0x82,
  Indication: 0x83,
  C3Value: 0x85,
  Advertisement: 0x86,
} as const;

/** ATT values are at most 512 bytes; frames above that are refused. */
const MAX_FRAME_PAYLOAD = 512;
const DEFAULT_MTU = 23;

function frame(type: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(3 + payload.length);
  out[0] = type;
  out[1] = payload.length >> 8;
  out[2] = payload.length & 0xff;
  out.set(payload, 3);
  return out;
}

/** Splits a byte stream into frames; `onFrame` returning false (or a bad frame) stops it. */
class FrameReader {
  private buffer = new Uint8Array(0);
  constructor(private readonly onFrame: (type: number, payload: Uint8Array) => void) {}

  /** False when the stream is malformed. */
  push(chunk: Uint8Array): boolean {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    let at = 0;
    while (joined.length - at >= 3) {
      const length = (joined[at + 1]! << 8) | joined[at + 2]!;
      if (length > MAX_FRAME_PAYLOAD) return false;
      if (joined.length - at < 3 + length) break;
      this.onFrame(joined[at]!, joined.slice(at + 3, at + 3 + length));
      at += 3 + length;
    }
    this.buffer = joined.slice(at);
    return true;
  }
}

export interface SimulatedBleOptions {
  /** Loopback TCP port to serve on; 0 (default) picks a free one. */
  port?: number;
  host?: string;
  /** Where link errors are reported. */
  onError?: (message: string) => void;
}

interface LinkConnection {
  id: BleConnection;
  socket: Socket;
  connected: boolean;
  subscribed: boolean;
  inFlight: boolean;
  queue: Uint8Array[];
}

/** The Matter GATT service as a BlePeripheral, reached over loopback TCP. */
export class SimulatedBlePeripheral implements BlePeripheral {
  /** Resolves to the TCP port centrals connect to. */
  readonly ready: Promise<number>;
  private readonly server: Server;
  private readonly connections = new Map<BleConnection, LinkConnection>();
  private events: BleEvents | undefined;
  private serviceData: Uint8Array | undefined;
  private additionalData: Uint8Array | undefined;
  private nextId = 1;

  constructor(private readonly options: SimulatedBleOptions = {}) {
    this.server = createServer((socket) => this.accept(socket));
    this.ready = new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
        const address = this.server.address();
        resolve(typeof address === "object" && address ? address.port : 0);
      });
    });
    this.ready.catch((error: Error) => this.report(`BLE link: ${error.message}`));
  }

  get advertising(): Uint8Array | undefined {
    return this.serviceData;
  }

  setHandler(events: BleEvents): void {
    this.events = events;
  }

  advertise(serviceData: Uint8Array | undefined): void {
    if (serviceData !== undefined && serviceData.length !== 8) throw new RangeError(`Matter BLE service data is 8 bytes, got ${serviceData.length}`);
    this.serviceData = serviceData?.slice();
  }

  setAdditionalData(data: Uint8Array | undefined): void {
    this.additionalData = data?.slice();
  }

  indicate(connection: BleConnection, data: Uint8Array): void {
    const link = this.connections.get(connection);
    if (!link?.connected) throw new Error(`BLE connection ${connection} is not open`);
    if (!link.subscribed) throw new Error("the central has not subscribed to C2");
    if (data.length > MAX_FRAME_PAYLOAD) throw new RangeError(`indication of ${data.length} bytes`);
    link.queue.push(data.slice());
    this.sendNext(link);
  }

  disconnect(connection: BleConnection): void {
    this.connections.get(connection)?.socket.destroy();
  }

  /** Stops serving and drops every connection. */
  close(): void {
    for (const link of this.connections.values()) link.socket.destroy();
    this.server.close();
  }

  private accept(socket: Socket): void {
    // Small frames go out at once, as link-layer PDUs would (no Nagle batching).
    socket.setNoDelay(true);
    const link: LinkConnection = { id: this.nextId++, socket, connected: false, subscribed: false, inFlight: false, queue: [] };
    this.connections.set(link.id, link);
    const reader = new FrameReader((type, payload) => this.onFrame(link, type, payload));
    socket.on("data", (chunk: Buffer) => {
      if (!reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))) {
        this.report(`BLE link: malformed frame on connection ${link.id}`);
        socket.destroy();
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      this.connections.delete(link.id);
      if (link.connected) this.events?.disconnected(link.id);
    });
  }

  private onFrame(link: LinkConnection, type: number, payload: Uint8Array): void {
    const events = this.events;
    switch (type) {
      case BleFrame.Scan:
        link.socket.write(frame(BleFrame.Advertisement, this.serviceData ?? new Uint8Array(0)));
        return;
      case BleFrame.Connect: {
        if (link.connected) return;
        const mtu = payload.length === 2 ? (payload[0]! << 8) | payload[1]! : DEFAULT_MTU;
        link.connected = true;
        events?.connected(link.id, mtu);
        return;
      }
      case BleFrame.ReadC3:
        link.socket.write(frame(BleFrame.C3Value, this.additionalData ?? new Uint8Array(0)));
        return;
      case BleFrame.Disconnect:
        link.socket.destroy();
        return;
    }
    if (!link.connected) {
      link.socket.destroy();
      return;
    }
    switch (type) {
      case BleFrame.Write:
        link.socket.write(frame(BleFrame.WriteResponse));
        events?.received(link.id, payload);
        return;
      case BleFrame.Subscribe: {
        const subscribed = payload[0] === 1;
        if (subscribed === link.subscribed) return;
        link.subscribed = subscribed;
        if (!subscribed) {
          link.queue = [];
          link.inFlight = false;
        }
        events?.subscribed(link.id, subscribed);
        return;
      }
      case BleFrame.Confirm:
        if (!link.inFlight) return;
        link.inFlight = false;
        events?.confirmed(link.id);
        this.sendNext(link);
        return;
      default:
        link.socket.destroy();
    }
  }

  private sendNext(link: LinkConnection): void {
    if (link.inFlight || link.socket.destroyed) return;
    const next = link.queue.shift();
    if (!next) return;
    link.inFlight = true;
    link.socket.write(frame(BleFrame.Indication, next));
  }

  private report(message: string): void {
    (this.options.onError ?? ((text: string) => process.stderr.write(`${text}\n`)))(message);
  }
}

/** What a central's BLE stack does against the simulated peripheral (tests, tools). */
export class SimulatedBleCentral {
  /** Resolves when the link closes (either side). */
  readonly closed: Promise<void>;
  private indicationHandler: ((data: Uint8Array) => void) | undefined;
  private readonly pendingIndications: Uint8Array[] = [];
  private readonly replies: { type: number; resolve: (payload: Uint8Array) => void }[] = [];
  private writesInFlight = 0;
  private isClosed = false;

  private constructor(private readonly socket: Socket) {
    const reader = new FrameReader((type, payload) => this.onFrame(type, payload));
    socket.on("data", (chunk: Buffer) => {
      if (!reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))) socket.destroy();
    });
    this.closed = new Promise((resolve) => {
      socket.on("close", () => {
        this.isClosed = true;
        resolve();
      });
    });
    socket.on("error", () => socket.destroy());
  }

  static async open(port: number, host = "127.0.0.1"): Promise<SimulatedBleCentral> {
    const socket = createConnection({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    socket.setNoDelay(true);
    return new SimulatedBleCentral(socket);
  }

  /** The peripheral's current advertisement, or undefined when it does not advertise. */
  static async scan(port: number, host = "127.0.0.1"): Promise<Uint8Array | undefined> {
    const central = await SimulatedBleCentral.open(port, host);
    try {
      const data = await central.request(BleFrame.Scan, BleFrame.Advertisement);
      return data.length > 0 ? data : undefined;
    } finally {
      central.disconnect();
    }
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Connects with the ATT MTU the two stacks agreed on. */
  connect(mtu: number): void {
    this.socket.write(frame(BleFrame.Connect, Uint8Array.of(mtu >> 8, mtu & 0xff)));
  }

  /** A C1 write (with response). */
  write(data: Uint8Array): void {
    if (this.isClosed) throw new Error("the BLE link is closed");
    this.writesInFlight++;
    this.socket.write(frame(BleFrame.Write, data));
  }

  subscribe(on = true): void {
    this.socket.write(frame(BleFrame.Subscribe, Uint8Array.of(on ? 1 : 0)));
  }

  /** Receives C2 indications; each is confirmed once the handler returns, as a BLE stack does. */
  onIndication(handler: (data: Uint8Array) => void): void {
    this.indicationHandler = handler;
    for (const data of this.pendingIndications.splice(0)) this.deliver(data);
  }

  readAdditionalData(): Promise<Uint8Array> {
    return this.request(BleFrame.ReadC3, BleFrame.C3Value);
  }

  /** Writes sent and not yet answered by the peripheral. */
  get pendingWrites(): number {
    return this.writesInFlight;
  }

  /** Raw bytes onto the link (malformed-frame tests). */
  writeRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  disconnect(): void {
    if (!this.isClosed) this.socket.end(frame(BleFrame.Disconnect));
    this.socket.destroySoon();
  }

  private request(type: number, replyType: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      if (this.isClosed) return reject(new Error("the BLE link is closed"));
      this.replies.push({ type: replyType, resolve });
      this.closed.then(() => reject(new Error("the BLE link closed")));
      this.socket.write(frame(type));
    });
  }

  private onFrame(type: number, payload: Uint8Array): void {
    if (type === BleFrame.Indication) {
      if (this.indicationHandler) this.deliver(payload);
      else this.pendingIndications.push(payload);
      return;
    }
    if (type === BleFrame.WriteResponse) {
      this.writesInFlight = Math.max(0, this.writesInFlight - 1);
      return;
    }
    const index = this.replies.findIndex((reply) => reply.type === type);
    if (index >= 0) this.replies.splice(index, 1)[0]!.resolve(payload);
  }

  private deliver(data: Uint8Array): void {
    try {
      this.indicationHandler!(data);
    } finally {
      if (!this.isClosed) this.socket.write(frame(BleFrame.Confirm));
    }
  }
}
