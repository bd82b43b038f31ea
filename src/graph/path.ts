/**
 * Shortest dependency path between two nodes of a node type (`tsdsl graph --path A B`):
 * breadth-first from A along the type's edges until B, without building the whole graph.
 */
import { TsdslError, shown } from '../errors.js';
import { isPackage } from '../dsl/package.js';
import { bagType, checkGraphContext, type GraphContext, type GraphNode, type NodeType } from './node-types.js';

/** A node of a graph: a package, or a record with an id (a derivation, a module). */
function checkNode(x: unknown, what: string): void {
  if (isPackage(x) || (typeof x === 'object' && x !== null && typeof (x as { id?: unknown }).id === 'string')) return;
  throw new TsdslError(
    `shortestPath: ${what} is ${typeof x === 'string' ? `the string '${x}'` : shown(x)}, not a node; give a package${typeof x === 'string' ? ` (getDefaultCollection().resolve('${x}'))` : ''}`,
  );
}

/** The nodes from `from` to `to` inclusive, or throws naming both when there is no path. */
export function shortestPath(
  type: NodeType,
  from: GraphNode,
  to: GraphNode | ((node: GraphNode) => boolean),
  ctx: GraphContext = {},
  label?: string,
): GraphNode[] {
  if (typeof (type as Partial<NodeType> | undefined)?.edges !== 'function') throw new TsdslError(`shortestPath: the first argument is a node type, such as findNodeType('package'), not ${shown(type)}`);
  checkGraphContext(ctx, 'shortestPath: the context');
  if (type.needsCollection && !ctx.collection) throw new TsdslError(`shortestPath: a ${type.name} graph searches the collection for dependents: give it, shortestPath(type, from, to, { collection })`);
  checkNode(from, 'the start');
  if (typeof to !== 'function') checkNode(to, 'the end');
  const toLabel = label ?? (typeof to === 'function' ? 'the target' : type.label(to));
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
