// Matter over UDP (spec 4.4.1): one IPv6 and one IPv4 socket on port 5540 through the platform.
import type { AddressFamily, Network, UdpEndpoint, UdpSocket } from "../platform";
import type { PeerAddress, Transport } from "./transport";

export const MATTER_UDP_PORT = 5540;
/** IPv6's minimum MTU: a Matter message over UDP is never larger (spec 4.4.4). */
export const MAX_UDP_MESSAGE_SIZE = 1280;

export interface UdpTransportOptions {
  /** 5540 unless given; 0 lets the platform pick (tests, controllers). */
  port?: number;
  /** Address families to listen on; both by default. */
  families?: AddressFamily[];
}

export class UdpTransport implements Transport {
  readonly name = "udp";
  readonly reliable = false;
  readonly maxMessageSize = MAX_UDP_MESSAGE_SIZE;
  private readonly sockets = new Map<AddressFamily, UdpSocket>();
  private handler: ((message: Uint8Array, peer: PeerAddress) => void) | undefined;

  constructor(network: Network, options: UdpTransportOptions = {}) {
    const port = options.port ?? MATTER_UDP_PORT;
    for (const family of options.families ?? ([6, 4] as AddressFamily[])) {
      const socket = network.openUdp({ family, port }, (data, from) => this.handler?.(data, this.peerOf(from)));
      this.sockets.set(family, socket);
    }
  }

  /** The port the socket of `family` is bound to. */
  port(family: AddressFamily): number | undefined {
    return this.sockets.get(family)?.port;
  }

  onReceive(handler: (message: Uint8Array, peer: PeerAddress) => void): void {
    this.handler = handler;
  }

  send(message: Uint8Array, peer: PeerAddress): void {
    const family = peer.family ?? (peer.address.includes(":") ? 6 : 4);
    const socket = this.sockets.get(family);
    if (!socket) throw new Error(`no IPv${family} socket to reach ${peer.address}`);
    if (message.length > MAX_UDP_MESSAGE_SIZE) throw new Error(`UDP message of ${message.length} bytes exceeds ${MAX_UDP_MESSAGE_SIZE}`);
    const endpoint: UdpEndpoint = { address: peer.address, port: peer.port, family };
    if (peer.interfaceName !== undefined) endpoint.interfaceName = peer.interfaceName;
    socket.send(message, endpoint);
  }

  close(): void {
    for (const socket of this.sockets.values()) socket.close();
    this.sockets.clear();
    this.handler = undefined;
  }

  private peerOf(from: UdpEndpoint): PeerAddress {
    const peer: PeerAddress = { transport: this.name, address: from.address, port: from.port, family: from.family };
    if (from.interfaceName !== undefined) peer.interfaceName = from.interfaceName;
    return peer;
  }
}

/** A UDP peer address. */
export function udpPeer(address: string, port: number = MATTER_UDP_PORT, interfaceName?: string): PeerAddress {
  const peer: PeerAddress = { transport: "udp", address, port, family: address.includes(":") ? 6 : 4 };
  if (interfaceName !== undefined) peer.interfaceName = interfaceName;
  return peer;
}
