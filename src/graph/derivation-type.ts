/**
 * The `derivation` node type: `.drv` files and the sources and builder scripts they use, as
 * lowering computes them (nothing is written to the store). Kept apart from node-types.ts so
 * that the graph command loads lowering only when this type is asked for.
 */
import type { Package } from '../dsl/package.js';
import type { FinalizedDerivation } from '../derivation/aterm.js';
import type { GraphNode, NodeType } from './node-types.js';

type DrvNode = { readonly kind: 'derivation' | 'source'; readonly id: string; readonly label: string };

const nodes = new Map<string, DrvNode>();
let drvs: { get(path: string): FinalizedDerivation | undefined } = new Map<string, FinalizedDerivation>();

function node(path: string): DrvNode {
  let n = nodes.get(path);
  if (!n) nodes.set(path, (n = { kind: path.endsWith('.drv') ? 'derivation' : 'source', id: path, label: path }));
  return n;
}

export const derivationType: NodeType<GraphNode> = {
  name: 'derivation',
  description: 'the DAG of derivations (.drv files) and the sources and scripts they use',
  async roots(packages: readonly Package[]) {
    const { lowerPackages } = await import('../derivation/lower.js');
    const { lowerer, results } = await lowerPackages(packages);
    drvs = lowerer.derivations;
    return results.map((r) => node(r.drvPath));
  },
  edges(n) {
    const d = drvs.get((n as DrvNode).id);
    if (!d) return [];
    return [...Object.keys(d.drv.inputDrvs), ...d.drv.inputSrcs].map(node);
  },
  label: (n) => (n as DrvNode).label,
  kind: (n) => (n as DrvNode).kind,
};
