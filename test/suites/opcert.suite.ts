// Matter operational certificates: TLV <-> X.509 both ways byte for byte, chain validation and its
// refusals, identity extraction. The shared vectors hold no operational certificates, so the
// chains are issued here from fixed keys; test/opcert.test.ts checks the same shapes against
// matter.js and openssl.
import { suite, ok, equal, bytesEqual, throws, deepEqual, fromHex, toHex } from "../portable/harness";
import {
  CertificateError,
  compressedFabricId,
  decodeMatterCertificate,
  DnTag,
  encodeMatterCertificate,
  extendedKeyUsageExtension,
  issueMatterCertificate,
  KeyUsage,
  matterCertificateToX509,
  NO_EXPIRATION_UNIX,
  parseX509,
  readOperationalSubject,
  validateOperationalChain,
  validateRcac,
  verifyX509Signature,
  x509ToMatterCertificate,
  x509ToMatterTlv,
  encodeTbsCertificate,
  encodeCertificate,
  basicConstraintsExtension,
  keyUsageExtension,
  subjectKeyIdExtension,
  authorityKeyIdExtension,
  keyIdentifier,
  type MatterCertificate,
  type MatterCertificateRequest,
  type DnEntry,
} from "../../src/certs";
import { ecdsaSign, publicKeyFromPrivate, sha256 } from "../../src/crypto";
import { utf8Encode } from "../../src/codec/bytes";
import { decodeDer, derBoolean, derGeneralizedTime, derOctetString, derOid, derSequence, derUtf8String } from "../../src/codec/der";

const key = (label: string) => sha256(utf8Encode(`matter-xs opcert test key ${label}`));
const rootKey = key("root");
const icaKey = key("ica");
const nodeKey = key("node");
const otherKey = key("other");
const pub = (privateKey: Uint8Array) => publicKeyFromPrivate(privateKey);

const JAN_2024 = 1704067200;
const JAN_2034 = 2019686400;
const FABRIC = 0xfab000000000001dn;
const rcacSubject: DnEntry[] = [
  { tag: DnTag.rcacId, value: 0xcacacaca00000001n },
  { tag: DnTag.fabricId, value: FABRIC },
];
const icacSubject: DnEntry[] = [{ tag: DnTag.icacId, value: 0xcacacaca00000002n }];

function request(overrides: Partial<MatterCertificateRequest>): MatterCertificateRequest {
  return {
    serialNumber: new Uint8Array([0x01, 0x23]),
    issuer: rcacSubject,
    subject: rcacSubject,
    notBefore: JAN_2024,
    notAfter: JAN_2034,
    publicKey: pub(rootKey),
    issuerPublicKey: pub(rootKey),
    ca: true,
    keyUsage: KeyUsage.keyCertSign | KeyUsage.crlSign,
    ...overrides,
  };
}

function issueRoot(overrides: Partial<MatterCertificateRequest> = {}): MatterCertificate {
  return issueMatterCertificate(request(overrides), rootKey);
}

function issueIca(overrides: Partial<MatterCertificateRequest> = {}, signer = rootKey): MatterCertificate {
  return issueMatterCertificate(request({ subject: icacSubject, publicKey: pub(icaKey), serialNumber: new Uint8Array([2]), ...overrides }), signer);
}

function nodeSubject(extra: DnEntry[] = []): DnEntry[] {
  return [{ tag: DnTag.nodeId, value: 0xdedede000000001dn }, { tag: DnTag.fabricId, value: FABRIC }, ...extra];
}

function issueNoc(overrides: Partial<MatterCertificateRequest> = {}, signer = icaKey): MatterCertificate {
  return issueMatterCertificate(
    request({
      issuer: icacSubject,
      subject: nodeSubject(),
      publicKey: pub(nodeKey),
      issuerPublicKey: pub(signer),
      serialNumber: new Uint8Array([3]),
      ca: false,
      keyUsage: KeyUsage.digitalSignature,
      extendedKeyUsage: [2, 1],
      ...overrides,
    }),
    signer,
  );
}

export default suite("operational certificates", (test) => {
  test("RCAC, ICAC and NOC round-trip TLV -> X.509 -> TLV byte for byte and verify as X.509", () => {
    const root = issueRoot();
    const ica = issueIca();
    const noc = issueNoc({ notAfter: NO_EXPIRATION_UNIX });
    for (const [certificate, issuerKey] of [[root, rootKey], [ica, rootKey], [noc, icaKey]] as const) {
      const tlv = encodeMatterCertificate(certificate);
      const x509 = matterCertificateToX509(tlv);
      ok(verifyX509Signature(parseX509(x509), pub(issuerKey)), "the rebuilt X.509 carries the issuer's valid signature");
      bytesEqual(x509ToMatterTlv(x509), tlv, "X.509 back to TLV");
      bytesEqual(matterCertificateToX509(x509ToMatterCertificate(x509)), x509, "X.509 -> TLV -> X.509");
      deepEqual(decodeMatterCertificate(tlv), certificate);
    }
    // notAfter 0 in TLV is 99991231235959Z in X.509, as GeneralizedTime.
    const x509 = parseX509(matterCertificateToX509(noc));
    equal(x509.notAfter, NO_EXPIRATION_UNIX);
    equal(decodeMatterCertificate(encodeMatterCertificate(noc)).notAfter, 0);
  });

  test("X.509 layout matches CHIP's: times, Matter DN attributes as uppercase hex UTF8String, AKID [0]", () => {
    const root = issueRoot({ serialNumber: new Uint8Array([0x53, 0x4c]) });
    const x509 = matterCertificateToX509(root);
    const hex = toHex(x509);
    // rcac-id 1.3.6.1.4.1.37244.1.4 = "CACACACA00000001" as UTF8String
    ok(hex.includes("060a2b0601040182a27c0104" + "0c10" + toHex(utf8Encode("CACACACA00000001"))), "rcac-id attribute");
    ok(hex.includes("060a2b0601040182a27c0105" + "0c10" + toHex(utf8Encode("FAB000000000001D"))), "fabric-id attribute");
    ok(hex.includes("170d3234303130313030303030305a"), "notBefore as UTCTime 240101000000Z");
    ok(hex.includes("300f0603551d130101ff040530030101ff"), "basic constraints critical, CA:TRUE");
    ok(hex.includes("300e0603551d0f0101ff040403020106"), "key usage keyCertSign|cRLSign");
    ok(hex.includes("0603551d23041830168014"), "authority key identifier as [0] keyIdentifier");
    const parsed = parseX509(x509);
    equal(parsed.notBefore, JAN_2024);
    equal(parsed.notAfter, JAN_2034);
    bytesEqual(parsed.serialNumber, "534c");
  });

  test("CASE Authenticated Tags, printable strings and unknown extensions survive the round trip", () => {
    const unknown = derSequence(derOid("1.2.3.4.5"), derOctetString(derUtf8String("kept")));
    const noc = issueNoc({
      subject: nodeSubject([
        { tag: DnTag.caseAuthenticatedTag, value: 0xabcd0001n },
        { tag: DnTag.caseAuthenticatedTag, value: 0x12340002n },
        { tag: DnTag.commonName | DnTag.printable, value: "Node 1" },
      ]),
      futureExtensions: [unknown],
    });
    const tlv = encodeMatterCertificate(noc);
    const x509 = matterCertificateToX509(tlv);
    ok(toHex(x509).includes(toHex(unknown)), "the unknown extension is in the X.509 verbatim");
    ok(toHex(x509).includes("1306" + toHex(utf8Encode("Node 1"))), "common name as PrintableString");
    bytesEqual(x509ToMatterTlv(x509), tlv);
    const chain = validateOperationalChain({ rcac: issueRoot(), icac: issueIca(), noc: tlv });
    deepEqual(chain.cats, [0xabcd0001, 0x12340002]);
    equal(chain.nodeId, 0xdedede000000001dn);
    equal(chain.fabricId, FABRIC);
  });

  test("chains with and without an ICAC validate and yield fabric id, node id and keys", () => {
    const root = issueRoot();
    const direct = issueNoc({ issuer: rcacSubject, issuerPublicKey: pub(rootKey) }, rootKey);
    const withoutIca = validateOperationalChain({ rcac: encodeMatterCertificate(root), noc: encodeMatterCertificate(direct), at: JAN_2024 + 10 });
    equal(withoutIca.fabricId, FABRIC);
    bytesEqual(withoutIca.rootPublicKey, pub(rootKey));
    bytesEqual(withoutIca.nocPublicKey, pub(nodeKey));
    const withIca = validateOperationalChain({ rcac: root, icac: issueIca(), noc: issueNoc() });
    equal(withIca.nodeId, 0xdedede000000001dn);
    deepEqual(withIca.cats, []);
    equal(validateRcac(root).kind, "rcac");
  });

  test("chain refusals: signature, linkage, usage, CA flags, path length, fabric, ids, CATs, time", () => {
    const root = issueRoot();
    const ica = issueIca();
    const refuse = (noc: MatterCertificate | undefined, pattern: RegExp, chain: Partial<Parameters<typeof validateOperationalChain>[0]> = {}) =>
      throws(() => validateOperationalChain({ rcac: root, icac: ica, noc: noc!, ...chain }), pattern);

    refuse(issueNoc({}, otherKey), /NOC authority key id/);
    refuse(issueNoc(), /ICAC authority key id/, { icac: issueIca({ issuerPublicKey: pub(otherKey) }, otherKey) });
    const forged = { ...issueNoc(), signature: issueNoc({ serialNumber: new Uint8Array([9]) }).signature };
    refuse(forged, /signature does not verify/);
    refuse(issueNoc({ issuer: rcacSubject }), /issuer does not match/);
    refuse(issueNoc({ ca: true, keyUsage: KeyUsage.keyCertSign | KeyUsage.crlSign }), /must not be a CA/);
    refuse(issueNoc({ keyUsage: KeyUsage.keyAgreement }), /digitalSignature/);
    refuse(issueNoc({ extendedKeyUsage: [2] }), /serverAuth and clientAuth/);
    refuse(issueNoc({ extendedKeyUsage: undefined }), /serverAuth and clientAuth/);
    refuse(issueNoc({ subject: [{ tag: DnTag.nodeId, value: 5n }, { tag: DnTag.fabricId, value: 7n }] }), /fabric id differs/);
    refuse(issueNoc({ subject: [{ tag: DnTag.nodeId, value: 0xfffffff000000000n }, { tag: DnTag.fabricId, value: FABRIC }] }), /not an operational node id/);
    refuse(issueNoc({ subject: [{ tag: DnTag.nodeId, value: 1n }] }), /needs a fabric id/);
    refuse(issueNoc({ subject: nodeSubject([{ tag: DnTag.caseAuthenticatedTag, value: 0x00010000n }]) }), /version 0/);
    refuse(
      issueNoc({ subject: nodeSubject([{ tag: DnTag.caseAuthenticatedTag, value: 0x00010001n }, { tag: DnTag.caseAuthenticatedTag, value: 0x00010002n }]) }),
      /share an identifier/,
    );
    const fourCats = [1n, 2n, 3n, 4n].map((n) => ({ tag: DnTag.caseAuthenticatedTag, value: (n << 16n) | 1n }));
    throws(() => readOperationalSubject(nodeSubject(fourCats)), /at most 3/);
    throws(() => issueNoc({ subject: nodeSubject(fourCats) }), /more than 5 attributes/);
    refuse(issueNoc(), /expired/, { at: JAN_2034 + 1 });
    refuse(issueNoc(), /not valid yet/, { at: JAN_2024 - 1 });
    refuse(issueNoc(), /RCAC path length 0/, { rcac: issueRoot({ pathLength: 0 }) });
    refuse(issueNoc(), /ICAC fabric id differs/, { icac: issueIca({ subject: [...icacSubject, { tag: DnTag.fabricId, value: 99n }] }) });
    refuse(issueNoc(), /expected an ICAC/, { icac: issueNoc() });
    refuse(issueNoc(), /not a CA/, { rcac: issueRoot({ ca: false, keyUsage: KeyUsage.keyCertSign | KeyUsage.crlSign }) });
    refuse(issueNoc(), /extended key usage/, { rcac: issueRoot({ extendedKeyUsage: [1] }) });
    refuse(issueNoc(), /keyCertSign and cRLSign/, { icac: issueIca({ keyUsage: KeyUsage.keyCertSign }) });
    throws(() => validateRcac(issueIca()), /expected an RCAC/);
    throws(() => validateRcac(issueRoot({ subject: [...rcacSubject, { tag: DnTag.nodeId, value: 1n }] })), /both/);
    const critical = derSequence(derOid("1.2.3.4.6"), derBoolean(true), derOctetString(derUtf8String("x")));
    refuse(issueNoc({ futureExtensions: [critical] }), /unknown critical extension/);
  });

  test("identity extraction follows the subject rules", () => {
    const subject = readOperationalSubject(nodeSubject([{ tag: DnTag.caseAuthenticatedTag, value: 0xfffe0003n }]));
    equal(subject.kind, "noc");
    equal(subject.fabricId, FABRIC);
    deepEqual(subject.cats, [0xfffe0003]);
    throws(() => readOperationalSubject([{ tag: DnTag.commonName, value: "x" }]), /no rcac-id/);
    throws(() => readOperationalSubject([{ tag: DnTag.rcacId, value: 1n }, { tag: DnTag.caseAuthenticatedTag, value: 0x10001n }]), /cannot carry/);
    throws(() => readOperationalSubject([{ tag: DnTag.rcacId, value: 1n }, { tag: DnTag.fabricId, value: 0n }]), /fabric id 0/);
  });

  test("compressed fabric id matches the spec example (4.3.2.2)", () => {
    const rootPublicKey = fromHex(
      "044a9f42b1ca4840d37292bbc7f6a7e11e22200c976fc900dbc98a7a383a641cb8254a2e56d4e295a847943b4e3897c4a773e930277b4d9fbede8a052686bfacfa",
    );
    bytesEqual(compressedFabricId(rootPublicKey, 0x2906c908d115d362n), "87e1b004e235a130");
  });

  test("the TLV decoder is strict: every truncation, wrong order, unknown tags, bad sizes", () => {
    const tlv = encodeMatterCertificate(issueNoc());
    for (let length = 0; length < tlv.length; length++) {
      throws(() => decodeMatterCertificate(tlv.subarray(0, length)), undefined, `prefix of ${length} bytes`);
    }
    const refuseEdit = (edit: (c: MatterCertificate) => MatterCertificate, pattern: RegExp) => {
      const certificate = edit(issueNoc());
      throws(() => encodeMatterCertificate(certificate), pattern);
    };
    refuseEdit((c) => ({ ...c, signatureAlgorithm: 2 }), /signature algorithm/);
    refuseEdit((c) => ({ ...c, ellipticCurve: 2 }), /elliptic curve/);
    refuseEdit((c) => ({ ...c, publicKey: c.publicKey.subarray(1) }), /65-byte/);
    refuseEdit((c) => ({ ...c, signature: c.signature.subarray(1) }), /64 bytes/);
    refuseEdit((c) => ({ ...c, serialNumber: new Uint8Array(21).fill(1) }), /1 to 20 octets/);
    refuseEdit((c) => ({ ...c, serialNumber: new Uint8Array([0x80]) }), /positive/);
    refuseEdit((c) => ({ ...c, subject: [] }), /empty distinguished name/);
    refuseEdit((c) => ({ ...c, subject: [{ tag: 40, value: "x" }] }), /unknown attribute tag/);
    refuseEdit((c) => ({ ...c, subject: [{ tag: DnTag.nodeId | DnTag.printable, value: 1n }] }), /PrintableString/);
    refuseEdit((c) => ({ ...c, subject: [{ tag: DnTag.commonName | DnTag.printable, value: "a_b" }] }), /not a PrintableString/);
    refuseEdit((c) => ({ ...c, subject: [{ tag: DnTag.caseAuthenticatedTag, value: 0x100000000n }] }), /32 bits/);
    refuseEdit((c) => ({ ...c, extensions: [] }), /extensions list is empty/);
    refuseEdit((c) => ({ ...c, extensions: [...c.extensions, c.extensions[0]!] }), /appears twice/);
    refuseEdit((c) => ({ ...c, extensions: [{ kind: "key-usage", flags: 0x200 }] }), /unknown bits/);
    refuseEdit((c) => ({ ...c, extensions: [{ kind: "extended-key-usage", purposes: [7] }] }), /unknown key purpose/);
    refuseEdit((c) => ({ ...c, extensions: [{ kind: "subject-key-id", keyId: new Uint8Array(19) }] }), /20 bytes/);
    refuseEdit((c) => ({ ...c, extensions: [{ kind: "future", der: derSequence(derOid("2.5.29.15"), derOctetString(new Uint8Array([3, 1, 0]))) }] }), /own Matter TLV tag/);
    // Tag order: serial number and signature algorithm swapped.
    const swapped = new Uint8Array([0x15, 0x24, 0x02, 0x01, 0x30, 0x01, 0x01, 0x01, 0x18]);
    throws(() => decodeMatterCertificate(swapped), /expected tag 1, found tag 2/);
    throws(() => decodeMatterCertificate(new Uint8Array(401)), /400-byte limit/);
  });

  test("X.509 that Matter TLV cannot reproduce is refused, not altered", () => {
    const base = {
      serialNumber: new Uint8Array([5]),
      issuer: [{ oid: "1.3.6.1.4.1.37244.1.4", value: "0000000000000001", stringTag: 0x0c }],
      subject: [{ oid: "1.3.6.1.4.1.37244.1.4", value: "0000000000000001", stringTag: 0x0c }],
      notBefore: JAN_2024,
      notAfter: JAN_2034,
      publicKey: pub(rootKey),
      extensions: [
        basicConstraintsExtension(true),
        keyUsageExtension(KeyUsage.keyCertSign | KeyUsage.crlSign),
        subjectKeyIdExtension(keyIdentifier(pub(rootKey))),
        authorityKeyIdExtension(keyIdentifier(pub(rootKey))),
      ],
    };
    const make = (fields: Partial<typeof base>) => {
      const tbs = encodeTbsCertificate({ ...base, ...fields });
      return encodeCertificate(tbs, ecdsaSign(rootKey, tbs));
    };
    ok(x509ToMatterCertificate(make({})), "the canonical form converts");
    throws(() => x509ToMatterCertificate(make({ subject: [{ oid: "1.3.6.1.4.1.37244.1.4", value: "00000000000000aa", stringTag: 0x0c }] })), /uppercase hex/);
    throws(() => x509ToMatterCertificate(make({ subject: [{ oid: "1.3.6.1.4.1.37244.2.1", value: "FFF1", stringTag: 0x0c }] })), /no Matter TLV encoding/);
    throws(() => x509ToMatterCertificate(make({ notBefore: 946684700 })), /outside the Matter certificate range/);
    throws(() => x509ToMatterCertificate(make({ notBefore: 946684800 })), /no expiration/);
    throws(() => x509ToMatterCertificate(make({ extensions: [{ ...keyUsageExtension(KeyUsage.keyCertSign), critical: false }] })), /must be critical/);
    throws(() => x509ToMatterCertificate(make({ extensions: [{ ...subjectKeyIdExtension(new Uint8Array(20)), critical: true }] })), /non-critical/);
    throws(() => x509ToMatterCertificate(make({ extensions: [extendedKeyUsageExtension(["1.3.6.1.5.5.7.3.17"])] })), /no Matter TLV encoding/);
    // A 2034 time written as GeneralizedTime is valid DER but not what TLV rebuilds (UTCTime before 2050).
    const tbs = decodeDer(encodeTbsCertificate(base));
    const validity = derSequence(derGeneralizedTime(JAN_2024), derGeneralizedTime(JAN_2034));
    const patchedTbs = derSequence(...tbs.children.map((child, index) => (index === 4 ? validity : child.raw)));
    const patched = encodeCertificate(patchedTbs, ecdsaSign(rootKey, patchedTbs));
    equal(parseX509(patched).notAfter, JAN_2034);
    throws(() => x509ToMatterCertificate(patched), /canonical form/);
    ok(throws(() => x509ToMatterTlv(new Uint8Array([0x30, 0x00]))) instanceof CertificateError);
  });
});
