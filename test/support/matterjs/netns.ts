// A private network for anything that multicasts: a network namespace whose only interface is
// loopback, with multicast enabled on it and the routes mDNS needs (224.0.0.0/4 and ff00::/8 on lo).
// Processes started through it run inside, so no packet they send can reach the machine's real
// interfaces. Deleting the namespace first kills every process started in it; a namespace is also
// deleted when this process exits without having deleted it.
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";

export class NetworkNamespaceUnavailableError extends Error {}

/** Throws a clear error unless this process can create network namespaces (root and iproute2). */
export function requireNetworkNamespaces(): void {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new NetworkNamespaceUnavailableError("network namespaces need root: run the tests as root (or in a container with CAP_SYS_ADMIN)");
  }
  const probe = spawnSync("ip", ["-V"], { stdio: "pipe" });
  if (probe.error || probe.status !== 0) {
    throw new NetworkNamespaceUnavailableError("the `ip` command (iproute2) is missing: apt-get install iproute2");
  }
}

const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,15}$/;

function ip(args: string[], timeoutMs = 10_000): string {
  return execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs, encoding: "utf8" });
}

function namespaceExists(name: string): boolean {
  return ip(["netns", "list"])
    .split("\n")
    .some((line) => line.split(" ")[0] === name);
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

export class NetworkNamespace {
  readonly name: string;
  readonly #children = new Set<ChildProcess>();
  readonly #onExit = () => this.#deleteNow();
  #deleted = false;

  private constructor(name: string) {
    this.name = name;
  }

  /**
   * Creates namespace `name` with loopback up, multicast on and the multicast routes. Refuses a
   * name that already exists: that namespace belongs to someone else.
   */
  static create(name: string): NetworkNamespace {
    requireNetworkNamespaces();
    if (!NAME_PATTERN.test(name)) throw new Error(`unusable namespace name ${JSON.stringify(name)}`);
    if (namespaceExists(name)) throw new Error(`network namespace ${name} already exists`);
    ip(["netns", "add", name]);
    const namespace = new NetworkNamespace(name);
    process.once("exit", namespace.#onExit);
    try {
      ip(["-n", name, "link", "set", "lo", "up"]);
      ip(["-n", name, "link", "set", "lo", "multicast", "on"]);
      // Without these routes joining 224.0.0.251 / ff02::fb fails with ENODEV: lo has no default route.
      ip(["-n", name, "route", "add", "224.0.0.0/4", "dev", "lo"]);
      ip(["-n", name, "-6", "route", "add", "ff00::/8", "dev", "lo", "table", "local"]);
    } catch (error) {
      namespace.#deleteNow();
      throw error;
    }
    return namespace;
  }

  /** Runs a command inside the namespace to completion; returns its stdout, throws on failure. */
  exec(command: string, args: string[] = [], options: { timeoutMs?: number } = {}): string {
    return execFileSync("ip", ["netns", "exec", this.name, command, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 30_000,
      encoding: "utf8",
    });
  }

  /**
   * Starts a process inside the namespace (`ip netns exec` replaces itself with the command, so
   * the child's pid is the command's). It is killed before the namespace goes away.
   */
  spawn(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    if (this.#deleted) throw new Error(`network namespace ${this.name} was deleted`);
    const child = spawn("ip", ["netns", "exec", this.name, command, ...args], options);
    this.#children.add(child);
    child.once("exit", () => this.#children.delete(child));
    return child;
  }

  /** Kills what still runs inside (SIGTERM, SIGKILL after `graceMs`), then deletes the namespace. */
  async delete(graceMs = 3_000): Promise<void> {
    if (this.#deleted) return;
    const running = [...this.#children].filter(isRunning);
    const exited = running.map((child) => new Promise<void>((resolve) => child.once("exit", () => resolve())));
    for (const child of running) child.kill("SIGTERM");
    const timer = setTimeout(() => {
      for (const child of running) if (isRunning(child)) child.kill("SIGKILL");
    }, graceMs);
    await Promise.all(exited);
    clearTimeout(timer);
    this.#deleteNow();
  }

  #deleteNow(): void {
    if (this.#deleted) return;
    this.#deleted = true;
    process.off("exit", this.#onExit);
    for (const child of this.#children) if (isRunning(child)) child.kill("SIGKILL");
    const result = spawnSync("ip", ["netns", "del", this.name], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
    // A namespace left behind would collide with a later run; say so loudly.
    if (result.status !== 0) process.stderr.write(`failed to delete network namespace ${this.name}: ${result.stderr}\n`);
  }
}

/**
 * Runs `body` in a fresh namespace and deletes the namespace afterwards, whatever happens: also
 * when the body throws, and when it runs past `timeoutMs` (then it rejects, and the processes the
 * body started are killed, which fails whatever the body still waits for).
 */
export async function withNetworkNamespace<T>(
  name: string,
  body: (namespace: NetworkNamespace) => Promise<T>,
  options: { timeoutMs?: number } = {},
): Promise<T> {
  const namespace = NetworkNamespace.create(name);
  let timer: NodeJS.Timeout | undefined;
  try {
    if (options.timeoutMs === undefined) return await body(namespace);
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`gave up after ${options.timeoutMs} ms in network namespace ${name}`)), options.timeoutMs);
    });
    return await Promise.race([body(namespace), timedOut]);
  } finally {
    clearTimeout(timer);
    await namespace.delete();
  }
}

/** A namespace name unique to this process: "<prefix><pid>", at most 15 characters. */
export function namespaceName(prefix: string): string {
  const name = `${prefix}${process.pid}`;
  if (!NAME_PATTERN.test(name)) throw new Error(`namespace name ${name} too long or malformed`);
  return name;
}
