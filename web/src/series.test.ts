// The client's half of live series: merging the server's events reproduces exactly what the server last queried,
// whatever changed in between (new points, late updates of old ones, points leaving the window, groups coming and
// going); and long rows pivot into uPlot's columns.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type SeriesRow, seriesDelta } from '../../src/http/series.ts';
import { mergeSeries, pivot } from './series.ts';

/** A query result as the server's series query returns it: ordered by time then group, one row per pair. */
const result = fc
  .uniqueArray(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.constantFrom('', 'a', 'b', 'c')), {
    selector: ([t, g]) => `${t}/${g}`,
    maxLength: 40,
  })
  .chain((keys) =>
    fc.tuple(
      ...keys.map(([t, g]) => fc.tuple(fc.constant(t), fc.constant(g), fc.option(fc.integer({ min: -5, max: 5 })))),
    ),
  )
  .map((rows) => (rows as SeriesRow[]).sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0)));

describe('live series on the client', () => {
  it('end up equal to the latest result after any sequence of server events', () => {
    fc.assert(
      fc.property(fc.array(result, { minLength: 1, maxLength: 8 }), (results) => {
        let sent: SeriesRow[] | undefined;
        let client: SeriesRow[] | undefined;
        for (const next of results) {
          const event = seriesDelta('s', sent, next);
          sent = next;
          if (event) client = mergeSeries(client, event);
          assert.deepEqual(client, next);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('pivot long rows into one column per group, with gaps as null', () => {
    const rows: SeriesRow[] = [
      [1, 'a', 10],
      [1, 'b', 20],
      [2, 'b', 21],
      [3, 'a', 12],
    ];
    assert.deepEqual(pivot(rows), {
      data: [
        [1, 2, 3],
        [10, null, 12],
        [20, 21, null],
      ],
      groups: ['a', 'b'],
    });
    assert.deepEqual(pivot([]), { data: [[]], groups: [] });
  });
});
