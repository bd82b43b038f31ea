/**
 * Graph node types (Guix's `guix graph --type`): each is a plain value saying how to go from
 * a node to its successors. `package` follows inputs; `bag` adds the build system's implicit
 * inputs; `bag-emerged` is `bag` without the bootstrap nodes; `reverse-package` follows
 * dependents. Adding a type means adding an entry to `nodeTypes`.
 */
import { implicitInputs } from '../dsl/build-systems.js';
import { directInputs, hasDefaultVariants, isVariantOf, specString, variantNeighbours, type Package } from '../dsl/package.js';
import type { Collection } from '../registry/collection.js';
import { TsdslError, checkRequestKeys, shown } from '../errors.js';
import { derivationType } from './derivation-type.js';
import { moduleType } from './module-type.js';

/** What a node type may need beyond the nodes themselves. */
export interface GraphContext {
  readonly collection?: Collection;
}

/** Checks a context given by a script: an object of known fields, its collection one. */
export function checkGraphContext(ctx: unknown, who: string): void {
  checkRequestKeys(ctx as object, ['collection'], who);
  const c = (ctx as GraphContext).collection;
  if (c !== undefined && typeof (c as { resolve?: unknown }).resolve !== 'function') throw new TsdslError(`${who}: \`collection\` must be a collection (loadCollection(), or getDefaultCollection()), not ${shown(c)}`);
}

/** A node of any type: a package, or something else (a derivation, a file) with an id. */
export type GraphNode = Package | { readonly kind: string; readonly id: string; readonly label: string };

/** How to walk one kind of graph. */
export interface NodeType<N = GraphNode> {
  readonly name: string;
  readonly description: string;
  /** The nodes to start from, given the packages named on the command line. */
  roots(packages: readonly Package[], ctx: GraphContext): readonly N[] | Promise<readonly N[]>;
  /** Direct successors of a node. */
  edges(node: N, ctx: GraphContext): readonly N[];
  /** Text shown for a node. */
  label(node: N): string;
  /** Extra attributes backends may show (e.g. the kind of node). */
  kind(node: N): string;
  /** Its edges search a collection (reverse graphs): buildGraph uses the default one when the context has none. */
  readonly needsCollection?: boolean;
}

function isBootstrap(p: Package): boolean {
  return p.properties['bootstrap'] === true;
}

/** Implicit inputs of a package's build system, then its own inputs: the bag's inputs. */
export function bagInputs(p: Package): readonly Package[] {
  const seen = new Set<Package>();
  const out: Package[] = [];
  for (const x of [...directInputs(p), ...implicitInputs(p.buildSystem)]) {
    if (!seen.has(x)) {
      seen.add(x);
      out.push(x);
    }
  }
  return out;
}

const packageLabel = (p: Package) => specString(p);

export const packageType: NodeType<Package> = {
  name: 'package',
  description: 'the DAG of packages (inputs, native inputs, propagated inputs)',
  roots: (pkgs) => pkgs,
  edges: (p) => directInputs(p),
  label: packageLabel,
  kind: () => 'package',
};

export const bagType: NodeType<Package> = {
  name: 'bag',
  description: 'the DAG of packages, including the implicit inputs of their build systems',
  roots: (pkgs) => pkgs,
  edges: (p) => bagInputs(p),
  label: packageLabel,
  kind: (p) => (isBootstrap(p) ? 'bootstrap' : 'package'),
};

export const bagEmergedType: NodeType<Package> = {
  name: 'bag-emerged',
  description: "same as 'bag', but without the bootstrap nodes",
  roots: (pkgs) => pkgs,
  edges: (p) => bagInputs(p).filter((x) => !isBootstrap(x)),
  label: packageLabel,
  kind: () => 'package',
};

/** A reverse graph is over a collection: without one, it would silently be the roots alone. */
function needCollection(ctx: GraphContext): Collection {
  if (!ctx.collection) throw new TsdslError('a reverse graph needs the collection to search for dependents: pass it in the context, e.g. buildGraph(type, roots, { ctx: { collection } })');
  return ctx.collection;
}

/**
 * Reverse edges over the whole collection (successors `inputsOf`), computed once per
 * collection: from every package and each of its variants one change away (a dependent of
 * `scotch+mpi`, or `hwloc+libxml2` itself, is a dependent too), through everything they need.
 */
function reverseIndex(c: Collection, inputsOf: (p: Package) => readonly Package[], cache: WeakMap<Collection, Map<Package, Package[]>>): Map<Package, Package[]> {
  let idx = cache.get(c);
  if (idx) return idx;
  idx = new Map();
  const seen = new Set<Package>();
  const stack: Package[] = [];
  for (const p of c.all()) stack.push(p, ...variantNeighbours(p));
  while (stack.length) {
    const q = stack.pop()!;
    if (seen.has(q)) continue;
    seen.add(q);
    for (const d of inputsOf(q)) {
      let l = idx.get(d);
      if (!l) idx.set(d, (l = []));
      if (!l.includes(q)) l.push(q);
      stack.push(d);
    }
  }
  cache.set(c, idx);
  return idx;
}

/**
 * The roots of a reverse graph: each package named, and, for one named without variants, those
 * of its variants something depends on (who depends on scotch includes who depends on
 * `scotch+mpi`; who depends on `scotch+mpi` is only that), in label order.
 */
function reverseRoots(pkgs: readonly Package[], idx: Map<Package, Package[]>): Package[] {
  const out = [...pkgs];
  for (const p of pkgs) {
    if (!hasDefaultVariants(p)) continue;
    const variants = [...idx.keys()].filter((q) => isVariantOf(q, p) && !out.includes(q));
    out.push(...variants.sort((a, b) => (specString(a) < specString(b) ? -1 : 1)));
  }
  return out;
}

const reversePackageIndex = new WeakMap<Collection, Map<Package, Package[]>>();
const reverseBagIndex = new WeakMap<Collection, Map<Package, Package[]>>();

export const reversePackageType: NodeType<Package> = {
  name: 'reverse-package',
  description: 'the reverse DAG of packages: who depends on each package (and on its variants), across the collection',
  needsCollection: true,
  roots: (pkgs, ctx) => reverseRoots(pkgs, reverseIndex(needCollection(ctx), directInputs, reversePackageIndex)),
  edges: (p, ctx) => reverseIndex(needCollection(ctx), directInputs, reversePackageIndex).get(p) ?? [],
  label: packageLabel,
  kind: () => 'package',
};

export const reverseBagType: NodeType<Package> = {
  name: 'reverse-bag',
  description: 'the reverse DAG of packages, including implicit inputs (who would rebuild)',
  needsCollection: true,
  roots: (pkgs, ctx) => reverseRoots(pkgs, reverseIndex(needCollection(ctx), bagInputs, reverseBagIndex)),
  edges: (p, ctx) => reverseIndex(needCollection(ctx), bagInputs, reverseBagIndex).get(p) ?? [],
  label: packageLabel,
  kind: () => 'package',
};

/** The registry of node types, in `--list-types` order. */
export const nodeTypes: NodeType<never>[] = [
  packageType,
  reversePackageType,
  bagType,
  bagEmergedType,
  reverseBagType,
  derivationType,
  moduleType,
] as unknown as NodeType<never>[];
