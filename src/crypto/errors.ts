/**
 * The one error type the crypto layer throws: malformed or wrong-length input, a point that is
 * not on the curve, a failed authentication check. Callers can tell it apart from programming
 * errors and map it to a protocol status without parsing messages.
 */
export class CryptoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CryptoError";
  }
}
