/** The Graphviz DOT backend (the default), shaped like `guix graph`'s output. */
import type { GraphBackend } from './index.js';
import { DEFAULT_RENDER, orderedEdges } from './index.js';

/** A DOT double-quoted string. */
export function dotString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

// Colours cycle by node so edges from one node share one colour, as in Guix's output.
const COLOURS = ['dimgrey', 'darkgoldenrod', 'darkviolet', 'peachpuff', 'darkcyan', 'cyan3', 'red', 'blue', 'darkseagreen', 'darkorange'];

export const graphviz: GraphBackend = {
  name: 'graphviz',
  description: 'Graphviz DOT, for `dot -Tsvg` (default; also `-b dot`)',
  render(graph, { typeName } = DEFAULT_RENDER) {
    // No `colorscheme = "svg"` (Guix writes it): Graphviz 2.43 then warns "transparent is not a known
    // color" on every graph, and the colours below are X11 names, Graphviz's default scheme.
    const lines = [`digraph ${dotString(`tsdsl ${typeName}`)} {`];
    const colour = new Map<string, string>();
    let i = 0;
    graph.forEachNode((id, a) => {
      colour.set(id, COLOURS[i++ % COLOURS.length]!);
      const shape = a.kind === 'bootstrap' ? 'box, style=dashed' : a.root ? 'box, style=bold' : 'box';
      lines.push(`  ${dotString(id)} [label = ${dotString(a.label)}, shape = ${shape}, fontname = sans];`);
    });
    for (const [s, t] of orderedEdges(graph)) lines.push(`  ${dotString(s)} -> ${dotString(t)} [color = ${colour.get(s)}];`);
    lines.push('}');
    return lines.join('\n') + '\n';
  },
};
