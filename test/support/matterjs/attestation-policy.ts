// The controller's attestation policy, as the `onAttestationFailure` of matter.js's commissioning.
// matter.js turns every attestation problem into a finding (a failed check, even the PAA missing
// from the trust store, is a finding of level "error") and, without a policy, commissions anyway.
// This policy refuses every finding except two that the harness's own setup produces.
import { DeviceAttestationCheck, type AttestationFinding } from "@matter/protocol";
import { AttestationRejectedError } from "./errors";

/**
 * - CertificationTypeTest: certification_type 0 in the CD, which is what test devices carry.
 * - PaaTrustStoreTimeMismatch: the store is filled at start-up, after the DAC's notBefore, so
 *   matter.js cannot tell whether the PAA was already trusted when the DAC was issued.
 */
export const ACCEPTED_ATTESTATION_FINDINGS: ReadonlySet<DeviceAttestationCheck> = new Set([
  DeviceAttestationCheck.CertificationTypeTest,
  DeviceAttestationCheck.PaaTrustStoreTimeMismatch,
]);

/**
 * An `onAttestationFailure` that records every finding in `seen` and throws
 * AttestationRejectedError, naming the refused checks, unless all findings are accepted ones.
 */
export function strictAttestationPolicy(seen: AttestationFinding[] = []): (findings: AttestationFinding[]) => true {
  return (findings) => {
    seen.push(...findings);
    const refused = findings.filter((finding) => !ACCEPTED_ATTESTATION_FINDINGS.has(finding.type));
    if (refused.length === 0) return true;
    throw new AttestationRejectedError(
      refused.map((finding) => finding.type),
      `attestation refused: ${refused.map((finding) => `${finding.type} (${finding.level}): ${finding.message}`).join("; ")}`,
    );
  };
}
