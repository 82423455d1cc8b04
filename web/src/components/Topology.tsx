// A pipeline's dataflow graph as SVG: sources → operators → sinks, each box coloured by its health (backpressure,
// idle, stopped), with its records per second; edges thicker with more traffic and moving while records flow;
// side outputs (late data, dead letters) dashed and labelled. Hover or focus a box for its full metrics.
import type { OperatorJson, PipelineJson, TopologyJson } from '../../../src/http/api.ts';
import { fmtLag, fmtNumber, fmtPercent, fmtRate, fmtTime } from '../format.ts';
import { HEALTH_LABELS, operatorHealth } from '../health.ts';
import { useWidth } from '../hooks.ts';
import { layoutTopology } from '../topology-layout.ts';

const NODE_W = 176;
const NODE_H = 56;
const PAD = 12;

export function Topology(props: { topology: TopologyJson; pipeline: PipelineJson }) {
  const { topology, pipeline } = props;
  const [host, width] = useWidth<HTMLDivElement>();
  const metrics = new Map(pipeline.operators.map((o) => [o.name, o]));
  const horizontal = layoutTopology(topology, {
    vertical: false,
    nodeWidth: NODE_W,
    nodeHeight: NODE_H,
    layerGap: 56,
    nodeGap: 16,
  });
  // On a narrow screen a wide graph would shrink to unreadable: lay it out top to bottom instead.
  const vertical = width > 0 && horizontal.width + 2 * PAD > width * 1.15;
  const layout = vertical
    ? layoutTopology(topology, { vertical: true, nodeWidth: NODE_W, nodeHeight: NODE_H, layerGap: 40, nodeGap: 12 })
    : horizontal;
  const w = layout.width + 2 * PAD;
  const h = layout.height + 2 * PAD;
  const at = (id: string) => {
    const p = layout.positions.get(id)!;
    return { x: p.x + PAD, y: p.y + PAD };
  };
  return (
    <div ref={host} class="topology" data-testid="topology" data-pipeline={topology.name}>
      <svg
        viewBox={`0 0 ${w} ${h}`}
        width={Math.min(w, width || w)}
        role="img"
        aria-label={`Dataflow of pipeline ${topology.name}: ${topology.nodes.length} operators`}
      >
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="9"
            markerHeight="9"
            markerUnits="userSpaceOnUse"
            orient="auto"
          >
            <path d="M0,0 L10,5 L0,10 z" class="edge-arrow" />
          </marker>
        </defs>
        {topology.edges.map((edge) => {
          if (!layout.positions.has(edge.from) || !layout.positions.has(edge.to)) return null;
          const a = at(edge.from);
          const b = at(edge.to);
          const [x1, y1, x2, y2] = vertical
            ? [a.x + NODE_W / 2, a.y + NODE_H, b.x + NODE_W / 2, b.y - 2]
            : [a.x + NODE_W, a.y + NODE_H / 2, b.x - 2, b.y + NODE_H / 2];
          const bend = vertical ? (y2 - y1) / 2 : (x2 - x1) / 2;
          const d = vertical
            ? `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`
            : `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
          const rate = metrics.get(edge.to)?.ratePerSec ?? 0;
          const flowing = pipeline.running && rate > 0;
          return (
            <g key={`${edge.from}->${edge.to}:${edge.side ?? ''}`} class="edge-group">
              <path
                d={d}
                class={`edge${edge.side ? ' side' : ''}${flowing ? ' flowing' : ''}`}
                style={{ strokeWidth: `${Math.min(6, 1.25 + Math.log10(rate + 1))}px` }}
                marker-end="url(#arrow)"
              />
              {edge.side && (
                <text
                  x={vertical ? x2 + 6 : x2 - 8}
                  y={vertical ? y2 - 8 : y2 - 6}
                  class="edge-label"
                  text-anchor={vertical ? 'start' : 'end'}
                >
                  {edge.side}
                </text>
              )}
            </g>
          );
        })}
        {topology.nodes.map((node) => {
          const p = at(node.id);
          const m = metrics.get(node.id);
          const health = operatorHealth(pipeline, m);
          const label = node.id.replace(/^(source|sink):/, '');
          return (
            <g
              key={node.id}
              transform={`translate(${p.x},${p.y})`}
              class={`node ${health} ${node.kind}`}
              data-node={node.id}
              data-health={health}
              tabIndex={0}
            >
              <title>{describe(node.id, node.description, health, m)}</title>
              <rect width={NODE_W} height={NODE_H} rx={node.kind === 'operator' ? 6 : 16} />
              <text x={10} y={20} class="node-kind">
                {node.kind === 'operator' ? node.description.replace(/Operator$/, '') : node.kind}
              </text>
              <text x={10} y={39} class="node-name">
                {label.length > 22 ? `${label.slice(0, 21)}…` : label}
              </text>
              <text x={NODE_W - 10} y={20} class="node-rate" text-anchor="end">
                {m ? fmtRate(m.ratePerSec) : ''}
              </text>
              {m && (m.deadLetters > 0 || m.lateRecords > 0) && (
                <text x={NODE_W - 10} y={50} class="node-warn" text-anchor="end">
                  {m.lateRecords > 0 ? `${fmtNumber(m.lateRecords)} late` : `${fmtNumber(m.deadLetters)} bad`}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    </div>
  );
}

function describe(id: string, description: string, health: string, m: OperatorJson | undefined): string {
  if (!m) return `${id} (${description})`;
  return [
    `${id} — ${description}`,
    `health: ${HEALTH_LABELS[health as keyof typeof HEALTH_LABELS]}`,
    `records/s: ${fmtRate(m.ratePerSec)}; in ${fmtNumber(m.recordsIn)}, out ${fmtNumber(m.recordsOut)}`,
    `watermark: ${fmtTime(m.watermark)}${m.watermarkLagMs !== null ? ` (${fmtLag(m.watermarkLagMs)})` : ''}`,
    `late records: ${fmtNumber(m.lateRecords)}; dead letters: ${fmtNumber(m.deadLetters)}`,
    `state: ${fmtNumber(m.stateSize)} entries; backpressure ${fmtPercent(m.backpressure)}`,
  ].join('\n');
}
