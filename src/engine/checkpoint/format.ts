// The checkpoint file format: a fixed header (magic, format version, CRC-32C and length of the payload) followed
// by the payload, one v8.serialize of the snapshot (it keeps Maps, Sets, typed arrays, big numbers and -0 as
// they are). A file that is short, has another magic or version, or fails its checksum is refused as a whole,
// never half-read.
import v8 from 'node:v8';
import { crc32c } from '@node-rs/crc32';
import { SluiceError } from '../../errors.ts';

const MAGIC = Buffer.from('SLUICECK', 'latin1');
export const CHECKPOINT_FORMAT_VERSION = 1;
const HEADER_BYTES = 8 + 4 + 4 + 8;

/** Everything a pipeline needs to resume exactly where the checkpoint's barrier was. */
export interface CheckpointData {
  pipeline: string;
  id: number;
  kind: 'checkpoint' | 'savepoint';
  takenAt: number;
  /** Source positions (log offsets per partition) by source node uid. */
  sources: Record<string, unknown>;
  /**
   * Operator state and event time by node uid; `kind` is the operator's stable kind (`window-tumbling`), to catch
   * incompatible changes — or, in checkpoints written before kinds, its class name (see kinds.ts).
   */
  operators: Record<string, { kind: string; state: unknown; time: unknown }>;
  /** What each exactly-once sink's prepareCheckpoint() returned, by sink node uid. */
  sinks: Record<string, unknown>;
}

export function encodeCheckpoint(data: CheckpointData): Buffer {
  const payload = v8.serialize(data);
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(CHECKPOINT_FORMAT_VERSION, 8);
  header.writeUInt32BE(crc32c(payload), 12);
  header.writeBigUInt64BE(BigInt(payload.length), 16);
  return Buffer.concat([header, payload]);
}

export function decodeCheckpoint(bytes: Buffer, where: string): CheckpointData {
  const bad = (why: string) => new SluiceError('CORRUPT_CHECKPOINT', `${where}: ${why}`, { file: where });
  if (bytes.length < HEADER_BYTES || !bytes.subarray(0, 8).equals(MAGIC)) throw bad('not a Sluice checkpoint');
  const version = bytes.readUInt32BE(8);
  if (version !== CHECKPOINT_FORMAT_VERSION) {
    throw new SluiceError(
      'UNSUPPORTED_CHECKPOINT',
      `${where}: checkpoint format version ${version}; this Sluice reads version ${CHECKPOINT_FORMAT_VERSION}`,
      { file: where, version },
    );
  }
  const length = Number(bytes.readBigUInt64BE(16));
  if (bytes.length !== HEADER_BYTES + length) {
    throw bad(`${bytes.length - HEADER_BYTES} payload bytes, the header says ${length}`);
  }
  const payload = bytes.subarray(HEADER_BYTES);
  if (crc32c(payload) !== bytes.readUInt32BE(12)) throw bad('checksum mismatch');
  return v8.deserialize(payload) as CheckpointData;
}
