// CTR_DRBG (AES-256, derivation function, no prediction resistance) against NIST CAVP
// known answers, with the entropy input, nonce and reseed entropy fed through the platform
// Entropy interface in the order the DRBG reads them.
//
// Vectors (NIST CAVP DRBGVS CTR_DRBG.rsp, [AES-256 use df], [PredictionResistance = False]):
//  - no-reseed file, COUNT = 0 with PersonalizationStringLen 0 and AdditionalInputLen 0 / 256,
//    as quoted in the nist_ctr_drbg test program (Henric Jungheim, check_tv1/check_tv2);
//  - the reseed file, PersonalizationStringLen 256, COUNT = 0, as quoted in STMicroelectronics'
//    X-CUBE-CRYPTOLIB CTR_DRBG example (main.c "Extract from CTR_DRBG.rsp");
//  - the older 128-bit-output CAVS layout (instantiate, generate, reseed, generate), from
//    nist_ctr_drbg check_tv4 and mbed TLS tests/suites/test_suite_ctr_drbg.data
//    ("CTR_DRBG NIST Validation (AES-256 use df,False,256,128,256,256) #0").
import { suite, bytesEqual, equal, fromHex, ok, throws } from "../portable/harness";
import { CryptoError, CtrDrbg } from "../../src/crypto";
import type { Entropy } from "../../src/platform";

/** Serves scripted bytes in order and refuses to serve more than the script holds. */
class ScriptedEntropy implements Entropy {
  private readonly script: Uint8Array;
  private position = 0;
  readonly reads: number[] = [];

  constructor(...chunks: string[]) {
    this.script = fromHex(chunks.join(""));
  }

  fill(target: Uint8Array): void {
    if (this.position + target.length > this.script.length) throw new Error("entropy script exhausted");
    target.set(this.script.subarray(this.position, this.position + target.length));
    this.position += target.length;
    this.reads.push(target.length);
  }

  get remaining(): number {
    return this.script.length - this.position;
  }
}

/** An endless, changing entropy source for the behavioural tests. */
class CountingEntropy implements Entropy {
  reads = 0;
  fill(target: Uint8Array): void {
    this.reads++;
    for (let i = 0; i < target.length; i++) target[i] = (this.reads * 31 + i * 7) & 0xff;
  }
}

export default suite("CTR_DRBG (AES-256, df)", (test) => {
  test("CAVP no reseed, no personalization, no additional input (512-bit output)", () => {
    const entropy = new ScriptedEntropy(
      "36401940fa8b1fba91a1661f211d78a0b9389a74e5bccfece8d766af1a6d3b14", // EntropyInput
      "496f25b0f1301b4f501be30380a137eb", // Nonce
    );
    const drbg = new CtrDrbg(entropy);
    drbg.generate(64);
    bytesEqual(
      drbg.generate(64),
      "5862eb38bd558dd978a696e6df164782ddd887e7e9a6c9f3f1fbafb78941b535a64912dfd224c6dc7454e5250b3d97165e16260c2faf1cc7735cb75fb4f07e1d",
    );
    equal(entropy.remaining, 0);
    equal(entropy.reads.length, 1, "instantiate reads entropy input and nonce in one request");
  });

  test("CAVP no reseed, 256-bit additional inputs", () => {
    const drbg = new CtrDrbg(new ScriptedEntropy("8148d65d86513ce7d38923ec2f26b9e7c677dcc8997e325b7372619e753ed944", "41c71a24d17d974190982bb7515ce7f5"));
    drbg.generate(64, fromHex("55b446046c2d14bdd0cdba4b71873fd4762650695a11507949462da8d964ab6a"));
    bytesEqual(
      drbg.generate(64, fromHex("91468f1a097d99ee339462ca916cb4a10f63d53850a4f17f598eac490299b02e")),
      "54603d1a506132bbfa05b153a04f22a1d516cc46323cef15111af221f030f38d6841d4670518b4914a4631af682e7421dffaac986a38e94d92bfa758e2eb101f",
    );
  });

  test("CAVP with reseed and 256-bit personalization string", () => {
    const entropy = new ScriptedEntropy(
      "4cfb218673346d9d50c922e49b0dfcd090adf04f5c3ba47327dfcd6fa63a785c", // EntropyInput
      "016962a7fd2787a24bf6be47ef3783f1", // Nonce
      "b7ec46072363834a1b0133f2c23891db4f11a68651f23e3a8b1fdc03b192c7e7", // EntropyInputReseed
    );
    const drbg = new CtrDrbg(entropy, fromHex("88eeb8e0e83bf3294bdacd6099ebe4bf55ecd9113f71e5ebcb4575f3d6a68a6b"));
    drbg.reseed();
    drbg.generate(64);
    bytesEqual(
      drbg.generate(64),
      "a55180a190bef3adaf28f6b795e9f1f3d6dfa1b27dd0467b0c75f5fa931e971475b27cae03a29654e2f40966ea33643040d1400fe677873af8097c1fe9f00298",
    );
    equal(entropy.remaining, 0);
  });

  test("older CAVS layout: generate, reseed, generate (128-bit output)", () => {
    const plain = new CtrDrbg(
      new ScriptedEntropy("5a194d5e2b31581454def675fb7958fec7db873e5689fc9d03217c68d8033820", "1b54b8ff0642bff521f15c1c0b665f3f", "f9e65e04d856f3a9c44a4cbdc1d00846f5983d771c1b137e4e0f9d8ef409f92e"),
    );
    plain.generate(16);
    plain.reseed();
    bytesEqual(plain.generate(16), "a054303d8a7ea9889d903e077c6f218f");

    // Personalization, additional input on both generates and on the reseed.
    const full = new CtrDrbg(
      new ScriptedEntropy(
        "5d85c56d0d20ee39958a90f301d2f8bb136fa34d09b41a0c9375114a0df9c1dc", // EntropyInput
        "19b83c0deea6463a3912d21ffc8d8041", // Nonce
        "db2a62c4be398d9eaf2440949b806f0e5a977da608eeb652a41711d1e9b72655", // EntropyInputReseed
      ),
      fromHex("a5b30640352abc9652770cfca99dc53c9c09942ddd67b91f4da50a8615462ce4"),
    );
    full.generate(16, fromHex("9c1db928b95c84cb674060a6d2f6b7a6a5d43e9ee967e9f821bf309ca5f8821f"));
    full.reseed(fromHex("a3111cb57365c617df0b0bb3a1aada49ca789bc75903eeb21e42a7d3d0dd0825"));
    bytesEqual(full.generate(16, fromHex("ce7f557c70676987d13aca60bc4585147efeed97be139871a1b29caa1e180af9")), "4a49430277d64446e2fa75763eb79ec6");
  });

  test("the reseed interval triggers a reseed identical to an explicit one", () => {
    const script = ["11".repeat(48), "22".repeat(32), "33".repeat(32)];
    const automatic = new CtrDrbg(new ScriptedEntropy(...script), undefined, { reseedInterval: 1 });
    const explicit = new CtrDrbg(new ScriptedEntropy(...script));
    bytesEqual(automatic.generate(20), explicit.generate(20));
    const additional = fromHex("abcdef");
    explicit.reseed(additional);
    // The additional input went into the reseed; the request itself then uses none.
    bytesEqual(automatic.generate(20, additional), explicit.generate(20));
    explicit.reseed();
    bytesEqual(automatic.generate(33), explicit.generate(33));
  });

  test("the default interval reseeds after 10000 requests, and not before", () => {
    const entropy = new CountingEntropy();
    const drbg = new CtrDrbg(entropy);
    equal(entropy.reads, 1);
    for (let i = 0; i < 10000; i++) drbg.generate(1);
    equal(entropy.reads, 1, "no reseed within the interval");
    drbg.generate(1);
    equal(entropy.reads, 2, "reseeded on request 10001");
  });

  test("requests above 65536 bytes: generate refuses, bytes() splits", () => {
    const drbg = new CtrDrbg(new CountingEntropy());
    ok(throws(() => drbg.generate(65537), "request length") instanceof CryptoError);
    equal(drbg.generate(65536).length, 65536);
    const reference = new CtrDrbg(new CountingEntropy());
    reference.generate(65536);
    const large = drbg.bytes(70000);
    equal(large.length, 70000);
    const first = reference.generate(65536);
    const second = reference.generate(70000 - 65536);
    bytesEqual(large.subarray(0, 65536), first);
    bytesEqual(large.subarray(65536), second);
    equal(drbg.bytes(0).length, 0);
  });

  test("a shorter request from the same state is a prefix of a longer one; the state then moves on", () => {
    const a = new CtrDrbg(new CountingEntropy());
    const b = new CtrDrbg(new CountingEntropy());
    const long = a.generate(40);
    const short = b.generate(17);
    bytesEqual(short, long.subarray(0, 17), "same state, same keystream start");
    ok(!equalBytes(a.generate(40), long), "the state moved on after the request");
  });

  test("bad inputs and use after destroy throw CryptoError", () => {
    const drbg = new CtrDrbg(new CountingEntropy());
    const cases: [string, () => unknown][] = [
      ["negative length", () => drbg.generate(-1)],
      ["fractional length", () => drbg.generate(1.5)],
      ["additional input not bytes", () => drbg.generate(1, "x" as unknown as Uint8Array)],
      ["additional input too long", () => drbg.reseed(new Uint8Array(5000))],
      ["personalization too long", () => new CtrDrbg(new CountingEntropy(), new Uint8Array(5000))],
      ["reseed interval 0", () => new CtrDrbg(new CountingEntropy(), undefined, { reseedInterval: 0 })],
    ];
    for (const [name, run] of cases) ok(throws(run, undefined, name) instanceof CryptoError, name);
    // An entropy source that leaves the buffer untouched is refused, at instantiation and reseed.
    const silent: Entropy = { fill() {} };
    ok(throws(() => new CtrDrbg(silent), "only zero bytes") instanceof CryptoError);
    let calls = 0;
    const failsLater: Entropy = { fill: (target) => void (calls++ === 0 && target.fill(0x5a)) };
    const seeded = new CtrDrbg(failsLater);
    ok(throws(() => seeded.reseed(), "only zero bytes") instanceof CryptoError);
    drbg.destroy();
    ok(throws(() => drbg.generate(1), "destroyed") instanceof CryptoError);
    ok(throws(() => drbg.reseed(), "destroyed") instanceof CryptoError);
  });
});

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
