// The line protocol between a test and a matter.js child process. Requests arrive on the child's
// stdin, one JSON object a line: {"id":1,"op":"read",...}. Replies and events leave on file
// descriptor 3, not stdout, so that nothing matter.js prints can be mistaken for a reply:
//   {"id":1,"ok":true,"result":...}   {"id":1,"ok":false,"error":{"name":...,"message":...}}
//   {"event":"report",...}
// Matter values carry bigints and byte strings, which JSON lacks: they travel as {"$bigint":"..."}
// and {"$bytes":"<hex>"}.

export interface WireRequest {
  id: number;
  op: string;
  [argument: string]: unknown;
}

export interface WireError {
  name: string;
  message: string;
  /** For attestation failures: matter.js's DeviceAttestationCheck. */
  check?: string;
  /** For status responses: the Matter status code. */
  status?: number;
  /** Where it was thrown, for failure messages. */
  stack?: string;
}

export type WireReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: WireError };

export interface WireEvent {
  event: string;
  [field: string]: unknown;
}

export function encodeValue(value: unknown): unknown {
  if (typeof value === "bigint") return { $bigint: value.toString() };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex") };
  if (ArrayBuffer.isView(value)) return encodeValue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
  if (Array.isArray(value)) return value.map(encodeValue);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, entry] of Object.entries(value)) if (entry !== undefined) out[key] = encodeValue(entry);
    return out;
  }
  return value;
}

export function decodeValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeValue);
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length === 1 && typeof record.$bigint === "string") return BigInt(record.$bigint);
    if (keys.length === 1 && typeof record.$bytes === "string") return new Uint8Array(Buffer.from(record.$bytes, "hex"));
    const out: Record<string, unknown> = {};
    for (const [key, entry] of Object.entries(record)) out[key] = decodeValue(entry);
    return out;
  }
  return value;
}
