/** The options of a backend's render(), as the API takes them. */
import { describe, expect, it } from 'vitest';
import { backends, findBackend } from '../../src/graph/backends/index.js';
import { buildGraph, findNodeType } from '../../src/graph/build.js';
import { zlib } from '../../packages/index.js';

const { graph } = await buildGraph(findNodeType('package'), [zlib], { maxDepth: 0 });

describe('render() options', () => {
  it('default to a package graph when typeName is left out of them, as when they are', () => {
    for (const b of backends) expect(b.render(graph, {}), b.name).toBe(b.render(graph));
    expect(findBackend('dot').render(graph, {})).toContain('digraph "tsdsl package" {');
    expect(findBackend('d3').render(graph, { typeName: 'bag' })).toContain('<title>tsdsl bag graph</title>');
  });

  it('refuse a misspelt field or a typeName that is not a name', () => {
    expect(() => findBackend('dot').render(graph, { typename: 'bag' } as never)).toThrow('render(): unknown field `typename`; did you mean `typeName`?');
    expect(() => findBackend('mermaid').render(graph, { typeName: 3 } as never)).toThrow('render(): `typeName` must be a non-empty string');
  });
});
