/**
 * Shortest dependency path between two nodes of a node type (`tsdsl graph --path A B`):
 * breadth-first from A along the type's edges until B, without building the whole graph.
 */
import { TsdslError } from '../errors.js';
import { bagType, type GraphContext, type GraphNode, type NodeType } from './node-types.js';

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
  // In the package graph, the target may be an implicit input (the toolchain, make): said only when it is one.
  const viaBag = type.name === 'package' && reaches(bagType, from, isTarget, ctx);
  throw new TsdslError(`no path from \`${type.label(from)}\` to \`${toLabel}\` in the ${type.name} graph${viaBag ? ` (there is one through implicit inputs: add --type=bag)` : ''}`);
}

/** Whether a node `isTarget` accepts can be reached from `from` along `type`'s edges. */
function reaches(type: NodeType, from: GraphNode, isTarget: (n: GraphNode) => boolean, ctx: GraphContext): boolean {
  const seen = new Set<GraphNode>([from]);
  const queue: GraphNode[] = [from];
  for (let i = 0; i < queue.length; i++) {
    if (isTarget(queue[i]!)) return true;
    for (const succ of type.edges(queue[i]!, ctx)) if (!seen.has(succ)) (seen.add(succ), queue.push(succ));
  }
  return false;
}
