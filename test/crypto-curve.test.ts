// src/crypto builds P-256 from its own copy of the domain parameters (@noble/curves/nist.js
// cannot be preloaded on the device): they must be noble's, and the curve must behave as noble's
// p256 does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { p256 as nobleP256 } from "@noble/curves/nist.js";
import { p256 } from "../src/crypto/curve";

test("the P-256 domain parameters are noble's", () => {
  assert.deepEqual(p256.Point.CURVE(), nobleP256.Point.CURVE());
  assert.equal(p256.Point.Fn.ORDER, nobleP256.Point.Fn.ORDER);
  assert.ok(p256.Point.BASE.equals(p256.Point.fromBytes(nobleP256.Point.BASE.toBytes(false))));
});

test("keys and signatures agree with noble's p256 both ways", () => {
  const message = new TextEncoder().encode("P-256 domain check");
  for (let index = 1; index <= 8; index++) {
    const secret = new Uint8Array(32).fill(index * 29);
    const publicKey = p256.getPublicKey(secret, false);
    assert.deepEqual(publicKey, nobleP256.getPublicKey(secret, false));
    const signature = p256.sign(message, secret, { prehash: true, format: "compact" });
    assert.deepEqual(signature, nobleP256.sign(message, secret, { prehash: true, format: "compact" }));
    assert.ok(nobleP256.verify(signature, message, publicKey, { prehash: true, format: "compact" }));
    assert.ok(p256.verify(signature, message, publicKey, { prehash: true, format: "compact" }));
  }
});
