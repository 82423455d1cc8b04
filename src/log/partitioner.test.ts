import assert from 'node:assert/strict';
import { it } from 'node:test';
import { murmur2, partitionForKey } from './partitioner.ts';

it('matches Kafka Java murmur2 test vectors', () => {
  const cases: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [input, expected] of cases) assert.equal(murmur2(Buffer.from(input)), expected, input);
});

it('maps keys to partitions in range, stably', () => {
  for (let i = 0; i < 1000; i++) {
    const p = partitionForKey(Buffer.from(`key-${i}`), 7);
    assert.ok(p >= 0 && p < 7);
    assert.equal(p, partitionForKey(Buffer.from(`key-${i}`), 7));
  }
});
