// Matter TLV (Matter Core spec, Appendix A): a canonical writer, a strict bounded decoder, and a
// typed view over decoded structures for protocol code.
//
// Control byte: top 3 bits say how the tag is encoded, low 5 bits the element type. Integers and
// lengths are little-endian. The decoder follows the reader rules of the reference SDK: context
// tags are not allowed at top level, structure members must be tagged, array members must not be,
// and an end-of-container carries no tag.
import { ByteWriter, CodecError, utf8Decode, utf8Encode, utf8InvalidOffset, utf8Length } from "./bytes";

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

const DEFAULT_MAX_DEPTH = 16;
const DEFAULT_MAX_ELEMENTS = 4096;

// Element types (low 5 bits of the control byte).
const TYPE_INT = 0x00; // 0x00..0x03: 1, 2, 4, 8 bytes
const TYPE_UINT = 0x04; // 0x04..0x07
const TYPE_FALSE = 0x08;
const TYPE_TRUE = 0x09;
const TYPE_FLOAT = 0x0a;
const TYPE_DOUBLE = 0x0b;
const TYPE_UTF8 = 0x0c; // 0x0c..0x0f: 1, 2, 4, 8-byte length
const TYPE_BYTES = 0x10; // 0x10..0x13
const TYPE_NULL = 0x14;
const TYPE_STRUCTURE = 0x15;
const TYPE_ARRAY = 0x16;
const TYPE_LIST = 0x17;
const END_OF_CONTAINER = 0x18;

// Tag forms (top 3 bits of the control byte).
const TAG_ANONYMOUS = 0x00;
const TAG_CONTEXT = 0x20;
const TAG_COMMON_2 = 0x40;
const TAG_COMMON_4 = 0x60;
const TAG_IMPLICIT_2 = 0x80;
const TAG_IMPLICIT_4 = 0xa0;
const TAG_FULL_6 = 0xc0;
const TAG_FULL_8 = 0xe0;

const TAG_SIZES = [0, 1, 2, 4, 2, 4, 6, 8] as const;

type ContainerType = "structure" | "array" | "list";
/** Where an element sits: at top level or inside a container of this type. */
type Placement = ContainerType | "top";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const U64_LIMIT = 1n << 64n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

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

export function tlvTagsEqual(a: TlvTag, b: TlvTag): boolean {
  if (a === undefined || b === undefined || typeof a === "number" || typeof b === "number") return a === b;
  if ("common" in a) return "common" in b && a.common === b.common;
  if ("implicit" in a) return "implicit" in b && a.implicit === b.implicit;
  return "vendor" in b && a.vendor === b.vendor && a.profile === b.profile && a.id === b.id;
}

function checkPlacement(tag: TlvTag, placement: Placement, where: string): void {
  if (placement === "structure" && tag === undefined) throw new CodecError(`TLV: anonymous element inside a structure${where}`);
  if (placement === "array" && tag !== undefined) throw new CodecError(`TLV: tagged element (${tlvTagToString(tag)}) inside an array${where}`);
  if (placement === "top" && typeof tag === "number") throw new CodecError(`TLV: context tag ${tag} at top level${where}`);
}

/**
 * Writes canonical TLV: smallest integer width for the value, smallest length field, 2-byte tag ids
 * whenever they fit. Every value and tag is range-checked (CodecError).
 */
export class TlvWriter {
  private readonly out = new ByteWriter();
  private readonly open: ContainerType[] = [];

  private head(tag: TlvTag, elementType: number): void {
    const placement: Placement = this.open[this.open.length - 1] ?? "top";
    if (tag === undefined) {
      checkPlacement(tag, placement, "");
      this.out.u8(TAG_ANONYMOUS | elementType);
    } else if (typeof tag === "number") {
      if (!isUint(tag, 0xff)) throw new CodecError(`TLV: context tag ${tag} is outside 0..255`);
      checkPlacement(tag, placement, "");
      this.out.u8(TAG_CONTEXT | elementType).u8(tag);
    } else {
      checkPlacement(tag, placement, "");
      if (typeof tag !== "object" || tag === null) throw new CodecError(`TLV: invalid tag ${String(tag)}`);
      if ("common" in tag || "implicit" in tag) {
        const isCommon = "common" in tag;
        const id = isCommon ? tag.common : (tag as { implicit: number }).implicit;
        if (!isUint(id, 0xffffffff)) throw new CodecError(`TLV: tag id ${String(id)} is outside 0..2^32-1`);
        if (id <= 0xffff) this.out.u8((isCommon ? TAG_COMMON_2 : TAG_IMPLICIT_2) | elementType).u16le(id);
        else this.out.u8((isCommon ? TAG_COMMON_4 : TAG_IMPLICIT_4) | elementType).u32le(id);
      } else {
        const { vendor, profile, id } = tag as { vendor: unknown; profile: unknown; id: unknown };
        if (!isUint(vendor, 0xffff) || !isUint(profile, 0xffff)) throw new CodecError("TLV: vendor and profile ids must be 0..65535");
        if (!isUint(id, 0xffffffff)) throw new CodecError(`TLV: tag id ${String(id)} is outside 0..2^32-1`);
        if (id <= 0xffff) this.out.u8(TAG_FULL_6 | elementType).u16le(vendor).u16le(profile).u16le(id);
        else this.out.u8(TAG_FULL_8 | elementType).u16le(vendor).u16le(profile).u32le(id);
      }
    }
  }

  int(tag: TlvTag, value: number | bigint): this {
    if (typeof value === "number" && !Number.isInteger(value)) throw new CodecError(`TLV: int ${value} is not an integer`);
    if (typeof value !== "number" && typeof value !== "bigint") throw new CodecError("TLV: int value must be a number or bigint");
    if (typeof value === "number" && value >= -0x80000000 && value <= 0x7fffffff) return this.int32(tag, value);
    const big = BigInt(value);
    if (big < I64_MIN || big > I64_MAX) throw new CodecError(`TLV: int ${value} is outside the int64 range`);
    if (big >= -0x80000000n && big <= 0x7fffffffn) return this.int32(tag, Number(big));
    this.head(tag, TYPE_INT + 3);
    this.out.i64le(big);
    return this;
  }

  private int32(tag: TlvTag, value: number): this {
    if (value >= -0x80 && value <= 0x7f) {
      this.head(tag, TYPE_INT);
      this.out.i8(value);
    } else if (value >= -0x8000 && value <= 0x7fff) {
      this.head(tag, TYPE_INT + 1);
      this.out.i16le(value);
    } else {
      this.head(tag, TYPE_INT + 2);
      this.out.i32le(value);
    }
    return this;
  }

  uint(tag: TlvTag, value: number | bigint): this {
    if (typeof value === "number" && !Number.isInteger(value)) throw new CodecError(`TLV: uint ${value} is not an integer`);
    if (typeof value !== "number" && typeof value !== "bigint") throw new CodecError("TLV: uint value must be a number or bigint");
    // Common case without bigint arithmetic, which is slow on XS.
    if (typeof value === "number" && value >= 0 && value <= 0xffffffff) return this.uint32(tag, value);
    const big = BigInt(value);
    if (big < 0n || big >= U64_LIMIT) throw new CodecError(`TLV: uint ${value} is outside 0..2^64-1`);
    if (big <= 0xffffffffn) return this.uint32(tag, Number(big));
    this.head(tag, TYPE_UINT + 3);
    this.out.u64le(big);
    return this;
  }

  private uint32(tag: TlvTag, value: number): this {
    if (value <= 0xff) {
      this.head(tag, TYPE_UINT);
      this.out.u8(value);
    } else if (value <= 0xffff) {
      this.head(tag, TYPE_UINT + 1);
      this.out.u16le(value);
    } else {
      this.head(tag, TYPE_UINT + 2);
      this.out.u32le(value);
    }
    return this;
  }

  bool(tag: TlvTag, value: boolean): this {
    if (typeof value !== "boolean") throw new CodecError("TLV: bool value must be a boolean");
    this.head(tag, value ? TYPE_TRUE : TYPE_FALSE);
    return this;
  }

  /** Single precision: the value is rounded to the nearest float32. */
  float(tag: TlvTag, value: number): this {
    if (typeof value !== "number") throw new CodecError("TLV: float value must be a number");
    this.head(tag, TYPE_FLOAT);
    this.out.f32le(value);
    return this;
  }

  double(tag: TlvTag, value: number): this {
    if (typeof value !== "number") throw new CodecError("TLV: double value must be a number");
    this.head(tag, TYPE_DOUBLE);
    this.out.f64le(value);
    return this;
  }

  utf8(tag: TlvTag, text: string): this {
    if (typeof text !== "string") throw new CodecError("TLV: utf8 value must be a string");
    return this.lengthPrefixed(tag, TYPE_UTF8, utf8Encode(text));
  }

  bytes(tag: TlvTag, data: Uint8Array): this {
    if (!(data instanceof Uint8Array)) throw new CodecError("TLV: bytes value must be a Uint8Array");
    return this.lengthPrefixed(tag, TYPE_BYTES, data);
  }

  private lengthPrefixed(tag: TlvTag, baseType: number, data: Uint8Array): this {
    const length = data.length;
    if (length <= 0xff) {
      this.head(tag, baseType);
      this.out.u8(length);
    } else if (length <= 0xffff) {
      this.head(tag, baseType + 1);
      this.out.u16le(length);
    } else {
      this.head(tag, baseType + 2);
      this.out.u32le(length);
    }
    this.out.bytes(data);
    return this;
  }

  null(tag: TlvTag): this {
    this.head(tag, TYPE_NULL);
    return this;
  }

  startStructure(tag: TlvTag): this {
    return this.start(tag, TYPE_STRUCTURE, "structure");
  }

  startArray(tag: TlvTag): this {
    return this.start(tag, TYPE_ARRAY, "array");
  }

  startList(tag: TlvTag): this {
    return this.start(tag, TYPE_LIST, "list");
  }

  private start(tag: TlvTag, elementType: number, container: ContainerType): this {
    this.head(tag, elementType);
    this.open.push(container);
    return this;
  }

  /** Closes the innermost open container. */
  end(): this {
    if (this.open.length === 0) throw new CodecError("TLV: end() without an open container");
    this.open.pop();
    this.out.u8(END_OF_CONTAINER);
    return this;
  }

  /** Writes a decoded (or hand-built) element tree. */
  element(el: TlvElement): this {
    const { tag, value } = el;
    switch (el.type) {
      case "int":
      case "uint":
        if (typeof value !== "number" && typeof value !== "bigint") throw new CodecError(`TLV: ${el.type} element needs a number or bigint value`);
        return el.type === "int" ? this.int(tag, value) : this.uint(tag, value);
      case "bool":
        return this.bool(tag, value as boolean);
      case "float":
        return this.float(tag, value as number);
      case "double":
        return this.double(tag, value as number);
      case "utf8":
        return this.utf8(tag, value as string);
      case "bytes":
        return this.bytes(tag, value as Uint8Array);
      case "null":
        if (value !== null) throw new CodecError("TLV: null element needs the value null");
        return this.null(tag);
      case "structure":
      case "array":
      case "list": {
        if (!Array.isArray(value)) throw new CodecError(`TLV: ${el.type} element needs an array of children`);
        this.start(tag, el.type === "structure" ? TYPE_STRUCTURE : el.type === "array" ? TYPE_ARRAY : TYPE_LIST, el.type);
        for (const child of value) this.element(child);
        return this.end();
      }
      default:
        throw new CodecError(`TLV: unknown element type ${String((el as { type: unknown }).type)}`);
    }
  }

  /** Bytes written so far, as long as every container has been closed. */
  finish(): Uint8Array {
    if (this.open.length > 0) throw new CodecError(`TLV: ${this.open.length} container(s) still open`);
    return this.out.finish();
  }
}

export function encodeTlv(el: TlvElement): Uint8Array {
  return new TlvWriter().element(el).finish();
}

interface OpenContainer {
  element: TlvElement;
  children: TlvElement[];
  type: ContainerType;
  offset: number;
}

/** Decodes a run of elements; each call to `next` yields one complete top-level element. */
class TlvParser {
  private readonly view: DataView;
  private offset = 0;
  private elements = 0;
  private readonly maxDepth: number;
  private readonly maxElements: number;
  private readonly maxLength: number;

  constructor(
    private readonly input: Uint8Array,
    limits: TlvLimits | undefined,
  ) {
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
    this.maxDepth = limits?.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.maxElements = limits?.maxElements ?? DEFAULT_MAX_ELEMENTS;
    this.maxLength = limits?.maxLength ?? Infinity;
  }

  get done(): boolean {
    return this.offset >= this.input.length;
  }

  get position(): number {
    return this.offset;
  }

  private need(count: number, what: string, start: number): number {
    if (count > this.input.length - this.offset) {
      throw new CodecError(`TLV: truncated ${what} of the element at offset ${start} (needs ${count} bytes at offset ${this.offset}, ${this.input.length - this.offset} left)`);
    }
    const at = this.offset;
    this.offset += count;
    return at;
  }

  private readTag(form: number, start: number): TlvTag {
    const at = this.need(TAG_SIZES[form >> 5]!, "tag", start);
    const view = this.view;
    switch (form) {
      case TAG_ANONYMOUS:
        return undefined;
      case TAG_CONTEXT:
        return this.input[at]!;
      case TAG_COMMON_2:
        return { common: view.getUint16(at, true) };
      case TAG_COMMON_4:
        return { common: view.getUint32(at, true) };
      case TAG_IMPLICIT_2:
        return { implicit: view.getUint16(at, true) };
      case TAG_IMPLICIT_4:
        return { implicit: view.getUint32(at, true) };
      case TAG_FULL_6:
        return { vendor: view.getUint16(at, true), profile: view.getUint16(at + 2, true), id: view.getUint16(at + 4, true) };
      default:
        return { vendor: view.getUint16(at, true), profile: view.getUint16(at + 2, true), id: view.getUint32(at + 4, true) };
    }
  }

  /** Reads an unsigned 1/2/4/8-byte field; 8-byte values above 2^53 come back as bigint. */
  private readUnsigned(sizeCode: number, what: string, start: number): number | bigint {
    const size = 1 << sizeCode;
    const at = this.need(size, what, start);
    const view = this.view;
    if (size === 1) return view.getUint8(at);
    if (size === 2) return view.getUint16(at, true);
    if (size === 4) return view.getUint32(at, true);
    const big = (BigInt(view.getUint32(at + 4, true)) << 32n) | BigInt(view.getUint32(at, true));
    return big <= MAX_SAFE ? Number(big) : big;
  }

  private readSigned(sizeCode: number, start: number): number | bigint {
    const size = 1 << sizeCode;
    const at = this.need(size, "integer", start);
    const view = this.view;
    if (size === 1) return view.getInt8(at);
    if (size === 2) return view.getInt16(at, true);
    if (size === 4) return view.getInt32(at, true);
    // Two's complement by subtraction, not by bit operations on a negative bigint (XS 13.3
    // rounds some of those wrongly).
    const unsigned = (BigInt(view.getUint32(at + 4, true)) << 32n) | BigInt(view.getUint32(at, true));
    const big = unsigned > I64_MAX ? unsigned - U64_LIMIT : unsigned;
    return big <= MAX_SAFE && big >= -MAX_SAFE ? Number(big) : big;
  }

  private readString(sizeCode: number, start: number, isUtf8: boolean): Uint8Array {
    const what = isUtf8 ? "UTF-8 string" : "octet string";
    const length = this.readUnsigned(sizeCode, `${what} length`, start);
    const left = this.input.length - this.offset;
    if (typeof length === "bigint" || length > left) {
      throw new CodecError(`TLV: ${what} at offset ${start} claims ${length} bytes but only ${left} remain`);
    }
    if (length > this.maxLength) throw new CodecError(`TLV: ${what} at offset ${start} is ${length} bytes, over the limit of ${this.maxLength}`);
    const at = this.need(length, what, start);
    return this.input.subarray(at, at + length);
  }

  /** Reads exactly one top-level element, including everything inside it. */
  next(): TlvElement {
    const stack: OpenContainer[] = [];
    for (;;) {
      const start = this.offset;
      if (start >= this.input.length) {
        const innermost = stack[stack.length - 1];
        throw new CodecError(
          innermost
            ? `TLV: truncated: the ${innermost.type} opened at offset ${innermost.offset} has no end-of-container (input ends at offset ${start})`
            : `TLV: truncated: no element at offset ${start}`,
        );
      }
      const control = this.input[start]!;
      this.offset++;
      const elementType = control & 0x1f;
      const parent = stack[stack.length - 1];

      if (elementType === END_OF_CONTAINER) {
        if (control !== END_OF_CONTAINER) throw new CodecError(`TLV: end-of-container with a tag (control byte 0x${control.toString(16)}) at offset ${start}`);
        if (!parent) throw new CodecError(`TLV: end-of-container outside any container at offset ${start}`);
        stack.pop();
        if (stack.length === 0) return parent.element;
        continue;
      }
      if (elementType > END_OF_CONTAINER) {
        throw new CodecError(`TLV: reserved element type 0x${elementType.toString(16)} (control byte 0x${control.toString(16)}) at offset ${start}`);
      }

      const tag = this.readTag(control & 0xe0, start);
      checkPlacement(tag, parent ? parent.type : "top", ` at offset ${start}`);
      if (++this.elements > this.maxElements) throw new CodecError(`TLV: more than ${this.maxElements} elements (limit reached at offset ${start})`);

      let element: TlvElement;
      if (elementType <= 0x03) element = { tag, type: "int", value: this.readSigned(elementType, start) };
      else if (elementType <= 0x07) element = { tag, type: "uint", value: this.readUnsigned(elementType - TYPE_UINT, "integer", start) };
      else if (elementType === TYPE_FALSE || elementType === TYPE_TRUE) element = { tag, type: "bool", value: elementType === TYPE_TRUE };
      else if (elementType === TYPE_FLOAT) element = { tag, type: "float", value: this.view.getFloat32(this.need(4, "float", start), true) };
      else if (elementType === TYPE_DOUBLE) element = { tag, type: "double", value: this.view.getFloat64(this.need(8, "double", start), true) };
      else if (elementType <= 0x0f) {
        const raw = this.readString(elementType - TYPE_UTF8, start, true);
        const bad = utf8InvalidOffset(raw);
        if (bad >= 0) throw new CodecError(`TLV: invalid UTF-8 in the string at offset ${start} (byte offset ${this.offset - raw.length + bad})`);
        element = { tag, type: "utf8", value: utf8Decode(raw) };
      } else if (elementType <= 0x13) element = { tag, type: "bytes", value: this.readString(elementType - TYPE_BYTES, start, false) };
      else if (elementType === TYPE_NULL) element = { tag, type: "null", value: null };
      else {
        const type: ContainerType = elementType === TYPE_STRUCTURE ? "structure" : elementType === TYPE_ARRAY ? "array" : "list";
        if (stack.length >= this.maxDepth) throw new CodecError(`TLV: containers nested deeper than ${this.maxDepth} at offset ${start}`);
        const children: TlvElement[] = [];
        element = { tag, type, value: children };
        parent?.children.push(element);
        stack.push({ element, children, type, offset: start });
        continue;
      }
      if (!parent) return element;
      parent.children.push(element);
    }
  }
}

/** Decodes exactly one element; anything after it is an error. */
export function decodeTlv(bytes: Uint8Array, limits?: TlvLimits): TlvElement {
  const parser = new TlvParser(bytes, limits);
  const element = parser.next();
  if (!parser.done) throw new CodecError(`TLV: ${bytes.length - parser.position} trailing bytes at offset ${parser.position}`);
  return element;
}

/** Decodes a sequence of top-level elements (possibly empty). */
export function decodeTlvElements(bytes: Uint8Array, limits?: TlvLimits): TlvElement[] {
  const parser = new TlvParser(bytes, limits);
  const elements: TlvElement[] = [];
  while (!parser.done) elements.push(parser.next());
  return elements;
}

/** The value of an int/uint element as a number; CodecError when it is another type or not a safe integer. */
export function asNumber(el: TlvElement): number {
  if (el.type !== "int" && el.type !== "uint") throw new CodecError(`TLV: expected an integer, got ${el.type}`);
  if (typeof el.value !== "number" || !Number.isSafeInteger(el.value)) throw new CodecError(`TLV: integer ${String(el.value)} is beyond the safe integer range`);
  return el.value;
}

/** The value of an int/uint element as a bigint. */
export function asBigInt(el: TlvElement): bigint {
  if (el.type !== "int" && el.type !== "uint") throw new CodecError(`TLV: expected an integer, got ${el.type}`);
  if (typeof el.value === "bigint") return el.value;
  if (typeof el.value !== "number" || !Number.isInteger(el.value)) throw new CodecError(`TLV: integer element holds ${String(el.value)}`);
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
  private readonly byContextTag = new Map<number, TlvElement>();

  constructor(el: TlvElement) {
    if (el.type !== "structure" && el.type !== "list") throw new CodecError(`TLV: expected a structure, got ${el.type}`);
    this.element = el;
    this.fields = el.value as TlvElement[];
    for (const field of this.fields) {
      if (typeof field.tag !== "number") continue;
      if (this.byContextTag.has(field.tag)) {
        if (el.type === "structure") throw new CodecError(`TLV: duplicate field ${field.tag} in a structure`);
        continue; // lists may repeat tags; get() returns the first
      }
      this.byContextTag.set(field.tag, field);
    }
  }

  static decode(bytes: Uint8Array, limits?: TlvLimits): TlvStruct {
    return new TlvStruct(decodeTlv(bytes, limits));
  }

  has(tag: number): boolean {
    return this.byContextTag.has(tag);
  }

  get(tag: number): TlvElement | undefined {
    return this.byContextTag.get(tag);
  }

  /** True when the field is present and holds null (a nullable field set to null). */
  isNull(tag: number): boolean {
    return this.byContextTag.get(tag)?.type === "null";
  }

  private required(tag: number): TlvElement {
    const field = this.byContextTag.get(tag);
    if (!field) throw new CodecError(`TLV: missing required field ${tag}`);
    return field;
  }

  private typed(tag: number, field: TlvElement, ...types: TlvType[]): TlvElement {
    if (!types.includes(field.type)) throw new CodecError(`TLV: field ${tag} should be ${types.join(" or ")}, got ${field.type}`);
    return field;
  }

  private safeInteger(tag: number, field: TlvElement): number {
    if (typeof field.value !== "number") throw new CodecError(`TLV: field ${tag} value ${String(field.value)} is beyond the safe integer range`);
    return field.value;
  }

  uint(tag: number): number {
    return this.safeInteger(tag, this.typed(tag, this.required(tag), "uint"));
  }

  uint64(tag: number): bigint {
    return asBigInt(this.typed(tag, this.required(tag), "uint"));
  }

  int(tag: number): number {
    return this.safeInteger(tag, this.typed(tag, this.required(tag), "int"));
  }

  int64(tag: number): bigint {
    return asBigInt(this.typed(tag, this.required(tag), "int"));
  }

  bool(tag: number): boolean {
    return this.typed(tag, this.required(tag), "bool").value as boolean;
  }

  /** An octet string; `length` is an exact length or a {min, max} range in bytes. */
  bytes(tag: number, length?: LengthConstraint): Uint8Array {
    const value = this.typed(tag, this.required(tag), "bytes").value as Uint8Array;
    checkLength(tag, value.length, length);
    return value;
  }

  /** A UTF-8 string; `maxLength` counts encoded bytes, as Matter's string constraints do. */
  utf8(tag: number, maxLength?: number): string {
    const value = this.typed(tag, this.required(tag), "utf8").value as string;
    if (maxLength !== undefined) checkLength(tag, utf8Length(value), { max: maxLength });
    return value;
  }

  struct(tag: number): TlvStruct {
    return new TlvStruct(this.typed(tag, this.required(tag), "structure", "list"));
  }

  /** The children of an array or list field. */
  array(tag: number): TlvElement[] {
    return this.typed(tag, this.required(tag), "array", "list").value as TlvElement[];
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
  if (typeof constraint === "number") {
    if (length !== constraint) throw new CodecError(`TLV: field ${tag} is ${length} bytes, expected ${constraint}`);
    return;
  }
  if (constraint.min !== undefined && length < constraint.min) throw new CodecError(`TLV: field ${tag} is ${length} bytes, shorter than ${constraint.min}`);
  if (constraint.max !== undefined && length > constraint.max) throw new CodecError(`TLV: field ${tag} is ${length} bytes, longer than ${constraint.max}`);
}
