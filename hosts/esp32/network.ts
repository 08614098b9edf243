// Network over the Moddable SDK's ECMA-419 UDP socket (`embedded:io/socket/udp`) and `net`.
//
// Both SDK UDP sockets bind lwIP's IPv4 wildcard, so UDP here is IPv4 only; an IPv6 socket is
// refused with an error rather than silently opened as IPv4. The ECMA-419 socket is used instead of
// the older `socket` module because the latter's multicast join (ESP32 branch of
// modules/network/socket/lwip/modSocket.c) calls esp_netif_get_ip_info on a NULL interface and never
// advances it, so it joins no group, and it takes one group per socket; the ECMA-419 socket joins on
// every interface with add()/remove(). Neither can share a port (no SO_REUSEADDR on UDP pcbs), so
// `reuseAddress` cannot be honoured: a second socket on 5353 fails to bind. Neither reports the port
// lwIP picked for port 0, so port 0 is resolved here to a random ephemeral port.
import UDP from "embedded:io/socket/udp";
import Net from "net";
import type { Entropy, Network, NetworkInterfaceInfo, UdpEndpoint, UdpOptions, UdpSocket } from "../../src/platform";

/** The ECMA-419 UDP members this host uses; @moddable/typings 5.6 omits add, remove and close. */
interface Esp32Udp {
  read(): (ArrayBuffer & { address: string; port: number }) | undefined;
  write(data: ArrayBufferView | ArrayBuffer, address: string, port: number): void;
  add(group: string): void;
  remove(group: string): void;
  close(): void;
}

const EPHEMERAL_FIRST = 49152;
const EPHEMERAL_COUNT = 16384;
const EPHEMERAL_TRIES = 8;
/** Netif keys `net` understands on ESP32; the station is the one Matter over Wi-Fi uses. */
const INTERFACES = Object.freeze(["station", "ethernet", "ap"] as const);

function ipv4Only(family: number, what: string): void {
  if (family !== 4) throw new Error(`${what}: IPv6 UDP is not available on ESP32 with the Moddable SDK (its sockets are IPv4 only)`);
}

function isIpv4(address: string): boolean {
  return /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(address) && address.split(".").every((part) => Number(part) <= 255);
}

class Esp32UdpSocket implements UdpSocket {
  readonly family = 4 as const;
  readonly port: number;
  readonly #udp: Esp32Udp;
  readonly #groups: string[];
  #closed = false;

  constructor(udp: Esp32Udp, port: number, groups: string[]) {
    this.#udp = udp;
    this.port = port;
    this.#groups = groups;
  }

  send(data: Uint8Array, to: UdpEndpoint): void {
    if (this.#closed) throw new Error("UDP socket is closed");
    ipv4Only(to.family, "send");
    if (!isIpv4(to.address)) throw new Error(`not an IPv4 address: ${JSON.stringify(to.address)}`);
    if (!Number.isInteger(to.port) || to.port < 1 || to.port > 65535) throw new RangeError(`invalid UDP port ${to.port}`);
    this.#udp.write(data, to.address, to.port);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const group of this.#groups) {
      try {
        this.#udp.remove(group);
      } catch {
        // The interface may already be gone; closing the socket still releases the pcb.
      }
    }
    this.#udp.close();
  }
}

export class Esp32Network implements Network {
  readonly #entropy: Entropy;

  constructor(entropy: Entropy) {
    this.#entropy = entropy;
  }

  openUdp(options: UdpOptions, onMessage: (data: Uint8Array, from: UdpEndpoint) => void): UdpSocket {
    ipv4Only(options.family, "openUdp");
    const groups = options.multicastGroups ?? [];
    for (const group of groups) {
      if (!isIpv4(group) || Number(group.split(".")[0]) < 224 || Number(group.split(".")[0]) > 239) {
        throw new Error(`not an IPv4 multicast group: ${JSON.stringify(group)}`);
      }
    }
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new RangeError(`invalid UDP port ${options.port}`);
    const deliver = function (this: Esp32Udp, count: number): void {
      for (let index = 0; index < count; index++) {
        const packet = this.read();
        if (!packet) break;
        onMessage(new Uint8Array(packet), { address: packet.address, port: packet.port, family: 4 });
      }
    };
    const { udp, port } = options.port === 0 ? this.#bindEphemeral(deliver) : { udp: bind(options.port, deliver), port: options.port };
    try {
      for (const group of groups) udp.add(group);
    } catch (error) {
      udp.close();
      throw error;
    }
    return new Esp32UdpSocket(udp, port, [...groups]);
  }

  interfaces(): NetworkInterfaceInfo[] {
    const found: NetworkInterfaceInfo[] = [];
    for (const name of INTERFACES) {
      // The typings lack get's second argument, the interface (modules/network/net/esp/modNet.c).
      const address = (Net as unknown as { get(what: string, netif: string): string | undefined }).get("IP", name);
      if (address) found.push({ name, addresses: [{ address, family: 4 }] });
    }
    return found;
  }

  #bindEphemeral(deliver: (this: Esp32Udp, count: number) => void): { udp: Esp32Udp; port: number } {
    const random = new Uint8Array(2 * EPHEMERAL_TRIES);
    this.#entropy.fill(random);
    let lastError: unknown;
    for (let attempt = 0; attempt < EPHEMERAL_TRIES; attempt++) {
      const port = EPHEMERAL_FIRST + (((random[2 * attempt]! << 8) | random[2 * attempt + 1]!) % EPHEMERAL_COUNT);
      try {
        return { udp: bind(port, deliver), port };
      } catch (error) {
        lastError = error; // in use: try another
      }
    }
    throw new Error(`no free ephemeral UDP port after ${EPHEMERAL_TRIES} tries: ${String(lastError)}`);
  }
}

function bind(port: number, onReadable: (this: Esp32Udp, count: number) => void): Esp32Udp {
  return new UDP({ port, onReadable: onReadable as never }) as unknown as Esp32Udp;
}
