// Why an OTA image was refused. The numbers travel in the OTA Requestor's DownloadError event
// (PlatformCode) and in logs; the names are for people.

export const OtaFault = Object.freeze({
  /** The fixed header or the TLV header is malformed, or its sizes contradict each other. */
  malformedHeader: 1,
  /** ImageDigestType is not a registered hash this firmware can compute. */
  unsupportedDigest: 2,
  /** The image is for another vendor. */
  wrongVendor: 3,
  /** The image is for another product. */
  wrongProduct: 4,
  /** The image's version is not newer than the running one. */
  notNewer: 5,
  /** The running version is outside the image's MinApplicable..MaxApplicable range. */
  notApplicable: 6,
  /** The payload does not fit the update slot. */
  tooLarge: 7,
  /** The payload is shorter or longer than its header says (truncated download, extra bytes). */
  sizeMismatch: 8,
  /** The payload's digest differs from the header's ImageDigest. */
  digestMismatch: 9,
  /** The image carries no matter-xs signature. */
  unsigned: 10,
  /** The signature does not verify with the factory's firmware-signing key. */
  badSignature: 11,
  /** The version differs from the one the provider offered. */
  unexpectedVersion: 12,
  /** Writing the update slot failed. */
  flashError: 13,
  /** The transfer failed (peer error, timeout, protocol violation). */
  transferFailed: 14,
} as const);

export type OtaFaultCode = (typeof OtaFault)[keyof typeof OtaFault];

/** The name of a fault code ("badSignature"), or "fault N" for an unknown one. */
export function otaFaultName(code: number): string {
  for (const [name, value] of Object.entries(OtaFault)) if (value === code) return name;
  return `fault ${code}`;
}

/** An image refused for `fault`; the message says what exactly was wrong. */
export class OtaImageError extends Error {
  override name = "OtaImageError";
  constructor(
    readonly fault: OtaFaultCode,
    message: string,
  ) {
    super(message);
  }
}
