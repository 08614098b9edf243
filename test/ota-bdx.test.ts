// BDX against matter.js's codecs (each side decodes what the other encodes), and a whole signed
// image downloaded over the firmware's own exchanges and MRP, on a link that loses packets, into
// the slot writer on the simulator's flash; a provider that stops or fails mid-transfer leaves
// the update slot erased.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BdxMessage as MatterJsBdxMessage } from "@matter/protocol";
import { BdxMessageType } from "@matter/types";
import { NodePlatform } from "../hosts/sim/platform/node";
import { concatBytes, utf8Encode } from "../src/codec/bytes";
import { ecdsaSign, publicKeyFromPrivate, sha256 } from "../src/crypto";
import {
  BDX_PROTOCOL_ID,
  BdxError,
  BdxOpcode,
  BdxStatus,
  bdxStatusReport,
  decodeBlock,
  decodeCounterMessage,
  decodeReceiveAccept,
  decodeTransferInit,
  encodeBlock,
  encodeBlockQueryWithSkip,
  encodeCounterMessage,
  encodeReceiveAccept,
  encodeSendAccept,
  encodeTransferInit,
  receiveBdx,
} from "../src/ota/bdx";
import { OtaFault, OtaImageError } from "../src/ota/errors";
import { encodeOtaHeader } from "../src/ota/image";
import { OtaSlotWriter } from "../src/ota/slot-writer";
import { encodeStatusReport, SecureChannelOpcode } from "../src/securechannel/status-report";
import { SECURE_CHANNEL_PROTOCOL_ID, type Exchange } from "../src/transport/exchange";
import { makeNode, ManualClock, MemoryLink, pairSessions } from "./suites/transport-fixtures";

const receiverDrive = { senderDrive: false, receiverDrive: true, asynchronous: false };

test("matter.js decodes what we encode", () => {
  const designator = utf8Encode("ota/image-2.ota");
  const init = MatterJsBdxMessage.decode(BdxMessageType.ReceiveInit, encodeTransferInit({ version: 0, modes: receiverDrive, maxBlockSize: 1024, startOffset: 5000, fileDesignator: designator })).message as {
    transferProtocol: { receiverDrive: boolean; senderDrive: boolean; asynchronousTransfer: boolean; version: number };
    maxBlockSize: number;
    startOffset: number;
    fileDesignator: Uint8Array;
  };
  assert.deepEqual(
    { ...init.transferProtocol },
    { version: 0, senderDrive: false, receiverDrive: true, asynchronousTransfer: false },
  );
  assert.equal(init.maxBlockSize, 1024);
  assert.equal(Number(init.startOffset), 5000);
  assert.deepEqual(new Uint8Array(init.fileDesignator), designator);
  const accept = MatterJsBdxMessage.decode(BdxMessageType.ReceiveAccept, encodeReceiveAccept({ version: 0, modes: receiverDrive, maxBlockSize: 512, length: 77777 })).message as { maxBlockSize: number; length: number };
  assert.equal(accept.maxBlockSize, 512);
  assert.equal(Number(accept.length), 77777);
  const sendAccept = MatterJsBdxMessage.decode(BdxMessageType.SendAccept, encodeSendAccept({ version: 0, modes: { senderDrive: true, receiverDrive: false, asynchronous: false }, maxBlockSize: 100 })).message as { transferControl: { senderDrive: boolean } };
  assert.equal(sendAccept.transferControl.senderDrive, true);
  assert.equal((MatterJsBdxMessage.decode(BdxMessageType.BlockQuery, encodeCounterMessage(0xfffffffe)).message as { blockCounter: number }).blockCounter, 0xfffffffe);
  const skip = MatterJsBdxMessage.decode(BdxMessageType.BlockQueryWithSkip, encodeBlockQueryWithSkip({ blockCounter: 3, bytesToSkip: 4096 })).message as { blockCounter: number; bytesToSkip: bigint | number };
  assert.equal(skip.blockCounter, 3);
  assert.equal(Number(skip.bytesToSkip), 4096);
  const block = MatterJsBdxMessage.decode(BdxMessageType.BlockEof, encodeBlock({ blockCounter: 9, data: Uint8Array.of(1, 2, 3) })).message as { blockCounter: number; data: Uint8Array };
  assert.equal(block.blockCounter, 9);
  assert.deepEqual(new Uint8Array(block.data), Uint8Array.of(1, 2, 3));
});

test("we decode what matter.js encodes", () => {
  const designator = utf8Encode("bdx://0000000000000001/image.ota");
  const init = decodeTransferInit(
    MatterJsBdxMessage.encode({
      kind: BdxMessageType.ReceiveInit,
      message: { transferProtocol: { version: 0, senderDrive: false, receiverDrive: true, asynchronousTransfer: false }, maxBlockSize: 1200, startOffset: 70000, fileDesignator: designator },
    } as never),
  );
  assert.deepEqual(init, { version: 0, modes: receiverDrive, maxBlockSize: 1200, startOffset: 70000, fileDesignator: designator });
  const accept = decodeReceiveAccept(
    MatterJsBdxMessage.encode({
      kind: BdxMessageType.ReceiveAccept,
      message: { transferControl: { version: 0, senderDrive: false, receiverDrive: true, asynchronousTransfer: false }, maxBlockSize: 1000, length: 123456 },
    } as never),
  );
  assert.deepEqual(accept, { version: 0, modes: receiverDrive, maxBlockSize: 1000, length: 123456 });
  assert.equal(decodeCounterMessage(MatterJsBdxMessage.encode({ kind: BdxMessageType.BlockAckEof, message: { blockCounter: 42 } } as never)), 42);
  assert.deepEqual(decodeBlock(MatterJsBdxMessage.encode({ kind: BdxMessageType.Block, message: { blockCounter: 1, data: Uint8Array.of(9, 8) } } as never)), { blockCounter: 1, data: Uint8Array.of(9, 8) });
});

const signingKey = sha256(utf8Encode("bdx download test key"));

function signedImage(payload: Uint8Array): Uint8Array {
  const header = encodeOtaHeader(
    { vendorId: 0xfff1, productId: 0x8000, softwareVersion: 2, softwareVersionString: "2", payloadSize: payload.length },
    sha256(payload),
    (message) => ecdsaSign(signingKey, message),
  );
  return concatBytes(header, payload);
}

interface ProviderBehaviour {
  /** Stop answering at this block counter. */
  silentAt?: number;
  /** End the transfer with a StatusReport at this block counter. */
  failAt?: number;
}

/** A BDX sender on the firmware's exchanges, from the spec: ReceiveAccept, then Block per BlockQuery. */
function serve(exchange: Exchange, first: { payload: Uint8Array }, file: Uint8Array, behaviour: ProviderBehaviour, log: string[]): Promise<void> {
  return (async () => {
    const init = decodeTransferInit(first.payload);
    const blockSize = Math.min(init.maxBlockSize, 900);
    let offset = init.startOffset ?? 0;
    exchange.send(BDX_PROTOCOL_ID, BdxOpcode.receiveAccept, encodeReceiveAccept({ version: 0, modes: receiverDrive, maxBlockSize: blockSize, length: file.length - offset }));
    for (;;) {
      const message = await exchange.nextMessage(60_000);
      if (message.protocolId !== BDX_PROTOCOL_ID) {
        log.push(`status from receiver`);
        return;
      }
      const counter = decodeCounterMessage(message.payload);
      if (message.opcode === BdxOpcode.blockAckEof) {
        log.push(`BlockAckEOF ${counter}`);
        exchange.close();
        return;
      }
      if (counter === behaviour.silentAt) return;
      if (counter === behaviour.failAt) {
        exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.statusReport, encodeStatusReport(bdxStatusReport(BdxStatus.transferFailedUnknownError)));
        exchange.close();
        return;
      }
      const data = file.subarray(offset, offset + blockSize);
      offset += data.length;
      const last = data.length < blockSize;
      exchange.send(BDX_PROTOCOL_ID, last ? BdxOpcode.blockEof : BdxOpcode.block, encodeBlock({ blockCounter: counter, data }));
    }
  })();
}

async function download(file: Uint8Array, behaviour: ProviderBehaviour, lossEvery = 0) {
  const clock = new ManualClock();
  const link = new MemoryLink(clock);
  if (lossEvery) link.drop = (_packet, index) => index % lossEvery === lossEvery - 1;
  const device = makeNode(link, "device", 1);
  const provider = makeNode(link, "provider", 2);
  const sessions = pairSessions(device, provider);
  const log: string[] = [];
  provider.exchanges.registerProtocol(BDX_PROTOCOL_ID, (exchange, first) => serve(exchange, first, file, behaviour, log));

  const platform = new NodePlatform({ partitions: { ota_0: 0x40000, ota_1: 0x40000 } });
  const slot = platform.flash.open("ota_1")!;
  const writer = new OtaSlotWriter({
    partition: slot,
    slot: "ota_1",
    storage: platform.storage,
    acceptance: { vendorId: 0xfff1, productId: 0x8000, runningVersion: 1, signingKey: publicKeyFromPrivate(signingKey) },
  });
  writer.begin(2);
  const exchange = device.exchanges.initiate(sessions.a);
  let settled = false;
  const outcome = receiveBdx({ exchange, fileDesignator: utf8Encode("image.ota"), maxBlockSize: 1024, timeoutMs: 5000, onBlock: (data) => writer.write(data) })
    .then(() => writer.finish())
    .catch((error) => {
      writer.discard();
      throw error;
    })
    .finally(() => {
      settled = true;
      exchange.close();
    });
  outcome.catch(() => {});
  for (let step = 0; !settled && step < 100_000; step++) await clock.advance(5);
  assert.ok(settled, "the transfer ended");
  await clock.advance(5000); // MRP delivers the last messages (BlockAckEOF, a StatusReport)
  return { outcome, slot, log, link };
}

function erased(slot: { read(offset: number, length: number): Uint8Array; size: number }): boolean {
  return slot.read(0, slot.size).every((byte) => byte === 0xff);
}

test("a signed image arrives over exchanges and MRP on a lossy link, and is accepted", async () => {
  const payload = new Uint8Array(60_000).map((_, i) => (i * 131) & 0xff);
  const file = signedImage(payload);
  const { outcome, slot, log, link } = await download(file, {}, 9);
  const header = await outcome;
  assert.equal(header.softwareVersion, 2);
  assert.deepEqual(slot.read(0, payload.length), payload);
  assert.ok(log.some((entry) => entry.startsWith("BlockAckEOF")), "the provider saw BlockAckEOF");
  assert.ok(link.packets.some((packet) => packet.dropped), "packets were lost and retransmitted");
});

test("a provider that stops mid-transfer: timeout, slot erased", async () => {
  const file = signedImage(new Uint8Array(30_000).fill(0x5a));
  const { outcome, slot } = await download(file, { silentAt: 10 });
  await assert.rejects(outcome, (error) => error instanceof BdxError && /no Block/.test(error.message) && error.bytesReceived === 9000);
  assert.ok(erased(slot));
});

test("a provider that fails mid-transfer: its status ends it, slot erased", async () => {
  const file = signedImage(new Uint8Array(30_000).fill(0xa5));
  const { outcome, slot } = await download(file, { failAt: 5 });
  await assert.rejects(outcome, (error) => error instanceof BdxError && error.byPeer && error.status === BdxStatus.transferFailedUnknownError);
  assert.ok(erased(slot));
});

test("an image the slot writer refuses: at its header the sender is told at once; a wrong digest after the last block", async () => {
  const payload = new Uint8Array(30_000).fill(1);
  const otherVendor = concatBytes(
    encodeOtaHeader({ vendorId: 0xfff2, productId: 0x8000, softwareVersion: 2, softwareVersionString: "2", payloadSize: payload.length }, sha256(payload), (m) => ecdsaSign(signingKey, m)),
    payload,
  );
  const refusedEarly = await download(otherVendor, {});
  await assert.rejects(refusedEarly.outcome, (error) => error instanceof OtaImageError && error.fault === OtaFault.wrongVendor);
  assert.deepEqual(refusedEarly.log, ["status from receiver"]);
  assert.ok(erased(refusedEarly.slot));

  const wrongDigest = signedImage(payload);
  wrongDigest[wrongDigest.length - 10]! ^= 1;
  const refusedLate = await download(wrongDigest, {});
  await assert.rejects(refusedLate.outcome, (error) => error instanceof OtaImageError && error.fault === OtaFault.digestMismatch);
  assert.ok(erased(refusedLate.slot));
});
