// Pages of a long list: every row is on exactly one page, in order; a page past the end shows the last page.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pageWindow } from './paging.ts';

describe('pageWindow', () => {
  it('shows 20 of 130 rows a page, the last page the rest', () => {
    assert.deepEqual(pageWindow(130, 20, 0), { page: 0, pages: 7, start: 0, end: 20 });
    assert.deepEqual(pageWindow(130, 20, 6), { page: 6, pages: 7, start: 120, end: 130 });
  });

  it('clamps a page past the end (the list shrank) to the last one, and a negative one to the first', () => {
    assert.deepEqual(pageWindow(30, 20, 5), { page: 1, pages: 2, start: 20, end: 30 });
    assert.deepEqual(pageWindow(30, 20, -1), { page: 0, pages: 2, start: 0, end: 20 });
    assert.deepEqual(pageWindow(0, 20, 3), { page: 0, pages: 1, start: 0, end: 0 });
  });

  it('is one page of everything with no size', () => {
    assert.deepEqual(pageWindow(1000, Number.POSITIVE_INFINITY, 0), { page: 0, pages: 1, start: 0, end: 1000 });
  });

  it('puts every row on exactly one page, in order, none longer than the size', () => {
    fc.assert(
      fc.property(fc.nat(500), fc.integer({ min: 1, max: 60 }), (total, size) => {
        const { pages } = pageWindow(total, size, 0);
        const seen: number[] = [];
        for (let p = 0; p < pages; p++) {
          const w = pageWindow(total, size, p);
          assert.equal(w.page, p);
          assert.ok(w.end - w.start <= size);
          for (let i = w.start; i < w.end; i++) seen.push(i);
        }
        assert.deepEqual(
          seen,
          Array.from({ length: total }, (_, i) => i),
        );
      }),
    );
  });
});
