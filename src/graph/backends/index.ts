/**
 * Graph backends (`--backend`): each turns a built graph into text. A table of plain values
 * sharing one signature; `--list-backends` prints it. Output is deterministic: nodes and edges
 * in the order the walk met them.
 */
import { TsdslError, checkRequestKeys, didYouMean, shown } from '../../errors.js';
import type { PackageGraph } from '../build.js';
import { graphviz } from './dot.js';
import { json } from './json.js';
import { mermaid } from './mermaid.js';
import { graphml } from './graphml.js';
import { cypher } from './cypher.js';
import { d3 } from './d3.js';

/** What every backend gets besides the graph. */
export interface RenderOptions {
  /** The node type's name (for titles); default `package`. */
  readonly typeName?: string;
}

/** The options when none are given: a package graph. */
export const DEFAULT_RENDER: RenderOptions = { typeName: 'package' };

export interface GraphBackend {
  readonly name: string;
  readonly description: string;
  render(graph: PackageGraph, options?: RenderOptions): string;
}

/**
 * `render`'s options as given, checked (a misspelt `typename` is refused, naming `typeName`),
 * with the default type: `{}` is a package graph, not one titled "tsdsl undefined".
 */
function renderOptions(options: unknown): RenderOptions {
  if (options === undefined) return DEFAULT_RENDER;
  checkRequestKeys(options as object, ['typeName'], 'render()');
  const { typeName } = options as { typeName?: unknown };
  if (typeName === undefined) return DEFAULT_RENDER;
  if (typeof typeName !== 'string' || typeName === '') throw new TsdslError(`render(): \`typeName\` must be a non-empty string (a node type's name, such as 'package'), not ${shown(typeName)}`);
  return { typeName };
}

/** A backend whose `render` checks its options first. */
function checked(b: GraphBackend): GraphBackend {
  return Object.freeze({ name: b.name, description: b.description, render: (graph: PackageGraph, options?: RenderOptions) => b.render(graph, renderOptions(options)) });
}

export const backends: readonly GraphBackend[] = [graphviz, json, mermaid, graphml, cypher, d3].map(checked);

export function findBackend(name: string): GraphBackend {
  const b = backends.find((x) => x.name === name || (name === 'dot' && x.name === 'graphviz'));
  if (!b) {
    const names = backends.map((x) => x.name);
    // `dot`, graphviz's other name, is suggested too (`-b DOT`).
    throw new TsdslError(`unknown graph backend \`${name}\`${didYouMean(name, [...names, 'dot'])} (backends: ${names.join(', ')}; see --list-backends)`);
  }
  return b;
}

/** Edges in a stable order: by source in node order, then target in node order. */
export function orderedEdges(graph: PackageGraph): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  graph.forEachNode((n) => graph.forEachOutNeighbor(n, (m) => out.push([n, m])));
  return out;
}
