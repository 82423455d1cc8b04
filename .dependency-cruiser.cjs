// The layers of src/, checked by `npm run lint:deps` (in .ci/run): data flows one way, every folder is used only
// through its index.ts from outside, and nothing imports in a cycle. docs/architecture.md draws the same layers:
//
//   contracts, errors, logger, files, modules     (leaves: types and small helpers every stage shares)
//   log                                            (the durable log)
//   kafka, engine                                  (the Kafka protocol over the log; the stream engine)
//   connectors, serve                              (Kafka-client sources and sinks; the serving store)
//   sql                                            (streaming SQL compiled onto the engine)
//   runtime                                        (hosting and supervising pipelines)
//   scale                                          (partition tasks on those hosts: threads, group members)
//   http, orchestrate                              (the HTTP API; deployments)
//   cli                                            (the `sluice` command)
//   index.ts, testing.ts, kafka.ts                 (the package's public entry points)
const LAYERS = [
  ['contracts', 'errors.ts', 'logger.ts', 'files.ts', 'modules.ts'],
  ['log'],
  ['kafka', 'engine'],
  ['connectors', 'serve'],
  ['sql'],
  ['runtime'],
  ['scale'],
  ['http', 'orchestrate'],
  ['cli'],
  ['index.ts', 'testing.ts', 'kafka.ts'],
];

const escapeDot = (name) => name.replace('.', '\\.');
const pathOf = (names) => `^src/(${names.map(escapeDot).join('|')})($|/)`;

/** Each layer may use only the layers below it (and, within a layer, nothing of its sibling folders). */
const layerRules = LAYERS.flatMap((layer, level) => {
  const above = LAYERS.slice(level + 1).flat();
  const rules = [];
  if (above.length > 0) {
    rules.push({
      name: `layer-${layer.join('+')}`,
      comment: `${layer.join(', ')} may not depend on a higher layer (${above.join(', ')})`,
      severity: 'error',
      from: { path: pathOf(layer) },
      to: { path: pathOf(above) },
    });
  }
  for (const name of layer) {
    const siblings = layer.filter((other) => other !== name);
    if (siblings.length === 0 || level === 0) continue;
    rules.push({
      name: `layer-siblings-${name}`,
      comment: `${name} may not depend on ${siblings.join(', ')}, which sit in the same layer`,
      severity: 'error',
      from: { path: pathOf([name]) },
      to: { path: pathOf(siblings) },
    });
  }
  return rules;
});

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'no import cycles, type-only imports included',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'through-index-only',
      comment: 'another folder of src/ is used through its index.ts only, never by reaching into its files',
      severity: 'error',
      from: { path: '^src/([^/]+)/', pathNot: '\\.test\\.ts$' },
      to: { path: '^src/[^/]+/', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'contracts-are-types',
      comment: 'src/contracts holds interfaces only: it imports nothing outside itself',
      severity: 'error',
      from: { path: '^src/contracts/' },
      to: { pathNot: '^src/contracts/' },
    },
    {
      name: 'src-stands-alone',
      comment:
        'the sources never import examples, templates, tests, benchmarks, scripts or test support (tests may import examples)',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { path: '^(examples|templates|test|bench|scripts|support)/' },
    },
    {
      name: 'examples-use-the-package',
      comment: "examples and templates import the package by name ('sluice'), as users do, never its files",
      severity: 'error',
      from: { path: '^(examples|templates)/' },
      to: { path: '^src/', dependencyTypes: ['local'] },
    },
    {
      name: 'bench-not-tests',
      comment: 'benchmarks do not import tests; what both need (running programs) is in support/',
      severity: 'error',
      from: { path: '^bench/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    // TypeScript 7 has no compiler API for dependency-cruiser's TypeScript parser: swc parses the sources, and its
    // syntax tree keeps type-only imports, so they count too (tsPreCompilationDeps would ask for tsc itself).
    parser: 'swc',
    tsPreCompilationDeps: false,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|web/dist|node_modules)/' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.tsx', '.js'],
      // Resolve the package's self-references ('sluice', 'sluice/testing') to the sources, as the repository does.
      conditionNames: ['sluice-source', 'import', 'node', 'default'],
      exportsFields: ['exports'],
      mainFields: ['module', 'main'],
    },
  },
};
