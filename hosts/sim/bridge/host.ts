// The Node side of the simulator's XS engine: runs a firmware bundle inside an XsWorker and
// serves its platform calls from a Node Platform (UDP sockets, files, the clock), delivering
// that platform's events (datagrams, timer expiries, BLE) back into XS.
import type { FlashPartition, LogLevel, Platform, TimerHandle, UdpSocket } from "../../../src/platform";
import { XsWorker, type MeterUsage, type XsWorkerOptions } from "../engine/xsnap";
import { Event, Request, Status, WireReader, WireWriter, errorReply, okReply } from "./wire";

export interface XsHostOptions {
  /** The platform that really does the work (hosts/sim/platform). */
  platform: Platform;
  /** Called for the firmware's log lines; defaults to the platform's log. */
  log?: (level: LogLevel, message: string) => void;
  /** JSON notifications the firmware sends (status, test probes). */
  onNotify?: (message: any) => void;
  /** The firmware asked to reboot. */
  onReboot?: () => void;
  /** An event delivery threw inside XS (an uncaught firmware exception). */
  onFirmwareError?: (error: Error) => void;
  engine?: Omit<XsWorkerOptions, "handleCommand">;
}

const levels: LogLevel[] = ["debug", "info", "warn", "error"];

export class XsHost {
  readonly worker: XsWorker;
  private readonly platform: Platform;
  private readonly timers = new Map<number, TimerHandle>();
  private readonly sockets = new Map<number, UdpSocket>();
  private nextSocketId = 1;
  private readonly partitions = new Map<string, FlashPartition>();
  private stopped = false;
  /** Meter of the most recent delivery (heap and instruction counts). */
  lastMeter: MeterUsage | undefined;
  /** Firmware exceptions seen in event deliveries. */
  readonly firmwareErrors: Error[] = [];

  constructor(private readonly options: XsHostOptions) {
    this.platform = options.platform;
    this.worker = new XsWorker({ ...options.engine, handleCommand: (request) => this.serve(request) });
    this.platform.ble?.setHandler({
      connected: (connection, mtu) => this.deliver(new WireWriter().u8(Event.bleConnected).u32(connection).u32(mtu)),
      disconnected: (connection) => this.deliver(new WireWriter().u8(Event.bleDisconnected).u32(connection)),
      received: (connection, data) => this.deliver(new WireWriter().u8(Event.bleReceived).u32(connection).bytes(data)),
      subscribed: (connection, on) => this.deliver(new WireWriter().u8(Event.bleSubscribed).u32(connection).u8(on ? 1 : 0)),
      confirmed: (connection) => this.deliver(new WireWriter().u8(Event.bleConfirmed).u32(connection)),
    });
  }

  /** Evaluates a script (the firmware bundle, or a call into it). */
  async evaluate(source: string): Promise<MeterUsage> {
    const { meter } = await this.worker.evaluate(source);
    this.lastMeter = meter;
    return meter;
  }

  /** Sends a JSON control request to the firmware's control handler and returns its answer. */
  async control<T = any>(request: unknown): Promise<T> {
    const { result, meter } = await this.worker.command(new WireWriter().u8(Event.control).json(request).finish());
    this.lastMeter = meter;
    return new WireReader(result).json<T>();
  }

  /** Stops the engine and releases every socket and timer it held. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.releaseResources();
    await this.worker.close();
  }

  /** Ends the engine at once, as a power cut would. */
  kill(): void {
    this.stopped = true;
    this.releaseResources();
    this.worker.kill();
  }

  private releaseResources(): void {
    for (const handle of this.timers.values()) this.platform.clock.clearTimer(handle);
    this.timers.clear();
    for (const socket of this.sockets.values()) socket.close();
    this.sockets.clear();
  }

  private deliver(writer: WireWriter): void {
    if (this.stopped) return;
    this.worker.command(writer.finish()).then(
      ({ meter }) => {
        this.lastMeter = meter;
      },
      (error: Error) => {
        if (this.stopped) return;
        this.firmwareErrors.push(error);
        if (this.options.onFirmwareError) this.options.onFirmwareError(error);
        else this.platform.log("error", `firmware exception: ${error.message}`);
      },
    );
  }

  private serve(request: Uint8Array): Uint8Array | Promise<Uint8Array> {
    try {
      const reply = this.handle(new WireReader(request));
      return reply instanceof Promise ? reply.catch((error: Error) => errorReply(error.message)) : reply;
    } catch (error) {
      return errorReply((error as Error).message);
    }
  }

  private handle(reader: WireReader): Uint8Array | Promise<Uint8Array> {
    const platform = this.platform;
    const op = reader.u8();
    switch (op) {
      case Request.now:
        return okReply((w) => w.f64(platform.clock.now()));
      case Request.setTimer: {
        const id = reader.u32();
        const ms = reader.f64();
        this.timers.set(
          id,
          platform.clock.setTimer(ms, () => {
            this.timers.delete(id);
            this.deliver(new WireWriter().u8(Event.timer).u32(id));
          }),
        );
        return okReply();
      }
      case Request.clearTimer: {
        const id = reader.u32();
        const handle = this.timers.get(id);
        if (handle !== undefined) platform.clock.clearTimer(handle);
        this.timers.delete(id);
        return okReply();
      }
      case Request.entropy: {
        const target = new Uint8Array(reader.u32());
        platform.entropy.fill(target);
        return okReply((w) => w.bytes(target));
      }
      case Request.kvLimits:
        return okReply((w) => w.u32(platform.storage.maxKeyLength).u32(platform.storage.maxValueLength));
      case Request.kvGet: {
        const value = platform.storage.get(reader.string());
        return okReply((w) => (value ? w.u8(1).bytes(value) : w.u8(0)));
      }
      case Request.kvSet:
        platform.storage.set(reader.string(), reader.bytes());
        return okReply();
      case Request.kvDelete:
        platform.storage.delete(reader.string());
        return okReply();
      case Request.kvKeys:
        return okReply((w) => w.json(platform.storage.keys(reader.string())));
      case Request.flashOpen: {
        const partition = platform.flash.open(reader.string());
        return okReply((w) => (partition ? w.u8(1).u32(partition.size).u32(partition.blockSize) : w.u8(0)));
      }
      case Request.flashRead: {
        const partition = this.partition(reader.string());
        const data = partition.read(reader.u32(), reader.u32());
        return okReply((w) => w.bytes(data));
      }
      case Request.flashWrite: {
        const partition = this.partition(reader.string());
        partition.write(reader.u32(), reader.bytes());
        return okReply();
      }
      case Request.flashErase: {
        const partition = this.partition(reader.string());
        partition.erase(reader.u32(), reader.u32());
        return okReply();
      }
      case Request.udpOpen: {
        const id = this.nextSocketId++;
        const socket = platform.network.openUdp(reader.json(), (data, from) =>
          this.deliver(
            new WireWriter()
              .u8(Event.udpMessage)
              .u32(id)
              .u8(from.family)
              .u32(from.port)
              .string(from.address)
              .string(from.interfaceName ?? "")
              .bytes(data),
          ),
        );
        this.sockets.set(id, socket);
        // Node binds asynchronously; the firmware needs the bound port (port 0 picks one).
        const ready = (socket as { ready?: Promise<void> }).ready;
        const reply = () => okReply((w) => w.u32(id).u32(socket.port));
        return ready
          ? ready.then(reply, (error: Error) => {
              this.sockets.delete(id);
              throw error;
            })
          : reply();
      }
      case Request.udpSend: {
        const socket = this.sockets.get(reader.u32());
        if (!socket) throw new Error("UDP socket is closed");
        const family = reader.u8() as 4 | 6;
        const port = reader.u32();
        const address = reader.string();
        const interfaceName = reader.string();
        socket.send(reader.bytes(), { family, port, address, ...(interfaceName ? { interfaceName } : {}) });
        return okReply();
      }
      case Request.udpClose: {
        const id = reader.u32();
        this.sockets.get(id)?.close();
        this.sockets.delete(id);
        return okReply();
      }
      case Request.interfaces:
        return okReply((w) => w.json(platform.network.interfaces()));
      case Request.bleAvailable:
        return okReply((w) => w.u8(platform.ble ? 1 : 0));
      case Request.bleAdvertise:
        this.ble().advertise(reader.u8() ? reader.bytes() : undefined);
        return okReply();
      case Request.bleAdditionalData:
        this.ble().setAdditionalData(reader.u8() ? reader.bytes() : undefined);
        return okReply();
      case Request.bleIndicate:
        this.ble().indicate(reader.u32(), reader.bytes());
        return okReply();
      case Request.bleDisconnect:
        this.ble().disconnect(reader.u32());
        return okReply();
      case Request.bootAvailable:
        return okReply((w) => w.u8(platform.boot ? 1 : 0));
      case Request.bootRunningSlot:
        return okReply((w) => w.string(this.boot().runningSlot()));
      case Request.bootUpdateSlot:
        return okReply((w) => w.string(this.boot().updateSlot()));
      case Request.bootSetNext:
        this.boot().setNextBoot(reader.string());
        return okReply();
      case Request.bootConfirm:
        this.boot().confirmRunning();
        return okReply();
      case Request.bootPending:
        return okReply((w) => w.u8(this.boot().pendingConfirmation() ? 1 : 0));
      case Request.log: {
        const level = levels[reader.u8()] ?? "info";
        const message = reader.string();
        (this.options.log ?? ((l: LogLevel, m: string) => platform.log(l, m)))(level, message);
        return okReply();
      }
      case Request.reboot:
        if (this.options.onReboot) this.options.onReboot();
        else platform.reboot();
        return okReply();
      case Request.notify:
        this.options.onNotify?.(reader.json());
        return okReply();
      default:
        return new WireWriter().u8(Status.error).string(`unknown platform request 0x${op.toString(16)}`).finish();
    }
  }

  private partition(name: string): FlashPartition {
    let partition = this.partitions.get(name);
    if (!partition) {
      partition = this.platform.flash.open(name);
      if (!partition) throw new Error(`no flash partition named ${name}`);
      this.partitions.set(name, partition);
    }
    return partition;
  }

  private ble() {
    if (!this.platform.ble) throw new Error("this simulator has no BLE peripheral");
    return this.platform.ble;
  }

  private boot() {
    if (!this.platform.boot) throw new Error("this simulator has no boot control");
    return this.platform.boot;
  }
}
