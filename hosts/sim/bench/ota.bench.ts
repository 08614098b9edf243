// Rows for the OTA download: the device's side of a whole transfer of a signed image, BDX
// message by message (BlockQuery out, Block in: the receiver's state machine) into the slot
// writer (header checks, both hashes, erase and write as it goes, signature at the end), for a
// 256 KB and a 2 MB image. The flash keeps nothing (the bytes leave the heap as they would to a
// partition), so the peak heap column shows what a download costs in RAM: the two should match.
import { utf8Encode } from "../../../src/codec/bytes";
import { createSha256, ecdsaSign, publicKeyFromPrivate, sha256 } from "../../../src/crypto";
import { BDX_PROTOCOL_ID, BdxOpcode, BdxReceiver, decodeCounterMessage, encodeReceiveAccept } from "../../../src/ota/bdx";
import { encodeOtaHeader } from "../../../src/ota/image";
import { OtaSlotWriter } from "../../../src/ota/slot-writer";
import type { FlashPartition, KeyValueStore } from "../../../src/platform";
import type { BenchOperation } from "./runner";

const BLOCK_SIZE = 1024;
/** Room for the 2 MB row (an ESP32 app slot of hosts/esp32/partitions.csv holds 1.875 MB). */
const SLOT_SIZE = 4 * 1024 * 1024;
const signingKey = sha256(utf8Encode("matter-xs bench firmware-signing key"));

/** Erases and writes are checked for order and range, and the bytes dropped. */
class DiscardingPartition implements FlashPartition {
  readonly size = SLOT_SIZE;
  readonly blockSize = 4096;
  private writtenTo = 0;
  read(_offset: number, length: number): Uint8Array {
    return new Uint8Array(length).fill(0xff);
  }
  write(offset: number, data: Uint8Array): void {
    if (offset !== this.writtenTo || offset + data.length > this.size) throw new Error(`write at ${offset}, expected ${this.writtenTo}`);
    this.writtenTo += data.length;
  }
  erase(offset: number, length: number): void {
    if (offset === 0) this.writtenTo = 0;
    if (offset % this.blockSize !== 0 || length % this.blockSize !== 0) throw new Error("unaligned erase");
  }
}

class MapStore implements KeyValueStore {
  readonly maxKeyLength = 15;
  readonly maxValueLength = 4000;
  private readonly entries = new Map<string, Uint8Array>();
  get(key: string): Uint8Array | undefined {
    return this.entries.get(key);
  }
  set(key: string, value: Uint8Array): void {
    this.entries.set(key, value.slice());
  }
  delete(key: string): void {
    this.entries.delete(key);
  }
  keys(prefix: string): string[] {
    return [...this.entries.keys()].filter((key) => key.startsWith(prefix));
  }
}

/** Payload block `index`: a fixed pattern with the index in its first bytes, so no two are alike. */
function fillBlock(target: Uint8Array, index: number): void {
  for (let i = 0; i < target.length; i++) target[i] = (i * 31 + index) & 0xff;
  target[0] = index & 0xff;
  target[1] = (index >>> 8) & 0xff;
}

function download(payloadSize: number): BenchOperation {
  return {
    name: `OTA download ${payloadSize >= 1 << 20 ? `${payloadSize >> 20} MB` : `${payloadSize >> 10} KB`} (BDX ${BLOCK_SIZE} B blocks → slot)`,
    bytesPerRun: payloadSize,
    minRuns: 1,
    budgetMs: 500,
    prepare() {
      // The image's header needs the payload's digest: hash the generated payload once, untimed.
      const pattern = new Uint8Array(BLOCK_SIZE);
      const hash = createSha256();
      for (let offset = 0, index = 0; offset < payloadSize; offset += BLOCK_SIZE, index++) {
        fillBlock(pattern, index);
        hash.update(pattern.subarray(0, Math.min(BLOCK_SIZE, payloadSize - offset)));
      }
      const header = encodeOtaHeader(
        { vendorId: 0xfff1, productId: 0x8000, softwareVersion: 2, softwareVersionString: "2.0", payloadSize },
        hash.digest(),
        (message) => ecdsaSign(signingKey, message),
      );
      const acceptance = { vendorId: 0xfff1, productId: 0x8000, runningVersion: 1, signingKey: publicKeyFromPrivate(signingKey) };
      const fileSize = header.length + payloadSize;
      const accept = encodeReceiveAccept({ version: 0, modes: { senderDrive: false, receiverDrive: true, asynchronous: false }, maxBlockSize: BLOCK_SIZE, length: fileSize });
      // The sender's Block message, rebuilt in place for each query.
      const message = new Uint8Array(4 + BLOCK_SIZE);
      const view = new DataView(message.buffer);

      return () => {
        const writer = new OtaSlotWriter({ partition: new DiscardingPartition(), slot: "ota_1", storage: new MapStore(), acceptance });
        writer.begin(2);
        const receiver = new BdxReceiver({ fileDesignator: utf8Encode("bench.ota"), maxBlockSize: BLOCK_SIZE });
        receiver.start();
        receiver.receive({ protocolId: BDX_PROTOCOL_ID, opcode: BdxOpcode.receiveAccept, payload: accept });
        let sent = 0;
        for (;;) {
          const query = receiver.next();
          if (query.opcode === BdxOpcode.blockAckEof) break;
          const counter = decodeCounterMessage(query.payload);
          // The file: the header, then the generated payload blocks, cut into BDX blocks.
          let length = 0;
          while (length < BLOCK_SIZE && sent < fileSize) {
            if (sent < header.length) {
              const take = Math.min(BLOCK_SIZE - length, header.length - sent);
              message.set(header.subarray(sent, sent + take), 4 + length);
              length += take;
              sent += take;
            } else {
              const payloadOffset = sent - header.length;
              const index = Math.floor(payloadOffset / BLOCK_SIZE);
              const within = payloadOffset % BLOCK_SIZE;
              fillBlock(pattern, index);
              const take = Math.min(BLOCK_SIZE - length, BLOCK_SIZE - within, payloadSize - payloadOffset);
              message.set(pattern.subarray(within, within + take), 4 + length);
              length += take;
              sent += take;
            }
          }
          view.setUint32(0, counter, true);
          const last = sent === fileSize && length < BLOCK_SIZE;
          const event = receiver.receive({ protocolId: BDX_PROTOCOL_ID, opcode: last ? BdxOpcode.blockEof : BdxOpcode.block, payload: message.subarray(0, 4 + length) });
          if (event.kind === "data" && event.data.length > 0) writer.write(event.data);
        }
        const accepted = writer.finish();
        if (accepted.payloadSize !== payloadSize) throw new Error("the image was not accepted whole");
      };
    },
  };
}

const rows: BenchOperation[] = [download(256 * 1024), download(2 * 1024 * 1024)];
export default rows;
