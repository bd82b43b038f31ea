/**
 * Graph backends (`--backend`): each turns a built graph into text. A table of plain values
 * sharing one signature; `--list-backends` prints it. Output is deterministic: nodes and edges
 * in the order the walk met them.
 */
import { TsdslError, didYouMean } from '../../errors.js';
import type { PackageGraph } from '../build.js';
import { graphviz } from './dot.js';
import { json } from './json.js';
import { mermaid } from './mermaid.js';
import { graphml } from './graphml.js';
import { cypher } from './cypher.js';
import { d3 } from './d3.js';

/** What every backend gets besides the graph. */
export interface RenderOptions {
  /** The node type's name (for titles). */
  readonly typeName: string;
}

/** The options when none are given: a package graph. */
export const DEFAULT_RENDER: RenderOptions = { typeName: 'package' };

export interface GraphBackend {
  readonly name: string;
  readonly description: string;
  render(graph: PackageGraph, options?: RenderOptions): string;
}

export const backends: readonly GraphBackend[] = [graphviz, json, mermaid, graphml, cypher, d3];

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
