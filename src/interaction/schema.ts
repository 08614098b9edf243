// Data types of attribute values, command fields and event fields (Matter Core spec 7.18): a small
// constant vocabulary that encodes JavaScript values to TLV and decodes TLV back with the spec's
// constraint checks. Cluster files describe their data with it once, at module level.
//
// JavaScript representation: bool → boolean; integers up to 32 bits → number, 64-bit → bigint;
// string → string; octets → Uint8Array; list → array; struct → plain object keyed by field name
// (absent optional fields are undefined); nullable → null.
import { TlvWriter, type TlvElement, type TlvTag } from "../codec/tlv";
import { utf8Length } from "../codec/bytes";
import { FABRIC_INDEX_FIELD_ID, freeze } from "./constants";

export type Schema =
  | { readonly kind: "bool" }
  | { readonly kind: "uint"; readonly bits: 8 | 16 | 32; readonly min?: number; readonly max?: number }
  | { readonly kind: "uint64"; readonly min?: bigint; readonly max?: bigint }
  | { readonly kind: "int"; readonly bits: 8 | 16 | 32; readonly min?: number; readonly max?: number }
  | { readonly kind: "int64" }
  | { readonly kind: "float" }
  | { readonly kind: "double" }
  | { readonly kind: "string"; readonly minLength?: number; readonly maxLength: number }
  | { readonly kind: "octets"; readonly minLength?: number; readonly maxLength: number }
  | { readonly kind: "list"; readonly item: Schema; readonly maxLength?: number }
  | { readonly kind: "struct"; readonly fields: readonly FieldSchema[] }
  | { readonly kind: "nullable"; readonly of: Schema }
  | { readonly kind: "empty" };

export interface FieldSchema {
  readonly tag: number;
  readonly name: string;
  readonly schema: Schema;
  readonly optional?: boolean;
  /** Omitted when an entry of another fabric is read (spec 7.13.6, fabric-sensitive). */
  readonly fabricSensitive?: boolean;
}

/** A value that does not fit its schema: `kind` says whether the type or a constraint is wrong. */
export class SchemaError extends Error {
  override name = "SchemaError";
  constructor(
    readonly kind: "type" | "constraint",
    message: string,
  ) {
    super(message);
  }
}

// Constructors, so that cluster files read like the spec's tables.
export const bool: Schema = freeze({ kind: "bool" });
export const uint8: Schema = freeze({ kind: "uint", bits: 8 } as const);
export const uint16: Schema = freeze({ kind: "uint", bits: 16 } as const);
export const uint32: Schema = freeze({ kind: "uint", bits: 32 } as const);
export const uint64: Schema = freeze({ kind: "uint64" });
export const int8: Schema = freeze({ kind: "int", bits: 8 } as const);
export const int16: Schema = freeze({ kind: "int", bits: 16 } as const);
export const int32: Schema = freeze({ kind: "int", bits: 32 } as const);
export const int64: Schema = freeze({ kind: "int64" });
export const enum8 = uint8;
export const enum16 = uint16;
export const bitmap8 = uint8;
export const bitmap16 = uint16;
export const bitmap32 = uint32;
export const endpointNo = uint16;
export const clusterId = uint32;
export const deviceTypeId = uint32;
export const vendorId = uint16;
/** Fabric indices are 1..254 in data; 0 never appears in a stored entry. */
export const fabricIndex: Schema = freeze({ kind: "uint", bits: 8, min: 1, max: 254 } as const);
export const nodeId = uint64;
export const epochUs = uint64;
export const systimeMs = uint64;
export const empty: Schema = freeze({ kind: "empty" });

export function uint(bits: 8 | 16 | 32, min?: number, max?: number): Schema {
  return freeze({ kind: "uint", bits, ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) });
}

export function string(maxLength: number, minLength?: number): Schema {
  return freeze({ kind: "string", maxLength, ...(minLength !== undefined ? { minLength } : {}) });
}

export function octets(maxLength: number, minLength?: number): Schema {
  return freeze({ kind: "octets", maxLength, ...(minLength !== undefined ? { minLength } : {}) });
}

export function list(item: Schema, maxLength?: number): Schema {
  return freeze({ kind: "list", item, ...(maxLength !== undefined ? { maxLength } : {}) });
}

export function nullable(of: Schema): Schema {
  return freeze({ kind: "nullable", of });
}

export function field(tag: number, name: string, schema: Schema, options: { optional?: boolean; fabricSensitive?: boolean } = {}): FieldSchema {
  return freeze({ tag, name, schema, ...options });
}

export function struct(...fields: FieldSchema[]): Schema {
  return freeze({ kind: "struct", fields: freeze(fields) });
}

/** The FabricIndex field every fabric-scoped structure carries. */
export const fabricIndexField: FieldSchema = field(FABRIC_INDEX_FIELD_ID, "fabricIndex", fabricIndex);

/** How fabric-scoped data is shown to a reader (spec 7.13.6). */
export interface FabricView {
  /** The accessing fabric (0: none). */
  fabricIndex: number;
  /** Entries of other fabrics are dropped (true) or shown without their fabric-sensitive fields. */
  fabricFiltered: boolean;
}

const UINT_MAX = { 8: 0xff, 16: 0xffff, 32: 0xffffffff } as const;
const INT_RANGE = { 8: [-0x80, 0x7f], 16: [-0x8000, 0x7fff], 32: [-0x80000000, 0x7fffffff] } as const;
const U64_MAX = (1n << 64n) - 1n;

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) throw mismatch(what, "an object");
  return value as Record<string, unknown>;
}

/**
 * Encodes `value` under `tag`. Fabric-scoped list entries of other fabrics lose their
 * fabric-sensitive fields when `view` is given (a list of structures with a FabricIndex field).
 * A value that does not fit its schema is a SchemaError: a bug in the cluster, never the peer's.
 */
export function encodeValue(w: TlvWriter, tag: TlvTag, schema: Schema, value: unknown, view?: FabricView, what = "value"): void {
  switch (schema.kind) {
    case "bool":
      if (typeof value !== "boolean") throw mismatch(what, "a boolean");
      w.bool(tag, value);
      return;
    case "uint":
    case "int":
      if (typeof value !== "number" || !Number.isInteger(value)) throw mismatch(what, "an integer");
      checkNumber(schema, value, what);
      if (schema.kind === "uint") w.uint(tag, value);
      else w.int(tag, value);
      return;
    case "uint64":
      if (typeof value !== "bigint" || value < 0n || value > U64_MAX) throw mismatch(what, "a uint64 bigint");
      w.uint(tag, value);
      return;
    case "int64":
      if (typeof value !== "bigint") throw mismatch(what, "an int64 bigint");
      w.int(tag, value);
      return;
    case "float":
    case "double":
      if (typeof value !== "number") throw mismatch(what, "a number");
      if (schema.kind === "float") w.float(tag, value);
      else w.double(tag, value);
      return;
    case "string":
      if (typeof value !== "string") throw mismatch(what, "a string");
      w.utf8(tag, value);
      return;
    case "octets":
      if (!(value instanceof Uint8Array)) throw mismatch(what, "bytes");
      w.bytes(tag, value);
      return;
    case "nullable":
      if (value === null) w.null(tag);
      else encodeValue(w, tag, schema.of, value, view, what);
      return;
    case "list": {
      if (!Array.isArray(value)) throw mismatch(what, "an array");
      w.startArray(tag);
      for (const item of value) {
        if (view && !visibleEntry(schema.item, item, view)) continue;
        encodeValue(w, undefined, schema.item, item, view, what);
      }
      w.end();
      return;
    }
    case "struct": {
      const fields = record(value, what);
      const foreign = view !== undefined && isForeignEntry(schema, fields, view);
      w.startStructure(tag);
      for (const f of schema.fields) {
        if (foreign && f.fabricSensitive) continue;
        const member = fields[f.name];
        if (member === undefined) {
          if (f.optional) continue;
          throw new SchemaError("type", `${what}.${f.name}: missing`);
        }
        encodeValue(w, f.tag, f.schema, member, undefined, `${what}.${f.name}`);
      }
      w.end();
      return;
    }
    case "empty":
      w.startStructure(tag).end();
      return;
  }
}

function isForeignEntry(schema: Schema & { kind: "struct" }, fields: Record<string, unknown>, view: FabricView): boolean {
  if (!schema.fields.some((f) => f.tag === FABRIC_INDEX_FIELD_ID)) return false;
  return fields.fabricIndex !== view.fabricIndex;
}

/** Whether a list entry is shown to the reader: fabric-filtered reads see their own fabric's entries only. */
export function visibleEntry(schema: Schema, entry: unknown, view: FabricView): boolean {
  if (!view.fabricFiltered || schema.kind !== "struct") return true;
  if (!schema.fields.some((f) => f.tag === FABRIC_INDEX_FIELD_ID)) return true;
  return (entry as Record<string, unknown>).fabricIndex === view.fabricIndex;
}

function checkNumber(schema: Schema & { kind: "uint" | "int" }, value: number, what: string): void {
  const [low, high] = schema.kind === "uint" ? [0, UINT_MAX[schema.bits]] : INT_RANGE[schema.bits];
  if (value < low || value > high) throw constraint(`${what}: ${value} does not fit ${schema.kind}${schema.bits}`);
  checkBounds(value, schema, what);
}

/** Encodes a value as a standalone anonymous element (persistence, tests). */
export function encodeStandalone(schema: Schema, value: unknown): Uint8Array {
  const w = new TlvWriter();
  encodeValue(w, undefined, schema, value);
  return w.finish();
}

/**
 * Decodes `el` against `schema`. A wrong TLV type or a missing mandatory field is a SchemaError
 * of kind "type"; a value out of its constraints one of kind "constraint". Unknown struct fields
 * are ignored. `fabricIndex`, when given, replaces the FabricIndex field of fabric-scoped
 * structures (the server sets it from the accessing fabric, never from the client).
 */
export function decodeValue(el: TlvElement, schema: Schema, fabricIndex?: number, what = "value"): unknown {
  switch (schema.kind) {
    case "bool":
      if (el.type !== "bool") throw typeError(what, "bool", el);
      return el.value;
    case "uint":
    case "int":
      if (el.type !== schema.kind || typeof el.value !== "number") throw typeError(what, schema.kind, el);
      checkNumber(schema, el.value, what);
      return el.value;
    case "uint64": {
      if (el.type !== "uint") throw typeError(what, "uint", el);
      const value = BigInt(el.value as number | bigint);
      checkBounds(value, schema, what);
      return value;
    }
    case "int64":
      if (el.type !== "int") throw typeError(what, "int", el);
      return BigInt(el.value as number | bigint);
    case "float":
    case "double":
      if (el.type !== "float" && el.type !== "double") throw typeError(what, schema.kind, el);
      return el.value;
    case "string": {
      if (el.type !== "utf8") throw typeError(what, "utf8", el);
      const length = utf8Length(el.value as string);
      checkLength(length, schema, what);
      return el.value;
    }
    case "octets": {
      if (el.type !== "bytes") throw typeError(what, "bytes", el);
      const bytes = el.value as Uint8Array;
      checkLength(bytes.length, schema, what);
      return bytes.slice();
    }
    case "nullable":
      if (el.type === "null") return null;
      return decodeValue(el, schema.of, fabricIndex, what);
    case "list": {
      if (el.type !== "array" && el.type !== "list") throw typeError(what, "array", el);
      const children = el.value as TlvElement[];
      if (schema.maxLength !== undefined && children.length > schema.maxLength) throw constraint(`${what}: ${children.length} entries, more than ${schema.maxLength}`);
      return children.map((child, index) => decodeValue(child, schema.item, fabricIndex, `${what}[${index}]`));
    }
    case "struct": {
      if (el.type !== "structure") throw typeError(what, "structure", el);
      const out: Record<string, unknown> = {};
      const children = el.value as TlvElement[];
      const seen = new Set<number>();
      for (const child of children) {
        if (typeof child.tag !== "number") continue;
        if (seen.has(child.tag)) throw new SchemaError("type", `${what}: duplicate field ${child.tag}`);
        seen.add(child.tag);
      }
      for (const f of schema.fields) {
        if (f.tag === FABRIC_INDEX_FIELD_ID && fabricIndex !== undefined) {
          out[f.name] = fabricIndex;
          continue;
        }
        const child = children.find((c) => c.tag === f.tag);
        if (!child) {
          if (f.optional) continue;
          throw new SchemaError("type", `${what}.${f.name}: missing field ${f.tag}`);
        }
        out[f.name] = decodeValue(child, f.schema, fabricIndex, `${what}.${f.name}`);
      }
      return out;
    }
    case "empty":
      if (el.type !== "structure") throw typeError(what, "structure", el);
      return {};
  }
}

function typeError(what: string, expected: string, el: TlvElement): SchemaError {
  return mismatch(what, `${expected}, got ${el.type}`);
}

/** A value of the wrong JavaScript or TLV type. */
function mismatch(what: string, expected: string): SchemaError {
  return new SchemaError("type", `${what}: expected ${expected}`);
}

function constraint(message: string): SchemaError {
  return new SchemaError("constraint", message);
}

/** Checks a number or bigint against a schema's own bounds. */
function checkBounds(value: number | bigint, schema: { min?: number | bigint; max?: number | bigint }, what: string): void {
  if (schema.min !== undefined && value < schema.min) throw constraint(`${what}: ${value} is below ${schema.min}`);
  if (schema.max !== undefined && value > schema.max) throw constraint(`${what}: ${value} is above ${schema.max}`);
}

function checkLength(length: number, schema: { minLength?: number; maxLength: number }, what: string): void {
  if (length > schema.maxLength) throw constraint(`${what}: ${length} bytes, longer than ${schema.maxLength}`);
  if (schema.minLength !== undefined && length < schema.minLength) throw constraint(`${what}: ${length} bytes, shorter than ${schema.minLength}`);
}

/** True for a list attribute (written with replace-all and append operations). */
export function isList(schema: Schema): schema is Schema & { kind: "list" } {
  return schema.kind === "list";
}
