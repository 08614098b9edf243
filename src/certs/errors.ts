// The one error type of the certificate layer: anything malformed, unsupported or failing a check
// (encoding, profile, signature, chain) is a CertificateError whose message names the problem.
export class CertificateError extends Error {
  override name = "CertificateError";
}
