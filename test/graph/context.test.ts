/** The context a script gives buildGraph() and shortestPath(): where reverse graphs look for dependents. */
import { describe, expect, it } from 'vitest';
import { buildGraph, findNodeType } from '../../src/graph/build.js';
import { shortestPath } from '../../src/graph/path.js';
import { getDefaultCollection } from '../../src/transform/api.js';
import { hwloc, zlib } from '../../packages/index.js';

const collection = getDefaultCollection();

describe('a graph context', () => {
  it('with a misspelt collection is refused, rather than a reverse graph of the default collection without the given one\'s dependents', async () => {
    await expect(buildGraph(findNodeType('reverse-package'), [zlib], { ctx: { colection: collection } as never })).rejects.toThrow(
      'buildGraph: ctx: unknown field `colection`; did you mean `collection`?',
    );
    expect(() => shortestPath(findNodeType('reverse-package'), zlib, hwloc, { colection: collection } as never)).toThrow('shortestPath: the context: unknown field `colection`; did you mean `collection`?');
    expect(() => shortestPath(findNodeType('package'), hwloc, zlib, { collection: 'default' } as never)).toThrow('`collection` must be a collection');
  });

  it('as documented still works', async () => {
    const { graph } = await buildGraph(findNodeType('reverse-package'), [zlib], { ctx: { collection }, maxDepth: 1 });
    expect(graph.order).toBeGreaterThan(1);
    expect(shortestPath(findNodeType('package'), hwloc, (n) => n === hwloc, {})).toEqual([hwloc]);
  });
});
