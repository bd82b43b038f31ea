/** GraphML backend, for Gephi, yEd, NetworkX and graph databases. */
import type { GraphBackend } from './index.js';
import { DEFAULT_RENDER, orderedEdges } from './index.js';

export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export const graphml: GraphBackend = {
  name: 'graphml',
  description: 'GraphML (XML), for Gephi, yEd and NetworkX',
  render(graph, { typeName } = DEFAULT_RENDER) {
    const lines = [
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
      '  <key id="label" for="node" attr.name="label" attr.type="string"/>',
      '  <key id="kind" for="node" attr.name="kind" attr.type="string"/>',
      `  <graph id="${xmlEscape(`tsdsl-${typeName}`)}" edgedefault="directed">`,
    ];
    graph.forEachNode((id, a) => {
      lines.push(`    <node id="${xmlEscape(id)}"><data key="label">${xmlEscape(a.label)}</data><data key="kind">${xmlEscape(a.kind)}</data></node>`);
    });
    orderedEdges(graph).forEach(([s, t], i) => lines.push(`    <edge id="e${i}" source="${xmlEscape(s)}" target="${xmlEscape(t)}"/>`));
    lines.push('  </graph>', '</graphml>');
    return lines.join('\n') + '\n';
  },
};
