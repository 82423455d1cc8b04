// SQL results as charts: DuckDB's JSON values (timestamps as UTC text, 64-bit integers as strings) become numbers,
// and the x column decides the kind of chart (time, number, category), with one line per y column or per value of
// a split-by column.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chartOf, isNumericType, isTimeType, parseNumber, parseTime } from './sql-chart.ts';

describe('SQL results as charts', () => {
  it('read DuckDB values', () => {
    assert.equal(parseTime('2023-11-14 22:13:20'), 1_700_000_000_000);
    assert.equal(parseTime('2023-11-14 22:13:20.5'), 1_700_000_000_500);
    assert.equal(parseTime('2026-11-25 09:14:05.977+00'), Date.parse('2026-11-25T09:14:05.977Z'));
    assert.equal(parseTime('2024-01-02'), Date.parse('2024-01-02T00:00:00Z'));
    assert.equal(parseTime('not a time'), null);
    assert.equal(parseNumber('12'), 12);
    assert.equal(parseNumber('2.50'), 2.5);
    assert.equal(parseNumber('NaN'), null);
    assert.equal(parseNumber(null), null);
    assert.ok(isNumericType('DECIMAL(10,2)') && isNumericType('BIGINT') && !isNumericType('VARCHAR'));
    assert.ok(isTimeType('TIMESTAMP_MS') && isTimeType('TIMESTAMP WITH TIME ZONE') && isTimeType('DATE'));
  });

  const columns = [
    { name: 'window_start', type: 'TIMESTAMP_MS' },
    { name: 'key', type: 'VARCHAR' },
    { name: 'cnt', type: 'BIGINT' },
    { name: 'total', type: 'DOUBLE' },
  ];
  const rows = [
    ['1970-01-01 00:02:00', 'b', '3', 30],
    ['1970-01-01 00:01:00', 'a', '1', 10],
    ['1970-01-01 00:01:00', 'b', '2', 20],
  ];
  const result = { columns, rows, truncated: false, elapsedMs: 1 };

  it('plot every numeric column over a time x, sorted by time', () => {
    const chart = chartOf(result, { x: 'window_start', y: '', split: '' });
    assert.equal(chart.x, 'time');
    assert.deepEqual(chart.series, ['cnt', 'total']);
    assert.deepEqual(chart.data, [
      [60_000, 60_000, 120_000],
      [1, 2, 3],
      [10, 20, 30],
    ]);
  });

  it('split one y column into a line per value', () => {
    const chart = chartOf(result, { x: 'window_start', y: 'total', split: 'key' });
    assert.deepEqual(chart.series, ['a', 'b']);
    assert.deepEqual(chart.data, [
      [60_000, 120_000],
      [10, null],
      [20, 30],
    ]);
  });

  it('draw bars over categories, and say why when there is nothing to draw', () => {
    const chart = chartOf(result, { x: 'key', y: 'cnt', split: '' });
    assert.equal(chart.x, 'category');
    assert.deepEqual(chart.categories, ['b', 'a']);
    assert.deepEqual(chart.data, [
      [0, 0, 1],
      [3, 2, 1],
    ]);
    assert.match(chartOf({ ...result, rows: [] }, { x: 'key', y: '', split: '' }).problem!, /no rows/);
    const text = { columns: [{ name: 'k', type: 'VARCHAR' }], rows: [['x']], truncated: false, elapsedMs: 1 };
    assert.match(chartOf(text, { x: 'k', y: '', split: '' }).problem!, /no numeric column/);
  });
});
