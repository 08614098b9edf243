// PKCS#10 CSRs for operational keys and the NOCSR elements carrying them. openssl checks the same
// CSRs in test/certs-openssl.test.ts.
import { suite, equal, bytesEqual, throws, toHex } from "../portable/harness";
import { buildCsr, decodeNocsrElements, encodeNocsrElements, formatName, parseCsr, verifyCsr } from "../../src/certs";
import { publicKeyFromPrivate, sha256 } from "../../src/crypto";
import { utf8Encode } from "../../src/codec/bytes";

const privateKey = sha256(utf8Encode("matter-xs csr test key"));

export default suite("csr", (test) => {
  test("a CSR carries the key, subject O=CSR, and a self-signature that verifies", () => {
    const csr = buildCsr(privateKey);
    bytesEqual(verifyCsr(csr), publicKeyFromPrivate(privateKey));
    const parsed = parseCsr(csr);
    equal(formatName(parsed.subject), "O=CSR");
    // version 0, no attributes ([0] empty), ecdsa-with-SHA256 without parameters
    equal(toHex(parsed.info).slice(4, 42), "020100" + "300e310c300a060355040a0c03435352", "version 0 then O=CSR as UTF8String");
    equal(toHex(csr).includes("a000300a06082a8648ce3d040302"), true);
  });

  test("tampered CSRs and every truncation are refused", () => {
    const csr = buildCsr(privateKey);
    const keyByte = toHex(csr).indexOf(toHex(publicKeyFromPrivate(privateKey))) / 2 + 10;
    const otherKey = csr.slice();
    otherKey[keyByte] = otherKey[keyByte]! ^ 0x01;
    throws(() => verifyCsr(otherKey), /CSR/);
    const badSignature = csr.slice();
    badSignature[csr.length - 5] = badSignature[csr.length - 5]! ^ 0x01;
    throws(() => verifyCsr(badSignature), /CSR/);
    for (let length = 0; length < csr.length; length++) throws(() => parseCsr(csr.subarray(0, length)), /CSR/);
  });

  test("NOCSR elements carry the CSR and the 32-byte nonce", () => {
    const csr = buildCsr(privateKey);
    const nonce = sha256(utf8Encode("nonce"));
    const encoded = encodeNocsrElements({ csr, csrNonce: nonce });
    const decoded = decodeNocsrElements(encoded);
    bytesEqual(decoded.csr, csr);
    bytesEqual(decoded.csrNonce, nonce);
    throws(() => encodeNocsrElements({ csr, csrNonce: nonce.subarray(1) }), /32 bytes/);
    throws(() => decodeNocsrElements(encoded.subarray(0, encoded.length - 1)), /NOCSR/);
  });
});
