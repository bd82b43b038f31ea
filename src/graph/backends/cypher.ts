/** Cypher backend: statements that load the graph into Neo4j or Memgraph. */
import type { GraphBackend } from './index.js';
import { orderedEdges } from './index.js';

function cypherString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export const cypher: GraphBackend = {
  name: 'cypher',
  description: 'Cypher statements for Neo4j or Memgraph',
  render(graph) {
    const lines: string[] = [];
    graph.forEachNode((id, a) => {
      lines.push(`MERGE (:Package {id: ${cypherString(id)}, label: ${cypherString(a.label)}, kind: ${cypherString(a.kind)}});`);
    });
    for (const [s, t] of orderedEdges(graph)) {
      lines.push(`MATCH (a:Package {id: ${cypherString(s)}}), (b:Package {id: ${cypherString(t)}}) MERGE (a)-[:DEPENDS_ON]->(b);`);
    }
    return lines.join('\n') + '\n';
  },
};
