import { suite, equal, ok } from "../portable/harness";
import { p256 } from "@noble/curves/nist.js";
import { sha256 } from "@noble/hashes/sha2.js";
export default suite("smoke", (test) => {
  test("noble works", () => {
    const sk = new Uint8Array(32).fill(7);
    const pk = p256.getPublicKey(sk, false);
    const sig = p256.sign(sha256(new Uint8Array([1])), sk, { prehash: false });
    ok(p256.verify(sig, sha256(new Uint8Array([1])), pk, { prehash: false }));
    equal(pk.length, 65);
  });
  test("vectors", (c) => { ok(c.vectors.json("tlv/tlv_vectors.json").vectors.length > 10); });
});
