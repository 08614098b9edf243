// What the message layer needs from a link: send datagrams to a peer address and hear them.
// UDP (udp.ts) is one; BTP over Bluetooth plugs in the same way with its own addresses.

export interface PeerAddress {
  /** Name of the transport that reaches this peer ("udp", "btp", ...). */
  transport: string;
  /** Transport-specific: an IP address for UDP, a connection handle for BTP. */
  address: string;
  port: number;
  family?: 4 | 6;
  interfaceName?: string;
}

export interface Transport {
  /** Matches PeerAddress.transport. */
  readonly name: string;
  /**
   * True when the link itself delivers in order without loss (BTP, TCP): messages over it do not
   * ask for MRP acknowledgements (spec 4.12.1).
   */
  readonly reliable: boolean;
  /** Largest message the link carries in one datagram. */
  readonly maxMessageSize: number;
  send(message: Uint8Array, peer: PeerAddress): void;
  /** Installs the one receiver of inbound messages (the message layer). */
  onReceive(handler: (message: Uint8Array, peer: PeerAddress) => void): void;
  close(): void;
}

/** A stable key for maps and logs. */
export function peerKey(peer: PeerAddress): string {
  return `${peer.transport}|${peer.address}|${peer.port}|${peer.interfaceName ?? ""}`;
}

export function samePeer(a: PeerAddress, b: PeerAddress): boolean {
  return peerKey(a) === peerKey(b);
}

export function describePeer(peer: PeerAddress): string {
  const host = peer.address.includes(":") ? `[${peer.address}${peer.interfaceName ? "%" + peer.interfaceName : ""}]` : peer.address;
  return `${peer.transport}:${host}:${peer.port}`;
}
