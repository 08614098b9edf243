// The Platform as the firmware sees it inside the XS engine of the simulator: every call is
// forwarded to the Node process over issueCommand(), and that process's events come back
// through globalThis.handleCommand(). Bundled into XS with the firmware; Node APIs are absent.
import type {
  BleConnection,
  BleEvents,
  BlePeripheral,
  BootControl,
  Clock,
  FlashPartition,
  LogLevel,
  NetworkInterfaceInfo,
  Platform,
  TimerHandle,
  UdpEndpoint,
  UdpOptions,
  UdpSocket,
} from "../../../src/platform";
import { Event, Request, Status, WireReader, WireWriter } from "./wire";

declare function issueCommand(request: ArrayBuffer): ArrayBuffer;

/** Handles a JSON control request from the host (tests, the simulator's console). */
export type ControlHandler = (request: any) => unknown;

const logLevels: LogLevel[] = ["debug", "info", "warn", "error"];

export class XsBridgePlatform implements Platform {
  readonly clock: Clock;
  readonly entropy = { fill: (target: Uint8Array) => target.set(this.call(new WireWriter().u8(Request.entropy).u32(target.length)).bytes()) };
  readonly storage;
  readonly flash = { open: (name: string) => this.openFlash(name) };
  readonly network = {
    openUdp: (options: UdpOptions, onMessage: (data: Uint8Array, from: UdpEndpoint) => void) => this.openUdp(options, onMessage),
    interfaces: () => this.call(new WireWriter().u8(Request.interfaces)).json<NetworkInterfaceInfo[]>(),
  };
  readonly ble: BlePeripheral | undefined;
  readonly boot: BootControl | undefined;

  private readonly timers = new Map<number, () => void>();
  private nextTimerId = 1;
  private readonly sockets = new Map<number, (data: Uint8Array, from: UdpEndpoint) => void>();
  private bleEvents: BleEvents | undefined;
  private controlHandler: ControlHandler | undefined;

  constructor() {
    this.clock = {
      now: () => this.call(new WireWriter().u8(Request.now)).f64(),
      setTimer: (ms: number, callback: () => void): TimerHandle => {
        const id = this.nextTimerId++;
        if (this.nextTimerId > 0xffffffff) this.nextTimerId = 1;
        this.timers.set(id, callback);
        this.call(new WireWriter().u8(Request.setTimer).u32(id).f64(Math.max(0, ms)));
        return id;
      },
      clearTimer: (handle: TimerHandle) => {
        const id = handle as number;
        if (this.timers.delete(id)) this.call(new WireWriter().u8(Request.clearTimer).u32(id));
      },
    };
    const limits = this.call(new WireWriter().u8(Request.kvLimits));
    const maxKeyLength = limits.u32();
    const maxValueLength = limits.u32();
    this.storage = {
      maxKeyLength,
      maxValueLength,
      get: (key: string) => {
        const reply = this.call(new WireWriter().u8(Request.kvGet).string(key));
        return reply.u8() ? reply.bytes() : undefined;
      },
      set: (key: string, value: Uint8Array) => void this.call(new WireWriter().u8(Request.kvSet).string(key).bytes(value)),
      delete: (key: string) => void this.call(new WireWriter().u8(Request.kvDelete).string(key)),
      keys: (prefix: string) => this.call(new WireWriter().u8(Request.kvKeys).string(prefix)).json<string[]>(),
    };
    this.ble = this.call(new WireWriter().u8(Request.bleAvailable)).u8() ? this.bridgeBle() : undefined;
    this.boot = this.call(new WireWriter().u8(Request.bootAvailable)).u8() ? this.bridgeBoot() : undefined;
  }

  log(level: LogLevel, message: string): void {
    this.call(new WireWriter().u8(Request.log).u8(logLevels.indexOf(level)).string(message));
  }

  reboot(): void {
    this.call(new WireWriter().u8(Request.reboot));
  }

  /** Sends a JSON notification to the simulator process (status lines, test probes). */
  notify(message: unknown): void {
    this.call(new WireWriter().u8(Request.notify).json(message));
  }

  onControl(handler: ControlHandler): void {
    this.controlHandler = handler;
  }

  /** Entry point for handleCommand(): one host event; returns the reply bytes. */
  dispatch(event: Uint8Array): Uint8Array {
    const reader = new WireReader(event);
    const kind = reader.u8();
    switch (kind) {
      case Event.timer: {
        const id = reader.u32();
        const callback = this.timers.get(id);
        this.timers.delete(id);
        callback?.();
        break;
      }
      case Event.udpMessage: {
        const socket = reader.u32();
        const family = reader.u8() as 4 | 6;
        const port = reader.u32();
        const address = reader.string();
        const interfaceName = reader.string();
        const data = reader.bytes();
        const from: UdpEndpoint = { address, port, family, ...(interfaceName ? { interfaceName } : {}) };
        this.sockets.get(socket)?.(data, from);
        break;
      }
      case Event.bleConnected:
        this.bleEvents?.connected(reader.u32(), reader.u32());
        break;
      case Event.bleDisconnected:
        this.bleEvents?.disconnected(reader.u32());
        break;
      case Event.bleReceived:
        this.bleEvents?.received(reader.u32(), reader.bytes());
        break;
      case Event.bleSubscribed:
        this.bleEvents?.subscribed(reader.u32(), reader.u8() === 1);
        break;
      case Event.bleConfirmed:
        this.bleEvents?.confirmed(reader.u32());
        break;
      case Event.control: {
        const request = reader.json();
        if (!this.controlHandler) throw new Error("the firmware has no control handler");
        return new WireWriter().json(this.controlHandler(request) ?? null).finish();
      }
      default:
        throw new Error(`unknown host event 0x${kind.toString(16)}`);
    }
    return new Uint8Array(0);
  }

  private call(writer: WireWriter): WireReader {
    const request = writer.finish();
    const reply = new WireReader(new Uint8Array(issueCommand(request.buffer as ArrayBuffer)));
    if (reply.u8() !== Status.ok) throw new Error(reply.string());
    return reply;
  }

  private openFlash(name: string): FlashPartition | undefined {
    const info = this.call(new WireWriter().u8(Request.flashOpen).string(name));
    if (!info.u8()) return undefined;
    const size = info.u32();
    const blockSize = info.u32();
    return {
      size,
      blockSize,
      read: (offset, length) => this.call(new WireWriter().u8(Request.flashRead).string(name).u32(offset).u32(length)).bytes(),
      write: (offset, data) => void this.call(new WireWriter().u8(Request.flashWrite).string(name).u32(offset).bytes(data)),
      erase: (offset, length) => void this.call(new WireWriter().u8(Request.flashErase).string(name).u32(offset).u32(length)),
    };
  }

  private openUdp(options: UdpOptions, onMessage: (data: Uint8Array, from: UdpEndpoint) => void): UdpSocket {
    const reply = this.call(new WireWriter().u8(Request.udpOpen).json(options));
    const id = reply.u32();
    const port = reply.u32();
    this.sockets.set(id, onMessage);
    return {
      port,
      family: options.family,
      send: (data, to) =>
        void this.call(new WireWriter().u8(Request.udpSend).u32(id).u8(to.family).u32(to.port).string(to.address).string(to.interfaceName ?? "").bytes(data)),
      close: () => {
        if (this.sockets.delete(id)) this.call(new WireWriter().u8(Request.udpClose).u32(id));
      },
    };
  }

  private bridgeBle(): BlePeripheral {
    return {
      advertise: (serviceData) => {
        const writer = new WireWriter().u8(Request.bleAdvertise).u8(serviceData ? 1 : 0);
        if (serviceData) writer.bytes(serviceData);
        this.call(writer);
      },
      setAdditionalData: (data) => {
        const writer = new WireWriter().u8(Request.bleAdditionalData).u8(data ? 1 : 0);
        if (data) writer.bytes(data);
        this.call(writer);
      },
      indicate: (connection: BleConnection, data) => void this.call(new WireWriter().u8(Request.bleIndicate).u32(connection).bytes(data)),
      disconnect: (connection: BleConnection) => void this.call(new WireWriter().u8(Request.bleDisconnect).u32(connection)),
      setHandler: (events) => {
        this.bleEvents = events;
      },
    };
  }

  private bridgeBoot(): BootControl {
    return {
      runningSlot: () => this.call(new WireWriter().u8(Request.bootRunningSlot)).string(),
      updateSlot: () => this.call(new WireWriter().u8(Request.bootUpdateSlot)).string(),
      setNextBoot: (slot) => void this.call(new WireWriter().u8(Request.bootSetNext).string(slot)),
      confirmRunning: () => void this.call(new WireWriter().u8(Request.bootConfirm)),
      pendingConfirmation: () => this.call(new WireWriter().u8(Request.bootPending)).u8() === 1,
    };
  }
}

/** Creates the bridged platform and routes the host's deliveries to it. */
export function installXsBridge(): XsBridgePlatform {
  const platform = new XsBridgePlatform();
  (globalThis as Record<string, unknown>).handleCommand = (event: ArrayBuffer) => platform.dispatch(new Uint8Array(event)).buffer;
  return platform;
}
