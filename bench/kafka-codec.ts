// `npm run bench -- kafka-codec`: the hot Kafka codecs — decoding a Produce request, encoding a Fetch response — as
// the broker runs them (generated schemas, interpreted), against hand-written codecs of the same messages in the same
// run (the baseline: what a hand-coded reader/writer costs). Record batches are 16 KiB and stay bytes in both.
import assert from 'node:assert/strict';
import { decodeRequest, encodeRequest, encodeResponse, Fetch, Produce } from '../src/kafka/protocol/index.ts';
import { Reader, Writer } from '../src/kafka/protocol/primitives.ts';

const records = Buffer.alloc(16 * 1024, 1);
const ROUNDS = 40;
const PER_ROUND = 20_000;

/** Produce v7 (classic) or v9 (flexible) request body, by hand: what the generated schema is measured against. */
function handDecodeProduce(frame: Buffer, flexible: boolean) {
  const r = new Reader(frame);
  const header = { apiKey: r.int16(), apiVersion: r.int16(), correlationId: r.int32(), clientId: r.string(false) };
  if (flexible) r.skipTaggedFields();
  const transactionalId = r.string(flexible);
  const acks = r.int16();
  const timeoutMs = r.int32();
  const topicData = new Array(r.arrayLength(flexible));
  for (let t = 0; t < topicData.length; t++) {
    const name = r.string(flexible);
    const partitionData = new Array(r.arrayLength(flexible));
    for (let p = 0; p < partitionData.length; p++) {
      partitionData[p] = { index: r.int32(), records: r.bytes(flexible) };
      if (flexible) r.skipTaggedFields();
    }
    topicData[t] = { name, partitionData };
    if (flexible) r.skipTaggedFields();
  }
  if (flexible) r.skipTaggedFields();
  return { header, body: { transactionalId, acks, timeoutMs, topicData } };
}

interface FetchPartition {
  partitionIndex: number;
  errorCode: number;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
  preferredReadReplica: number;
  records: Buffer;
}

/** Fetch v11 (classic) or v12 (flexible) response, by hand. */
function handEncodeFetch(correlationId: number, topic: string, partitions: FetchPartition[], flexible: boolean) {
  const w = new Writer();
  w.int32(correlationId);
  if (flexible) w.emptyTaggedFields();
  w.int32(0).int16(0).int32(0).arrayLength(1, flexible).string(topic, flexible);
  w.arrayLength(partitions.length, flexible);
  for (const p of partitions) {
    w.int32(p.partitionIndex).int16(p.errorCode).int64(p.highWatermark).int64(p.lastStableOffset);
    w.int64(p.logStartOffset).arrayLength(null, flexible).int32(p.preferredReadReplica).bytes(p.records, flexible);
    if (flexible) w.emptyTaggedFields();
  }
  if (flexible) w.emptyTaggedFields().emptyTaggedFields();
  return w.toFrame();
}

/** ns per call of each function, interleaved in short rounds; the fastest round counts (the least disturbed). */
function race(a: () => unknown, b: () => unknown): [number, number] {
  const best = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, fn] of round % 2 ? [[0, a] as const, [1, b] as const] : [[1, b] as const, [0, a] as const]) {
      const start = process.hrtime.bigint();
      for (let n = 0; n < PER_ROUND; n++) fn();
      best[i] = Math.min(best[i]!, Number(process.hrtime.bigint() - start) / PER_ROUND);
    }
  }
  return [Math.round(best[0]!), Math.round(best[1]!)];
}

const results: Record<string, { generatedNs: number; handWrittenNs: number; ratio: number }> = {};
function report(name: string, [generated, hand]: [number, number]): void {
  results[name] = { generatedNs: generated, handWrittenNs: hand, ratio: +(generated / hand).toFixed(3) };
  console.error(`${name}: generated ${generated} ns, hand-written ${hand} ns (×${results[name].ratio})`);
}

for (const [version, partitions] of [
  [7, 1],
  [9, 6],
] as const) {
  const body = {
    transactionalId: null,
    acks: -1,
    timeoutMs: 30_000,
    topicData: [
      { name: 'bench-topic', partitionData: Array.from({ length: partitions }, (_, index) => ({ index, records })) },
    ],
  };
  const frame = encodeRequest(Produce, version, 1, 'bench', body).subarray(4);
  assert.deepEqual(decodeRequest(frame).body, handDecodeProduce(frame, version >= 9).body); // the same work
  report(
    `produceDecode_v${version}_p${partitions}`,
    race(
      () => decodeRequest(frame),
      () => handDecodeProduce(frame, version >= 9),
    ),
  );
}

for (const [version, count] of [
  [11, 1],
  [12, 6],
] as const) {
  const partitions = Array.from({ length: count }, (_, i) => ({
    partitionIndex: i,
    errorCode: 0,
    highWatermark: 1_000_000,
    lastStableOffset: 1_000_000,
    logStartOffset: 0,
    abortedTransactions: null,
    preferredReadReplica: -1,
    records,
  }));
  const body = { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: [{ topic: 'bench-topic', partitions }] };
  const same = [encodeResponse(Fetch, version, 1, body), handEncodeFetch(1, 'bench-topic', partitions, version >= 12)];
  assert.deepEqual(Buffer.concat(same[0]!), Buffer.concat(same[1]!)); // the same bytes
  report(
    `fetchEncode_v${version}_p${count}`,
    race(
      () => encodeResponse(Fetch, version, 1, body),
      () => handEncodeFetch(1, 'bench-topic', partitions, version >= 12),
    ),
  );
}

console.log(JSON.stringify({ bench: 'kafka-codec', recordBytes: records.length, ...results }));
