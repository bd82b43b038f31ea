/**
 * Shortest dependency path between two nodes of a node type (`tsdsl graph --path A B`):
 * breadth-first from A along the type's edges until B, without building the whole graph.
 */
import { TsdslError } from '../errors.js';
import type { GraphContext, GraphNode, NodeType } from './node-types.js';

/** The nodes from `from` to `to` inclusive, or throws naming both when there is no path. */
export function shortestPath(
  type: NodeType,
  from: GraphNode,
  to: GraphNode | ((node: GraphNode) => boolean),
  ctx: GraphContext = {},
  toLabel = typeof to === 'function' ? 'the target' : type.label(to),
): GraphNode[] {
  const isTarget = typeof to === 'function' ? to : (n: GraphNode) => n === to;
  const parent = new Map<GraphNode, GraphNode | null>([[from, null]]);
  const queue: GraphNode[] = [from];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    if (isTarget(node)) {
      const path: GraphNode[] = [];
      for (let n: GraphNode | null = node; n !== null; n = parent.get(n) ?? null) path.push(n);
      return path.reverse();
    }
    for (const succ of type.edges(node, ctx)) {
      if (!parent.has(succ)) {
        parent.set(succ, node);
        queue.push(succ);
      }
    }
  }
  throw new TsdslError(`no path from \`${type.label(from)}\` to \`${toLabel}\` in the ${type.name} graph${type.name === 'package' ? ' (try --type=bag to include implicit inputs)' : ''}`);
}
