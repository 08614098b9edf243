// A test harness that runs unchanged on Node (registered with node:test) and inside the XS
// engine (run by test/portable/xs-entry.ts, results reported back to node:test). Vector suites
// are written against it so that every published vector is checked on both engines.

/** Read access to ../shared/vectors; on XS the host answers through issueCommand. */
export interface VectorSource {
  bytes(path: string): Uint8Array;
  text(path: string): string;
  json<T = any>(path: string): T;
}

export interface TestContext {
  vectors: VectorSource;
  /** Which engine runs the test ("node" or "xs"). */
  engine: "node" | "xs";
}

export type TestBody = (context: TestContext) => void | Promise<void>;

export interface PortableTest {
  name: string;
  body: TestBody;
}

export interface PortableSuite {
  name: string;
  tests: PortableTest[];
}

/** Declares a suite; `define` registers its tests with `test(name, body)`. */
export function suite(name: string, define: (test: (name: string, body: TestBody) => void) => void): PortableSuite {
  const tests: PortableTest[] = [];
  define((testName, body) => tests.push({ name: testName, body }));
  return { name, tests };
}

export class AssertionError extends Error {
  override name = "AssertionError";
}

export function ok(value: unknown, message = "expected a truthy value"): asserts value {
  if (!value) throw new AssertionError(message);
}

export function equal<T>(actual: T, expected: T, message?: string): void {
  if (!Object.is(actual, expected)) {
    throw new AssertionError(`${message ? message + ": " : ""}expected ${show(expected)}, got ${show(actual)}`);
  }
}

export function deepEqual(actual: unknown, expected: unknown, message?: string): void {
  const difference = differ(actual, expected, "$");
  if (difference) throw new AssertionError(`${message ? message + ": " : ""}${difference}`);
}

export function bytesEqual(actual: Uint8Array, expected: Uint8Array | string, message?: string): void {
  const want = typeof expected === "string" ? fromHex(expected) : expected;
  if (!(actual instanceof Uint8Array)) throw new AssertionError(`${message ?? "bytes"}: not a Uint8Array`);
  if (toHex(actual) !== toHex(want)) {
    throw new AssertionError(`${message ? message + ": " : ""}expected ${toHex(want)}, got ${toHex(actual)}`);
  }
}

/** Expects `fn` to throw; `pattern` is matched against the error's message. */
export function throws(fn: () => unknown, pattern?: RegExp | string, message?: string): Error {
  try {
    fn();
  } catch (error) {
    checkError(error, pattern, message);
    return error as Error;
  }
  throw new AssertionError(`${message ?? "expected an error"}: nothing was thrown`);
}

export async function rejects(fn: () => Promise<unknown>, pattern?: RegExp | string, message?: string): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    checkError(error, pattern, message);
    return error as Error;
  }
  throw new AssertionError(`${message ?? "expected a rejection"}: nothing was thrown`);
}

function checkError(error: unknown, pattern: RegExp | string | undefined, message: string | undefined): void {
  if (error instanceof AssertionError) throw error;
  const text = error instanceof Error ? error.message : String(error);
  if (pattern === undefined) return;
  const matches = typeof pattern === "string" ? text.includes(pattern) : pattern.test(text);
  if (!matches) throw new AssertionError(`${message ? message + ": " : ""}error "${text}" does not match ${String(pattern)}`);
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/[\s:]/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`not hex: ${hex.slice(0, 40)}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += (byte < 16 ? "0" : "") + byte.toString(16);
  return out;
}

function show(value: unknown): string {
  if (value instanceof Uint8Array) return `bytes(${toHex(value)})`;
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "string") return JSON.stringify(value);
  try {
    return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? toHex(v) : v)) ?? String(value);
  } catch {
    return String(value);
  }
}

function differ(a: unknown, b: unknown, path: string): string | undefined {
  if (Object.is(a, b)) return undefined;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || toHex(a) !== toHex(b)) {
      return `${path}: expected ${show(b)}, got ${show(a)}`;
    }
    return undefined;
  }
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    return `${path}: expected ${show(b)}, got ${show(a)}`;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: expected ${show(b)}, got ${show(a)}`;
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return `${path}: map size ${a.size} != ${b.size}`;
    for (const [key, value] of b) {
      const d = differ(a.get(key), value, `${path}[${String(key)}]`);
      if (d) return d;
    }
    return undefined;
  }
  const keysA = Object.keys(a as object);
  const keysB = Object.keys(b as object);
  if (keysA.length !== keysB.length) return `${path}: expected keys ${keysB.join(",")}, got ${keysA.join(",")}`;
  for (const key of keysB) {
    const d = differ((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}.${key}`);
    if (d) return d;
  }
  return undefined;
}
