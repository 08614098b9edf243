/**
 * The one error type the crypto layer throws: malformed or wrong-length input, a point that is
 * not on the curve, a failed authentication check. Callers can tell it apart from programming
 * errors and map it to a protocol status without parsing messages.
 */
export class CryptoError extends Error {
  // A field, not `this.name = …`: Moddable's linker freezes Error.prototype, and assigning over a
  // read-only inherited property throws, while defining an own one does not.
  override name = "CryptoError";
}
