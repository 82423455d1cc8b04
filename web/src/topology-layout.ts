// Lays a pipeline's dataflow graph out in layers: each operator one layer after its furthest input, ordered within
// its layer by the average position of its neighbours (a few sweeps of the barycentre heuristic, which removes
// most crossings in graphs this size). Sinks stay in their own layer rather than all in the last one: an edge that
// skipped layers would run behind the boxes in between. Left to right, or top to bottom on a narrow screen.

export interface LayoutInput {
  nodes: { id: string; kind: string }[];
  edges: { from: string; to: string }[];
}

export interface LayoutOptions {
  vertical: boolean;
  nodeWidth: number;
  nodeHeight: number;
  /** Space between layers and between nodes of a layer. */
  layerGap: number;
  nodeGap: number;
}

export interface Layout {
  positions: Map<string, { x: number; y: number }>;
  width: number;
  height: number;
}

export function layoutTopology(graph: LayoutInput, options: LayoutOptions): Layout {
  const ids = graph.nodes.map((n) => n.id);
  const known = new Set(ids);
  const edges = graph.edges.filter((e) => known.has(e.from) && known.has(e.to) && e.from !== e.to);
  const incoming = new Map<string, string[]>(ids.map((id) => [id, []]));
  const outgoing = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const e of edges) {
    incoming.get(e.to)!.push(e.from);
    outgoing.get(e.from)!.push(e.to);
  }
  // Longest path from the sources, in topological order (Kahn); anything left in a cycle stays at layer 0.
  const layer = new Map<string, number>(ids.map((id) => [id, 0]));
  const pending = new Map(ids.map((id) => [id, incoming.get(id)!.length]));
  const queue = ids.filter((id) => pending.get(id) === 0);
  while (queue.length > 0) {
    const id = queue.shift()!;
    for (const next of outgoing.get(id)!) {
      layer.set(next, Math.max(layer.get(next)!, layer.get(id)! + 1));
      pending.set(next, pending.get(next)! - 1);
      if (pending.get(next) === 0) queue.push(next);
    }
  }
  const last = Math.max(0, ...layer.values());

  const layers: string[][] = Array.from({ length: last + 1 }, () => []);
  for (const id of ids) layers[layer.get(id)!]!.push(id);
  const position = new Map<string, number>();
  const renumber = () => {
    for (const ids of layers) for (let i = 0; i < ids.length; i++) position.set(ids[i]!, i);
  };
  renumber();
  const barycentre = (id: string, neighbours: string[]) =>
    neighbours.length === 0
      ? position.get(id)!
      : neighbours.reduce((sum, n) => sum + position.get(n)!, 0) / neighbours.length;
  for (let sweep = 0; sweep < 4; sweep++) {
    const down = sweep % 2 === 0;
    const order = down ? layers.slice(1) : layers.slice(0, -1).reverse();
    for (const ids of order) {
      const keys = new Map(ids.map((id) => [id, barycentre(id, (down ? incoming : outgoing).get(id)!)]));
      ids.sort((a, b) => keys.get(a)! - keys.get(b)! || position.get(a)! - position.get(b)!);
      renumber();
    }
  }

  const widest = Math.max(1, ...layers.map((ids) => ids.length));
  const along = options.vertical ? options.nodeHeight : options.nodeWidth;
  const across = options.vertical ? options.nodeWidth : options.nodeHeight;
  const positions = new Map<string, { x: number; y: number }>();
  layers.forEach((ids, l) => {
    // Centre each layer across the widest one.
    const offset = ((widest - ids.length) * (across + options.nodeGap)) / 2;
    ids.forEach((id, i) => {
      const a = l * (along + options.layerGap);
      const b = offset + i * (across + options.nodeGap);
      positions.set(id, options.vertical ? { x: b, y: a } : { x: a, y: b });
    });
  });
  const lengthAlong = layers.length * along + (layers.length - 1) * options.layerGap;
  const lengthAcross = widest * across + (widest - 1) * options.nodeGap;
  return {
    positions,
    width: options.vertical ? lengthAcross : lengthAlong,
    height: options.vertical ? lengthAlong : lengthAcross,
  };
}
