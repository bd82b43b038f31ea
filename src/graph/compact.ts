/**
 * The graph the engine builds: a compact directed graph (nodes in insertion order, adjacency as
 * arrays of node indices) with the part of graphology's API the backends use — `forEachNode`,
 * `forEachOutNeighbor`, `outNeighbors`, `inDegree`, `order`, `size`, attributes. graphology
 * itself spends ~20 µs per edge here (hidden-class churn on its per-node adjacency objects),
 * which puts a 20,000-package graph far above the 300 ms target; arrays of integers cost a few
 * milliseconds. `toGraphology()` gives a real graphology graph for anyone who wants its
 * algorithms (graphology-dag, layouts, metrics).
 */
import { DirectedGraph } from 'graphology';

export class CompactGraph<A extends object> {
  private readonly index = new Map<string, number>();
  private readonly keys: string[] = [];
  private readonly attrs: A[] = [];
  private readonly out: number[][] = [];
  private readonly inDeg: number[] = [];
  private edges = 0;

  /** Number of nodes. */
  get order(): number {
    return this.keys.length;
  }

  /** Number of edges. */
  get size(): number {
    return this.edges;
  }

  hasNode(key: string): boolean {
    return this.index.has(key);
  }

  /** Add a node; returns its index. Adding an existing key is an error. */
  addNode(key: string, attributes: A): number {
    if (this.index.has(key)) throw new Error(`node ${key} already exists`);
    const i = this.keys.length;
    this.index.set(key, i);
    this.keys.push(key);
    this.attrs.push(attributes);
    this.out.push([]);
    this.inDeg.push(0);
    return i;
  }

  private at(key: string): number {
    const i = this.index.get(key);
    if (i === undefined) throw new Error(`no node ${key}`);
    return i;
  }

  /** Add an edge by node indices (the fast path the builder uses). */
  addEdgeByIndex(from: number, to: number): void {
    this.out[from]!.push(to);
    this.inDeg[to]!++;
    this.edges++;
  }

  addDirectedEdge(from: string, to: string): void {
    this.addEdgeByIndex(this.at(from), this.at(to));
  }

  hasEdge(from: string, to: string): boolean {
    return this.out[this.at(from)]!.includes(this.at(to));
  }

  nodes(): string[] {
    return [...this.keys];
  }

  getNodeAttributes(key: string): A {
    return this.attrs[this.at(key)]!;
  }

  getNodeAttribute<K extends keyof A>(key: string, name: K): A[K] {
    return this.attrs[this.at(key)]![name];
  }

  setNodeAttribute<K extends keyof A>(key: string, name: K, value: A[K]): void {
    this.attrs[this.at(key)]![name] = value;
  }

  forEachNode(fn: (key: string, attributes: A) => void): void {
    for (let i = 0; i < this.keys.length; i++) fn(this.keys[i]!, this.attrs[i]!);
  }

  outNeighbors(key: string): string[] {
    return this.out[this.at(key)]!.map((j) => this.keys[j]!);
  }

  forEachOutNeighbor(key: string, fn: (neighbor: string) => void): void {
    for (const j of this.out[this.at(key)]!) fn(this.keys[j]!);
  }

  inDegree(key: string): number {
    return this.inDeg[this.at(key)]!;
  }

  /** Successor indices of node i (for algorithms that work on indices). */
  successorsOf(i: number): readonly number[] {
    return this.out[i]!;
  }

  /** Key of node i. */
  keyOf(i: number): string {
    return this.keys[i]!;
  }

  /** In-degree of node i. */
  inDegreeOf(i: number): number {
    return this.inDeg[i]!;
  }

  /** The same graph as a graphology DirectedGraph. */
  toGraphology(): DirectedGraph<A> {
    const g = new DirectedGraph<A>({ allowSelfLoops: true });
    this.forEachNode((k, a) => g.addNode(k, { ...a }));
    for (let i = 0; i < this.keys.length; i++) for (const j of this.out[i]!) g.mergeDirectedEdge(this.keys[i]!, this.keys[j]!);
    return g;
  }
}
