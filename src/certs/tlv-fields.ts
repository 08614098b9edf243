// Reads the members of a decoded TLV container strictly in order, the way CHIP's decoders walk
// certificates and Certification Declarations: each expected tag in sequence, with its type
// checked, and nothing unexpected left over. Errors name the container and the tag.
import type { TlvElement, TlvType } from "../codec/tlv";
import { CertificateError } from "./errors";

export class OrderedFields {
  private index = 0;

  constructor(
    private readonly elements: TlvElement[],
    private readonly what: string,
  ) {}

  /** The next element if it carries context tag `tag`, else undefined (nothing consumed). */
  optional(tag: number, type: TlvType): TlvElement | undefined {
    const element = this.elements[this.index];
    if (!element || element.tag !== tag) return undefined;
    if (element.type !== type) throw new CertificateError(`${this.what}: tag ${tag} must be ${type}, found ${element.type}`);
    this.index++;
    return element;
  }

  next(tag: number, type: TlvType): TlvElement {
    const element = this.optional(tag, type);
    if (!element) {
      const found = this.elements[this.index];
      throw new CertificateError(
        found === undefined
          ? `${this.what}: tag ${tag} is missing`
          : `${this.what}: expected tag ${tag}, found ${describeTag(found)}`,
      );
    }
    return element;
  }

  /** The element at the cursor, without consuming it. */
  peek(): TlvElement | undefined {
    return this.elements[this.index];
  }

  skip(): void {
    this.index++;
  }

  end(): void {
    const extra = this.elements[this.index];
    if (extra) throw new CertificateError(`${this.what}: unexpected element ${describeTag(extra)}`);
  }
}

export function describeTag(element: TlvElement): string {
  const tag = element.tag;
  if (tag === undefined) return "(anonymous)";
  if (typeof tag === "number") return `tag ${tag}`;
  return JSON.stringify(tag);
}

/** An unsigned integer element as a number no larger than `max`. */
export function uintOf(element: TlvElement, max: number, what: string): number {
  if (element.type !== "uint") throw new CertificateError(`${what} must be an unsigned integer`);
  const value = element.value;
  if (typeof value === "number" && value <= max) return value;
  throw new CertificateError(`${what} ${String(value)} is larger than ${max}`);
}

/** An unsigned integer element as a bigint (64-bit identifiers). */
export function uint64Of(element: TlvElement, what: string): bigint {
  if (element.type !== "uint") throw new CertificateError(`${what} must be an unsigned integer`);
  return BigInt(element.value as number | bigint);
}

/** An octet string element's bytes; with `what`, an element of another type is an error naming it. */
export function bytesOf(element: TlvElement, what?: string): Uint8Array {
  if (what && element.type !== "bytes") throw new CertificateError(`${what} must be an octet string`);
  return element.value as Uint8Array;
}

export function childrenOf(element: TlvElement): TlvElement[] {
  return element.value as TlvElement[];
}
