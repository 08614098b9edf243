// The message format against an independent implementation: matter.js 0.17 (the reference
// controller) decodes what we encode and we decode what it encodes, privacy included.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import { MessageCodec, MessagePrivacy, SessionType } from "@matter/protocol";
import { StandardCrypto } from "@matter/general";
import {
  decodePacketHeader,
  decodeProtocolHeader,
  decodeSecuredMessage,
  derivePrivacyKey,
  encodePacketHeader,
  encodeProtocolHeader,
  encodeSecuredMessage,
  type PacketHeader,
  type ProtocolHeader,
} from "../src/transport/message";

const matterCrypto = new StandardCrypto();

function randomU64(): bigint {
  return randomBytes(8).readBigUInt64LE();
}

function randomPacketHeader(): PacketHeader {
  const group = randomInt(3) === 0;
  const header: PacketHeader = { sessionId: randomInt(0x10000), sessionType: group ? "group" : "unicast", messageCounter: randomInt(2 ** 32) };
  if (group || randomInt(2)) header.sourceNodeId = randomU64();
  if (group) header.destinationGroupId = randomInt(0x10000);
  else if (randomInt(2)) header.destinationNodeId = randomU64();
  return header;
}

function randomProtocolHeader(): ProtocolHeader {
  const header: ProtocolHeader = {
    exchangeId: randomInt(0x10000),
    protocolId: randomInt(0x10000),
    opcode: randomInt(0x100),
    initiator: randomInt(2) === 1,
    needsAck: randomInt(2) === 1,
  };
  if (randomInt(2)) header.ackedMessageCounter = randomInt(2 ** 32);
  if (randomInt(3) === 0) header.vendorId = 1 + randomInt(0xffff);
  return header;
}

describe("message format against matter.js", () => {
  it("matter.js decodes our headers", () => {
    for (let i = 0; i < 500; i++) {
      const packetHeader = randomPacketHeader();
      const protocolHeader = randomProtocolHeader();
      if (packetHeader.sessionType === "group") {
        // MRP does not run on group messages (spec 4.12.1); matter.js refuses R and A there.
        protocolHeader.needsAck = false;
        delete protocolHeader.ackedMessageCounter;
      }
      const payload = randomBytes(randomInt(40));
      const bytes = new Uint8Array([...encodePacketHeader(packetHeader), ...encodeProtocolHeader(protocolHeader), ...payload]);
      const packet = MessageCodec.decodePacket(bytes);
      assert.equal(packet.header.sessionId, packetHeader.sessionId);
      assert.equal(packet.header.sessionType, packetHeader.sessionType === "group" ? SessionType.Group : SessionType.Unicast);
      assert.equal(packet.header.messageId, packetHeader.messageCounter);
      assert.equal(packet.header.sourceNodeId === undefined ? undefined : BigInt(packet.header.sourceNodeId), packetHeader.sourceNodeId);
      assert.equal(packet.header.destNodeId === undefined ? undefined : BigInt(packet.header.destNodeId), packetHeader.destinationNodeId);
      assert.equal(packet.header.destGroupId === undefined ? undefined : Number(packet.header.destGroupId), packetHeader.destinationGroupId);
      const message = MessageCodec.decodePayload(packet);
      const payloadHeader = message.payloadHeader;
      assert.equal(payloadHeader.exchangeId, protocolHeader.exchangeId);
      assert.equal(payloadHeader.protocolId, (protocolHeader.vendorId ?? 0) * 0x10000 + protocolHeader.protocolId);
      assert.equal(payloadHeader.messageType, protocolHeader.opcode);
      assert.equal(payloadHeader.isInitiatorMessage, protocolHeader.initiator);
      assert.equal(payloadHeader.requiresAck, protocolHeader.needsAck);
      assert.equal(payloadHeader.ackedMessageId, protocolHeader.ackedMessageCounter);
      assert.deepEqual(new Uint8Array(message.payload), new Uint8Array(payload));
    }
  });

  it("we decode matter.js headers", () => {
    for (let i = 0; i < 500; i++) {
      const ours = randomPacketHeader();
      const protocol = randomProtocolHeader();
      const payload = randomBytes(randomInt(40));
      const theirHeader = MessageCodec.encodePacketHeader({
        sessionId: ours.sessionId,
        sessionType: ours.sessionType === "group" ? SessionType.Group : SessionType.Unicast,
        hasPrivacyEnhancements: false,
        isControlMessage: false,
        hasMessageExtensions: false,
        messageId: ours.messageCounter,
        ...(ours.sourceNodeId !== undefined ? { sourceNodeId: ours.sourceNodeId } : {}),
        ...(ours.destinationNodeId !== undefined ? { destNodeId: ours.destinationNodeId } : {}),
        ...(ours.destinationGroupId !== undefined ? { destGroupId: ours.destinationGroupId } : {}),
      } as Parameters<typeof MessageCodec.encodePacketHeader>[0]);
      const { applicationPayload } = MessageCodec.encodePayload({
        packetHeader: {} as never,
        payloadHeader: {
          exchangeId: protocol.exchangeId,
          protocolId: (protocol.vendorId ?? 0) * 0x10000 + protocol.protocolId,
          messageType: protocol.opcode,
          isInitiatorMessage: protocol.initiator,
          requiresAck: protocol.needsAck,
          ...(protocol.ackedMessageCounter !== undefined ? { ackedMessageId: protocol.ackedMessageCounter } : {}),
          hasSecuredExtension: false,
        } as never,
        payload,
      });
      assert.deepEqual(new Uint8Array(theirHeader), encodePacketHeader(ours), "identical header bytes");
      const { header, length } = decodePacketHeader(new Uint8Array(theirHeader));
      assert.equal(length, theirHeader.length);
      assert.equal(header.messageCounter, ours.messageCounter);
      assert.equal(header.sourceNodeId, ours.sourceNodeId);
      assert.equal(header.destinationNodeId, ours.destinationNodeId);
      assert.equal(header.destinationGroupId, ours.destinationGroupId);
      const decoded = decodeProtocolHeader(new Uint8Array(applicationPayload));
      assert.deepEqual(decoded.header, protocol);
      assert.deepEqual(decoded.payload, new Uint8Array(payload));
    }
  });

  it("matter.js removes our privacy obfuscation and opens the message; we open its encryption", async () => {
    for (let i = 0; i < 100; i++) {
      const key = new Uint8Array(randomBytes(16));
      const nonceNodeId = randomU64();
      const packetHeader: PacketHeader = { ...randomPacketHeader(), privacy: true };
      const protocolHeader = randomProtocolHeader();
      const payload = new Uint8Array(randomBytes(randomInt(60)));
      const privacyKey = derivePrivacyKey(key);
      assert.deepEqual(new Uint8Array(await MessagePrivacy.deriveKey(matterCrypto, key)), privacyKey, "privacy key");
      const wire = encodeSecuredMessage({ packetHeader, protocolHeader, payload }, { key, nonceNodeId, privacyKey });

      const fixed = MessageCodec.decodeFixedHeader(wire);
      assert.ok(fixed.hasPrivacyEnhancements);
      const mic = wire.subarray(wire.length - 16);
      const region = MessagePrivacy.obfuscate(matterCrypto, privacyKey, fixed.obfuscatedRegion!, MessagePrivacy.buildNonce(fixed.sessionId, mic));
      const fields = MessageCodec.decodeObfuscatedHeaderFields(fixed.flags, region);
      assert.equal(fields.messageId, packetHeader.messageCounter);
      assert.equal(fields.sourceNodeId === undefined ? undefined : BigInt(fields.sourceNodeId), packetHeader.sourceNodeId);
      assert.equal(fields.destNodeId === undefined ? undefined : BigInt(fields.destNodeId), packetHeader.destinationNodeId);

      // Header in clear as the AAD, the CCM nonce from the flags as sent: matter.js's crypto opens it.
      const headerLength = encodePacketHeader(packetHeader).length;
      const clearHeader = new Uint8Array([...wire.subarray(0, 4), ...region]);
      const nonce = new Uint8Array(13);
      const view = new DataView(nonce.buffer);
      nonce[0] = wire[3]!;
      view.setUint32(1, packetHeader.messageCounter, true);
      view.setBigUint64(5, nonceNodeId, true);
      const plain = new Uint8Array(matterCrypto.decrypt(key, wire.subarray(headerLength), nonce, clearHeader));
      assert.deepEqual(plain, new Uint8Array([...encodeProtocolHeader(protocolHeader), ...payload]));

      // And the other way: matter.js encrypts, we authenticate and decrypt.
      const plainHeader = encodePacketHeader({ ...packetHeader, privacy: false });
      const theirs = new Uint8Array([
        ...plainHeader,
        ...matterCrypto.encrypt(key, new Uint8Array([...encodeProtocolHeader(protocolHeader), ...payload]), (() => {
          const n = nonce.slice();
          n[0] = plainHeader[3]!;
          return n;
        })(), plainHeader),
      ]);
      const opened = decodeSecuredMessage(theirs, { key, nonceNodeId });
      assert.deepEqual(opened.protocolHeader, protocolHeader);
      assert.deepEqual(opened.payload, payload);
    }
  });
});
