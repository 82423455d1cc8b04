// The architecture as documented is the architecture as built: docs/architecture.md's module diagram is drawn from
// the imports (scripts/architecture.ts), and the layers it shows are the ones dependency-cruiser enforces.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { DOC, moduleEdges, renderDoc } from '../scripts/architecture.ts';

test("docs/architecture.md's module diagram matches the imports (node scripts/architecture.ts redraws it)", () => {
  const current = fs.readFileSync(DOC, 'utf8');
  const edges = moduleEdges();
  assert.ok(edges.length > 20, `the diagram has the modules' imports (${edges.length} arrows)`);
  assert.ok(edges.includes('engine → log') && edges.includes('cli → engine'), edges.join('\n'));
  assert.equal(renderDoc(current, edges), current, 'out of date: run node scripts/architecture.ts');
});
