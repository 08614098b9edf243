// Matter message format: header codec, CCM protection and privacy obfuscation, on Node and XS.
import { suite, equal, deepEqual, bytesEqual, ok, throws, fromHex, toHex } from "../portable/harness";
import {
  MessageError,
  decodeMessagePrefix,
  decodePacketHeader,
  decodeProtocolHeader,
  decodeSecuredMessage,
  decodeUnsecuredMessage,
  derivePrivacyKey,
  encodePacketHeader,
  encodeProtocolHeader,
  encodeSecuredMessage,
  encodeUnsecuredMessage,
  messageNonce,
  privacyNonce,
  securityFlagsOf,
  togglePrivacy,
  type PacketHeader,
  type ProtocolHeader,
} from "../../src/transport/message";
import { aesCcmEncrypt } from "../../src/crypto";

// Header layouts from connectedhomeip src/transport/raw/tests/TestMessageHeader.cpp
// (theSpecComplianceTestVector).
const SPEC_HEADERS = [
  { name: "secure unicast", hex: "0088770044332211", header: { sessionId: 0x7788, sessionType: "unicast", messageCounter: 0x11223344 } },
  {
    name: "secure group, privacy and control flags",
    hex: "02eeddc140302010" + "5634",
    header: { sessionId: 0xddee, sessionType: "group", messageCounter: 0x10203040, privacy: true, control: true, destinationGroupId: 0x3456 },
  },
  { name: "unsecured", hex: "0000000040302010", header: { sessionId: 0, sessionType: "unicast", messageCounter: 0x10203040 } },
] as const;

// Secured messages from connectedhomeip src/transport/tests/TestSessionManagerDispatch.cpp
// (theMessageTestVector): a PASE session (nonce node id 0) and a group key with and without privacy.
const PASE_KEY = "5eded244e5532b3cdc23409dbad052d2";
const PASE_MESSAGES = [
  { plain: "00b80b00393000000564ee0e207d", wire: "00b80b00393000005a989ae42e8d847f535c3007e6150cd65867f2b817db", payload: "" },
  {
    plain: "00b80b00393000000564ee0e207d1122334455",
    wire: "00b80b00393000005a989ae42e8d0f7f885dfb2faa8949cf730a5728e0354610a0c4a7",
    payload: "1122334455",
  },
];
const GROUP_KEY = "ca92d7a0942d1a511a0e26ad074f4c2f";
const GROUP_PRIVACY_KEY = "bfe9da016a765365f2dd97a9f939e425";
const GROUP_WIRE = "067ddb01785634120100000000000000020065c767bc6cda0106c9801323900e9b3ce6d4bb0327d6";
const PRIVATE_GROUP_CLEAR = "067ddb8179563412010000000000000002002b2f915a66c9596290ebe4408217b3c0c921a2fca4e1";
const PRIVATE_GROUP_WIRE = "067ddb81d926afce24c8a0981bdd44f4e7302b2f915a66c9596290ebe4408217b3c0c921a2fca4e1";

const PROTOCOL_0x7D20: ProtocolHeader = { exchangeId: 0x0eee, protocolId: 0x7d20, opcode: 0x64, initiator: true, needsAck: true };

function flipBit(bytes: Uint8Array, index: number): Uint8Array {
  const copy = bytes.slice();
  copy[index]! ^= 0x01;
  return copy;
}

export default suite("transport message format", (test) => {
  test("spec-compliance headers encode to and decode from the published bytes", () => {
    for (const vector of SPEC_HEADERS) {
      bytesEqual(encodePacketHeader(vector.header as PacketHeader), vector.hex, vector.name);
      const { header, length } = decodePacketHeader(fromHex(vector.hex));
      equal(length, vector.hex.length / 2, vector.name);
      equal(header.sessionId, vector.header.sessionId, vector.name);
      equal(header.sessionType, vector.header.sessionType, vector.name);
      equal(header.messageCounter, vector.header.messageCounter, vector.name);
      equal(header.privacy, "privacy" in vector.header, vector.name);
      equal(header.control, "control" in vector.header, vector.name);
      equal(header.destinationGroupId, "destinationGroupId" in vector.header ? vector.header.destinationGroupId : undefined, vector.name);
      equal(header.securityFlags, parseInt(vector.hex.slice(6, 8), 16), vector.name);
    }
  });

  test("every message header flag combination round-trips with the expected layout", () => {
    let checked = 0;
    for (const source of [undefined, 0x0102030405060708n]) {
      for (const destination of ["none", "node", "group"] as const) {
        for (const privacy of [false, true]) {
          for (const control of [false, true]) {
            for (const extensions of [undefined, new Uint8Array(0), fromHex("a1b2c3")]) {
              const header: PacketHeader = {
                sessionId: 0xbeef,
                sessionType: destination === "group" ? "group" : "unicast",
                messageCounter: 0xfedcba98,
                privacy,
                control,
                ...(source !== undefined ? { sourceNodeId: source } : {}),
                ...(destination === "node" ? { destinationNodeId: 0xffffffffffffffffn } : {}),
                ...(destination === "group" ? { destinationGroupId: 0x1234 } : {}),
                ...(extensions !== undefined ? { messageExtensions: extensions } : {}),
              };
              const bytes = encodePacketHeader(header);
              const expectedLength = 8 + (source ? 8 : 0) + (destination === "node" ? 8 : destination === "group" ? 2 : 0) + (extensions ? 2 + extensions.length : 0);
              equal(bytes.length, expectedLength, "length");
              equal(bytes[0], (source ? 0x04 : 0) | (destination === "node" ? 1 : destination === "group" ? 2 : 0), "message flags");
              equal(bytes[3], (privacy ? 0x80 : 0) | (control ? 0x40 : 0) | (extensions ? 0x20 : 0) | (destination === "group" ? 1 : 0), "security flags");
              equal(securityFlagsOf(header), bytes[3]);
              const decoded = decodePacketHeader(bytes);
              equal(decoded.length, bytes.length);
              deepEqual(decoded.header, { ...header, securityFlags: bytes[3] });
              checked++;
            }
          }
        }
      }
    }
    equal(checked, 72);
  });

  test("every protocol header flag combination round-trips with the expected layout", () => {
    for (let flags = 0; flags < 32; flags++) {
      const header: ProtocolHeader = {
        exchangeId: 0x8001,
        protocolId: 0x0001,
        opcode: 0x05,
        initiator: (flags & 1) !== 0,
        needsAck: (flags & 4) !== 0,
        ...(flags & 2 ? { ackedMessageCounter: 0x01020304 } : {}),
        ...(flags & 8 ? { securedExtensions: fromHex("0badcafe") } : {}),
        ...(flags & 16 ? { vendorId: 0xfff1 } : {}),
      };
      const bytes = encodeProtocolHeader(header);
      equal(bytes[0], flags, "exchange flags");
      equal(bytes.length, 6 + (flags & 16 ? 2 : 0) + (flags & 2 ? 4 : 0) + (flags & 8 ? 6 : 0));
      const payload = fromHex("1536");
      const decoded = decodeProtocolHeader(new Uint8Array([...bytes, ...payload]));
      deepEqual(decoded.header, header);
      bytesEqual(decoded.payload, payload);
    }
    // Vendor id comes before the protocol id on the wire.
    bytesEqual(encodeProtocolHeader({ exchangeId: 1, protocolId: 0x0002, vendorId: 0xfff1, opcode: 7, initiator: false, needsAck: false }), "10070100f1ff0200");
  });

  test("malformed or truncated headers are rejected with MessageError, never a crash", () => {
    const full = encodePacketHeader({
      sessionId: 1,
      sessionType: "unicast",
      messageCounter: 2,
      sourceNodeId: 3n,
      destinationNodeId: 4n,
      messageExtensions: fromHex("aabbcc"),
    });
    for (let cut = 0; cut < full.length; cut++) ok(errorOf(() => decodePacketHeader(full.subarray(0, cut))) instanceof MessageError, `cut at ${cut}`);
    const group = encodePacketHeader({ sessionId: 1, sessionType: "group", messageCounter: 2, sourceNodeId: 3n, destinationGroupId: 9 });
    for (let cut = 0; cut < group.length; cut++) ok(errorOf(() => decodePacketHeader(group.subarray(0, cut))) instanceof MessageError, `group cut at ${cut}`);
    const withVersion = full.slice();
    withVersion[0] = 0x10 | withVersion[0]!;
    throws(() => decodePacketHeader(withVersion), /version 1/);
    throws(() => decodePacketHeader(fromHex("0300000000000000")), /DSIZ 3/);
    throws(() => decodePacketHeader(fromHex("0000000200000000")), /session type 2/);
    throws(() => decodePacketHeader(fromHex("0000000300000000")), /session type 3/);
    throws(() => decodePacketHeader(fromHex("01000001000000000000000000000000")), /destination node id on a group/);
    throws(() => decodePacketHeader(fromHex("0200000000000000aaaa")), /group id on a unicast/);
    throws(() => decodePacketHeader(fromHex("0000002000000000" + "0500" + "aabb")), /truncated/);
    const protocol = encodeProtocolHeader({ exchangeId: 1, protocolId: 1, vendorId: 5, opcode: 1, initiator: true, needsAck: true, ackedMessageCounter: 7, securedExtensions: fromHex("01") });
    for (let cut = 0; cut < protocol.length; cut++) ok(errorOf(() => decodeProtocolHeader(protocol.subarray(0, cut))) instanceof MessageError, `protocol cut at ${cut}`);
    throws(() => decodeProtocolHeader(fromHex("080100000000" + "ffff00")), /truncated/);
    // Encoders refuse values that do not fit their fields.
    throws(() => encodePacketHeader({ sessionId: 0x10000, sessionType: "unicast", messageCounter: 0 }), /session id/);
    throws(() => encodePacketHeader({ sessionId: 0, sessionType: "unicast", messageCounter: 2 ** 32 }), /message counter/);
    throws(() => encodePacketHeader({ sessionId: 0, sessionType: "unicast", messageCounter: 0, sourceNodeId: 1n << 64n }), /source node id/);
    throws(() => encodePacketHeader({ sessionId: 0, sessionType: "unicast", messageCounter: 0, destinationGroupId: 1 }), /group session type/);
    throws(() => encodePacketHeader({ sessionId: 0, sessionType: "group", messageCounter: 0, destinationNodeId: 1n }), /unicast session type/);
    throws(() => encodeProtocolHeader({ exchangeId: 0, protocolId: 0, opcode: 256, initiator: false, needsAck: false }), /opcode/);
  });

  test("unsecured messages round-trip and are recognised", () => {
    const message = encodeUnsecuredMessage({
      packetHeader: { sessionId: 0, sessionType: "unicast", messageCounter: 0x0a0b0c0d, sourceNodeId: 0x1122334455667788n },
      protocolHeader: { exchangeId: 0x1234, protocolId: 0, opcode: 0x20, initiator: true, needsAck: true },
      payload: fromHex("15300120"),
    });
    bytesEqual(message, "040000000d0c0b0a887766554433221105203412000015300120");
    const decoded = decodeUnsecuredMessage(message);
    equal(decoded.packetHeader.sourceNodeId, 0x1122334455667788n);
    equal(decoded.protocolHeader.opcode, 0x20);
    bytesEqual(decoded.payload, "15300120");
    throws(() => decodeUnsecuredMessage(fromHex(PASE_MESSAGES[0]!.plain)), /not an unsecured/);
  });

  test("CHIP PASE messages: nonce, encryption and decryption match the published bytes", () => {
    bytesEqual(messageNonce(0, 0x3039, 0n), "00393000000000000000000000");
    for (const vector of PASE_MESSAGES) {
      const decoded = decodeSecuredMessage(fromHex(vector.wire), { key: fromHex(PASE_KEY), nonceNodeId: 0n });
      equal(decoded.packetHeader.sessionId, 0x0bb8);
      equal(decoded.packetHeader.messageCounter, 0x3039);
      deepEqual(decoded.protocolHeader, PROTOCOL_0x7D20);
      bytesEqual(decoded.payload, vector.payload);
      const reencoded = encodeSecuredMessage(
        { packetHeader: { sessionId: 0x0bb8, sessionType: "unicast", messageCounter: 0x3039 }, protocolHeader: PROTOCOL_0x7D20, payload: fromHex(vector.payload) },
        { key: fromHex(PASE_KEY), nonceNodeId: 0n },
      );
      bytesEqual(reencoded, vector.wire);
      // The published wrong-MIC variants flip the last byte; any change anywhere must fail too.
      const wire = fromHex(vector.wire);
      for (let index = 0; index < wire.length; index++) {
        ok(errorOf(() => decodeSecuredMessage(flipBit(wire, index), { key: fromHex(PASE_KEY), nonceNodeId: 0n })) instanceof MessageError, `bit flipped in byte ${index}`);
      }
      throws(() => decodeSecuredMessage(wire, { key: fromHex(PASE_KEY), nonceNodeId: 1n }), /authentication failed/);
    }
  });

  test("CHIP group messages: privacy key, privacy nonce, obfuscation and decryption match", () => {
    const key = fromHex(GROUP_KEY);
    const privacyKey = fromHex(GROUP_PRIVACY_KEY);
    bytesEqual(derivePrivacyKey(key), privacyKey, "PrivacyKey from the encryption key");
    const plain = decodeSecuredMessage(fromHex(GROUP_WIRE), { key });
    equal(plain.packetHeader.sourceNodeId, 1n);
    equal(plain.packetHeader.destinationGroupId, 2);
    equal(plain.packetHeader.messageCounter, 0x12345678);
    deepEqual(plain.protocolHeader, { ...PROTOCOL_0x7D20, needsAck: false });

    const wire = fromHex(PRIVATE_GROUP_WIRE);
    bytesEqual(privacyNonce(0xdb7d, wire.subarray(wire.length - 16)), "db7d408217b3c0c921a2fca4e1");
    bytesEqual(togglePrivacy(wire, privacyKey), PRIVATE_GROUP_CLEAR, "de-obfuscated header");
    bytesEqual(togglePrivacy(fromHex(PRIVATE_GROUP_CLEAR), privacyKey), PRIVATE_GROUP_WIRE, "obfuscated header");
    const decoded = decodeSecuredMessage(wire, { key, privacyKey });
    equal(decoded.packetHeader.privacy, true);
    equal(decoded.packetHeader.messageCounter, 0x12345679);
    equal(decoded.packetHeader.sourceNodeId, 1n);
    // The MIC verifies under the security flags as sent (P included), so that is the nonce.
    bytesEqual(messageNonce(decoded.packetHeader.securityFlags, 0x12345679, 1n), "81795634120100000000000000");
    const reencoded = encodeSecuredMessage(
      {
        packetHeader: { sessionId: 0xdb7d, sessionType: "group", messageCounter: 0x12345679, privacy: true, sourceNodeId: 1n, destinationGroupId: 2 },
        protocolHeader: { ...PROTOCOL_0x7D20, needsAck: false },
        payload: new Uint8Array(0),
      },
      { key, nonceNodeId: 1n, privacyKey },
    );
    bytesEqual(reencoded, PRIVATE_GROUP_WIRE);
    ok(errorOf(() => decodeSecuredMessage(flipBit(wire, wire.length - 1), { key, privacyKey })) instanceof MessageError, "wrong MIC");
    throws(() => decodeSecuredMessage(wire, { key }), /no privacy key/);
  });

  test("the shared privacy-nonce vector", (context) => {
    const vector = context.vectors.json("case/session_constants.json").privacy_nonce_vector;
    bytesEqual(privacyNonce(parseInt(vector.session_id, 16), fromHex(vector.mic)), vector.expected_privacy_nonce);
  });

  test("privacy obfuscation is AES-CTR from CCM's first payload counter block", () => {
    // Independent of the header code: CCM encryption of the same bytes under the privacy key and
    // nonce starts with the same keystream.
    const wire = fromHex(PRIVATE_GROUP_WIRE);
    const clear = togglePrivacy(wire, fromHex(GROUP_PRIVACY_KEY));
    const nonce = privacyNonce(0xdb7d, wire.subarray(wire.length - 16));
    const ccm = aesCcmEncrypt(fromHex(GROUP_PRIVACY_KEY), nonce, clear.subarray(4, 18), new Uint8Array(0));
    bytesEqual(wire.subarray(4, 18), ccm.subarray(0, 14), "obfuscated counter, source node id and group id");
    bytesEqual(wire.subarray(0, 4), clear.subarray(0, 4), "flags, session id and security flags stay in clear");
    bytesEqual(wire.subarray(18), clear.subarray(18), "ciphertext and MIC are untouched");
  });

  test("secured round trip with every header option, privacy and extensions", () => {
    const key = fromHex("000102030405060708090a0b0c0d0e0f");
    const privacyKey = derivePrivacyKey(key);
    for (const privacy of [false, true]) {
      for (const extensions of [undefined, fromHex("0102")]) {
        const header: PacketHeader = {
          sessionId: 0x4321,
          sessionType: "unicast",
          messageCounter: 0x0fffffff,
          privacy,
          sourceNodeId: 0x0123456789abcdefn,
          destinationNodeId: 0xfedcba9876543210n,
          ...(extensions ? { messageExtensions: extensions } : {}),
        };
        const protocolHeader: ProtocolHeader = { exchangeId: 9, protocolId: 1, opcode: 2, initiator: false, needsAck: true, ackedMessageCounter: 55, securedExtensions: fromHex("ee") };
        const payload = new Uint8Array(300).map((_, i) => i & 0xff);
        const wire = encodeSecuredMessage({ packetHeader: header, protocolHeader, payload }, { key, nonceNodeId: 77n, privacyKey });
        equal(decodeMessagePrefix(wire).privacy, privacy);
        if (privacy) ok(toHex(wire.subarray(4, 8)) !== "ffffff0f", "counter hidden");
        const decoded = decodeSecuredMessage(wire, { key, nonceNodeId: 77n, privacyKey });
        deepEqual(decoded.protocolHeader, protocolHeader);
        bytesEqual(decoded.payload, payload);
        equal(decoded.packetHeader.messageCounter, 0x0fffffff);
        equal(decoded.packetHeader.destinationNodeId, 0xfedcba9876543210n);
        if (extensions) bytesEqual(decoded.packetHeader.messageExtensions!, extensions);
        for (let cut = 0; cut < wire.length; cut++) {
          ok(errorOf(() => decodeSecuredMessage(wire.subarray(0, cut), { key, nonceNodeId: 77n, privacyKey })) instanceof MessageError, `cut at ${cut}`);
        }
      }
    }
    throws(
      () => encodeSecuredMessage({ packetHeader: { sessionId: 1, sessionType: "unicast", messageCounter: 1, privacy: true }, protocolHeader: PROTOCOL_0x7D20, payload: new Uint8Array(0) }, { key, nonceNodeId: 0n }),
      /^no privacy key$/,
    );
  });
});

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}
