// Matter TLV (Matter Core spec, Appendix A): a canonical writer, a strict bounded decoder, and a
// typed view over decoded structures for protocol code.
//
// Control byte: top 3 bits say how the tag is encoded, low 5 bits the element type. Integers and
// lengths are little-endian. The decoder follows the reader rules of the reference SDK: context
// tags are not allowed at top level, structure members must be tagged, array members must not be,
// and an end-of-container carries no tag.
import { ByteWriter, CodecError, utf8DecodeOrOffset, utf8Encode, utf8Length } from "./bytes";

export type TlvTag =
  | undefined // anonymous
  | number // context-specific tag 0..255
  | { common: number } // common profile, 2- or 4-byte id
  | { implicit: number } // implicit profile, 2- or 4-byte id
  | { vendor: number; profile: number; id: number }; // fully qualified, 2- or 4-byte id

export type TlvType = "int" | "uint" | "bool" | "float" | "double" | "utf8" | "bytes" | "null" | "structure" | "array" | "list";

export type TlvValue = number | bigint | boolean | string | Uint8Array | null | TlvElement[];

export interface TlvElement {
  tag: TlvTag;
  type: TlvType;
  /** Integers are numbers when |v| <= 2^53-1, else bigints; strings and byte strings are views into the input. */
  value: TlvValue;
}

export interface TlvLimits {
  /** Deepest container nesting accepted (a top-level structure is depth 1). Default 16. */
  maxDepth?: number;
  /** Most elements (containers and scalars, end markers excluded) in one decode. Default 4096. */
  maxElements?: number;
  /** Longest UTF-8 or octet string accepted, in bytes. Default: no limit beyond the input itself. */
  maxLength?: number;
}

/**
 * Element type by the low 5 bits of the control byte: 0x00-0x03 int of 1, 2, 4, 8 bytes, 0x04-0x07
 * uint, 0x08/0x09 false/true, 0x0a float, 0x0b double, 0x0c-0x0f UTF-8 string with a 1, 2, 4 or
 * 8-byte length, 0x10-0x13 octet string, 0x14 null, 0x15 structure, 0x16 array, 0x17 list. The
 * first index of a type is its base code; 0x18 ends a container and 0x19-0x1f are reserved.
 */
const ELEMENT_TYPES = "int int int int uint uint uint uint bool bool float double utf8 utf8 utf8 utf8 bytes bytes bytes bytes null structure array list".split(" ") as TlvType[];
const END_OF_CONTAINER = 0x18;

// Tag forms, the top 3 bits of the control byte. Common, implicit and fully qualified tags have a
// 2-byte id form and, 0x20 above it, a 4-byte id form.
const TAG_CONTEXT = 0x20;
const TAG_COMMON = 0x40;
const TAG_IMPLICIT = 0x80;
const TAG_FULL = 0xc0;
const WIDE_ID = 0x20;
/** Bytes of tag after the control byte, by tag form (control >> 5). */
const TAG_SIZES = [0, 1, 2, 4, 2, 4, 6, 8];

/** ByteWriter methods for 1, 2 and 4-byte values, by width code. */
const UNSIGNED_WRITERS = ["u8", "u16le", "u32le"] as const;
const SIGNED_WRITERS = ["i8", "i16le", "i32le"] as const;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const U64_LIMIT = 1n << 64n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

/** A CodecError whose message starts "TLV: ". */
function tlvError(problem: string): CodecError {
  return new CodecError(`TLV: ${problem}`);
}

function isUint(value: unknown, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= max;
}

/** Human-readable tag, for error messages: "anonymous", "context 3", "common 70000", "implicit 2", "FFF1:DEED:1". */
export function tlvTagToString(tag: TlvTag): string {
  if (tag === undefined) return "anonymous";
  if (typeof tag === "number") return `context ${tag}`;
  if ("common" in tag) return `common ${tag.common}`;
  if ("implicit" in tag) return `implicit ${tag.implicit}`;
  return `${tag.vendor.toString(16).toUpperCase()}:${tag.profile.toString(16).toUpperCase()}:${tag.id}`;
}

/** `container` is the type of the enclosing container, undefined at top level. */
function checkPlacement(tag: TlvTag, container: TlvType | undefined, where: string): void {
  if (container === "structure" && tag === undefined) throw tlvError(`anonymous element inside a structure${where}`);
  if (container === "array" && tag !== undefined) throw tlvError(`tagged element (${tlvTagToString(tag)}) inside an array${where}`);
  if (!container && typeof tag === "number") throw tlvError(`context tag ${tag} at top level${where}`);
}

function checkValue(ok: boolean, type: string, expected: string): void {
  if (!ok) throw tlvError(`${type} value must be a ${expected}`);
}

/**
 * Writes canonical TLV: smallest integer width for the value, smallest length field, 2-byte tag ids
 * whenever they fit. Every value and tag is range-checked (CodecError).
 */
export class TlvWriter {
  private readonly out = new ByteWriter();
  /** Types of the open containers, innermost last. */
  private readonly open: TlvType[] = [];

  private head(tag: TlvTag, elementType: number): void {
    const { out, open } = this;
    if (typeof tag === "number" ? !isUint(tag, 0xff) : tag !== undefined && (typeof tag !== "object" || tag === null)) {
      throw tlvError(`${typeof tag === "number" ? "context " : ""}tag ${String(tag)} is invalid`);
    }
    checkPlacement(tag, open[open.length - 1], "");
    if (tag === undefined) out.u8(elementType);
    else if (typeof tag === "number") out.u8(TAG_CONTEXT | elementType).u8(tag);
    else {
      const full = tag as { vendor: unknown; profile: unknown; id: unknown };
      let form = TAG_FULL;
      let id: unknown = full.id;
      if ("common" in tag) {
        form = TAG_COMMON;
        id = tag.common;
      } else if ("implicit" in tag) {
        form = TAG_IMPLICIT;
        id = tag.implicit;
      } else if (!isUint(full.vendor, 0xffff) || !isUint(full.profile, 0xffff)) {
        throw tlvError("vendor and profile ids must be 0..65535");
      }
      if (!isUint(id, 0xffffffff)) throw tlvError(`tag id ${String(id)} is outside 0..2^32-1`);
      const wide = id > 0xffff;
      out.u8(form | (wide ? WIDE_ID : 0) | elementType);
      if (form === TAG_FULL) out.u16le(full.vendor as number).u16le(full.profile as number);
      if (wide) out.u32le(id);
      else out.u16le(id);
    }
  }

  int(tag: TlvTag, value: number | bigint): this {
    return this.integer(tag, value, true);
  }

  uint(tag: TlvTag, value: number | bigint): this {
    return this.integer(tag, value, false);
  }

  private integer(tag: TlvTag, value: number | bigint, signed: boolean): this {
    const name = signed ? "int" : "uint";
    if (typeof value === "number" ? !Number.isInteger(value) : typeof value !== "bigint") {
      throw tlvError(`${name} ${String(value)} is not an integer`);
    }
    const min = signed ? -0x80000000 : 0;
    // Numbers within 32 bits (the common case) skip bigint arithmetic, which is slow on XS.
    if (typeof value === "number" && value >= min && value <= min + 0xffffffff) return this.sized(tag, signed ? 0 : 4, value, signed);
    const big = BigInt(value);
    if (signed ? big < I64_MIN || big > I64_MAX : big < 0n || big >= U64_LIMIT) throw tlvError(`${name} ${value} is outside the ${name}64 range`);
    if (big >= BigInt(min) && big <= BigInt(min + 0xffffffff)) return this.sized(tag, signed ? 0 : 4, Number(big), signed);
    this.head(tag, signed ? 3 : 7);
    if (signed) this.out.i64le(big);
    else this.out.u64le(big);
    return this;
  }

  /** The element type `baseType` widened to the 1, 2 or 4 bytes `value` needs, then the value. */
  private sized(tag: TlvTag, baseType: number, value: number, signed: boolean): this {
    const code = signed
      ? value >= -0x80 && value < 0x80 ? 0 : value >= -0x8000 && value < 0x8000 ? 1 : 2
      : value <= 0xff ? 0 : value <= 0xffff ? 1 : 2;
    this.head(tag, baseType + code);
    this.out[(signed ? SIGNED_WRITERS : UNSIGNED_WRITERS)[code]!](value);
    return this;
  }

  bool(tag: TlvTag, value: boolean): this {
    checkValue(typeof value === "boolean", "bool", "boolean");
    this.head(tag, value ? 0x09 : 0x08);
    return this;
  }

  /** Single precision: the value is rounded to the nearest float32. */
  float(tag: TlvTag, value: number): this {
    checkValue(typeof value === "number", "float", "number");
    this.head(tag, 0x0a);
    this.out.f32le(value);
    return this;
  }

  double(tag: TlvTag, value: number): this {
    checkValue(typeof value === "number", "double", "number");
    this.head(tag, 0x0b);
    this.out.f64le(value);
    return this;
  }

  utf8(tag: TlvTag, text: string): this {
    checkValue(typeof text === "string", "utf8", "string");
    return this.lengthPrefixed(tag, 0x0c, utf8Encode(text));
  }

  bytes(tag: TlvTag, data: Uint8Array): this {
    checkValue(data instanceof Uint8Array, "bytes", "Uint8Array");
    return this.lengthPrefixed(tag, 0x10, data);
  }

  private lengthPrefixed(tag: TlvTag, baseType: number, data: Uint8Array): this {
    this.sized(tag, baseType, data.length, false).out.bytes(data);
    return this;
  }

  null(tag: TlvTag): this {
    this.head(tag, 0x14);
    return this;
  }

  startStructure(tag: TlvTag): this {
    return this.start(tag, "structure");
  }

  startArray(tag: TlvTag): this {
    return this.start(tag, "array");
  }

  startList(tag: TlvTag): this {
    return this.start(tag, "list");
  }

  private start(tag: TlvTag, container: "structure" | "array" | "list"): this {
    this.head(tag, ELEMENT_TYPES.indexOf(container));
    this.open.push(container);
    return this;
  }

  /** Closes the innermost open container. */
  end(): this {
    if (!this.open.pop()) throw tlvError("end() without an open container");
    this.out.u8(END_OF_CONTAINER);
    return this;
  }

  /** Writes a decoded (or hand-built) element tree. */
  element(el: TlvElement): this {
    const { tag, type, value } = el;
    if (type === "structure" || type === "array" || type === "list") {
      if (!Array.isArray(value)) throw tlvError(`${type} element needs an array of children`);
      this.start(tag, type);
      for (const child of value) this.element(child);
      return this.end();
    }
    if (type === "null") {
      if (value !== null) throw tlvError("null element needs the value null");
      return this.null(tag);
    }
    if (!ELEMENT_TYPES.includes(type)) throw tlvError(`unknown element type ${String(type)}`);
    // Every other type has a writer method of its own name, which checks the value.
    const write = this[type] as (tag: TlvTag, value: TlvValue) => this;
    return write.call(this, tag, value);
  }

  /** Bytes written so far, as long as every container has been closed. */
  finish(): Uint8Array {
    if (this.open.length > 0) throw tlvError(`${this.open.length} container(s) still open`);
    return this.out.finish();
  }
}

export function encodeTlv(el: TlvElement): Uint8Array {
  return new TlvWriter().element(el).finish();
}

/**
 * Decodes top-level elements: just one (`single`, anything after it is an error) or all of them.
 * One pass with an explicit stack of open containers, so deep input cannot exhaust the call stack.
 */
function parse(input: Uint8Array, limits: TlvLimits | undefined, single: boolean): TlvElement[] {
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const end = input.length;
  const maxDepth = limits?.maxDepth ?? 16;
  const maxElements = limits?.maxElements ?? 4096;
  const maxLength = limits?.maxLength ?? Infinity;
  const top: TlvElement[] = [];
  /** Open containers, innermost last, and the offsets they started at. */
  const open: TlvElement[] = [];
  const openedAt: number[] = [];
  let offset = 0;
  let count = 0;
  /** Offset of the element being read, for error messages. */
  let start = 0;

  // Annotated, so that TypeScript treats a call as the end of the branch.
  const fail: (problem: string) => never = (problem) => {
    throw tlvError(`${problem} at offset ${start}`);
  };

  const take = (size: number, what: string): number => {
    if (size > end - offset) fail(`truncated ${what}`);
    offset += size;
    return offset - size;
  };

  /** A 1/2/4/8-byte field; 8-byte values beyond 2^53 stay bigints. */
  const readInt = (sizeCode: number, signed: boolean, what: string): number | bigint => {
    const at = take(1 << sizeCode, what);
    if (sizeCode === 0) return signed ? view.getInt8(at) : input[at]!;
    if (sizeCode === 1) return signed ? view.getInt16(at, true) : view.getUint16(at, true);
    if (sizeCode === 2) return signed ? view.getInt32(at, true) : view.getUint32(at, true);
    const unsigned = (BigInt(view.getUint32(at + 4, true)) << 32n) | BigInt(view.getUint32(at, true));
    // Two's complement by subtraction, not by bit operations on a negative bigint (XS 13.3
    // rounds some of those wrongly).
    const big = signed && unsigned > I64_MAX ? unsigned - U64_LIMIT : unsigned;
    return big <= MAX_SAFE && big >= -MAX_SAFE ? Number(big) : big;
  };

  for (;;) {
    start = offset;
    let parent = open[open.length - 1];
    if (start >= end) {
      if (parent) {
        throw tlvError(`truncated: the ${parent.type} opened at offset ${openedAt[open.length - 1]} has no end-of-container`);
      }
      if (single) fail("truncated: no element");
      return top;
    }
    const control = input[offset++]!;
    const elementType = control & 0x1f;
    let element: TlvElement;
    if (elementType === END_OF_CONTAINER) {
      if (control !== END_OF_CONTAINER) fail("end-of-container with a tag");
      if (!parent) fail("end-of-container outside any container");
      element = open.pop()!;
      openedAt.pop();
      parent = open[open.length - 1];
    } else {
      const type = ELEMENT_TYPES[elementType];
      if (!type) fail(`reserved element type 0x${elementType.toString(16)}`);
      const form = control >> 5;
      const at = take(TAG_SIZES[form]!, "tag");
      let tag: TlvTag;
      if (form === 1) tag = input[at]!;
      else if (form > 1) {
        // Odd forms carry a 4-byte id; fully qualified tags put vendor and profile before it.
        const idAt = form > 5 ? at + 4 : at;
        const id = form & 1 ? view.getUint32(idAt, true) : view.getUint16(idAt, true);
        tag = form < 4 ? { common: id } : form < 6 ? { implicit: id } : { vendor: view.getUint16(at, true), profile: view.getUint16(at + 2, true), id };
      }
      checkPlacement(tag, parent?.type, ` at offset ${start}`);
      if (++count > maxElements) fail(`more than ${maxElements} elements`);

      let value: TlvValue;
      if (elementType < 0x08) value = readInt(elementType & 3, elementType < 0x04, "integer");
      else if (elementType < 0x0a) value = elementType === 0x09;
      else if (elementType === 0x0a) value = view.getFloat32(take(4, "float"), true);
      else if (elementType === 0x0b) value = view.getFloat64(take(8, "double"), true);
      else if (elementType < 0x14) {
        const what = type === "utf8" ? "UTF-8 string" : "octet string";
        const length = readInt(elementType & 3, false, `${what} length`);
        const left = end - offset;
        if (typeof length === "bigint" || length > left) fail(`${what} claims ${length} bytes but only ${left} remain`);
        if (length > maxLength) fail(`${what} of ${length} bytes is over the limit of ${maxLength}`);
        const raw = input.subarray(offset, (offset += length));
        if (type === "utf8") {
          const text = utf8DecodeOrOffset(raw);
          if (typeof text === "number") fail(`invalid UTF-8 (byte offset ${offset - length + text}) in the string`);
          value = text;
        } else value = raw;
      } else if (elementType === 0x14) value = null;
      else {
        if (open.length >= maxDepth) fail(`containers nested deeper than ${maxDepth}`);
        open.push({ tag, type, value: [] });
        openedAt.push(start);
        continue;
      }
      element = { tag, type, value };
    }
    // A complete element (scalar or just closed container) joins its parent or the top level.
    if (parent) (parent.value as TlvElement[]).push(element);
    else {
      top.push(element);
      if (single) {
        if (offset < end) throw tlvError(`${end - offset} trailing bytes at offset ${offset}`);
        return top;
      }
    }
  }
}

/** Decodes exactly one element; anything after it is an error. */
export function decodeTlv(bytes: Uint8Array, limits?: TlvLimits): TlvElement {
  return parse(bytes, limits, true)[0]!;
}

/** Decodes a sequence of top-level elements (possibly empty). */
export function decodeTlvElements(bytes: Uint8Array, limits?: TlvLimits): TlvElement[] {
  return parse(bytes, limits, false);
}

function checkInteger(el: TlvElement): void {
  if (el.type !== "int" && el.type !== "uint") throw tlvError(`expected an integer, got ${el.type}`);
}

/** The value of an int/uint element as a number; CodecError when it is another type or not a safe integer. */
export function asNumber(el: TlvElement): number {
  checkInteger(el);
  if (typeof el.value !== "number" || !Number.isSafeInteger(el.value)) throw tlvError(`integer ${String(el.value)} is beyond the safe integer range`);
  return el.value;
}

/** The value of an int/uint element as a bigint. */
export function asBigInt(el: TlvElement): bigint {
  checkInteger(el);
  if (typeof el.value === "bigint") return el.value;
  if (typeof el.value !== "number" || !Number.isInteger(el.value)) throw tlvError(`integer element holds ${String(el.value)}`);
  return BigInt(el.value);
}

export type LengthConstraint = number | { min?: number; max?: number };

/**
 * A view over a decoded structure (or list) for reading fields by context tag. A missing required
 * field, a field of the wrong type or out of its constraints is a CodecError naming the tag.
 * Duplicate context tags in a structure are rejected, so a field can never have two readings.
 */
export class TlvStruct {
  readonly element: TlvElement;
  readonly fields: readonly TlvElement[];
  private readonly byTag = new Map<number, TlvElement>();

  constructor(el: TlvElement) {
    if (el.type !== "structure" && el.type !== "list") throw tlvError(`expected a structure, got ${el.type}`);
    this.element = el;
    this.fields = el.value as TlvElement[];
    for (const field of this.fields) {
      const tag = field.tag;
      if (typeof tag !== "number") continue;
      if (!this.byTag.has(tag)) this.byTag.set(tag, field);
      // Lists may repeat tags (get() returns the first); structures may not.
      else if (el.type === "structure") throw tlvError(`duplicate field ${tag} in a structure`);
    }
  }

  static decode(bytes: Uint8Array, limits?: TlvLimits): TlvStruct {
    return new TlvStruct(decodeTlv(bytes, limits));
  }

  has(tag: number): boolean {
    return this.byTag.has(tag);
  }

  get(tag: number): TlvElement | undefined {
    return this.byTag.get(tag);
  }

  /** True when the field is present and holds null (a nullable field set to null). */
  isNull(tag: number): boolean {
    return this.byTag.get(tag)?.type === "null";
  }

  /** The required field `tag`, of type `type` (or a list, when `orList`). */
  private typed(tag: number, type: TlvType, orList?: boolean): TlvElement {
    const field = this.byTag.get(tag);
    if (!field) throw tlvError(`missing required field ${tag}`);
    if (field.type !== type && !(orList && field.type === "list")) {
      throw tlvError(`field ${tag} should be ${type}${orList ? " or list" : ""}, got ${field.type}`);
    }
    return field;
  }

  private safeInteger(tag: number, type: TlvType): number {
    const value = this.typed(tag, type).value;
    if (typeof value !== "number") throw tlvError(`field ${tag} value ${String(value)} is not a safe integer`);
    return value;
  }

  uint(tag: number): number {
    return this.safeInteger(tag, "uint");
  }

  uint64(tag: number): bigint {
    return asBigInt(this.typed(tag, "uint"));
  }

  int(tag: number): number {
    return this.safeInteger(tag, "int");
  }

  int64(tag: number): bigint {
    return asBigInt(this.typed(tag, "int"));
  }

  bool(tag: number): boolean {
    return this.typed(tag, "bool").value as boolean;
  }

  /** An octet string; `length` is an exact length or a {min, max} range in bytes. */
  bytes(tag: number, length?: LengthConstraint): Uint8Array {
    const value = this.typed(tag, "bytes").value as Uint8Array;
    checkLength(tag, value.length, length);
    return value;
  }

  /** A UTF-8 string; `maxLength` counts encoded bytes, as Matter's string constraints do. */
  utf8(tag: number, maxLength?: number): string {
    const value = this.typed(tag, "utf8").value as string;
    if (maxLength !== undefined) checkLength(tag, utf8Length(value), { max: maxLength });
    return value;
  }

  struct(tag: number): TlvStruct {
    return new TlvStruct(this.typed(tag, "structure", true));
  }

  /** The children of an array or list field. */
  array(tag: number): TlvElement[] {
    return this.typed(tag, "array", true).value as TlvElement[];
  }

  optionalUint(tag: number): number | undefined {
    return this.has(tag) ? this.uint(tag) : undefined;
  }

  optionalUint64(tag: number): bigint | undefined {
    return this.has(tag) ? this.uint64(tag) : undefined;
  }

  optionalInt(tag: number): number | undefined {
    return this.has(tag) ? this.int(tag) : undefined;
  }

  optionalBool(tag: number): boolean | undefined {
    return this.has(tag) ? this.bool(tag) : undefined;
  }

  optionalBytes(tag: number, length?: LengthConstraint): Uint8Array | undefined {
    return this.has(tag) ? this.bytes(tag, length) : undefined;
  }

  optionalUtf8(tag: number, maxLength?: number): string | undefined {
    return this.has(tag) ? this.utf8(tag, maxLength) : undefined;
  }

  optionalStruct(tag: number): TlvStruct | undefined {
    return this.has(tag) ? this.struct(tag) : undefined;
  }

  optionalArray(tag: number): TlvElement[] | undefined {
    return this.has(tag) ? this.array(tag) : undefined;
  }
}

function checkLength(tag: number, length: number, constraint: LengthConstraint | undefined): void {
  if (constraint === undefined) return;
  const { min = length, max = length } = typeof constraint === "number" ? { min: constraint, max: constraint } : constraint;
  if (length < min || length > max) {
    const expected = min === max ? `${min}` : length < min ? `at least ${min}` : `at most ${max}`;
    throw tlvError(`field ${tag} is ${length} bytes, expected ${expected}`);
  }
}
