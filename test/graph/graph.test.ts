import { describe, expect, it } from 'vitest';
import { defineBuildSystem, specString, withVariants, type Package } from '../../src/dsl/index.js';
import { buildGraph, findCycle, findNodeType, topologicalOrder } from '../../src/graph/build.js';
import { bagType, packageType } from '../../src/graph/node-types.js';
import { shortestPath } from '../../src/graph/path.js';
import { backends } from '../../src/graph/backends/index.js';
import { Collection } from '../../src/registry/collection.js';
import { dummyPackage } from '../fixtures/dummy.js';

describe('graph engine', () => {
  const zlib = dummyPackage({ name: 'zlib', version: '1.2.13' });
  const scotch = dummyPackage({ name: 'scotch', version: '7.0.3', inputs: [zlib] });
  const metis = dummyPackage({ name: 'metis', version: '5.1.0' });
  const mumps = dummyPackage({ name: 'mumps', version: '5.5.1', inputs: [metis, scotch], nativeInputs: [zlib] });

  it('walks inputs into a DAG with unique ids and depths', async () => {
    const { graph } = await buildGraph(packageType, [mumps]);
    expect(graph.nodes().sort()).toEqual(['metis@5.1.0', 'mumps@5.5.1', 'scotch@7.0.3', 'zlib@1.2.13']);
    expect(graph.getNodeAttribute('zlib@1.2.13', 'depth')).toBe(1);
    expect(graph.size).toBe(4);
    expect(topologicalOrder(graph)[0]).toBe('mumps@5.5.1');
    expect((await buildGraph(packageType, [mumps], { maxDepth: 1 })).graph.order).toBe(4);
    expect((await buildGraph(packageType, [mumps], { maxDepth: 0 })).graph.order).toBe(1);
  });

  it('names a variant other than the defaults in its id, whichever is met first', async () => {
    const lib = dummyPackage({ name: 'lib', version: '1', variants: { x: false } });
    const top = dummyPackage({ name: 'top', version: '1', inputs: [withVariants(lib, { x: true }), lib] });
    const { graph } = await buildGraph(packageType, [top]);
    expect(graph.nodes()).toEqual(['top@1', 'lib@1+x', 'lib@1']);
  });

  it('distinguishes two objects with the same name and version', async () => {
    const other = dummyPackage({ name: 'zlib', version: '1.2.13', arguments: { tests: false } });
    const top = dummyPackage({ name: 'top', version: '1', inputs: [zlib, other] });
    const { graph } = await buildGraph(packageType, [top]);
    expect(graph.nodes()).toEqual(['top@1', 'zlib@1.2.13', 'zlib@1.2.13#1']);
  });

  it('a dependency cycle (through implicit inputs) is an error that prints the cycle', async () => {
    let tool: Package | undefined;
    const bs = defineBuildSystem({ name: 'loopy', description: 'x', phases: ['build'], tools: () => [tool!] });
    tool = dummyPackage({ name: 'tool', version: '1', buildSystem: bs });
    const user = dummyPackage({ name: 'user', version: '1', buildSystem: bs });
    await expect(buildGraph(bagType, [user])).rejects.toThrow(/dependency cycle in the bag graph: tool@1 → tool@1/);
  });

  it('findCycle returns a closed path', async () => {
    const { graph } = await buildGraph(packageType, [mumps]);
    expect(findCycle(graph)).toBeUndefined();
    graph.addDirectedEdge('zlib@1.2.13', 'mumps@5.5.1');
    const cycle = findCycle(graph)!;
    expect(cycle[0]).toBe(cycle.at(-1));
    // No order for it (the nodes on the cycle were left out in silence).
    expect(() => topologicalOrder(graph)).toThrow(/^topologicalOrder: the graph has a cycle \(.*zlib@1\.2\.13.*\), so it has no topological order$/);
  });

  it('shortest path in a reverse graph needs the collection, and says so in its own terms', () => {
    expect(() => shortestPath(findNodeType('reverse-package'), zlib, mumps)).toThrow('shortestPath: a reverse-package graph searches the collection for dependents: give it, shortestPath(type, from, to, { collection })');
  });

  it('shortest path, and a clear error when there is none', () => {
    const path = shortestPath(packageType, mumps, zlib);
    expect(path.map((p) => (p as Package).name)).toEqual(['mumps', 'zlib']);
    expect(() => shortestPath(packageType, metis, zlib)).toThrow(/no path from `metis@5.1.0` to `zlib@1.2.13`/);
  });

  it('reverse-package uses the whole collection', async () => {
    const c = new Collection([zlib, scotch, metis, mumps]);
    const { graph } = await buildGraph(findNodeType('reverse-package'), [zlib], { ctx: { collection: c } });
    expect(graph.nodes().sort()).toEqual(['mumps@5.5.1', 'scotch@7.0.3', 'zlib@1.2.13']);
    // Without a collection, the default one is searched (it was the root alone).
    const { getDefaultCollection } = await import('../../src/transform/api.js');
    const all = await buildGraph(findNodeType('reverse-package'), [getDefaultCollection().resolve('zlib')]);
    expect(all.graph.order).toBeGreaterThan(3);
    expect(all.graph.nodes()).toContain('mumps@5.5.1');
  });

  it('reverse graphs find the dependents of variants, and variants that depend on the package', async () => {
    const vz = dummyPackage({ name: 'vz', version: '1' });
    const vx = dummyPackage({ name: 'vx', version: '2' });
    // vlib+xml needs vx; no package of the collection uses that variant: it still depends on vx.
    const vlib = dummyPackage({ name: 'vlib', version: '3', variants: { xml: false, mpi: false }, inputs: (v: { xml: boolean }) => (v.xml ? [vz, vx] : [vz]) } as never);
    // A package using vlib+mpi depends on vlib: the variant is a root beside vlib itself.
    const user = dummyPackage({ name: 'vuser', version: '1', inputs: [withVariants(vlib, { mpi: true })] });
    const c = new Collection([vz, vx, vlib, user]);
    const labels = async (type: string, root: Package) => [...(await buildGraph(findNodeType(type), [root], { ctx: { collection: c } })).nodes.values()].map((n) => specString(n as Package));
    for (const type of ['reverse-package', 'reverse-bag']) {
      expect(await labels(type, vx)).toEqual(['vx@2', 'vlib@3+xml']);
      const fromZ = await labels(type, vz);
      expect(fromZ.slice(0, 1)).toEqual(['vz@1']);
      expect(fromZ.slice(1).sort()).toEqual(['vlib@3', 'vlib@3+mpi', 'vlib@3+xml', 'vuser@1']);
      expect(await labels(type, vlib)).toEqual(['vlib@3', 'vlib@3+mpi', 'vuser@1']);
      // Named with a variant, a root stands alone: vlib+mpi's dependents only.
      expect(await labels(type, withVariants(vlib, { mpi: true }))).toEqual(['vlib@3+mpi', 'vuser@1']);
    }
  });

  it('every backend renders deterministically and names every node', async () => {
    const { graph } = await buildGraph(packageType, [mumps]);
    for (const b of backends) {
      const a = b.render(graph, { typeName: 'package' });
      expect(a).toBe(b.render(graph, { typeName: 'package' }));
      for (const n of graph.nodes()) expect(a).toContain(n);
    }
  });

  it('escapes quotes and markup in labels', async () => {
    const weird = dummyPackage({ name: 'we_ird', version: '1"<&>' .replace(/[^A-Za-z0-9.]/g, '') });
    const { graph } = await buildGraph(packageType, [weird]);
    graph.setNodeAttribute(graph.nodes()[0]!, 'label', 'a "quoted" <tag> & \\ back');
    const dot = backends.find((b) => b.name === 'graphviz')!.render(graph, { typeName: 'package' });
    expect(dot).toContain('"a \\"quoted\\" <tag> & \\\\ back"');
    const xml = backends.find((b) => b.name === 'graphml')!.render(graph, { typeName: 'package' });
    expect(xml).toContain('a &quot;quoted&quot; &lt;tag&gt; &amp; \\ back');
  });
});
