// The Results page's first chart of a table: a meaningful time column and measure for the demo's tables and for
// tables with ids, epoch-ms numbers, durations and ratios — never a key or an id, never a ratio summed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TableJson } from '../../src/http/api.ts';
import { chartDefaults } from './chart-defaults.ts';

const table = (columns: [string, string][], key: string[] = [], kind: TableJson['kind'] = 'keyed'): TableJson => ({
  name: 't',
  kind,
  key,
  columns: columns.map(([name, type]) => ({ name, type })),
  rows: 0,
});

describe('chartDefaults', () => {
  it('sums the count of a windowed table, a point per window', () => {
    const windowTotals = table(
      [
        ['window_start', 'TIMESTAMP_MS'],
        ['window_end', 'TIMESTAMP_MS'],
        ['key', 'VARCHAR'],
        ['cnt', 'BIGINT'],
        ['total', 'DOUBLE'],
      ],
      ['window_start', 'key'],
    );
    assert.deepEqual(chartDefaults(windowTotals), { time: 'window_start', measure: 'sum', column: 'cnt', bucketMs: 0 });
  });

  it('averages a reading or a ratio rather than summing it, per 10 s over an event time', () => {
    const sensorAverages = table(
      [
        ['sensor', 'VARCHAR'],
        ['ts', 'TIMESTAMP_MS'],
        ['avg_5m', 'DOUBLE'],
        ['min_5m', 'DOUBLE'],
        ['max_5m', 'DOUBLE'],
        ['readings_5m', 'BIGINT'],
      ],
      [],
      'append',
    );
    assert.deepEqual(chartDefaults(sensorAverages), { time: 'ts', measure: 'avg', column: 'avg_5m', bucketMs: 10_000 });
    const ratios = table([
      ['window_start', 'TIMESTAMP_MS'],
      ['ctr', 'DOUBLE'],
    ]);
    assert.equal(chartDefaults(ratios)?.measure, 'avg');
  });

  it('prefers a time column to an id or a number that comes first, and never measures ids or times', () => {
    const orders = table(
      [
        ['order_id', 'BIGINT'],
        ['customer_id', 'BIGINT'],
        ['created_at', 'BIGINT'],
        ['latency_ms', 'DOUBLE'],
        ['amount', 'DOUBLE'],
      ],
      ['order_id'],
    );
    assert.deepEqual(chartDefaults(orders), { time: 'created_at', measure: 'sum', column: 'amount', bucketMs: 10_000 });
    const durations = table([
      ['ts', 'TIMESTAMP_MS'],
      ['latency_ms', 'DOUBLE'],
    ]);
    assert.deepEqual(chartDefaults(durations), { time: 'ts', measure: 'avg', column: 'latency_ms', bucketMs: 10_000 });
  });

  it('counts rows when nothing numeric is worth measuring', () => {
    const logins = table([
      ['user_id', 'BIGINT'],
      ['at', 'TIMESTAMP_MS'],
      ['country', 'VARCHAR'],
    ]);
    assert.deepEqual(chartDefaults(logins), { time: 'at', measure: 'count', bucketMs: 10_000 });
  });

  it('has no chart for a table without a time column', () => {
    assert.equal(chartDefaults(table([['name', 'VARCHAR']])), undefined);
  });
});
