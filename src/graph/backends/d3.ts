/**
 * A self-contained HTML page drawing the graph with a force-directed layout (the `d3` backend
 * of `guix graph`). The page embeds its data and a small layout script of our own, so it opens
 * offline, from a cluster's file system, with nothing fetched from the network.
 */
import type { GraphBackend } from './index.js';
import { DEFAULT_RENDER, orderedEdges } from './index.js';
import { xmlEscape } from './graphml.js';

const SCRIPT = `
const data = JSON.parse(document.getElementById('graph-data').textContent);
const svg = document.getElementById('graph');
const W = window.innerWidth, H = window.innerHeight;
svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
const NS = 'http://www.w3.org/2000/svg';
const nodes = data.nodes.map((n, i) => ({ ...n, x: W / 2 + 200 * Math.cos(i), y: H / 2 + 200 * Math.sin(i), vx: 0, vy: 0 }));
const index = new Map(nodes.map((n, i) => [n.id, i]));
const links = data.edges.map((e) => ({ s: nodes[index.get(e.source)], t: nodes[index.get(e.target)] }));
const lines = links.map(() => svg.appendChild(document.createElementNS(NS, 'line')));
const groups = nodes.map((n) => {
  const g = svg.appendChild(document.createElementNS(NS, 'g'));
  const c = g.appendChild(document.createElementNS(NS, 'circle'));
  c.setAttribute('r', n.root ? 8 : 5);
  c.setAttribute('class', n.kind + (n.root ? ' root' : ''));
  const t = g.appendChild(document.createElementNS(NS, 'text'));
  t.textContent = n.label; t.setAttribute('x', 9); t.setAttribute('y', 4);
  let drag = false;
  g.addEventListener('mousedown', () => { drag = true; n.fixed = true; });
  window.addEventListener('mouseup', () => { drag = false; });
  window.addEventListener('mousemove', (ev) => { if (drag) { n.x = ev.clientX; n.y = ev.clientY; alpha = Math.max(alpha, 0.3); } });
  return g;
});
let alpha = 1;
function tick() {
  for (let i = 0; i < nodes.length; i++) for (let j = i + 1; j < nodes.length; j++) {
    const a = nodes[i], b = nodes[j];
    let dx = b.x - a.x, dy = b.y - a.y, d2 = dx * dx + dy * dy || 0.01;
    const f = 900 * alpha / d2;
    a.vx -= dx * f; a.vy -= dy * f; b.vx += dx * f; b.vy += dy * f;
  }
  for (const l of links) {
    const dx = l.t.x - l.s.x, dy = l.t.y - l.s.y, d = Math.sqrt(dx * dx + dy * dy) || 1;
    const f = (d - 80) * 0.02 * alpha / d;
    l.s.vx += dx * f; l.s.vy += dy * f; l.t.vx -= dx * f; l.t.vy -= dy * f;
  }
  for (const n of nodes) {
    n.vx += (W / 2 - n.x) * 0.002 * alpha; n.vy += (H / 2 - n.y) * 0.002 * alpha;
    if (!n.fixed) { n.x += n.vx; n.y += n.vy; }
    n.vx *= 0.6; n.vy *= 0.6;
  }
  links.forEach((l, i) => { const e = lines[i]; e.setAttribute('x1', l.s.x); e.setAttribute('y1', l.s.y); e.setAttribute('x2', l.t.x); e.setAttribute('y2', l.t.y); });
  nodes.forEach((n, i) => groups[i].setAttribute('transform', 'translate(' + n.x + ',' + n.y + ')'));
  alpha *= 0.995;
  if (alpha > 0.01) requestAnimationFrame(tick);
}
tick();
`;

export const d3: GraphBackend = {
  name: 'd3',
  description: 'a self-contained HTML page with an interactive force layout (opens offline)',
  render(graph, { typeName } = DEFAULT_RENDER) {
    const nodes: unknown[] = [];
    graph.forEachNode((id, a) => nodes.push({ id, label: a.label, kind: a.kind, root: a.root }));
    const edges = orderedEdges(graph).map(([source, target]) => ({ source, target }));
    // `</` cannot appear inside a script element; JSON escapes it harmlessly as `<\\/`.
    const data = JSON.stringify({ type: typeName, nodes, edges }).replace(/<\//g, '<\\/');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${xmlEscape(`tsdsl ${typeName} graph`)}</title>
<style>
  html, body { margin: 0; height: 100%; font: 12px sans-serif; }
  svg { width: 100%; height: 100%; }
  line { stroke: #999; stroke-opacity: 0.6; }
  circle { fill: steelblue; stroke: #fff; }
  circle.root { fill: crimson; }
  circle.bootstrap { fill: #bbb; }
  text { pointer-events: none; }
  g { cursor: move; }
</style>
</head>
<body>
<svg id="graph" xmlns="http://www.w3.org/2000/svg"></svg>
<script type="application/json" id="graph-data">${data}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
  },
};
