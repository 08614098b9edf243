// Any program run inside a harness namespace with its output kept, for devices that are not
// matter.js (the XS simulator: `node hosts/cli/matter-xs.mjs sim ...`):
//
//   const sim = NamespaceProcess.start(namespace, process.execPath, ["hosts/cli/matter-xs.mjs", "sim", ...]);
//   await sim.waitForOutput(/commissionable/, 30_000);
//   ... commission it with a MatterJsController in the same namespace ...
//   await sim.stop();            // or sim.stop("SIGKILL") for a power cut
import type { ChildProcess } from "node:child_process";
import type { NetworkNamespace } from "./netns";
import { repositoryRoot } from "../../portable/vectors";

const OUTPUT_KEPT = 64_000;

export class NamespaceProcess {
  readonly #child: ChildProcess;
  readonly #label: string;
  #output = "";
  readonly #waiters = new Set<() => void>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(child: ChildProcess, label: string) {
    this.#child = child;
    this.#label = label;
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-OUTPUT_KEPT);
      if (process.env.MXS_MATTERJS_LOG) process.stderr.write(`[${label}] ${chunk.toString()}`);
      for (const wake of this.#waiters) wake();
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        for (const wake of this.#waiters) wake();
        resolve({ code, signal });
      }),
    );
  }

  /** Starts `command` inside `namespace`, from the repository root unless `cwd` says otherwise. */
  static start(
    namespace: NetworkNamespace,
    command: string,
    args: string[],
    options: { label?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
  ): NamespaceProcess {
    const child = namespace.spawn(command, args, {
      cwd: options.cwd ?? repositoryRoot,
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    child.stdin?.on("error", () => {});
    return new NamespaceProcess(child, options.label ?? command);
  }

  get output(): string {
    return this.#output;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get stdin(): NodeJS.WritableStream | null {
    return this.#child.stdin;
  }

  /** Resolves with the first match of `pattern` in the output, waiting up to `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = this.#output.match(pattern);
        if (match) return finish(() => resolve(match));
        if (!this.running) finish(() => reject(new Error(`${this.#label} ended before printing ${pattern}\n--- output ---\n${this.#output}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`${this.#label} printed no ${pattern} within ${timeoutMs} ms\n--- output ---\n${this.#output}`))), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        settle();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves when the process has exited. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.#child.kill(signal);
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
