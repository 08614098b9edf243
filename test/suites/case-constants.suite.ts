// The crypto-checkable parts of case/session_constants.json: the CASE destination identifier
// (HMAC-SHA256 over the Sigma1 candidate data, spec 4.14.2.4), the message-privacy nonce with
// Matter's AES-CTR, the PAKE confirmation label, and CCM with the CASE nonce labels. The other
// labels are inputs for the securechannel code and are checked there.
import { suite, bytesEqual, equal, fromHex, ok, throws, toHex } from "../portable/harness";
import { SPAKE2P_CONFIRMATION_INFO, aesCcmCtr, aesCcmDecrypt, aesCcmEncrypt, hmacSha256 } from "../../src/crypto";
import { privacyNonce } from "../../src/transport/message";

interface SessionConstants {
  constants: Record<string, { ascii: string; hex: string; length: number }>;
  destination_id_vector: {
    ipk: string;
    initiator_random: string;
    root_public_key: string;
    fabric_id: string;
    node_id: string;
    expected_destination_id: string;
  };
  privacy_nonce_vector: { session_id: string; mic: string; expected_privacy_nonce: string };
}

const FILE = "case/session_constants.json";

function uint64LittleEndian(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export default suite("CASE and session constants", (test) => {
  test("destination identifier = HMAC(IPK, random || root key || fabric id LE || node id LE)", ({ vectors }) => {
    const v = vectors.json<SessionConstants>(FILE).destination_id_vector;
    const message = concat(
      fromHex(v.initiator_random),
      fromHex(v.root_public_key),
      uint64LittleEndian(BigInt(v.fabric_id)),
      uint64LittleEndian(BigInt(v.node_id)),
    );
    equal(message.length, 32 + 65 + 8 + 8);
    bytesEqual(hmacSha256(fromHex(v.ipk), message), v.expected_destination_id);
    // Big-endian ids do not give the published identifier: the byte order is part of what is checked.
    const bigEndian = concat(fromHex(v.initiator_random), fromHex(v.root_public_key), fromHex(v.fabric_id.slice(2)), fromHex(v.node_id.slice(2)));
    ok(toHex(hmacSha256(fromHex(v.ipk), bigEndian)) !== v.expected_destination_id);
  });

  test("privacy nonce = session id (big-endian) || MIC[5..15], and Matter AES-CTR under it is CCM's keystream", ({ vectors }) => {
    const v = vectors.json<SessionConstants>(FILE).privacy_nonce_vector;
    const nonce = privacyNonce(parseInt(v.session_id, 16), fromHex(v.mic));
    bytesEqual(nonce, v.expected_privacy_nonce);
    const key = fromHex("000102030405060708090a0b0c0d0e0f");
    const header = fromHex("0102030405060708090a0b0c");
    const sealed = aesCcmEncrypt(key, nonce, header, new Uint8Array(0));
    bytesEqual(aesCcmCtr(key, nonce, header), sealed.subarray(0, header.length));
    bytesEqual(aesCcmCtr(key, nonce, aesCcmCtr(key, nonce, header)), header);
  });

  test("the PAKE confirmation label is the one SPAKE2+ uses", ({ vectors }) => {
    const label = vectors.json<SessionConstants>(FILE).constants["PAKE_confirmation_info"]!;
    equal(SPAKE2P_CONFIRMATION_INFO, label.ascii);
    bytesEqual(new TextEncoder().encode(SPAKE2P_CONFIRMATION_INFO), label.hex);
  });

  test("CASE nonce labels are Matter CCM nonces; a resumption MIC is the tag over an empty payload", ({ vectors }) => {
    const constants = vectors.json<SessionConstants>(FILE).constants;
    const key = fromHex("4c7c68cbd22d8e9a1a4e5c6f76c0e1aa");
    for (const name of ["TBEData2_Nonce", "TBEData3_Nonce", "Resume1MIC_Nonce", "Resume2MIC_Nonce"]) {
      const label = constants[name]!;
      const nonce = fromHex(label.hex);
      equal(nonce.length, 13, name);
      const mic = aesCcmEncrypt(key, nonce, new Uint8Array(0), new Uint8Array(0));
      equal(mic.length, 16, `${name}: MIC is the bare tag`);
      equal(aesCcmDecrypt(key, nonce, mic, new Uint8Array(0)).length, 0, name);
    }
    // A Sigma1 resumption MIC does not verify as a Sigma2 one: the nonce label binds it.
    const resume1 = aesCcmEncrypt(key, fromHex(constants["Resume1MIC_Nonce"]!.hex), new Uint8Array(0), new Uint8Array(0));
    throws(() => aesCcmDecrypt(key, fromHex(constants["Resume2MIC_Nonce"]!.hex), resume1, new Uint8Array(0)), "authentication failed");
  });
});
