// UDP over Node's dgram, IPv4 and IPv6.
//
// IPv6 sockets are IPv6-only, so an IPv4 and an IPv6 socket can share a port number, as the two
// sockets of a Matter node on 5540 do. Node binds asynchronously while the platform interface is
// synchronous: a socket's `port` reads the requested port until the bind completes, and
// `NodeNetwork.ready()` (or `NodeUdpSocket.ready`) waits for it. Datagrams sent before then are
// queued by dgram and go out once bound.
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { networkInterfaces } from "node:os";
import type { AddressFamily, Network, NetworkInterfaceInfo, UdpEndpoint, UdpOptions, UdpSocket } from "../../../src/platform";

export interface NodeNetworkOptions {
  /** Interfaces reported by interfaces(); every non-internal interface when absent. */
  interfaceNames?: string[];
  /** Where socket errors after binding are reported. */
  onError?: (message: string) => void;
}

function familyOf(family: string | number): AddressFamily | undefined {
  if (family === "IPv4" || family === 4) return 4;
  if (family === "IPv6" || family === 6) return 6;
  return undefined;
}

function isLinkLocal(address: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(address);
}

export class NodeUdpSocket implements UdpSocket {
  readonly family: AddressFamily;
  /** Settles when the socket is bound (and has joined its multicast groups), or failed to. */
  readonly ready: Promise<void>;
  private readonly socket: Socket;
  private readonly requestedPort: number;
  private bound = false;
  private closed = false;

  constructor(
    options: UdpOptions,
    onMessage: (data: Uint8Array, from: UdpEndpoint) => void,
    private readonly reportError: (message: string) => void,
  ) {
    if (options.family !== 4 && options.family !== 6) throw new Error(`unsupported address family ${String(options.family)}`);
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new Error(`invalid UDP port ${options.port}`);
    this.family = options.family;
    this.requestedPort = options.port;
    this.socket = createSocket({
      type: options.family === 6 ? "udp6" : "udp4",
      reuseAddr: options.reuseAddress === true,
      ...(options.family === 6 ? { ipv6Only: true } : {}),
    });
    this.socket.on("message", (message: Buffer, remote: RemoteInfo) => {
      if (this.closed) return;
      onMessage(new Uint8Array(message.buffer.slice(message.byteOffset, message.byteOffset + message.length)), this.endpointOf(remote));
    });
    this.ready = new Promise<void>((resolve, reject) => {
      const failBeforeBind = (error: Error) => reject(new Error(`UDP bind on port ${options.port} (IPv${options.family}) failed: ${error.message}`));
      this.socket.once("error", failBeforeBind);
      this.socket.bind({ port: options.port }, () => {
        this.socket.off("error", failBeforeBind);
        this.socket.on("error", (error) => this.reportError(`UDP socket error: ${error.message}`));
        this.bound = true;
        try {
          this.joinGroups(options);
          resolve();
        } catch (error) {
          reject(error as Error);
        }
      });
    });
    // Callers that never await `ready` must not get an unhandled rejection; those that do still see it.
    this.ready.catch((error: Error) => this.reportError(error.message));
  }

  get port(): number {
    return this.bound && !this.closed ? this.socket.address().port : this.requestedPort;
  }

  send(data: Uint8Array, to: UdpEndpoint): void {
    if (this.closed) throw new Error("UDP socket is closed");
    if (to.family !== this.family) throw new Error(`cannot send to an IPv${to.family} address on an IPv${this.family} socket`);
    const address = to.interfaceName && this.family === 6 && isLinkLocal(to.address) ? `${to.address}%${to.interfaceName}` : to.address;
    this.socket.send(data, to.port, address, (error) => {
      if (error) this.reportError(`UDP send to [${address}]:${to.port} failed: ${error.message}`);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.close();
    } catch {
      // Already closed by a failed bind.
    }
  }

  private endpointOf(remote: RemoteInfo): UdpEndpoint {
    const scope = remote.address.indexOf("%");
    if (scope >= 0) {
      return { address: remote.address.slice(0, scope), port: remote.port, family: this.family, interfaceName: remote.address.slice(scope + 1) };
    }
    return { address: remote.address, port: remote.port, family: this.family };
  }

  /** With `interfaceName`, multicast is both joined and sent on that interface. */
  private joinGroups(options: UdpOptions): void {
    const interfaceAddress = options.interfaceName ? this.multicastInterfaceAddress(options.interfaceName) : undefined;
    if (interfaceAddress !== undefined) this.socket.setMulticastInterface(interfaceAddress);
    for (const group of options.multicastGroups ?? []) this.socket.addMembership(group, interfaceAddress);
  }

  /** dgram names an interface by one of its IPv4 addresses, or for IPv6 by "::%name". */
  private multicastInterfaceAddress(name: string): string {
    if (this.family === 6) return `::%${name}`;
    const entry = networkInterfaces()[name]?.find((address) => familyOf(address.family) === 4);
    if (!entry) throw new Error(`interface ${name} has no IPv4 address to join multicast groups on`);
    return entry.address;
  }
}

export class NodeNetwork implements Network {
  private readonly sockets = new Set<NodeUdpSocket>();

  constructor(private readonly options: NodeNetworkOptions = {}) {}

  openUdp(options: UdpOptions, onMessage: (data: Uint8Array, from: UdpEndpoint) => void): NodeUdpSocket {
    const report = this.options.onError ?? ((message: string) => console.warn(message));
    const socket = new NodeUdpSocket(options, onMessage, report);
    this.sockets.add(socket);
    const close = socket.close.bind(socket);
    socket.close = () => {
      this.sockets.delete(socket);
      close();
    };
    return socket;
  }

  /** Waits until every open socket is bound; rejects if one failed to bind. */
  async ready(): Promise<void> {
    await Promise.all([...this.sockets].map((socket) => socket.ready));
  }

  interfaces(): NetworkInterfaceInfo[] {
    const result: NetworkInterfaceInfo[] = [];
    for (const [name, entries] of Object.entries(networkInterfaces())) {
      if (!entries) continue;
      if (this.options.interfaceNames ? !this.options.interfaceNames.includes(name) : entries.every((entry) => entry.internal)) continue;
      const addresses: NetworkInterfaceInfo["addresses"] = [];
      for (const entry of entries) {
        const family = familyOf(entry.family);
        if (family !== undefined) addresses.push({ address: entry.address, family });
      }
      result.push({ name, addresses });
    }
    return result;
  }

  /** Closes every socket still open. */
  close(): void {
    for (const socket of [...this.sockets]) socket.close();
  }
}
