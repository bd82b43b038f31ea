/** JSON backend: `{ type, nodes: [{ id, label, kind, depth, root }], edges: [{ source, target }] }`. */
import type { GraphBackend } from './index.js';
import { DEFAULT_RENDER, orderedEdges } from './index.js';

export const json: GraphBackend = {
  name: 'json',
  description: 'JSON with nodes and edges, for scripts',
  render(graph, { typeName } = DEFAULT_RENDER) {
    const nodes: unknown[] = [];
    graph.forEachNode((id, a) => nodes.push({ id, label: a.label, kind: a.kind, depth: a.depth, root: a.root }));
    const edges = orderedEdges(graph).map(([source, target]) => ({ source, target }));
    return JSON.stringify({ type: typeName, nodes, edges }, null, 2) + '\n';
  },
};
