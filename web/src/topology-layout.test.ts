// The graph layout: each operator a layer after its furthest input, so that no edge skips a layer in a chain of
// operators (it would run behind the boxes in between), no two boxes overlapping, and the same graph top to bottom
// when vertical.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { layoutTopology } from './topology-layout.ts';

const graph = {
  nodes: [
    { id: 'source:a', kind: 'source' },
    { id: 'source:b', kind: 'source' },
    { id: 'union', kind: 'operator' },
    { id: 'window', kind: 'operator' },
    { id: 'map', kind: 'operator' },
    { id: 'sink:late', kind: 'sink' },
    { id: 'sink:out', kind: 'sink' },
  ],
  edges: [
    { from: 'source:a', to: 'union' },
    { from: 'source:b', to: 'union' },
    { from: 'union', to: 'window' },
    { from: 'window', to: 'map' },
    { from: 'window', to: 'sink:late' },
    { from: 'map', to: 'sink:out' },
  ],
};
const options = { vertical: false, nodeWidth: 100, nodeHeight: 40, layerGap: 20, nodeGap: 10 };

describe('topology layout', () => {
  it('puts each operator one layer after its furthest input', () => {
    const { positions, width, height } = layoutTopology(graph, options);
    const x = (id: string) => positions.get(id)!.x;
    for (const edge of graph.edges) assert.equal(x(edge.to) - x(edge.from), 120, `${edge.from} → ${edge.to}`);
    assert.equal(x('sink:late'), x('map'), 'the late-data sink right after the window, beside map');
    assert.equal(width, 5 * 100 + 4 * 20);
    assert.equal(height, 2 * 40 + 10);
    const boxes = [...positions.values()];
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, b] = [boxes[i]!, boxes[j]!];
        const overlap = Math.abs(a.x - b.x) < 100 && Math.abs(a.y - b.y) < 40;
        assert.ok(!overlap, `boxes ${i} and ${j} overlap`);
      }
    }
  });

  it('lays the same layers out top to bottom when vertical', () => {
    const vertical = layoutTopology(graph, { ...options, vertical: true });
    const horizontal = layoutTopology(graph, options);
    for (const [id, p] of horizontal.positions) {
      const layer = p.x / (100 + 20);
      assert.equal(vertical.positions.get(id)!.y, layer * (40 + 20), id);
    }
    assert.equal(vertical.height, 5 * 40 + 4 * 20);
  });

  it('copes with edges to unknown nodes and with a single node', () => {
    const one = layoutTopology({ nodes: [{ id: 'x', kind: 'source' }], edges: [{ from: 'x', to: 'gone' }] }, options);
    assert.deepEqual(one.positions.get('x'), { x: 0, y: 0 });
    assert.deepEqual([one.width, one.height], [100, 40]);
  });
});
