// Rows for the crypto suite: the costs that decide how long commissioning and a CASE
// handshake take on the device, and what message encryption costs per packet.
import {
  CtrDrbg,
  Spake2pProver,
  Spake2pVerifier,
  aesCcmDecrypt,
  aesCcmEncrypt,
  ecdh,
  ecdsaSign,
  ecdsaVerify,
  generateKeyPair,
  pbkdf2Sha256,
  publicKeyFromPrivate,
  spake2pComputeVerifier,
  spake2pComputeW0W1,
  warmUpCurve,
  type Random,
} from "../../../src/crypto";
import type { BenchOperation } from "./runner";

/** Deterministic bytes so both engines do identical work (not for keys outside benchmarks). */
function benchRandom(seed: number): Random {
  let state = seed >>> 0;
  return {
    bytes(length) {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        out[i] = state >>> 24;
      }
      return out;
    },
  };
}

/** The device side of PASE: one verifier exchange per run, against precomputed prover messages. */
function spakeExchanges(): { w0: Uint8Array; L: Uint8Array; context: Uint8Array; exchanges: { y: Uint8Array; X: Uint8Array; cA: Uint8Array }[] } {
  const salt = new Uint8Array(16).fill(0x53);
  const { w0, w1 } = spake2pComputeW0W1(20202021, salt, 1000);
  const { L } = spake2pComputeVerifier(20202021, salt, 1000);
  const context = new Uint8Array(32).fill(0xc7);
  const random = benchRandom(7);
  const exchanges = [];
  for (let i = 0; i < 4; i++) {
    // The verifier's ephemeral y is fixed per exchange so the prover's cA can be computed ahead.
    const y = generateKeyPair(random).privateKey;
    const prover = new Spake2pProver({ context, w0, w1, random });
    const X = prover.start();
    const { Y, cB } = new Spake2pVerifier({ context, w0, L, random, y }).respond(X);
    exchanges.push({ y, X, cA: prover.finish(Y, cB).cA });
  }
  return { w0, L, context, exchanges };
}

const operations: BenchOperation[] = [
  {
    name: "P-256 scalar multiplication k*G (public key)",
    prepare() {
      warmUpCurve();
      const keys = Array.from({ length: 8 }, (_, i) => generateKeyPair(benchRandom(100 + i)).privateKey);
      return (run) => void publicKeyFromPrivate(keys[run % keys.length]!);
    },
  },
  {
    name: "ECDSA-SHA256 sign (64-byte message)",
    prepare() {
      const { privateKey } = generateKeyPair(benchRandom(1));
      const message = new Uint8Array(64).fill(1);
      return (run) => {
        message[0] = run & 0xff;
        ecdsaSign(privateKey, message);
      };
    },
  },
  {
    name: "ECDSA-SHA256 verify (64-byte message)",
    prepare() {
      const { privateKey, publicKey } = generateKeyPair(benchRandom(2));
      const message = new Uint8Array(64).fill(2);
      const signature = ecdsaSign(privateKey, message);
      return () => {
        if (!ecdsaVerify(publicKey, message, signature)) throw new Error("signature did not verify");
      };
    },
  },
  {
    name: "ECDH P-256 (k*Q, peer point validated)",
    prepare() {
      const ours = generateKeyPair(benchRandom(3));
      const peers = Array.from({ length: 4 }, (_, i) => generateKeyPair(benchRandom(200 + i)).publicKey);
      return (run) => void ecdh(ours.privateKey, peers[run % peers.length]!);
    },
  },
  {
    name: "SPAKE2+ verifier: respond + confirm",
    prepare() {
      const { w0, L, context, exchanges } = spakeExchanges();
      const random = benchRandom(9);
      return (run) => {
        const exchange = exchanges[run % exchanges.length]!;
        const verifier = new Spake2pVerifier({ context, w0, L, random, y: exchange.y });
        verifier.respond(exchange.X);
        verifier.confirm(exchange.cA);
      };
    },
  },
  {
    name: "AES-128-CCM encrypt + decrypt, 1 KB",
    bytesPerRun: 1024,
    prepare() {
      const key = new Uint8Array(16).fill(0x2b);
      const nonce = new Uint8Array(13).fill(0x01);
      const aad = new Uint8Array(16).fill(0xaa);
      const message = new Uint8Array(1024).fill(0x5c);
      return (run) => {
        nonce[12] = run & 0xff;
        aesCcmDecrypt(key, nonce, aesCcmEncrypt(key, nonce, message, aad), aad);
      };
    },
  },
  {
    name: "PBKDF2-HMAC-SHA256, 1000 iterations, 32 bytes",
    minRuns: 2,
    prepare() {
      const password = Uint8Array.of(0x25, 0x42, 0x34, 0x01);
      const salt = new Uint8Array(16).fill(0x53);
      return () => void pbkdf2Sha256(password, salt, 1000, 32);
    },
  },
  {
    name: "CTR_DRBG generate, 32 bytes",
    prepare() {
      const drbg = new CtrDrbg({ fill: (target) => target.set(benchRandom(target.length).bytes(target.length)) });
      return () => void drbg.generate(32);
    },
  },
];

export default operations;
