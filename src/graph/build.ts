/**
 * Building a graph: walk a node type from root packages into a graphology directed graph,
 * optionally to a maximum depth, and check it is a DAG (a cycle is an error that prints it).
 * Node ids are `name@version`, made unique when two different objects share a name and
 * version (variants, transformed copies).
 */
import { DirectedGraph } from 'graphology';
import { TsdslError, didYouMean } from '../errors.js';
import { isPackage, type Package } from '../dsl/package.js';
import { nodeTypes, type GraphContext, type GraphNode, type NodeType } from './node-types.js';

/** Node attributes every backend can rely on. */
export interface NodeAttributes {
  label: string;
  kind: string;
  /** Distance from the nearest root. */
  depth: number;
  root: boolean;
}

export type PackageGraph = DirectedGraph<NodeAttributes>;

export interface BuildGraphOptions {
  maxDepth?: number;
  ctx?: GraphContext;
}

/** Look up a node type by name, with a suggestion for a misspelt one. */
export function findNodeType(name: string): NodeType {
  const t = nodeTypes.find((x) => x.name === name);
  if (!t) {
    const names = nodeTypes.map((x) => x.name);
    throw new TsdslError(`unknown graph type \`${name}\`${didYouMean(name, names)} (types: ${names.join(', ')}; see --list-types)`);
  }
  return t as NodeType;
}

/** Gives every node object a stable, readable, unique id. */
export class NodeIds {
  private readonly ids = new Map<GraphNode, string>();
  private readonly taken = new Map<string, number>();

  id(node: GraphNode, label: string): string {
    let id = this.ids.get(node);
    if (id !== undefined) return id;
    const base = isPackage(node) ? `${node.name}@${node.version}` : node.id;
    const n = this.taken.get(base) ?? 0;
    this.taken.set(base, n + 1);
    id = n === 0 ? base : `${base}#${n}`;
    void label;
    this.ids.set(node, id);
    return id;
  }
}

/** Walk `type` from `roots` breadth first into a graph. */
export async function buildGraph(type: NodeType, packages: readonly Package[], options: BuildGraphOptions = {}): Promise<{ graph: PackageGraph; ids: NodeIds; nodes: Map<string, GraphNode> }> {
  const ctx = options.ctx ?? {};
  const maxDepth = options.maxDepth ?? Infinity;
  const graph: PackageGraph = new DirectedGraph<NodeAttributes>({ allowSelfLoops: true });
  const ids = new NodeIds();
  const nodes = new Map<string, GraphNode>();
  const roots = await type.roots(packages, ctx);
  let frontier: GraphNode[] = [];
  for (const r of roots) {
    const id = ids.id(r, type.label(r));
    if (!graph.hasNode(id)) {
      graph.addNode(id, { label: type.label(r), kind: type.kind(r), depth: 0, root: true });
      nodes.set(id, r);
      frontier.push(r);
    }
  }
  for (let depth = 0; frontier.length && depth < maxDepth; depth++) {
    const next: GraphNode[] = [];
    for (const node of frontier) {
      const from = ids.id(node, '');
      for (const succ of type.edges(node, ctx)) {
        const label = type.label(succ);
        const to = ids.id(succ, label);
        if (!graph.hasNode(to)) {
          graph.addNode(to, { label, kind: type.kind(succ), depth: depth + 1, root: false });
          nodes.set(to, succ);
          next.push(succ);
        }
        if (!graph.hasEdge(from, to)) graph.addDirectedEdge(from, to);
      }
    }
    frontier = next;
  }
  const cycle = findCycle(graph);
  if (cycle) {
    throw new TsdslError(`dependency cycle in the ${type.name} graph: ${cycle.join(' → ')}; a package cannot depend on itself, directly or through others`);
  }
  return { graph, ids, nodes };
}

/** A cycle as a list of node ids (first repeated at the end), or undefined for a DAG. */
export function findCycle(graph: PackageGraph): string[] | undefined {
  const state = new Map<string, 1 | 2>();
  for (const start of graph.nodes()) {
    if (state.has(start)) continue;
    // Iterative DFS keeping the path, so deep graphs do not overflow the stack.
    const path: string[] = [];
    const iters: Array<Iterator<string>> = [];
    state.set(start, 1);
    path.push(start);
    iters.push(graph.outNeighbors(start)[Symbol.iterator]());
    while (iters.length) {
      const step = iters[iters.length - 1]!.next();
      if (step.done) {
        state.set(path.pop()!, 2);
        iters.pop();
        continue;
      }
      const n = step.value;
      const s = state.get(n);
      if (s === 1) return [...path.slice(path.indexOf(n)), n];
      if (s === undefined) {
        state.set(n, 1);
        path.push(n);
        iters.push(graph.outNeighbors(n)[Symbol.iterator]());
      }
    }
  }
  return undefined;
}

/** Node ids in topological order (dependencies last, as `graph` draws them: roots first). */
export function topologicalOrder(graph: PackageGraph): string[] {
  const indeg = new Map<string, number>();
  graph.forEachNode((n) => indeg.set(n, graph.inDegree(n)));
  const queue = graph.nodes().filter((n) => indeg.get(n) === 0);
  const out: string[] = [];
  for (let i = 0; i < queue.length; i++) {
    const n = queue[i]!;
    out.push(n);
    graph.forEachOutNeighbor(n, (m) => {
      const d = indeg.get(m)! - 1;
      indeg.set(m, d);
      if (d === 0) queue.push(m);
    });
  }
  return out;
}
