/** Mermaid flowchart backend, for Markdown renderers (GitHub, GitLab, docs sites). */
import type { GraphBackend } from './index.js';
import { orderedEdges } from './index.js';

export const mermaid: GraphBackend = {
  name: 'mermaid',
  description: 'Mermaid flowchart, for Markdown pages',
  render(graph) {
    const short = new Map<string, string>();
    const lines = ['flowchart TD'];
    graph.forEachNode((id, a) => {
      const key = `n${short.size}`;
      short.set(id, key);
      // Mermaid labels are quoted; `#quot;` is its escape for a double quote.
      lines.push(`  ${key}["${a.label.replace(/"/g, '#quot;')}"]`);
    });
    for (const [s, t] of orderedEdges(graph)) lines.push(`  ${short.get(s)} --> ${short.get(t)}`);
    return lines.join('\n') + '\n';
  },
};
