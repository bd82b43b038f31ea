/**
 * Building a graph: walk a node type from root packages into a graphology directed graph,
 * optionally to a maximum depth, and check it is a DAG (a cycle is an error that prints it).
 * Node ids are `name@version` with the variants other than the defaults (`mumps@5.5.1~metis`),
 * made unique when two different objects share them (transformed copies: `zlib@1.2.13#1`).
 */
import { CompactGraph } from './compact.js';
import { TsdslError, checkRequestKeys, didYouMean, shown } from '../errors.js';
import { checkPackageList, isPackage, specString, type Package } from '../dsl/package.js';
import { checkGraphContext, nodeTypes, type GraphContext, type GraphNode, type NodeType } from './node-types.js';

/** Node attributes every backend can rely on. */
export interface NodeAttributes {
  label: string;
  kind: string;
  /** Distance from the nearest root. */
  depth: number;
  root: boolean;
}

export type PackageGraph = CompactGraph<NodeAttributes>;

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

  /** The id of `node`, if it has one already. */
  get(node: GraphNode): string | undefined {
    return this.ids.get(node);
  }

  id(node: GraphNode): string {
    let id = this.ids.get(node);
    if (id !== undefined) return id;
    // A variant other than the defaults is in its id (`mumps@5.5.1~metis`), so the defaults'
    // package keeps the plain id whichever is met first (reverse graphs meet variants first).
    const base = isPackage(node) ? specString(node) : node.id;
    const n = this.taken.get(base) ?? 0;
    this.taken.set(base, n + 1);
    id = n === 0 ? base : `${base}#${n}`;
    this.ids.set(node, id);
    return id;
  }
}

/** Walk `type` from `roots` breadth first into a graph. */
export async function buildGraph(type: NodeType, packages: readonly Package[], options: BuildGraphOptions = {}): Promise<{ graph: PackageGraph; ids: NodeIds; nodes: Map<string, GraphNode> }> {
  if (typeof (type as Partial<NodeType> | undefined)?.roots !== 'function') {
    throw new TsdslError(`buildGraph: the first argument is a node type, such as findNodeType(${typeof type === 'string' ? `'${type}'` : "'package'"}), not ${typeof type === 'string' ? `the string '${type}'` : String(type)}`);
  }
  checkPackageList(packages, 'buildGraph (its second argument, the roots)');
  checkRequestKeys(options, ['maxDepth', 'ctx'], 'buildGraph');
  if (options.maxDepth !== undefined && !(options.maxDepth === Infinity || (Number.isInteger(options.maxDepth) && options.maxDepth >= 0))) {
    throw new TsdslError(`buildGraph: \`maxDepth\` is ${shown(options.maxDepth)}; give a whole number of edges from the roots, 0 or more (leave it out for the whole graph)`);
  }
  // A misspelt `collection` would leave a reverse graph searching the default collection, without
  // the dependents the given one holds.
  if (options.ctx !== undefined) checkGraphContext(options.ctx, 'buildGraph: ctx');
  let ctx = options.ctx ?? {};
  // A reverse graph searches a collection for dependents: the default one unless given.
  if (type.needsCollection && !ctx.collection) ctx = { ...ctx, collection: (await import('../transform/api.js')).getDefaultCollection() };
  const maxDepth = options.maxDepth ?? Infinity;
  const graph: PackageGraph = new CompactGraph<NodeAttributes>();
  const ids = new NodeIds();
  const nodes = new Map<string, GraphNode>();
  const indexOf = new Map<GraphNode, number>();
  const roots = await type.roots(packages, ctx);
  let frontier: GraphNode[] = [];
  for (const r of roots) {
    if (indexOf.has(r)) continue;
    const id = ids.id(r);
    indexOf.set(r, graph.addNode(id, { label: type.label(r), kind: type.kind(r), depth: 0, root: true }));
    nodes.set(id, r);
    frontier.push(r);
  }
  for (let depth = 0; frontier.length && depth < maxDepth; depth++) {
    const next: GraphNode[] = [];
    for (const node of frontier) {
      const from = indexOf.get(node)!;
      const seen = new Set<number>();
      for (const succ of type.edges(node, ctx)) {
        let to = indexOf.get(succ);
        if (to === undefined) {
          const id = ids.id(succ);
          to = graph.addNode(id, { label: type.label(succ), kind: type.kind(succ), depth: depth + 1, root: false });
          indexOf.set(succ, to);
          nodes.set(id, succ);
          next.push(succ);
        }
        if (seen.has(to)) continue; // the same input listed twice is one edge
        seen.add(to);
        graph.addEdgeByIndex(from, to);
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
  const n = graph.order;
  const state = new Uint8Array(n); // 0 new, 1 on the path, 2 done
  for (let start = 0; start < n; start++) {
    if (state[start]) continue;
    // Iterative DFS keeping the path, so deep graphs do not overflow the stack.
    const path: number[] = [start];
    const pos: number[] = [0];
    state[start] = 1;
    while (path.length) {
      const top = path[path.length - 1]!;
      const succ = graph.successorsOf(top);
      const k = pos[pos.length - 1]!;
      if (k >= succ.length) {
        state[top] = 2;
        path.pop();
        pos.pop();
        continue;
      }
      pos[pos.length - 1] = k + 1;
      const m = succ[k]!;
      if (state[m] === 1) return [...path.slice(path.indexOf(m)), m].map((i) => graph.keyOf(i));
      if (state[m] === 0) {
        state[m] = 1;
        path.push(m);
        pos.push(0);
      }
    }
  }
  return undefined;
}

/** Node ids in topological order (dependents before dependencies: roots first); a cycle is an error. */
export function topologicalOrder(graph: PackageGraph): string[] {
  const n = graph.order;
  const indeg = new Int32Array(n);
  for (let i = 0; i < n; i++) indeg[i] = graph.inDegreeOf(i);
  const queue: number[] = [];
  for (let i = 0; i < n; i++) if (indeg[i] === 0) queue.push(i);
  for (let q = 0; q < queue.length; q++) {
    for (const m of graph.successorsOf(queue[q]!)) if ((indeg[m] = indeg[m]! - 1) === 0) queue.push(m);
  }
  // Nodes on a cycle never reach in-degree 0: a partial order would look like a whole one.
  if (queue.length < n) throw new TsdslError(`topologicalOrder: the graph has a cycle (${(findCycle(graph) ?? []).join(' → ')}), so it has no topological order`);
  return queue.map((i) => graph.keyOf(i));
}
